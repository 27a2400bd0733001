"""查询统计 at national scale: the page costs the same statements however many districts and templates
a region has, today's live counts read only the viewer's region (never the whole country, filtered
afterwards), each voucher counts in the same area live as after the roll-up, and the counts read
through indexes that fit what they filter on."""
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import event

from h5app.extensions import db
from h5app.models import KpiTarget, RegionTarget
from h5app.models.vouchers import OFFERED, SETTLED, USED
from h5app.statistics import indicators
from h5app.statistics.indicators import build
from h5app.timeutil import local_at, local_today, utcnow

from . import factories as f
from .auth_support import staff_sign_in
from .page_support import statements

# The clerk, the region, how far the roll-up went (read, not locked), the districts, the templates,
# the rolled-up months, today's four events (issued, claimed, used, settled) of the district
# templates from the index alone and four of the city's and province's templates with their
# holders, the open templates' offered vouchers, institutions, classes, region targets, KPI targets.
STATISTICS_STATEMENTS = 19


def city_with(n: int):
    """绍兴市 with `n` districts and `n` templates of its own (district and city ones, some open with
    a stock), a province template, and in every district an institution, a class, a target and
    vouchers issued earlier and claimed, used and settled today."""
    today, now = local_today(), utcnow()
    earlier = now - timedelta(days=3) if (now - timedelta(days=3)).year == now.year else now
    f.region("330000", "浙江省")
    city = f.region("330600", "绍兴市", parent="330000")
    districts = [f.region(f"3306{i + 1:02d}", f"测试区{i + 1}", parent="330600") for i in range(n)]
    province_template = f.template(name="省级券", region_code="330000", stock=None, audience="targeted")
    templates = [province_template]
    for i in range(n):
        open_stock = i % 3 == 0
        templates.append(f.template(
            name=f"券{i}", region_code=districts[i].code if i % 2 == 0 else "330600",
            audience="open" if open_stock else "targeted", stock=1000 if open_stock else None,
            claim_starts_on=date(today.year, 1, 1)))
    for i, district in enumerate(districts):
        school = f.institution(region_code=district.code)
        f.training_class(school, starts_on=today, ends_on=today + timedelta(days=5))
        db.session.add(RegionTarget(year=today.year, province="浙江省", region_name=district.name,
                                    region_code=district.code, issue_target=100, use_target=10, scope_code="330600"))
        holder = f.person(region_code=district.code)
        for template in (templates[i % len(templates)], templates[(i + 1) % len(templates)]):
            f.voucher(template, holder, status=SETTLED, created_at=earlier, offered_at=earlier, claimed_at=now,
                      used_at=now, settled_at=now, institution_id=school.id)
        f.voucher(templates[(i + 2) % len(templates)], holder, status=OFFERED, created_at=now, offered_at=now)
    db.session.add(KpiTarget(year=today.year, code="claim_rate", name="领券率", q4_target=0.4, scope_code="330000"))
    db.session.commit()
    return city


def page_statements(client) -> list[str]:
    """One GET of 查询统计 after the day's roll-up is done: the statements it sent."""
    db.session.close()
    assert client.get("/bureau/statistics").status_code == 200  # the first view of the day rolls up
    db.session.close()
    with statements() as seen:
        response = client.get("/bureau/statistics")
    assert response.status_code == 200
    assert "绍兴市" in response.get_data(as_text=True)
    return seen


@pytest.mark.parametrize("n", [3, 30])
def test_the_page_costs_the_same_statements_for_3_and_30_districts_and_templates(client, n):
    city_with(n)
    clerk = f.staff("bureau", region_code="330600")
    db.session.commit()
    staff_sign_in(client, clerk)
    seen = page_statements(client)
    assert len(seen) == STATISTICS_STATEMENTS, "\n\n".join(seen)
    assert not any("FOR UPDATE" in statement for statement in seen)  # a rolled-up day takes no lock


# ---- only the viewer's region, live as after the roll-up ----

NOW = local_at(date(2026, 11, 20), datetime.min.time()) + timedelta(hours=12)  # 2026-11-20 12:00 Beijing
TODAY = NOW - timedelta(hours=2)
EARLIER = NOW - timedelta(days=30)


