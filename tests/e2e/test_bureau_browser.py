"""The bureau console as a new clerk walks it on a phone: sign in → 制券 (a wrong claim window
first, then a good template and its preview) → 发券 general with the live count and directed to a
class roster → 培训机构 by CSV (a bad file first) → 结算审核 with reasons, payment refused to the
reviewer and made by a second clerk with the bank's 回单号 (none first: refused) → the 资金拨付表
downloaded and opened with openpyxl → 查询统计 → 批量作废 with a refusal.

Then the money in 重庆市, where the face value is only a reference: the reviewer types the amount
(above the maximum first: refused) → 待拨付 and the region's 资金拨付表, 30 entries a page → a payment
refused for want of a payee account → a batch with one line the bank returned → the institution's
officer changes the account in 机构信息 and the bureau confirms it → the returned line paid again →
the application's 资金拨付表 with each batch's account in full → 已拨付. Every page is checked at
375 px and saved under <artifacts>/screens-bureau/."""
import csv
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from h5app.codes import random_code
from h5app.extensions import db
from h5app.models import (
    AuditEvent, Institution, Notification, PayeeAccount, Person, Settlement, SettlementLine, StaffUser, Voucher,
    VoucherTemplate,
)
from h5app.models.classes import CLASS_COMPLETED
from h5app.timeutil import local_today, utcnow
from h5app.vouchers import settlement as settlement_service

from .. import factories as f
from .conftest import CHROMIUM, choose_template, commit, expect, reading, save, staff_sign_in

SCREENS = "screens-bureau"
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="browser tests need Debian's chromium at /usr/bin/chromium "
                                  "(apt-get install -y chromium); it is not installed")

UNKNOWN_CODE = "9999999999999999"
SEGREGATION_NOTE = "您审核了这份申请，按照审核与拨付分离的规定，须由另一名工作人员办理拨付。"
SHEET_HEADER = ["序号", "收款方类型", "收款方", "户名", "开户行", "账号", "金额（元）", "券数", "券码", "结算申请编号",
                "银行回单号"]
SHAOXING_REFERENCE = "330600202612070001"  # bank references: digits, as on a 回单 (the page check counts letters)
CQ_SCHOOL, CQ_NO_ACCOUNT = "重庆市渝中区职业技能培训学校", "重庆市沙坪坝区新华技工培训学校"
CQ_CODES = ("5552345678923456", "5553456789234567")  # 张晓梅, 李国强
CQ_OLD_BANK, CQ_OLD_ACCOUNT = "中国建设银行重庆渝中支行", "50050110360000001234"
CQ_NEW_BANK, CQ_NEW_ACCOUNT = "中国工商银行重庆解放碑支行", "50001102360050123456"
CQ_FIRST_REFERENCE, CQ_SECOND_REFERENCE = "500000202612070001", "500000202612070002"
CQ_FAILURE = "账号有误，银行退回"
CQ_BACKGROUND = 30  # reviewed applications of another school: with ours, 31 entries (the one without an account is left out)
INSTITUTION_HEADER = ["机构名称", "行政区划编码", "机构地址", "机构电话", "机构编码", "机构类型", "机构专员姓名",
                      "机构专员身份证号码", "培训机构经纬度"]


def sign_in(page, username):
    staff_sign_in(page, username, "/bureau/")


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

    paid_class = f.training_class(f.institution(name="绍兴市技师学院"), course_name="中式烹调师培训", sessions=2,
                                  status=CLASS_COMPLETED)  # 结业 before 结算
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
    account = db.session.scalar(select(PayeeAccount).where(PayeeAccount.institution_id == paid_class.institution_id))
    seeded = dict(reviewer=reviewer.username, cashier=cashier.username, cashier_id=cashier.id, settlement_id=made.id,
                  good=vouchers["陈小燕"].code, weak=vouchers["孙丽"].code, account_number=account.account_number)
    commit()
    return seeded


