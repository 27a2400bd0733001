"""结算审核 in the bureau console: lines with evidence, approve/reject with reasons, a second clerk marks
it paid, the 资金拨付表 in CSV and XLSX; 批量作废 with per-code results; other regions unreachable."""
import csv
import io
import re
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from h5app.extensions import db
from h5app.models import AuditEvent, CheckIn, Settlement, SettlementLine, Voucher
from h5app.timeutil import local_today
from h5app.vouchers import payees
from h5app.vouchers import settlement as settlement_service

from . import factories as f
from .auth_support import staff_sign_in
from .settlement_support import application, line_id, rejected_application  # noqa: F401  (application is a fixture)


def review(client, application) -> None:
    """The clerk approves the good line and rejects the weak one (打卡率不足), on the page."""
    made, (good, weak), clerk, _ = application
    staff_sign_in(client, clerk)
    client.post(f"/bureau/settlements/{made.id}", data={
        f"decision-{line_id(made, good)}": "approve",
        f"decision-{line_id(made, weak)}": "reject", f"reason-{line_id(made, weak)}": "打卡率不足"})


def test_review_shows_evidence_and_saves_decisions(client, application):
    made, (good, weak), clerk, _ = application
    staff_sign_in(client, clerk)
    page = client.get(f"/bureau/settlements/{made.id}").get_data(as_text=True)
    assert "2次" in page and "不符合：打卡率0.0%" in page and "陈*燕" in page
    response = client.post(f"/bureau/settlements/{made.id}", data={
        f"decision-{line_id(made, good)}": "approve",
        f"decision-{line_id(made, weak)}": "reject", f"reason-{line_id(made, weak)}": "打卡率不足"})
    assert response.status_code == 302
    db.session.refresh(made)
    assert made.status == "reviewed"


def test_review_says_how_many_check_ins_are_corrections(client, application):
    made, _lines, clerk, _ = application
    first = db.session.scalars(select(CheckIn).order_by(CheckIn.id)).first()
    first.method = "correction"  # a 补签 the bureau approved, not a scan
    db.session.commit()
    staff_sign_in(client, clerk)
    page = client.get(f"/bureau/settlements/{made.id}").get_data(as_text=True)
    assert "2次" in page and "其中补签 1 次" in page


def test_a_stale_tab_paying_what_another_tab_paid_in_full_is_told_nothing_is_left(app, client, application):
    made, _lines, _clerk, cashier = application
    review(client, application)
    one, other, stale = two_tabs(app, made, cashier)
    payment = {"reference": "HD-1", "paid_on": local_today().isoformat(), "batches_seen": stale}
    assert one.post(f"/bureau/settlements/{made.id}/payment", data=payment).status_code == 302

    late = other.post(f"/bureau/settlements/{made.id}/payment", data={**payment, "reference": "HD-2"})

    assert late.status_code == 409 and "本申请已全部拨付，无需再拨付" in late.get_data(as_text=True)
    assert [b.reference for b in db.session.get(Settlement, made.id).batches] == ["HD-1"]


def test_the_paid_list_dates_each_application_by_its_payment(app, client, application):
    made, _lines, _clerk, cashier = application
    review(client, application)
    staff_sign_in(client, cashier)
    client.post(f"/bureau/settlements/{made.id}/payment", data={"reference": "HD-1", "paid_on": local_today().isoformat()})
    listing = client.get("/bureau/settlements?status=paid").get_data(as_text=True)
    assert "<th>拨付时间</th>" in listing and 'data-label="拨付时间"' in listing and "提交时间" not in listing


def test_the_cashier_is_told_of_a_payee_change_still_waiting(app, client, application):
    made, _lines, _clerk, cashier = application
    review(client, application)
    payees.change_institution_account(db.session, made.institution, {
        "account_name": made.institution.name, "bank_name": "中国银行绍兴分行", "account_number": "12345678901234"},
        f.institution_actor(made.institution))
    staff_sign_in(client, cashier)
    page = client.get(f"/bureau/settlements/{made.id}").get_data(as_text=True)
    assert "尚待确认：确认前拨付到上面的当前账户" in page and "12345678901234" not in page