@pytest.fixture
def country():
    """Vouchers used today in 绍兴 (two districts), 杭州 and 无锡, of city, district, province and
    other cities' templates, some held by people from elsewhere."""
    f.region("330000", "浙江省")
    f.region("330600", "绍兴市", parent="330000")
    f.region("330602", "越城区", parent="330600")
    f.region("330603", "柯桥区", parent="330600")
    f.region("330100", "杭州市", parent="330000")
    f.region("330102", "上城区", parent="330100")
    f.region("320000", "江苏省")
    f.region("320200", "无锡市", parent="320000")
    templates = {
        "city": f.template(name="绍兴市券", region_code="330600", stock=None),
        "yuecheng": f.template(name="越城区券", region_code="330602", stock=None),
        "province": f.template(name="浙江省券", region_code="330000", stock=None),
        "hangzhou": f.template(name="杭州市券", region_code="330100", stock=None),
        "wuxi": f.template(name="无锡市券", region_code="320200", stock=None),
    }
    for name, holder_region in [
        ("city", "330602"), ("city", "330603"), ("city", "320200"),  # an outsider counts in the city itself
        ("yuecheng", "330603"), ("yuecheng", "110101"),  # a district's voucher counts in the district
        ("province", "330602"), ("province", "330102"),
        ("hangzhou", "330602"), ("hangzhou", "330102"),
        ("wuxi", "320200"), ("wuxi", "320200"),
    ]:
        f.voucher(templates[name], f.person(region_code=holder_region), status=USED, created_at=EARLIER,
                  offered_at=EARLIER, claimed_at=EARLIER, used_at=TODAY)
    db.session.commit()
    return templates


def used_by_area(board) -> dict[str, int]:
    return {area.name: area.tally.used for area in board.areas}


@pytest.fixture
def live_reads(monkeypatch):
    """The (day, template_id, holder's region) keys today's live counts read from the database."""
    keys = []

    def recording(*args, **kwargs):
        counts = count_events(*args, **kwargs)
        keys.extend(counts)
        return counts

    count_events = indicators.count_events
    monkeypatch.setattr(indicators, "count_events", recording)
    return keys


def test_todays_counts_of_a_city_read_only_the_city(country, live_reads):
    city = f.region("330600")
    board = build(db.session, city, 2026, now=NOW)
    assert used_by_area(board) == {"绍兴市": 6, "越城区": 4, "柯桥区": 1}
    ids = {name: t.id for name, t in country.items()}
    read = {(template_id, region_code) for _day, template_id, region_code in live_reads}
    assert {template_id for template_id, _region in read} <= {ids["city"], ids["yuecheng"], ids["province"]}
    # The province's voucher held in 杭州 is not read for 绍兴, nor anything of 杭州's or 无锡's.
    assert (ids["province"], "330102") not in read
    assert read >= {(ids["city"], "330602"), (ids["city"], "330603"), (ids["province"], "330602")}


def test_todays_counts_of_a_province_read_only_the_province(country, live_reads):
    board = build(db.session, f.region("330000"), 2026, now=NOW)
    assert used_by_area(board) == {"浙江省": 9, "绍兴市": 6, "杭州市": 3}
    wuxi = country["wuxi"].id
    assert live_reads and all(template_id != wuxi for _day, template_id, _region in live_reads)


@pytest.mark.parametrize("code", ["330600", "330602", "330000", "330100", "320200"])
def test_each_voucher_counts_in_the_same_area_live_and_after_the_roll_up(country, code):
    region = f.region(code)
    live = used_by_area(build(db.session, region, 2026, now=NOW))
    rolled = used_by_area(build(db.session, region, 2026, now=NOW + timedelta(days=1)))
    assert rolled == live
    assert sum(live.values()) > 0


def test_another_years_page_counts_no_live_events(country):
    board = build(db.session, f.region("330600"), 2025, now=NOW)
    assert used_by_area(board)["绍兴市"] == 0


# ---- the indexes the counts read (SQLite's plans: PostgreSQL picks by its statistics) ----

def test_todays_events_and_offered_vouchers_are_read_through_their_indexes(client):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's plans; PostgreSQL chooses by its statistics (bench/dashboard.py)")
    city_with(3)
    clerk = f.staff("bureau", region_code="330600")
    db.session.commit()
    staff_sign_in(client, clerk)
    db.session.close()
    client.get("/bureau/statistics")
    seen = []

    def record(_connection, _cursor, statement, parameters, *_args):
        seen.append((statement, parameters))

    db.session.close()
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        client.get("/bureau/statistics")
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    plans = {}
    for statement, parameters in seen:
        rows = db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        plans[statement] = " ".join(row[3] for row in rows)
    for event_column in ("created_at", "claimed_at", "used_at", "settled_at"):
        live = [plan for statement, plan in plans.items() if f"date(vouchers.{event_column}," in statement]
        assert len(live) == 2
        assert all(f"INDEX ix_vouchers_template_{event_column} (template_id=? AND {event_column}>?)" in plan
                   for plan in live), live
    offered = [plan for statement, plan in plans.items() if "'offered'" in statement]
    assert len(offered) == 1 and "ix_vouchers_template_status_offered" in offered[0], offered
    rolled = [plan for statement, plan in plans.items() if "FROM voucher_monthly_stats" in statement]
    assert len(rolled) == 1 and "ix_voucher_monthly_stats_template_month" in rolled[0], rolled