def trained(template, course, name, code=None):
    """A worker whose voucher was used in `course`, every session checked in, the exam passed."""
    who = f.person(name=name, region_code="500103")
    voucher = f.voucher(template, who, "used", code=code or random_code(), claimed_at=utcnow(), used_at=utcnow(),
                        class_id=course.id, institution_id=course.institution_id)
    for lesson in course.sessions:
        f.check_in(lesson, who)
    f.exam_result(course, who, True)
    return voucher


def background_amount(n):
    return 60000 + 150 * n  # ¥600.00, ¥601.50, …: amounts with cents, so the sums are not round


@pytest.fixture
def chongqing():
    """重庆市, where the face value is only a reference and the bureau approves the amount: its own
    reviewer and cashier; a school whose class of two finished with an application waiting for
    review, and that school's officer; 30 applications of another school already reviewed, and one
    of a third school with no payee account — 31 entries on the 资金拨付表, so it runs to a second page,
    and a note of the one left out."""
    f.region("500000", "重庆市", "chongqing")
    reviewer = f.staff("bureau", region_code="500000", is_supervisor=True, name="吴科长")
    cashier = f.staff("bureau", region_code="500000", name="郑出纳")
    template = f.template("chongqing", name="重庆市职业技能培训券", region_code="500000", face_value_fen=100000)
    school = f.institution(payee=False, name=CQ_SCHOOL, region_code="500103")
    old = f.payee_account(institution_id=school.id, account_name=CQ_SCHOOL, bank_name=CQ_OLD_BANK,
                          account_number=CQ_OLD_ACCOUNT)
    officer = f.staff("officer", institution_id=school.id, name="刘专员")
    course = f.training_class(school, course_name="中式面点师培训", status=CLASS_COMPLETED)
    for name, code in zip(("张晓梅", "李国强"), CQ_CODES, strict=True):
        trained(template, course, name, code)
    db.session.commit()
    ours = settlement_service.apply(db.session, course, f.institution_actor(school))

    others = (f.institution(name="重庆市江北区家政服务培训中心", region_code="500105"),
              f.institution(payee=False, name=CQ_NO_ACCOUNT, region_code="500106"))
    earlier_clerk = f.bureau_actor("500000")
    for n in range(CQ_BACKGROUND + 1):
        school_n = others[0] if n < CQ_BACKGROUND else others[1]
        course_n = f.training_class(school_n, sessions=1, course_name="家政服务员培训", status=CLASS_COMPLETED)
        voucher = trained(template, course_n, "王建国")
        db.session.commit()
        made = settlement_service.apply(db.session, course_n, f.institution_actor(school_n))
        settlement_service.review(db.session, made, earlier_clerk, approve=[voucher.code],
                                  amounts={voucher.code: background_amount(n) if n < CQ_BACKGROUND else 100000})
    seeded = dict(reviewer=reviewer.username, cashier=cashier.username, cashier_id=cashier.id,
                  officer=officer.username, school_id=school.id, old_account_id=old.id, settlement_id=ours.id,
                  no_account_id=made.id)
    commit()
    return seeded