def test_rejecting_without_a_reason_changes_nothing(client, application):
    made, (good, weak), clerk, _ = application
    staff_sign_in(client, clerk)
    response = client.post(f"/bureau/settlements/{made.id}", data={f"decision-{line_id(made, weak)}": "reject"})
    assert response.status_code == 400 and "请填写驳回原因" in response.get_data(as_text=True)
    assert {l.decision for l in db.session.scalars(select(SettlementLine))} == {"pending"}


def test_the_reviewer_cannot_pay_another_clerk_can_and_the_sheet_lists_the_money(app, client, application):
    made, (good, weak), clerk, cashier = application
    review(client, application)
    reviewed_page = client.get(f"/bureau/settlements/{made.id}").get_data(as_text=True)
    assert "须由另一名工作人员办理拨付" in reviewed_page and "确认拨付" not in reviewed_page
    payment = {"reference": "HD20261207001", "paid_on": local_today().isoformat()}
    refused = client.post(f"/bureau/settlements/{made.id}/payment", data=payment)  # posted anyway
    assert refused.status_code == 403 and "审核与拨付须由不同人员办理" in refused.get_data(as_text=True)
    assert db.session.get(Voucher, good.id).status == "used"

    other = app.test_client()
    staff_sign_in(other, cashier)
    other.post(f"/bureau/settlements/{made.id}/payment", data=payment)
    db.session.expire_all()
    assert db.session.get(Settlement, made.id).status == "paid"
    assert (db.session.get(Voucher, good.id).status, db.session.get(Voucher, weak.id).status) == ("settled", "used")

    csv_text = other.get(f"/bureau/settlements/{made.id}/sheet.csv").get_data().decode("utf-8-sig")
    assert good.code in csv_text and weak.code not in csv_text and "1500.00" in csv_text
    assert "HD20261207001" in csv_text
    sheet = load_workbook(io.BytesIO(other.get(f"/bureau/settlements/{made.id}/sheet.xlsx").get_data())).active
    assert sheet.cell(row=3, column=1).value == "序号" and sheet.cell(row=4, column=1).value == 1
    amount = sheet.cell(row=4, column=7)
    assert amount.value == 1500 and amount.number_format == "#,##0.00"
    assert (sheet.cell(row=5, column=1).value, sheet.cell(row=5, column=7).value) == ("本页合计", 1500)
    assert (sheet.cell(row=6, column=1).value, sheet.cell(row=6, column=7).value) == ("总计", 1500)


def test_the_csv_sheet_keeps_every_digit_of_an_account_number_when_opened_in_excel(client, application):
    made, _lines, _clerk, cashier = application
    review(client, application)
    staff_sign_in(client, cashier)
    account = payees.active_account(db.session, institution_id=made.institution_id)
    rows = list(csv.reader(io.StringIO(
        client.get(f"/bureau/settlements/{made.id}/sheet.csv").get_data().decode("utf-8-sig"))))
    header = rows[1]
    entry = rows[2]
    # A bare 19-digit number is shown by Excel and WPS as 1.21102E+18, its last digits lost.
    assert entry[header.index("账号")] == "\t" + account.account_number
    assert entry[header.index("金额（元）")] == "1500.00"


def test_every_download_of_an_applications_sheet_is_audited(client, application):
    made, _lines, _clerk, cashier = application
    review(client, application)
    staff_sign_in(client, cashier)
    for fmt in ("csv", "xlsx"):
        assert client.get(f"/bureau/settlements/{made.id}/sheet.{fmt}").status_code == 200
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "settlement.sheet")).all()
    assert [(row.actor_id, row.details["settlement_id"]) for row in rows] == [(cashier.id, made.id)] * 2


def test_another_regions_bureau_cannot_see_or_review(client, application):
    made, *_ = application
    outsider = f.staff("bureau", region_code="500000")
    f.region("500000", "重庆市")
    db.session.commit()
    staff_sign_in(client, outsider)
    assert client.get(f"/bureau/settlements/{made.id}").status_code == 404
    assert client.post(f"/bureau/settlements/{made.id}/payment").status_code == 404
    assert "#" + str(made.id) not in client.get("/bureau/settlements").get_data(as_text=True)


