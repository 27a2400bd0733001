"""查询统计: the annex-3 indicators per region, district and month, the daily roll-up behind them,
the targets they are measured against, and the export."""
import io
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import KpiTarget, RegionTarget, VoucherMonthlyStat
from h5app.models.classes import CLASS_COMPLETED
from h5app.models.vouchers import SETTLED, USED
from h5app.statistics import rollup
from h5app.statistics.indicators import build
from h5app.timeutil import local_at
from h5app.vouchers import enrolment, settlement

from . import factories as f
from .auth_support import staff_sign_in

# The seeds' target tables, as ../shared/data holds them; tests/data keeps byte-identical copies for a
# checkout that has no shared folder beside it.
SHARED_DATA = next(folder for folder in (Path(__file__).resolve().parents[2] / "shared" / "data",
                                         Path(__file__).resolve().parent / "data")
                   if (folder / "targets_2021.csv").exists())
NOW = local_at(date(2026, 11, 20), datetime.min.time()) + timedelta(hours=12)  # 2026-11-20 12:00 Beijing


def at(month: int, day: int) -> datetime:
    return local_at(date(2026, month, day), datetime.min.time()) + timedelta(hours=10)


@pytest.fixture
def shaoxing():
    city = f.region("330600", "绍兴市")
    f.region("330602", "越城区", parent="330600")
    f.region("330603", "柯桥区", parent="330600")
    db.session.flush()
    return city


def _voucher(template, person, *, issued, claimed=None, used=None, settled=None, **values):
    status = SETTLED if settled else USED if used else "claimed" if claimed else "offered"
    return f.voucher(template, person, status=status, created_at=issued, offered_at=issued, claimed_at=claimed,
                     used_at=used, settled_at=settled, **values)


@pytest.fixture
def vouchers(shaoxing):
    """Yuecheng: 4 issued (3 face-value general, 1 directed credential), 3 claimed, 2 used, 1 settled.
    Keqiao: 2 issued, 1 claimed. One person from another province counts in the city itself."""
    general = f.template(name="面值通用券", stock=None)
    directed = f.directed_template(name="定向抵用券")
    school = f.institution(region_code="330602")
    yuecheng = [f.person(region_code="330602") for _ in range(4)]
    keqiao = [f.person(region_code="330603") for _ in range(2)]
    outsider = f.person(region_code="320200")
    _voucher(general, yuecheng[0], issued=at(3, 2), claimed=at(3, 5), used=at(4, 1), settled=at(6, 30),
             institution_id=school.id)
    _voucher(general, yuecheng[1], issued=at(3, 2), claimed=at(4, 9), used=at(11, 20), institution_id=school.id)
    _voucher(general, yuecheng[2], issued=at(3, 2))
    _voucher(directed, yuecheng[3], issued=at(11, 20), claimed=at(11, 20))
    _voucher(general, keqiao[0], issued=at(5, 1), claimed=at(5, 2))
    _voucher(general, keqiao[1], issued=at(5, 1))
    _voucher(general, outsider, issued=at(5, 1))
    db.session.commit()
    return school


def areas_by_name(board):
    return {area.name: area for area in board.areas}


def test_counts_per_district_and_the_whole_region(vouchers, shaoxing):
    board = build(db.session, shaoxing, 2026, now=NOW)
    areas = areas_by_name(board)
    whole, yuecheng, keqiao = areas["绍兴市"], areas["越城区"], areas["柯桥区"]
    assert (whole.tally.issued, whole.tally.claimed, whole.tally.used, whole.tally.settled) == (7, 4, 2, 1)
    assert (yuecheng.tally.issued, yuecheng.tally.claimed, yuecheng.tally.used, yuecheng.tally.settled) == (4, 3, 2, 1)
    assert (keqiao.tally.issued, keqiao.tally.claimed) == (2, 1)
    assert yuecheng.rates["claim_rate"] == pytest.approx(3 / 4)
    assert yuecheng.rates["use_rate"] == pytest.approx(2 / 4)
    assert yuecheng.rates["face_value_share"] == pytest.approx(3 / 4)
    assert yuecheng.rates["general_share"] == pytest.approx(3 / 4)
    assert whole.rates["claim_rate"] == pytest.approx(4 / 7)