def download_sheet(page, path, filename):
    """The page's 资金拨付表 as Excel, through the browser's download, read back with openpyxl."""
    with page.expect_download() as download:
        page.get_by_role("link", name="下载 Excel").click()
    assert download.value.suggested_filename == filename
    download.value.save_as(path)
    return [list(row) for row in load_workbook(path).active.iter_rows(values_only=True)]


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
    choose_template(general.get_by_label("通用券模板"), "2026年退役军人技能培训券")
    count = page.locator("#population-count")
    expect(count).to_have_text("符合条件的人数：3 人")  # the template's groups: two veterans, one disabled
    general.get_by_role("group", name="重点群体（可多选，不选则按券模板条件）").get_by_label("退役军人").check()
    expect(count).to_have_text("符合条件的人数：2 人")
    save(shots, page, "issue-general-count")
    general.get_by_role("button", name="预览").click()
    page.wait_for_url("**/bureau/issue/general?**")
    expect(page.locator("#preview-count")).to_have_text("2")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="确认向2人发放").click()  # asked first; "取消" issues nothing
    expect(page.locator("#preview-count")).to_be_visible()
    assert asked and "确定向这2人发放“2026年退役军人技能培训券”吗" in asked[0]
    assert statuses("2026年退役军人技能培训券") == []
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="确认向2人发放").click()
    page.wait_for_url("**/bureau/issue/tasks/*")
    expect(page.get_by_role("status")).to_contain_text("发放完成：已向 2 人发放，0 人已持有该券未重复发放")
    save(shots, page, "issue-general-done")
    assert statuses("2026年退役军人技能培训券") == ["offered", "offered"]
    page.get_by_role("link", name="返回发券").click()

    choose_template(page.get_by_label("定向券模板"), "电工定向培训券")
    page.get_by_label("班期", exact=True).select_option(label=f"越城区电工培训学校 · 低压电工作业培训（{local_today()}）")
    page.get_by_role("button", name="预览发放名单").click()  # who gets one, who is skipped and why, first
    expect(page.locator("#will-issue")).to_contain_text("将发放 3 张（花名册 3 人）")
    expect(page.locator("#skipped")).to_contain_text("没有跳过的学员")
    save(shots, page, "issue-directed-preview")
    assert statuses("电工定向培训券") == []
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="确认发放（3张）").click()
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
    number = f"申请 #{seeded['settlement_id']}"
    page.goto("/bureau/")
    expect(page.get_by_text("待处理结算申请：1 件")).to_be_visible()
    page.get_by_role("link", name="结算审核").click()
    save(shots, page, "settlements")
    page.get_by_role("link", name=number, exact=True).click()
    good = page.get_by_role("row").filter(has_text="陈*燕")
    weak = page.get_by_role("row").filter(has_text="孙*")
    expect(good).to_contain_text("符合")
    expect(weak).to_contain_text("不符合：打卡率0.0%")
    expect(weak.get_by_label("通过", exact=True)).to_be_disabled()
    expect(good.get_by_label(re.compile("审核金额"))).to_have_count(0)  # Shaoxing pays the standard: no amount box
    good.get_by_label("通过", exact=True).check()
    weak.get_by_label("驳回", exact=True).check()
    weak.get_by_label("驳回原因").fill("打卡率不足，未达到结算条件")
    save(shots, page, "settlement-review")
    page.get_by_role("button", name="保存审核意见").click()
    expect(page.get_by_role("status")).to_contain_text("审核意见已保存")
    expect(weak).to_contain_text("驳回：打卡率不足")
    assert settlement_status(seeded) == "reviewed"

    # The reviewer may not also pay: no form, and a note saying who must.
    expect(page.get_by_role("note")).to_have_text(SEGREGATION_NOTE)
    expect(page.get_by_role("button", name="确认拨付")).to_have_count(0)
    save(shots, page, "settlement-reviewed")
    assert settlement_status(seeded) == "reviewed"

    cashier = make_page()  # a second clerk in a second browser
    sign_in(cashier, seeded["cashier"])
    cashier.get_by_role("link", name="结算审核").click()
    cashier.get_by_role("link", name="待拨付", exact=True).click()
    cashier.get_by_role("link", name=number, exact=True).click()
    expect(cashier.get_by_label("拨付日期")).to_have_value(local_today().isoformat())
    cashier.get_by_role("button", name="确认拨付").click()  # no bank reference: refused, nothing paid
    expect(cashier.get_by_role("alert").first).to_have_text("拨付信息有误，请按提示修改")
    expect(cashier.get_by_text("请填写银行回单号（流水号）", exact=True)).to_be_visible()
    expect(cashier.get_by_label("银行回单号（流水号）")).to_have_attribute("aria-invalid", "true")
    save(shots, cashier, "settlement-pay-no-reference")
    assert settlement_status(seeded) == "reviewed"
    assert statuses("就业技能培训券") == ["used", "used"]

    cashier.get_by_label("银行回单号（流水号）").fill(SHAOXING_REFERENCE)
    cashier.get_by_role("button", name="确认拨付").click()
    expect(cashier.get_by_role("status")).to_have_text("已拨付 1 行，共 1,500.00 元，相关培训券已核销")
    expect(cashier.locator(".badge").first).to_have_text("已拨付")
    expect(cashier.get_by_text("全部拨付")).to_be_visible()
    expect(cashier.get_by_text(f"回单号 {SHAOXING_REFERENCE}")).to_be_visible()
    expect(cashier.get_by_role("button", name="确认拨付")).to_have_count(0)
    save(shots, cashier, "settlement-paid")
    with reading() as s:
        paid = s.get(Settlement, seeded["settlement_id"])
        assert (paid.status, paid.approved_total_fen, paid.paid_by_id) == ("paid", 150000, seeded["cashier_id"])
        assert [(b.reference, b.paid_on, b.paid_lines) for b in paid.batches] == [
            (SHAOXING_REFERENCE, local_today(), 1)]
    assert statuses("就业技能培训券") == ["settled", "used"]

    rows = download_sheet(cashier, tmp_path / "sheet.xlsx", f"资金拨付表-结算申请{seeded['settlement_id']}.xlsx")
    assert rows[0][0] == "绍兴市人力资源和社会保障局 资金拨付表"
    assert rows[1][0].startswith(f"制表日期 {local_today().isoformat()}")
    assert rows[2] == SHEET_HEADER
    # One entry: the approved line, to the institution's account in full; the rejected line is not paid.
    assert rows[3] == [1, "培训机构", "绍兴市技师学院", "绍兴市技师学院", "中国工商银行绍兴越城支行",
                       seeded["account_number"], 1500, 1, seeded["good"], seeded["settlement_id"], SHAOXING_REFERENCE]
    assert rows[4][0] == "本页合计" and rows[4][6:8] == [1500, 1]  # numbers, so Excel can sum them
    assert rows[5][0] == "总计" and rows[5][6:8] == [1500, 1]
    assert rows[6][0].startswith("经办人") and len(rows) == 7
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
    """sign in → 制券 → 发券 → 培训机构 → 结算审核 and payment with a 回单号 → 资金拨付表 → 查询统计 → 批量作废."""
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