def test_batch_revoke_reports_each_code(client):
    clerk = f.staff("bureau")
    claimed = f.voucher(f.template(), f.person(), "claimed")
    used = f.voucher(f.template(name="另一张"), f.person(), "used")
    db.session.commit()
    staff_sign_in(client, clerk)
    page = client.post("/bureau/revoke", data={"codes": f"{claimed.code}\n{used.code}\nNOSUCHCODE",
                                               "reason": "重复发放"}).get_data(as_text=True)
    assert "作废 1 张，未作废 2 张" in page and "未找到该培训券" in page
    assert db.session.get(Voucher, claimed.id).status == "revoked"
    assert db.session.get(Voucher, used.id).status == "used"


def test_batch_revoke_reads_a_code_written_in_groups_as_the_worker_page_shows_it(client):
    clerk = f.staff("bureau")
    claimed = f.voucher(f.template(), f.person(), "claimed")
    other = f.voucher(f.template(name="另一张"), f.person(), "claimed")
    db.session.commit()
    staff_sign_in(client, clerk)
    grouped = " ".join(claimed.code[i:i + 4] for i in range(0, 16, 4)).lower()
    page = client.post("/bureau/revoke", data={"codes": f"{grouped}\n{other.code}", "reason": "重复发放"})
    assert "作废 2 张，未作废 0 张" in page.get_data(as_text=True)
    assert db.session.get(Voucher, claimed.id).status == "revoked"


def test_batch_revoke_needs_codes_and_a_reason(client):
    clerk = f.staff("bureau")
    claimed = f.voucher(f.template(), f.person(), "claimed")
    db.session.commit()
    staff_sign_in(client, clerk)
    assert "请粘贴要作废的券码" in client.post("/bureau/revoke", data={"codes": " ", "reason": "x"}).get_data(as_text=True)
    response = client.post("/bureau/revoke", data={"codes": claimed.code, "reason": ""})
    assert response.status_code == 400 and "请填写作废原因" in response.get_data(as_text=True)
    assert db.session.get(Voucher, claimed.id).status == "claimed"


def test_a_rejection_reason_over_500_characters_is_refused_and_changes_nothing(client, application):
    made, (_good, weak), clerk, _ = application
    staff_sign_in(client, clerk)
    response = client.post(f"/bureau/settlements/{made.id}", data={
        f"decision-{line_id(made, weak)}": "reject", f"reason-{line_id(made, weak)}": "打卡率不足" * 101})
    assert response.status_code == 400 and "驳回原因请在500字以内" in response.get_data(as_text=True)
    assert {line.decision for line in db.session.scalars(select(SettlementLine))} == {"pending"}


def test_the_settlement_list_and_page_name_the_class(client, application):
    made, _lines, clerk, _ = application
    staff_sign_in(client, clerk)
    course = made.training_class.course_name
    assert course in client.get("/bureau/settlements").get_data(as_text=True)
    page = client.get(f"/bureau/settlements/{made.id}").get_data(as_text=True)
    assert f"班期：<strong>{course}</strong>" in page and "返回结算审核列表" in page


def two_tabs(app, made, cashier):
    """The cashier's two browsers, the second with the payment page drawn now: (one, other, the
    batches the second has seen)."""
    one, other = app.test_client(), app.test_client()
    staff_sign_in(one, cashier)
    staff_sign_in(other, cashier)
    stale = re.search(r'name="batches_seen" type="hidden" value="(\d+)"',
                      other.get(f"/bureau/settlements/{made.id}").get_data(as_text=True)).group(1)
    return one, other, stale


def test_a_payment_whose_every_line_failed_says_so_and_nothing_is_written_off(app, client, application):
    made, (good, weak), clerk, cashier = application
    review(client, application)
    other = app.test_client()
    staff_sign_in(other, cashier)
    page = other.post(f"/bureau/settlements/{made.id}/payment", follow_redirects=True, data={
        "reference": "HD-FAIL-1", "paid_on": local_today().isoformat(),
        f"failed-{line_id(made, good)}": "1", f"failure-{line_id(made, good)}": "户名不符"}).get_data(as_text=True)
    assert "1 行拨付失败，已退回待拨付" in page and "已拨付 0 行" not in page and "已核销" not in page
    assert db.session.get(Voucher, good.id).status == "used"