def test_months_count_each_event_in_the_month_it_happened(vouchers, shaoxing):
    board = build(db.session, shaoxing, 2026, now=NOW)
    by_month = {m: t for m, t in board.months}
    assert len(board.months) == 11  # January to November, up to today
    assert by_month[3].issued == 3 and by_month[3].claimed == 1
    assert by_month[4].claimed == 1 and by_month[4].used == 1
    assert by_month[6].settled == 1
    assert by_month[11].issued == 1 and by_month[11].used == 1


def test_trend_of_one_district(vouchers, shaoxing):
    board = build(db.session, shaoxing, 2026, district="330603", now=NOW)
    assert board.chosen.name == "柯桥区"
    assert sum(t.issued for _m, t in board.months) == 2


def test_finished_days_are_rolled_up_once_and_today_is_counted_live(vouchers, shaoxing):
    build(db.session, shaoxing, 2026, now=NOW)
    rolled = db.session.scalar(select(func.sum(VoucherMonthlyStat.issued)))
    assert rolled == 6  # every issue before 20 November; the one on the 20th is today's, not rolled
    assert rollup.rolled_through(db.session) == date(2026, 11, 20)
    assert rollup.roll_up(db.session, now=NOW) == 0  # nothing new to roll up on the same day
    again = build(db.session, shaoxing, 2026, now=NOW)
    assert areas_by_name(again)["绍兴市"].tally.issued == 7
    assert db.session.scalar(select(func.sum(VoucherMonthlyStat.issued))) == 6


def test_next_day_rolls_up_the_day_before(vouchers, shaoxing):
    build(db.session, shaoxing, 2026, now=NOW)
    tomorrow = build(db.session, shaoxing, 2026, now=NOW + timedelta(days=1))
    assert db.session.scalar(select(func.sum(VoucherMonthlyStat.issued))) == 7
    assert areas_by_name(tomorrow)["绍兴市"].tally.issued == 7


def test_another_years_vouchers_are_not_counted(vouchers, shaoxing):
    board = build(db.session, shaoxing, 2025, now=NOW)
    assert areas_by_name(board)["绍兴市"].tally.issued == 0
    assert len(board.months) == 12


def test_unclaimed_stock_of_an_open_template_counts_as_issued(shaoxing):
    f.template(name="开放领取券", audience="open", stock=50, claimed_count=10,
               claim_starts_on=date(2026, 2, 1), claim_ends_on=date(2026, 12, 31))
    db.session.commit()
    board = build(db.session, shaoxing, 2026, now=NOW)
    assert areas_by_name(board)["绍兴市"].tally.issued == 40
    assert dict(board.months)[2].issued == 40


def test_vouchers_offered_from_an_open_template_are_not_counted_twice(shaoxing):
    template = f.template(name="开放领取券", audience="open", stock=50, claimed_count=1,
                          claim_starts_on=date(2026, 2, 1), claim_ends_on=date(2026, 12, 31))
    _voucher(template, f.person(region_code="330602"), issued=at(3, 1), claimed=at(3, 2))
    for _ in range(3):  # offered by 发券, not claimed yet: issued rows that hold no stock
        _voucher(template, f.person(region_code="330602"), issued=at(3, 1))
    db.session.commit()
    board = build(db.session, shaoxing, 2026, now=NOW)
    assert areas_by_name(board)["绍兴市"].tally.issued == 50
    assert areas_by_name(board)["越城区"].tally.issued == 4


def test_institution_project_and_checkin_coverage(shaoxing):
    using = f.institution(region_code="330602")
    idle = f.institution(region_code="330603")
    used_class = f.training_class(using, starts_on=date(2026, 6, 1), ends_on=date(2026, 6, 10))
    f.training_class(idle, starts_on=date(2026, 6, 1), ends_on=date(2026, 6, 10))
    trainee = f.person()
    f.voucher(f.template(), trainee, status=USED, class_id=used_class.id, institution_id=using.id,
              created_at=at(5, 1), claimed_at=at(5, 1), used_at=at(6, 1))
    f.enrol(used_class, trainee)
    f.check_in(used_class.sessions[0], trainee)
    db.session.commit()
    whole = build(db.session, shaoxing, 2026, now=NOW).areas[0]
    assert whole.rates["institution_coverage"] == pytest.approx(1 / 2)
    assert whole.rates["project_coverage"] == pytest.approx(1 / 2)
    assert whole.rates["checkin_coverage"] == pytest.approx(1 / 2)