# --- 重庆市: amounts the bureau approves, a line the bank returns, the payee account fixed ---------

def masked(number):
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def line_states(seeded):
    """Per line, by voucher code: (voucher status, decision, approved, paid, failure reason, account paid to)."""
    with reading() as s:
        lines = s.scalars(select(SettlementLine).where(SettlementLine.settlement_id == seeded["settlement_id"])
                          .order_by(SettlementLine.id)).all()
        return {line.voucher.code: (line.voucher.status, line.decision, line.approved_amount_fen,
                                    line.paid_amount_fen, line.failure_reason, line.payee_account_id)
                for line in lines}


def accounts_of(seeded):
    with reading() as s:
        return [(a.account_number, a.bank_name, a.status) for a in s.scalars(
            select(PayeeAccount).where(PayeeAccount.institution_id == seeded["school_id"]).order_by(PayeeAccount.id))]


def review_amounts(page, shots, seeded):
    """The reviewer types the amount for one line: above the maximum first (refused, nothing saved),
    then below it; the other line is approved at the maximum by leaving the box empty."""
    first_code, second_code = CQ_CODES
    number = f"申请 #{seeded['settlement_id']}"
    sign_in(page, seeded["reviewer"])
    expect(page.get_by_text("待处理结算申请：32 件")).to_be_visible()  # ours waits for review, 31 for payment
    page.get_by_role("link", name="结算审核").click()
    expect(page.locator("table tbody tr")).to_have_count(1)  # 待审核: ours only
    page.get_by_role("link", name=number, exact=True).click()
    first = page.get_by_role("row").filter(has_text="张*梅")
    second = page.get_by_role("row").filter(has_text="李*强")
    for row in (first, second):
        expect(row).to_contain_text("参考金额 ¥1,000.00")
    amount = first.get_by_label("审核金额（元，不超过 ¥1,000.00）")
    first.get_by_label("通过", exact=True).check()
    amount.fill("1200")
    second.get_by_label("通过", exact=True).check()
    page.get_by_role("button", name="保存审核意见").click()
    expect(page.get_by_role("alert").filter(has_text="审核意见有误，未做任何更改")).to_be_visible()
    expect(page.get_by_role("alert").filter(has_text="券码")).to_have_text(
        f"券码 …{first_code[-4:]}：审核金额¥1,200.00高于该行的补贴上限¥1,000.00")
    save(shots, page, "cq-review-above-maximum")
    assert settlement_status(seeded) == "submitted"
    assert {code: state[1:3] for code, state in line_states(seeded).items()} == {
        first_code: ("pending", None), second_code: ("pending", None)}

    first.get_by_label("通过", exact=True).check()  # the page after a refusal: choose again
    amount.fill("860")
    second.get_by_label("通过", exact=True).check()
    save(shots, page, "cq-review-amount")
    page.get_by_role("button", name="保存审核意见").click()
    expect(page.get_by_role("status")).to_contain_text("审核意见已保存")
    expect(first).to_contain_text("通过，待拨付 ¥860.00")
    expect(second).to_contain_text("通过，待拨付 ¥1,000.00")
    expect(page.get_by_text("审核通过金额：¥1,860.00")).to_be_visible()
    expect(page.get_by_role("note")).to_have_text(SEGREGATION_NOTE)
    expect(page.get_by_role("button", name="确认拨付")).to_have_count(0)
    save(shots, page, "cq-reviewed")
    assert settlement_status(seeded) == "reviewed"
    assert line_states(seeded) == {first_code: ("used", "approved", 86000, None, None, None),
                                   second_code: ("used", "approved", 100000, None, None, None)}


