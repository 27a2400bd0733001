"""The bureau console as a new clerk walks it on a phone: sign in → 制券 (a wrong claim window
first, then a good template and its preview) → 发券 general with the live count and directed to a
class roster → 培训机构 by CSV (a bad file first) → 结算审核 with reasons, payment refused to the
reviewer and made by a second clerk → 资金拨付表 downloaded and opened with openpyxl → 查询统计
→ 批量作废 with a refusal. Every page is checked at 375 px and saved under <artifacts>/screens-bureau/."""
import csv
import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from h5app.extensions import db
from h5app.models import AuditEvent, Institution, Notification, Person, Settlement, StaffUser, Voucher, VoucherTemplate
from h5app.timeutil import local_today, utcnow
from h5app.vouchers import settlement as settlement_service

from .. import factories as f
from .conftest import CHROMIUM, commit, expect, staff_sign_in

SCREENS = "screens-bureau"
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="browser tests need Debian's chromium at /usr/bin/chromium "
                                  "(apt-get install -y chromium); it is not installed")

UNKNOWN_CODE = "9999999999999999"
INSTITUTION_HEADER = ["机构名称", "行政区划编码", "机构地址", "机构电话", "机构编码", "机构类型", "机构专员姓名",
                      "机构专员身份证号码", "培训机构经纬度"]


def sign_in(page, username):
    staff_sign_in(page, username, "/bureau/")


def save(shots, page, name):
    """Screenshot from the top, tables unscrolled: the sticky top bar and the tables' own sideways
    scroll would otherwise be drawn where the last click left them."""
    page.evaluate("() => { window.scrollTo(0, 0); "
                  "document.querySelectorAll('.table').forEach(t => { t.scrollLeft = 0; }); }")
    return shots.check_and_save(page, name)


@contextmanager
def reading():
    """A look at the database that ends its transaction at once: on SQLite every transaction takes
    the write lock (BEGIN IMMEDIATE), so a test that kept one open would stall the server."""
    try:
        yield db.session
    finally:
        db.session.rollback()


def statuses(template_name):
    with reading() as s:
        return sorted(s.scalars(select(Voucher.status).join(VoucherTemplate)
                                .where(VoucherTemplate.name == template_name)))


def settlement_status(seeded):
    with reading() as s:
        return s.get(Settlement, seeded["settlement_id"]).status


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows([INSTITUTION_HEADER, *rows])
    return str(path)


@pytest.fixture
def office():
    """绍兴市 with 越城区; a supervisor who reviews and a second clerk who pays; people to issue to;
    a class with a roster for directed vouchers; a submitted settlement with one good and one weak line."""
    f.region("330602", "越城区", parent="330600")
    reviewer = f.staff("bureau", is_supervisor=True, name="周主管")
    cashier = f.staff("bureau", name="钱出纳")
    for name, groups in (("赵退伍", ["veteran"]), ("钱退伍", ["veteran"]), ("孙残联", ["disabled"])):
        f.person(name=name, groups=groups)
    f.directed_template(name="电工定向培训券", standard_fen=80000)
    roster_class = f.training_class(f.institution(name="越城区电工培训学校"), course_name="低压电工作业培训")
    for name in ("李一", "李二", "李三"):
        f.enrol(roster_class, f.person(name=name))

    paid_class = f.training_class(f.institution(name="绍兴市技师学院"), course_name="中式烹调师培训", sessions=2)
    template = f.template(name="就业技能培训券", audience="targeted")
    good, weak = f.person(name="陈小燕"), f.person(name="孙丽")
    vouchers = {}
    for person, attended, code in ((good, 2, "2345678923456789"), (weak, 0, "3456789234567892")):
        vouchers[person.name] = f.voucher(template, person, "used", code=code, claimed_at=utcnow(), used_at=utcnow(),
                                          class_id=paid_class.id, institution_id=paid_class.institution_id)
        for lesson in paid_class.sessions[:attended]:
            f.check_in(lesson, person)
        f.exam_result(paid_class, person, True)
    db.session.commit()
    made = settlement_service.apply(db.session, paid_class, f.institution_actor(paid_class.institution))
    seeded = dict(reviewer=reviewer.username, cashier=cashier.username, cashier_id=cashier.id, settlement_id=made.id,
                  good=vouchers["陈小燕"].code, weak=vouchers["孙丽"].code)
    commit()
    return seeded