def test_a_payment_from_a_page_drawn_before_another_batch_is_refused_until_seen(app, client, application):
    made, (good, weak), clerk, cashier = application
    review(client, application)
    one, other, stale = two_tabs(app, made, cashier)
    one.post(f"/bureau/settlements/{made.id}/payment", data={  # the bank returned the line: 户名不符
        "reference": "HD-1", "paid_on": local_today().isoformat(), "batches_seen": stale,
        f"failed-{line_id(made, good)}": "1", f"failure-{line_id(made, good)}": "户名不符"})

    late = other.post(f"/bureau/settlements/{made.id}/payment", data={
        "reference": "HD-2", "paid_on": local_today().isoformat(), "batches_seen": stale})

    assert late.status_code == 409 and "已有人登记了一次拨付（回单号 HD-1）" in late.get_data(as_text=True)
    assert db.session.get(Voucher, good.id).status == "used"
    fresh = re.search(r'name="batches_seen" type="hidden" value="(\d+)"', late.get_data(as_text=True)).group(1)
    paid = other.post(f"/bureau/settlements/{made.id}/payment", data={
        "reference": "HD-2", "paid_on": local_today().isoformat(), "batches_seen": fresh})
    assert paid.status_code == 302


def test_a_voucher_applied_for_again_shows_the_clerk_why_it_was_rejected_before(client):
    first, vouchers, cls = rejected_application()
    again = settlement_service.apply(db.session, cls, f.institution_actor(cls.institution))
    clerk = f.staff("bureau", region_code="330600")
    db.session.commit()
    staff_sign_in(client, clerk)
    page = client.get(f"/bureau/settlements/{again.id}").get_data(as_text=True)
    assert page.count(f"曾在申请 #{first.id} 被驳回：打卡率不足，未参加考核") == len(vouchers)


def test_the_payment_form_shows_the_batch_total_and_todays_date_as_the_latest(app, client, application):
    made, _lines, _clerk, cashier = application
    review(client, application)
    staff_sign_in(client, cashier)
    page = client.get(f"/bureau/settlements/{made.id}").get_data(as_text=True)
    assert re.search(r"本批合计</th><td[^>]*>¥1,500\.00<", page)
    assert f'max="{local_today().isoformat()}"' in page


def test_a_reference_is_kept_without_the_spaces_of_the_slip(app, client, application):
    made, (good, _weak), _clerk, cashier = application
    review(client, application)
    staff_sign_in(client, cashier)
    client.post(f"/bureau/settlements/{made.id}/payment",
                data={"reference": " HX 2026 1208 005 ", "paid_on": local_today().isoformat()})
    db.session.expire_all()
    assert db.session.get(Settlement, made.id).batches[0].reference == "HX20261208005"


def test_a_reference_with_other_characters_is_refused_on_the_form(app, client, application):
    made, (good, _weak), _clerk, cashier = application
    review(client, application)
    staff_sign_in(client, cashier)
    refused = client.post(f"/bureau/settlements/{made.id}/payment",
                          data={"reference": "HX2026；退款", "paid_on": local_today().isoformat()})
    assert refused.status_code == 400 and "回单号只能包含字母、数字" in refused.get_data(as_text=True)
    assert db.session.get(Voucher, good.id).status == "used"


def test_a_payment_dated_before_the_review_is_told_at_the_date_field(app, client, application):
    made, (good, _weak), _clerk, cashier = application
    review(client, application)
    staff_sign_in(client, cashier)
    refused = client.post(f"/bureau/settlements/{made.id}/payment",
                          data={"reference": "HX001", "paid_on": (local_today() - timedelta(days=1)).isoformat()})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert re.search(r'name="paid_on"[^>]*>\s*<p class="field-error">拨付日期不能早于审核日期', page)
    assert db.session.get(Voucher, good.id).status == "used"