def region_sheet(cashier, shots, seeded, tmp_path):
    """待拨付 and the region's 资金拨付表, made before paying: 31 entries, 30 a page; the payee without an
    account is left out of the sheet (it cannot be paid) and noted under it."""
    cashier.get_by_role("link", name="结算审核").click()
    cashier.get_by_role("link", name="待拨付", exact=True).click()
    background = [background_amount(n) / 100 for n in range(CQ_BACKGROUND)]
    total = 1860 + sum(background) + 1000
    expect(cashier.get_by_text(f"共 32 份 · 审核通过 ¥{total:,.2f} · 已拨付 ¥0.00")).to_be_visible()
    expect(cashier.get_by_role("row").filter(has_text=CQ_NO_ACCOUNT)).to_contain_text("缺少收款账户")
    expect(cashier.get_by_role("row").filter(has_text=CQ_SCHOOL)).not_to_contain_text("缺少收款账户")
    save(shots, cashier, "cq-settlements-to-pay")

    path = tmp_path / "region.xlsx"
    rows = download_sheet(cashier, path, f"资金拨付表-{local_today().isoformat()}.xlsx")
    assert rows[0][0] == "重庆市人力资源和社会保障局 资金拨付表（待拨付）"
    assert rows[2] == SHEET_HEADER
    assert len(rows) == 3 + 30 + 1 + 1 + 1 + 1 + 1 + 1  # 30 entries, 本页合计, the 31st, 本页合计, 总计, note, signatures
    page_one, page_two = rows[3:33], rows[34:35]
    assert [row[0] for row in page_one + page_two] == list(range(1, 32))
    assert page_one[0] == [1, "培训机构", CQ_SCHOOL, CQ_SCHOOL, CQ_OLD_BANK, CQ_OLD_ACCOUNT, 1860, 2,
                           "、".join(CQ_CODES), seeded["settlement_id"], None]  # the full number: for the bank
    assert [row[6] for row in page_one[1:]] == background[:29]
    assert page_two[0][6:8] == [background[29], 1]
    assert CQ_NO_ACCOUNT not in {row[2] for row in rows}
    assert rows[33][0] == "本页合计" and rows[33][6:8] == [round(1860 + sum(background[:29]), 2), 31]
    assert rows[35][0] == "本页合计" and rows[35][6:8] == [background[29], 1]
    assert rows[36][0] == "总计" and rows[36][6:8] == [round(total - 1000, 2), 32]
    assert rows[37][0] == "另有 1 笔共 1,000.00 元因收款方缺少收款账户未列入本表，补充账户后再行拨付。"
    assert rows[38][0].startswith("经办人")
    assert [b.id for b in load_workbook(path).active.row_breaks.brk] == [34]  # printed 30 entries a page
    with reading() as s:
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "settlement.sheet")).all()
        assert event.details == {"entries": 31, "total_fen": round((total - 1000) * 100)}