def make_template(page, shots):
    page.get_by_role("link", name="制券").click()
    page.get_by_role("link", name="新建券模板").click()
    today = local_today()
    page.get_by_label("券名称").fill("2026年退役军人技能培训券")
    page.get_by_label("券类型").fill("就业技能培训券")
    page.get_by_label("功能模式").select_option(label="面值券")
    page.get_by_label("发放模式").select_option(label="通用券")
    page.get_by_label("领取范围").select_option(label="仅限发券时选定的人群")
    page.get_by_label("面值（元）").fill("1200")
    page.get_by_label("领取开始").fill(str(today))
    page.get_by_label("领取截止").fill(str(today - timedelta(days=1)))  # before the start: refused
    page.get_by_label("领取后N天内使用（选填）").fill("90")
    page.get_by_label("发放数量（选填，不填不限）").fill("100")
    groups = page.get_by_role("group", name="面向群体（不选则不限）")
    groups.get_by_label("退役军人").check()
    groups.get_by_label("残疾人").check()
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("alert")).to_contain_text("有 1 项需要修改")
    page.get_by_role("link", name="领取截止：领取截止不能早于领取开始").click()  # the summary leads to the field
    expect(page.get_by_label("领取截止")).to_be_focused()
    expect(page.get_by_text("领取截止不能早于领取开始", exact=True)).to_be_visible()
    expect(page.get_by_label("领取截止")).to_have_attribute("aria-invalid", "true")
    with reading() as s:
        assert s.scalar(select(VoucherTemplate).where(VoucherTemplate.name.like("2026年退役军人%"))) is None
    save(shots, page, "template-bad-window")

    page.get_by_label("领取截止").fill(str(today + timedelta(days=60)))
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status")).to_contain_text("券模板已保存为草稿")
    preview = page.locator(".preview")
    expect(preview).to_contain_text("¥1,200.00")
    expect(preview).to_contain_text("领取后90天内使用")
    expect(preview).to_contain_text("100 张")
    save(shots, page, "template-preview")
    with reading() as s:
        made = s.scalar(select(VoucherTemplate).where(VoucherTemplate.name == "2026年退役军人技能培训券"))
        assert (made.status, made.face_value_fen, made.audience, sorted(made.eligible_groups)) == (
            "draft", 120000, "targeted", ["disabled", "veteran"])


def issue_vouchers(page, shots):
    page.goto("/bureau/")
    page.get_by_role("link", name="发券").click()
    page.wait_for_url("**/bureau/issue")
    page.wait_for_load_state("load")  # the live count's script runs deferred; a choice before it is not counted
    general = page.locator("#general-issue")
    general.get_by_label("通用券模板").select_option(label="2026年退役军人技能培训券")
    count = page.locator("#population-count")
    expect(count).to_have_text("符合条件的人数：3 人")  # the template's groups: two veterans, one disabled
    general.get_by_role("group", name="重点群体（不选则按模板条件）").get_by_label("退役军人").check()
    expect(count).to_have_text("符合条件的人数：2 人")
    save(shots, page, "issue-general-count")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    general.get_by_role("button", name="向目标人群发放").click()  # asked first; "取消" issues nothing
    expect(page.locator("#population-count")).to_be_visible()
    assert asked and "确定向所选目标人群发放" in asked[0]
    assert statuses("2026年退役军人技能培训券") == []
    page.once("dialog", lambda dialog: dialog.accept())
    general.get_by_role("button", name="向目标人群发放").click()
    expect(page.get_by_role("status")).to_contain_text("2026年退役军人技能培训券 发放结果：2 张已发放，0 人未发放")
    save(shots, page, "issue-general-done")
    assert statuses("2026年退役军人技能培训券") == ["offered", "offered"]

    page.get_by_label("定向券模板").select_option(label="电工定向培训券（剩余100）")
    page.get_by_label("班期", exact=True).select_option(label=f"越城区电工培训学校 · 低压电工作业培训（{local_today()}）")
    page.get_by_role("button", name="按花名册发放").click()
    expect(page.get_by_role("status")).to_contain_text("电工定向培训券 发放结果：3 张已发放，0 人未发放")
    save(shots, page, "issue-directed-done")
    assert statuses("电工定向培训券") == ["claimed"] * 3
    with reading() as s:  # each holder on the roster is told
        told = s.scalars(select(Person.name).join(Notification, Notification.person_id == Person.id)
                         .join(Voucher, Notification.voucher_id == Voucher.id).join(VoucherTemplate)
                         .where(VoucherTemplate.name == "电工定向培训券")).all()
        assert sorted(told) == ["李一", "李三", "李二"]