def test_rating_completion_counts_trainees_of_completed_classes_who_rated(shaoxing):
    school = f.institution(region_code="330602")
    training_class = f.training_class(school, starts_on=date(2026, 6, 1), ends_on=date(2026, 6, 10))
    trainees = [f.person() for _ in range(4)]
    for trainee in trainees:
        f.enrol(training_class, trainee)
    db.session.commit()
    settlement.complete_class(db.session, training_class, f.institution_actor(school))
    assert training_class.status == CLASS_COMPLETED and training_class.trainees_completed == 4
    enrolment.rate_class(db.session, trainees[0], training_class, 5, "很好")
    enrolment.rate_class(db.session, trainees[1], training_class, 4, None)
    whole = build(db.session, shaoxing, 2026, now=NOW).areas[0]
    assert whole.rates["rating_completion"] == pytest.approx(2 / 4)


def test_another_regions_vouchers_never_count(vouchers, shaoxing):
    wuxi = f.region("320200", "无锡市")
    other = f.template(name="无锡券", region_code="320200", stock=None)
    _voucher(other, f.person(region_code="320200"), issued=at(5, 1), claimed=at(5, 1))
    db.session.commit()
    assert areas_by_name(build(db.session, shaoxing, 2026, now=NOW))["绍兴市"].tally.issued == 7
    assert build(db.session, wuxi, 2026, now=NOW).areas[0].tally.issued == 1


# ---- pages ----

@pytest.fixture
def supervisor(client, shaoxing):
    user = f.staff("bureau", is_supervisor=True)
    db.session.commit()
    staff_sign_in(client, user)
    return user


def upload(client, path_or_bytes, name="targets.csv", year=2026):
    data = path_or_bytes.read_bytes() if isinstance(path_or_bytes, Path) else path_or_bytes
    return client.post("/bureau/statistics/targets", data={"year": str(year), "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_the_copies_in_tests_data_are_the_shared_tables_byte_for_byte():
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    if not shared.exists():
        pytest.skip("no ../shared beside this checkout")
    for name in ("targets_2021.csv", "kpi_targets_hunan.csv"):
        assert (Path(__file__).resolve().parent / "data" / name).read_bytes() == (shared / name).read_bytes()


def test_the_seeds_target_tables_import_as_they_are(client, supervisor):
    response = upload(client, SHARED_DATA / "targets_2021.csv", year=2021)
    assert response.status_code == 302
    assert db.session.scalar(select(func.count(RegionTarget.id)).where(RegionTarget.year == 2021)) == 75
    changsha = db.session.scalar(select(RegionTarget).where(RegionTarget.region_name == "长沙"))
    assert (changsha.issue_target, changsha.use_target, changsha.training_people) == (150000, 15000, 300000)
    response = upload(client, SHARED_DATA / "kpi_targets_hunan.csv", name="kpi.csv", year=2021)
    assert response.status_code == 302
    kpis = {k.code: k for k in db.session.scalars(select(KpiTarget).where(KpiTarget.year == 2021))}
    assert len(kpis) == 8
    assert float(kpis["claim_rate"].q4_target) == pytest.approx(0.4) and kpis["claim_rate"].q3_target is None
    page = client.get("/bureau/statistics/targets?year=2021").get_data(as_text=True)
    assert "培训评价完成率" in page and "80%" in page  # as a rate is shown: no trailing .0


def test_region_names_match_our_regions(client, supervisor):
    csv = "province,region,training_people,issue_target,use_target\n浙江省,越城区,,3000,300\n浙江省,绍兴市(全市),,9000,900\n"
    assert upload(client, csv.encode()).status_code == 302
    codes = dict(db.session.execute(select(RegionTarget.region_name, RegionTarget.region_code)).all())
    assert codes == {"越城区": "330602", "绍兴市(全市)": "330600"}


def test_a_target_table_with_bad_rows_changes_nothing(client, supervisor):
    upload(client, "province,region,issue_target,use_target\n浙江省,越城区,100,10\n".encode())
    bad = ("province,region,issue_target,use_target\n浙江省,越城区,1000,100\n浙江省,,5,1\n"
           "浙江省,柯桥区,很多,10\n浙江省,越城区,1,1\n")
    response = upload(client, bad.encode())
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "第3行" in page and "请填写地区名称" in page
    assert "第4行" in page and "应为不小于0的整数" in page
    assert "第5行" in page and "与第2行重复" in page  # the file's own line numbers, header line 1
    assert db.session.scalar(select(RegionTarget.issue_target)) == 100  # the earlier import stands


@pytest.mark.parametrize("body, message", [
    ("indicator,code,q3_target,q4_target\n领券率,claim_rate,,1.5\n", "应在0到1"),
    ("indicator,code,q3_target,q4_target\n乱写,made_up,,0.4\n", "未知的指标代码"),
    ("name,value\nx,1\n", "无法识别的目标表"),
])
def test_bad_kpi_tables_are_refused_with_the_reason(client, supervisor, body, message):
    response = upload(client, body.encode())
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(KpiTarget.id))) == 0