def refused_without_account(cashier, shots, seeded):
    """The school with no payee account: the page says so and offers no payment until there is one."""
    cashier.get_by_role("link", name=f"申请 #{seeded['no_account_id']}", exact=True).click()
    expect(cashier.get_by_text("缺少收款账户", exact=True)).to_be_visible()
    expect(cashier.get_by_role("alert")).to_have_text("收款方还没有收款账户，补充后才能拨付（见上方“收款账户”）。")
    expect(cashier.get_by_role("button", name="确认拨付")).to_have_count(0)
    save(shots, cashier, "cq-pay-refused-no-account")
    with reading() as s:
        refused = s.get(Settlement, seeded["no_account_id"])
        assert (refused.status, refused.batches, [line.voucher.status for line in refused.lines]) == (
            "reviewed", [], ["used"])


def pay_with_a_failure(cashier, shots, seeded):
    """One batch: the bank paid 张晓梅's line and returned 李国强's."""
    first_code, second_code = CQ_CODES
    cashier.goto("/bureau/settlements?status=reviewed")
    cashier.get_by_role("link", name=f"申请 #{seeded['settlement_id']}", exact=True).click()
    expect(cashier.get_by_text(f"{CQ_SCHOOL} · {CQ_OLD_BANK} · {masked(CQ_OLD_ACCOUNT)}")).to_be_visible()
    expect(cashier.get_by_text(CQ_OLD_ACCOUNT)).to_have_count(0)  # full numbers only in the 资金拨付表
    payment = cashier.locator("form").filter(has=cashier.get_by_role("button", name="确认拨付"))
    expect(payment.get_by_label("拨付日期")).to_have_value(local_today().isoformat())
    expect(payment.locator("tbody tr")).to_have_count(2)
    returned = payment.get_by_role("row").filter(has_text=f"…{second_code[-4:]}")
    returned.get_by_label("拨付失败").check()
    returned.get_by_label("失败原因").fill(CQ_FAILURE)
    payment.get_by_label("银行回单号（流水号）").fill(CQ_FIRST_REFERENCE)
    save(shots, cashier, "cq-pay-with-failure")
    payment.get_by_role("button", name="确认拨付").click()
    expect(cashier.get_by_role("status")).to_contain_text(
        "已拨付 1 行，共 860.00 元，相关培训券已核销；1 行拨付失败，已退回待拨付")
    expect(cashier.locator(".badge").first).to_have_text("部分已拨付")
    expect(cashier.get_by_text(f"上次拨付失败：{CQ_FAILURE}")).to_be_visible()
    expect(cashier.get_by_role("row").filter(has_text="李*强")).to_contain_text("拨付失败，待重新拨付 ¥1,000.00")
    expect(cashier.get_by_role("row").filter(has_text="张*梅")).to_contain_text(
        f"已拨付 ¥860.00 回单号 {CQ_FIRST_REFERENCE}")
    expect(cashier.get_by_text("审核通过金额：¥1,860.00 · 已拨付 ¥860.00")).to_be_visible()
    expect(payment.locator("tbody tr")).to_have_count(1)  # only the returned line is left to pay
    expect(payment.get_by_role("row").filter(has_text=f"…{second_code[-4:]}")).to_be_visible()
    save(shots, cashier, "cq-partly-paid")
    assert settlement_status(seeded) == "reviewed"
    assert line_states(seeded) == {
        first_code: ("settled", "approved", 86000, 86000, None, seeded["old_account_id"]),
        second_code: ("used", "approved", 100000, None, CQ_FAILURE, None)}