def onboard_institutions(page, shots, tmp_path):
    officer_id = f.valid_id_number()
    bad = write_csv(tmp_path / "bad.csv", [
        ["柯桥区新星职业培训学校", "330602", "柯桥区笛扬路1号", "0575-81230000", "AB", "民办职业培训学校", "沈一",
         officer_id, "30.0,120.5"],
        ["上虞区启航培训中心", "999999", "上虞区人民路2号", "0575-82220000", "SY000002", "民办职业培训学校", "沈二",
         officer_id[:-1] + ("0" if officer_id[-1] != "0" else "1"), ""],
    ])
    good = write_csv(tmp_path / "good.csv", [
        ["柯桥区新星职业培训学校", "330602", "柯桥区笛扬路1号", "0575-81230000", "KQ000001", "民办职业培训学校", "沈一",
         officer_id, "30.0023,120.5810"],
        ["越城区启航培训中心", "330602", "越城区人民路2号", "0575-82220000", "YC000002", "行业培训机构", "沈二",
         f.valid_id_number(), "30.01,120.58;30.02,120.59"],
    ])
    page.goto("/bureau/")
    page.get_by_role("link", name="培训机构").click()
    page.get_by_label("机构信息采集表").set_input_files(bad)
    page.get_by_role("button", name="上传并添加").click()
    expect(page.get_by_role("alert")).to_contain_text("未添加任何机构")
    errors = page.locator(".roster-errors")
    expect(errors.get_by_role("row").filter(has_text="第2行").filter(has_text="机构编码")).to_have_count(1)
    for problem in ("行政区划编码不存在", "机构专员", "培训机构经纬度"):
        expect(errors.get_by_role("row").filter(has_text="第3行").filter(has_text=problem).first).to_be_visible()
    save(shots, page, "institutions-bad-csv")
    with reading() as s:
        assert s.scalar(select(Institution).where(Institution.name.in_(["柯桥区新星职业培训学校", "上虞区启航培训中心"]))) is None

    page.get_by_label("机构信息采集表").set_input_files(good)
    page.get_by_role("button", name="上传并添加").click()
    expect(page.get_by_text("已添加 2 家机构")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="柯桥区新星职业培训学校")
    expect(row).to_contain_text("officer_KQ000001")
    password = row.locator("code.password").inner_text()
    save(shots, page, "institutions-added")
    with reading() as s:
        officer = s.scalar(select(StaffUser).where(StaffUser.username == "officer_KQ000001"))
        assert officer.institution.code == "KQ000001" and len(officer.institution.sites) == 1
        assert officer.must_change_password and officer.check_password(password)
        assert len(s.scalar(select(Institution).where(Institution.code == "YC000002")).sites) == 2


def review_and_pay(page, make_page, shots, seeded, tmp_path):
    number = f"#{seeded['settlement_id']}"
    page.goto("/bureau/")
    expect(page.get_by_text("待处理结算申请：1 件")).to_be_visible()
    page.get_by_role("link", name="结算审核").click()
    save(shots, page, "settlements")
    page.get_by_role("link", name=number).click()
    good = page.get_by_role("row").filter(has_text="陈*燕")
    weak = page.get_by_role("row").filter(has_text="孙*")
    expect(good).to_contain_text("符合")
    expect(weak).to_contain_text("不符合：打卡率0.0%")
    expect(weak.get_by_label("通过")).to_be_disabled()
    good.get_by_label("通过").check()
    weak.get_by_label("驳回", exact=True).check()
    weak.get_by_label("驳回原因").fill("打卡率不足，未达到结算条件")
    save(shots, page, "settlement-review")
    page.get_by_role("button", name="保存审核意见").click()
    expect(page.get_by_role("status")).to_contain_text("审核意见已保存")
    expect(weak).to_contain_text("驳回：打卡率不足")
    assert settlement_status(seeded) == "reviewed"

    # The reviewer may not also pay: no button, and a note saying who must.
    expect(page.get_by_text("须由另一名工作人员标记拨付")).to_be_visible()
    expect(page.get_by_role("button", name="标记已拨付")).to_have_count(0)
    save(shots, page, "settlement-reviewed")
    assert settlement_status(seeded) == "reviewed"

    cashier = make_page()  # a second clerk in a second browser
    sign_in(cashier, seeded["cashier"])
    cashier.get_by_role("link", name="结算审核").click()
    cashier.get_by_role("link", name=number).click()
    cashier.get_by_role("button", name="标记已拨付").click()
    expect(cashier.get_by_role("status")).to_contain_text("已标记拨付 1,500.00 元，相关培训券已核销")
    expect(cashier.get_by_text("已于")).to_be_visible()
    save(shots, cashier, "settlement-paid")
    with reading() as s:
        paid = s.get(Settlement, seeded["settlement_id"])
        assert (paid.status, paid.approved_total_fen, paid.paid_by_id) == ("paid", 150000, seeded["cashier_id"])
    assert statuses("就业技能培训券") == ["settled", "used"]

    with cashier.expect_download() as download:
        cashier.get_by_role("link", name="下载 Excel").click()
    assert download.value.suggested_filename == f"disbursement-{seeded['settlement_id']}.xlsx"
    path = tmp_path / "sheet.xlsx"
    download.value.save_as(path)
    rows = [list(r) for r in load_workbook(path).active.iter_rows(values_only=True)]
    assert rows[0] == ["申请编号", "收款方", "班期", "券码", "持券人", "身份证号", "打卡率", "补贴金额（元）"]
    assert len(rows) == 3  # the approved line and the total; the rejected line is not paid
    assert str(rows[1][0]) == str(seeded["settlement_id"]) and "*" in rows[1][5]
    assert rows[1][1:5] == ["绍兴市技师学院", "中式烹调师培训", seeded["good"], "陈小燕"]
    assert rows[1][6] == 1 and rows[1][7] == 1500  # numbers, so the clerk can sum them in Excel
    assert rows[2][0] == "合计" and rows[2][7] == 1500
    assert seeded["weak"] not in str(rows)