def test_a_target_for_a_region_outside_ours_is_refused(client, supervisor):
    f.region("320200", "无锡市")
    db.session.commit()
    response = upload(client, "province,region,issue_target\n江苏省,无锡市,90000\n".encode())
    assert response.status_code == 400
    assert "不在本部门管辖范围内" in response.get_data(as_text=True)


def test_only_a_supervisor_imports_targets(client, shaoxing):
    clerk = f.staff("bureau")
    db.session.commit()
    staff_sign_in(client, clerk)
    assert upload(client, "province,region,issue_target\n,越城区,1\n".encode()).status_code == 403
    assert db.session.scalar(select(func.count(RegionTarget.id))) == 0


def test_dashboard_flags_districts_behind_their_targets(client, supervisor, vouchers):
    upload(client, "province,region,issue_target,use_target\n浙江省,越城区,4,2\n浙江省,柯桥区,1000,100\n".encode())
    upload(client, "indicator,code,q3_target,q4_target\n领券率,claim_rate,0.4,0.9\n".encode(), name="kpi.csv")
    board = build(db.session, db.session.merge(f.region("330600")), 2026, now=NOW)
    areas = areas_by_name(board)
    assert board.quarter_field == "q4_target"
    assert not any("发券进度落后" in flag for flag in areas["越城区"].flags)
    assert any("发券进度落后" in flag for flag in areas["柯桥区"].flags)
    assert any(flag.startswith("领券率50.0%") for flag in areas["柯桥区"].flags)
    page = client.get("/bureau/statistics?year=2026").get_data(as_text=True)
    assert "落后" in page and "<svg" in page and "柯桥区" in page


def test_issuing_and_the_later_steps_are_drawn_on_two_charts_each_on_its_own_scale(client, supervisor, vouchers):
    page = client.get("/bureau/statistics?year=2026").get_data(as_text=True)
    titles = [title for title in page.split("<title>")[1:] if "逐月" in title.split("</title>")[0]]
    assert [t.split("</title>")[0] for t in titles] == ["绍兴市2026年逐月发券", "绍兴市2026年逐月领券、用券、核销"]


def test_dashboard_page_and_export_agree(client, supervisor, vouchers):
    page = client.get("/bureau/statistics?year=2026")
    assert page.status_code == 200
    assert "领券率" in page.get_data(as_text=True)
    response = client.get("/bureau/statistics.xlsx?year=2026")
    assert response.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(response.data))
    rows = list(book["各地区指标"].iter_rows(values_only=True))
    header, whole = rows[0], rows[1]
    assert whole[0] == "绍兴市" and whole[header.index("发券")] >= 7
    assert [r[0] for r in rows[1:4]] == ["绍兴市", "越城区", "柯桥区"]
    assert "逐月统计" in book.sheetnames