def officer_changes_account(officer, shots, seeded):
    """The school's officer, in another browser, sees why and asks for a new account."""
    staff_sign_in(officer, seeded["officer"], "/institution/")
    officer.get_by_role("link", name="结算申请").click()
    officer.get_by_role("link", name=re.compile(rf"^申请 #{seeded['settlement_id']}\b")).click()
    expect(officer.get_by_role("row").filter(has_text=f"…{CQ_CODES[1][-4:]}")).to_contain_text(
        f"拨付失败，待重新拨付（{CQ_FAILURE}）")
    expect(officer.locator(".badge").first).to_have_text("部分已拨付")
    save(shots, officer, "cq-institution-sees-failure")

    officer.get_by_role("link", name="首页").click()
    officer.get_by_role("link", name="机构信息").click()
    payee = officer.locator("#payee")
    expect(payee).to_contain_text(masked(CQ_OLD_ACCOUNT))
    change = officer.locator("form").filter(has=officer.get_by_role("button", name="提交变更"))
    change.get_by_label("户名", exact=True).fill(CQ_SCHOOL)
    change.get_by_label("开户行", exact=True).fill(CQ_NEW_BANK)
    change.get_by_label("账号", exact=True).fill(" ".join(CQ_NEW_ACCOUNT[i:i + 4] for i in range(0, 20, 4)))
    change.get_by_role("button", name="提交变更").click()
    expect(officer.get_by_role("status")).to_contain_text("收款账户变更已提交，人社部门确认后生效；确认前仍拨付到原账户")
    expect(payee).to_contain_text("变更待人社部门确认")
    expect(payee).to_contain_text(masked(CQ_NEW_ACCOUNT))
    expect(officer.get_by_text(CQ_NEW_ACCOUNT)).to_have_count(0)  # a full number is never shown on a page
    save(shots, officer, "cq-institution-account-change")
    assert accounts_of(seeded) == [(CQ_OLD_ACCOUNT, CQ_OLD_BANK, "active"), (CQ_NEW_ACCOUNT, CQ_NEW_BANK, "pending")]


def confirm_account(page, shots, seeded):
    """The bureau confirms the change on the institution's page."""
    page.goto("/bureau/")
    page.get_by_role("link", name="培训机构", exact=True).click()
    page.get_by_role("link", name=CQ_SCHOOL).click()
    payee = page.locator("#payee")
    expect(payee).to_contain_text(masked(CQ_OLD_ACCOUNT))
    expect(payee.get_by_role("heading", name="变更待确认")).to_be_visible()
    expect(payee).to_contain_text(masked(CQ_NEW_ACCOUNT))
    expect(page.get_by_text(CQ_NEW_ACCOUNT)).to_have_count(0)
    save(shots, page, "cq-account-pending")
    payee.get_by_role("button", name="确认变更").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"已确认收款账户变更，此后拨付到 {CQ_NEW_BANK} {masked(CQ_NEW_ACCOUNT)}")
    expect(payee.get_by_role("heading", name="变更待确认")).to_have_count(0)
    expect(payee).to_contain_text(masked(CQ_NEW_ACCOUNT))
    expect(payee).not_to_contain_text(masked(CQ_OLD_ACCOUNT))
    save(shots, page, "cq-account-confirmed")
    assert accounts_of(seeded) == [(CQ_OLD_ACCOUNT, CQ_OLD_BANK, "replaced"), (CQ_NEW_ACCOUNT, CQ_NEW_BANK, "active")]