def read_dashboard(page, shots):
    page.goto("/bureau/")
    page.get_by_role("link", name="查询统计").click()
    whole = page.locator(".stat-row").first
    # Seeded: 2 used (one now settled); the walk: 2 offered + 3 directed, claimed at once.
    for label, value in (("发券", 7), ("领券", 5), ("用券", 2), ("核销", 1)):
        expect(whole.locator("li").filter(has_text=label).locator("strong")).to_have_text(str(value))
    claim_rate = page.locator(".kpi").filter(has_text="领券率")
    expect(claim_rate.locator(".kpi-value")).to_have_text("71.4%")
    expect(page.locator(".kpi").filter(has_text="通用券发放率").locator(".kpi-value")).to_have_text("57.1%")
    save(shots, page, "statistics")
    expect(page.get_by_role("link", name="年度目标")).to_have_attribute("href", re.compile(r"/bureau/statistics/targets"))


def read_targets(page, shots):
    """Last of the walk: the page a supervisor imports the year's targets on, linked from 查询统计."""
    page.goto("/bureau/statistics")
    page.get_by_role("link", name="年度目标").click()
    page.wait_for_url("**/bureau/statistics/targets*")
    expect(page.get_by_role("heading", name="导入目标表")).to_be_visible()
    save(shots, page, "statistics-targets")


def revoke_vouchers(page, shots, seeded):
    """One claimed directed voucher and one offered general one are revoked; the settled voucher and
    an unknown code are refused. (Codes with few letters: the page check counts Latin letters.)"""
    def fewest_letters(name, status):
        with reading() as s:
            codes = s.scalars(select(Voucher.code).join(VoucherTemplate)
                              .where(VoucherTemplate.name == name, Voucher.status == status)).all()
        return min(codes, key=lambda code: sum(c.isalpha() for c in code))

    claimed, offered = fewest_letters("电工定向培训券", "claimed"), fewest_letters("2026年退役军人技能培训券", "offered")
    page.goto("/bureau/")
    page.get_by_role("link", name="批量作废").click()
    page.get_by_label("券码").fill(f"{claimed}\n{offered}，{seeded['good']}\n{UNKNOWN_CODE}")
    page.get_by_label("作废原因").fill("花名册重复，重新发放")
    page.once("dialog", lambda dialog: dialog.accept())  # 作废 cannot be undone: the page asks first
    page.get_by_role("button", name="作废").click()
    expect(page.get_by_role("heading", name="处理结果：作废 2 张，未作废 2 张")).to_be_visible()
    expect(page.get_by_label("券码")).to_have_value("")  # a second click cannot revoke the same list again
    for code in (claimed, offered):
        expect(page.get_by_role("row").filter(has_text=code)).to_contain_text("已作废")
    expect(page.get_by_role("row").filter(has_text=seeded["good"])).to_contain_text("只能作废已领取或待领取的培训券")
    expect(page.get_by_role("row").filter(has_text=UNKNOWN_CODE)).to_contain_text("未找到该培训券")
    save(shots, page, "revoke-results")
    assert statuses("电工定向培训券") == ["claimed", "claimed", "revoked"]
    assert statuses("2026年退役军人技能培训券") == ["offered", "revoked"]
    assert statuses("就业技能培训券") == ["settled", "used"]
    with reading() as s:
        reasons = s.scalars(select(AuditEvent.reason).where(AuditEvent.action == "voucher.revoke")).all()
        assert reasons == ["花名册重复，重新发放"] * 2


def test_bureau_console_journey(page, make_page, shots, office, tmp_path):
    """sign in → 制券 → 发券 → 培训机构 → 结算审核 and payment → 资金拨付表 → 查询统计 → 批量作废."""
    page.goto("/login")
    save(shots, page, "login")
    sign_in(page, office["reviewer"])
    expect(page.get_by_text("周主管")).to_be_visible()
    save(shots, page, "home")
    make_template(page, shots)
    issue_vouchers(page, shots)
    onboard_institutions(page, shots, tmp_path)
    review_and_pay(page, make_page, shots, office, tmp_path)
    read_dashboard(page, shots)
    revoke_vouchers(page, shots, office)
    read_targets(page, shots)
    db.session.rollback()