def test_the_export_keeps_the_chosen_districts_months_and_shows_rates_as_percentages(client, supervisor, vouchers):
    response = client.get("/bureau/statistics.xlsx?year=2026&district=330603")
    book = load_workbook(io.BytesIO(response.data))
    assert book["逐月统计"]["A1"].value == "月份（柯桥区）"
    rows = list(book["各地区指标"].iter_rows())
    header = [cell.value for cell in rows[0]]
    claim_rate = rows[1][header.index("领券率")]
    assert isinstance(claim_rate.value, float) and claim_rate.number_format == "0.0%"
    page = client.get("/bureau/statistics?year=2026&district=330603").get_data(as_text=True)
    assert "statistics.xlsx?year=2026&amp;district=330603" in page


def test_a_district_clerk_sees_only_the_district(client, vouchers):
    clerk = f.staff("bureau", region_code="330603")
    db.session.commit()
    staff_sign_in(client, clerk)
    page = client.get("/bureau/statistics?year=2026").get_data(as_text=True)
    assert "柯桥区" in page and "越城区" not in page
    board = build(db.session, f.region("330603"), 2026, now=NOW)
    assert (board.areas[0].tally.issued, board.areas[0].tally.claimed) == (2, 1)  # the city's vouchers held here


def test_a_bad_year_shows_the_current_year(client, supervisor):
    assert client.get("/bureau/statistics?year=abc").status_code == 200
    assert client.get("/bureau/statistics?year=99999").status_code == 200


def test_rollup_command_rebuilds_the_daily_counts(app, vouchers):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["stats", "rollup"])
    assert first.exit_code == 0 and "写入日统计" in first.output
    rebuilt = runner.invoke(args=["stats", "rollup", "--rebuild"])
    assert rebuilt.exit_code == 0
    # Every voucher was issued before today (real time), so all seven are in the roll-up, once.
    assert db.session.scalar(select(func.sum(VoucherMonthlyStat.issued))) == 7


def test_what_counts_in_no_district_has_its_own_row_so_the_table_adds_up(shaoxing, client):
    """An open template's unclaimed stock is issued at city level, in no district: before, the
    city's 发券 was 40 while its districts summed to 0."""
    f.template(name="开放领取券", audience="open", stock=50, claimed_count=10,
               claim_starts_on=date(2026, 2, 1), claim_ends_on=date(2026, 12, 31))
    clerk = f.staff("bureau")
    db.session.commit()

    board = build(db.session, shaoxing, 2026, now=NOW)

    whole, *districts = board.areas
    assert board.unallocated.name == "绍兴市本级（未分到区县）" and board.unallocated.tally.issued == 40
    assert sum(d.tally.issued for d in districts) + board.unallocated.tally.issued == whole.tally.issued

    staff_sign_in(client, clerk)
    assert "绍兴市本级（未分到区县）" in client.get("/bureau/statistics?year=2026").get_data(as_text=True)


def test_an_import_names_the_regions_it_could_not_match(client, supervisor):
    """An import replaces the year's targets: a district's name mistyped must not pass unnoticed."""
    response = upload(client, "province,region,issue_target,use_target\n浙江省,月城区,100,10\n浙江省,越城区,80,8\n".encode())
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "已导入2026年地区任务2行" in page
    assert "其中1行的地区（月城区）与系统中的地区都不匹配" in page


def test_the_annex_table_imports_with_its_own_headers(client, supervisor):
    """Seed 000's annex, pasted as it is: 地区 / 培训人次 (人次) / 全年发券 (张) / 全年用券 (张)."""
    table = "地区,培训人次 (人次),全年发券 (张),全年用券（张）\n越城区,25000,13000,1300\n"
    assert upload(client, table.encode()).status_code == 302
    target = db.session.scalar(select(RegionTarget).where(RegionTarget.region_name == "越城区"))
    assert (target.training_people, target.issue_target, target.use_target) == (25000, 13000, 1300)


@pytest.mark.parametrize("peak, ticks", [(2, ["0", "1", "2"]), (9, ["0", "2", "4", "6", "8", "10"]),
                                         (3, ["0", "1", "2", "3", "4", "5"]), (70, ["0", "25", "50", "75", "100"])])
def test_the_trend_axis_counts_in_whole_numbers(peak, ticks):
    from h5app.statistics.charts import trend_chart

    svg = str(trend_chart([(1, {"claimed": peak})], {"claimed": "领券"}, title="领券"))
    assert re.findall(r'text-anchor="end"[^>]*>([^<]+)<', svg) == ticks