def pay_again(cashier, shots, seeded, tmp_path):
    """The returned line, paid to the new account under a new reference; then the sheet of the
    application shows each batch with the account it went to."""
    first_code, second_code = CQ_CODES
    cashier.goto("/bureau/")
    cashier.get_by_role("link", name="结算审核").click()
    cashier.get_by_role("link", name="待拨付", exact=True).click()
    ours = cashier.get_by_role("row").filter(has=cashier.get_by_role("link", name=f"申请 #{seeded['settlement_id']}",
                                                                      exact=True))
    expect(ours).to_contain_text("部分已拨付")
    ours.get_by_role("link").click()
    expect(cashier.get_by_text(f"{CQ_SCHOOL} · {CQ_NEW_BANK} · {masked(CQ_NEW_ACCOUNT)}")).to_be_visible()
    cashier.get_by_label("银行回单号（流水号）").fill(CQ_SECOND_REFERENCE)
    cashier.get_by_role("button", name="确认拨付").click()
    expect(cashier.get_by_role("status")).to_contain_text("已拨付 1 行，共 1,000.00 元，相关培训券已核销")
    expect(cashier.get_by_role("status")).not_to_contain_text("拨付失败")
    expect(cashier.locator(".badge").first).to_have_text("已拨付")
    expect(cashier.get_by_text("上次拨付失败")).to_have_count(0)
    expect(cashier.get_by_role("row").filter(has_text="李*强")).to_contain_text(
        f"已拨付 ¥1,000.00 回单号 {CQ_SECOND_REFERENCE}")
    expect(cashier.get_by_text("审核通过金额：¥1,860.00 · 已拨付 ¥1,860.00")).to_be_visible()
    expect(cashier.locator(".reasons li")).to_have_count(2)  # two batches
    expect(cashier.get_by_role("button", name="确认拨付")).to_have_count(0)
    save(shots, cashier, "cq-paid")
    with reading() as s:
        paid = s.get(Settlement, seeded["settlement_id"])
        assert (paid.status, paid.paid_by_id, paid.paid_total_fen) == ("paid", seeded["cashier_id"], 186000)
        new_id = s.scalar(select(PayeeAccount.id).where(PayeeAccount.account_number == CQ_NEW_ACCOUNT))
    assert line_states(seeded) == {
        first_code: ("settled", "approved", 86000, 86000, None, seeded["old_account_id"]),
        second_code: ("settled", "approved", 100000, 100000, None, new_id)}

    rows = download_sheet(cashier, tmp_path / "ours.xlsx", f"资金拨付表-结算申请{seeded['settlement_id']}.xlsx")
    assert rows[0][0] == "重庆市人力资源和社会保障局 资金拨付表"
    assert rows[2] == SHEET_HEADER
    assert rows[3:5] == [
        [1, "培训机构", CQ_SCHOOL, CQ_SCHOOL, CQ_OLD_BANK, CQ_OLD_ACCOUNT, 860, 1, first_code, seeded["settlement_id"],
         CQ_FIRST_REFERENCE],
        [2, "培训机构", CQ_SCHOOL, CQ_SCHOOL, CQ_NEW_BANK, CQ_NEW_ACCOUNT, 1000, 1, second_code,
         seeded["settlement_id"], CQ_SECOND_REFERENCE]]
    assert rows[5][0] == "本页合计" and rows[5][6:8] == [1860, 2]
    assert rows[6][0] == "总计" and rows[6][6:8] == [1860, 2]
    assert rows[7][0].startswith("经办人") and len(rows) == 8

    cashier.get_by_role("link", name="首页").click()
    cashier.get_by_role("link", name="结算审核").click()
    cashier.get_by_role("link", name="已拨付", exact=True).click()
    expect(cashier.get_by_text("共 1 份 · 审核通过 ¥1,860.00 · 已拨付 ¥1,860.00")).to_be_visible()
    expect(cashier.get_by_role("row").filter(has_text=CQ_SCHOOL)).to_contain_text("已拨付")
    save(shots, cashier, "cq-settlements-paid")


def test_bureau_money_journey(page, make_page, shots, chongqing, tmp_path):
    """重庆市: review with typed amounts → 待拨付 and its 资金拨付表 → a payment refused for want of an
    account → a batch with one line returned by the bank → the officer changes the account, the bureau
    confirms it → the returned line paid again → the application's 资金拨付表 → 已拨付."""
    review_amounts(page, shots, chongqing)
    cashier = make_page()  # the second clerk, in a second browser
    sign_in(cashier, chongqing["cashier"])
    region_sheet(cashier, shots, chongqing, tmp_path)
    refused_without_account(cashier, shots, chongqing)
    pay_with_a_failure(cashier, shots, chongqing)
    officer_changes_account(make_page(), shots, chongqing)
    confirm_account(page, shots, chongqing)
    pay_again(cashier, shots, chongqing, tmp_path)
    db.session.rollback()
