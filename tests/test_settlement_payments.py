"""Money out as each region pays it (issue 16): the fee caps the subsidy, Chongqing's reviewer
approves an amount, payment batches with the bank's reference where a failed line goes back to
待拨付, the payee account checked before paying, the 资金拨付表 per payee and page, the settlement
list with totals, deadlines flagged, and the same through the API."""
import io
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from h5app.extensions import db
from h5app.models import AuditEvent, Notification, PayeeAccount, Settlement, Voucher
from h5app.models.settlement import ACCOUNT_REPLACED, LINE_APPROVED, S_PAID, S_REVIEWED, S_SUBMITTED
from h5app.models.vouchers import SETTLED, USED
from h5app.policies import ensure_policies
from h5app.vouchers import payees, settlement, subsidy
from h5app.vouchers.errors import (
    AmountAboveMaximum, DomainError, PayeeMissing, SettlementError, ValidationFailed,
)

from . import factories as f
from .api_support import auth, error_code, key_for
from .test_engine_settlement import NOW, bureau_pair, make_class, make_template, officer, trainee
from .test_engine_settlement_regions import chongqing_application, shaoxing_certificate_case
from .test_institution_verify import staff_sign_in


def reviewed_application(session, n=2, region="330600"):
    cls = make_class()
    template = make_template(face_value_fen=150000)
    vouchers = [trainee(cls, template) for _ in range(n)]
    session.commit()
    app = settlement.apply(session, cls, officer(cls), now=NOW)
    reviewer, cashier = bureau_pair(region)
    session.commit()
    settlement.review(session, app, reviewer, approve=[v.code for v in vouchers], now=NOW)
    return app, vouchers, cashier


# --- amounts ---------------------------------------------------------------------------------------

def test_a_subsidy_never_exceeds_the_fee_the_class_charged(session):
    cls = make_class(price_fen=100000)
    voucher = trainee(cls, make_template(face_value_fen=120000))
    session.commit()

    assert subsidy.assess(session, voucher, cls).amount_fen == 100000


def test_a_class_with_no_fee_on_record_is_not_capped_by_it(session):
    cls = make_class(price_fen=0)
    voucher = trainee(cls, make_template(face_value_fen=120000))
    session.commit()

    assert subsidy.assess(session, voucher, cls).amount_fen == 120000


def test_chongqing_amount_above_the_maximum_is_refused_and_changes_nothing(session):
    voucher, app = chongqing_application(session)
    reviewer, _ = bureau_pair("500000")
    session.commit()

    with pytest.raises(AmountAboveMaximum) as caught:
        settlement.review(session, app, reviewer, approve=[voucher.code], amounts={voucher.code: 100001}, now=NOW)

    assert caught.value.code == "AMOUNT_ABOVE_MAXIMUM"
    assert caught.value.details["rows"][0]["voucher_code"] == voucher.code
    session.expire_all()
    line = session.get(Settlement, app.id).lines[0]
    assert (line.decision, line.approved_amount_fen) == ("pending", None)
    assert session.scalar(select(AuditEvent.id).where(AuditEvent.action == "settlement.approve")) is None


def test_each_approval_is_audited_with_its_amount(session):
    voucher, app = chongqing_application(session)
    reviewer, _ = bureau_pair("500000")
    session.commit()

    settlement.review(session, app, reviewer, approve=[voucher.code], amounts={voucher.code: 30000}, now=NOW)

    [event] = f.audit_events(action="settlement.approve", voucher_id=voucher.id)
    assert event.details["approved_amount_fen"] == 30000 and event.details["amount_fen"] == 100000


# --- payment batches -------------------------------------------------------------------------------

def test_a_failed_line_goes_back_to_be_paid_and_its_voucher_waits(session):
    app, (first, second), cashier = reviewed_application(session)

    batch = settlement.pay(session, app, cashier, reference="HD001", paid_on=date(2022, 5, 10),
                           failed=[(second.code, "账户已销户")], now=NOW)

    session.expire_all()
    app = session.get(Settlement, app.id)
    assert (batch.paid_lines, batch.failed_lines, batch.paid_total_fen) == (1, 1, 150000)
    assert app.status == S_REVIEWED and app.status_label == "部分已拨付"
    assert (session.get(Voucher, first.id).status, session.get(Voucher, second.id).status) == (SETTLED, USED)
    waiting = next(line for line in app.lines if line.voucher_id == second.id)
    assert (waiting.decision, waiting.paid_at, waiting.failure_reason) == (LINE_APPROVED, None, "账户已销户")
    [failure] = f.audit_events(action="settlement.payment_failed")
    assert (failure.voucher_id, failure.reason) == (second.id, "账户已销户")

    settlement.pay(session, app, cashier, reference="HD002", now=NOW)

    session.expire_all()
    app = session.get(Settlement, app.id)
    assert app.status == S_PAID and session.get(Voucher, second.id).status == SETTLED
    paid = next(line for line in app.lines if line.voucher_id == second.id)
    assert (paid.payment_batch.reference, paid.failure_reason, paid.paid_amount_fen) == ("HD002", None, 150000)
    assert paid.payee_account_id is not None


def test_the_totals_kept_on_the_settlement_follow_review_and_each_payment(session):
    """The list pages sum the settlement rows' own totals: they must equal what the lines say."""
    def stored(app_id):
        session.expire_all()
        row = session.get(Settlement, app_id)
        return row.approved_total_fen, row.paid_total_fen

    cls = make_class()
    template = make_template(face_value_fen=150000)
    first, second, third = [trainee(cls, template) for _ in range(3)]
    session.commit()
    app = settlement.apply(session, cls, officer(cls), now=NOW)
    reviewer, cashier = bureau_pair("330600")
    session.commit()
    assert stored(app.id) == (0, 0)
    settlement.review(session, app, reviewer, approve=[first.code, second.code], reject=[(third.code, "未参加考核")],
                      now=NOW)
    assert stored(app.id) == (300000, 0)
    settlement.pay(session, session.get(Settlement, app.id), cashier, reference="HD1", failed=[(second.code, "账号有误")],
                   now=NOW)
    assert stored(app.id) == (300000, 150000)
    settlement.pay(session, session.get(Settlement, app.id), cashier, reference="HD2", now=NOW)
    assert stored(app.id) == (300000, 300000)


def test_payment_of_an_unreviewed_application_is_refused(session):
    cls = make_class()
    trainee(cls, make_template())
    session.commit()
    app = settlement.apply(session, cls, officer(cls), now=NOW)
    _, cashier = bureau_pair()
    session.commit()

    with pytest.raises(SettlementError):
        settlement.pay(session, app, cashier, reference="HD001", now=NOW)
    assert session.get(Settlement, app.id).status == S_SUBMITTED


@pytest.mark.parametrize("reference, paid_on, failed", [
    ("", None, []),
    ("HD001", date(2099, 1, 1), []),
    ("HD001", None, [("NOSUCHCODE", "账号有误")]),
])
def test_bad_payment_details_change_nothing(session, reference, paid_on, failed):
    app, vouchers, cashier = reviewed_application(session)

    with pytest.raises(ValidationFailed):
        settlement.pay(session, app, cashier, reference=reference, paid_on=paid_on, failed=failed, now=NOW)
    assert {session.get(Voucher, v.id).status for v in vouchers} == {USED}


def test_a_failed_line_needs_a_reason(session):
    app, (first, _), cashier = reviewed_application(session)

    with pytest.raises(ValidationFailed) as caught:
        settlement.pay(session, app, cashier, reference="HD001", failed=[(first.code, " ")], now=NOW)
    assert "原因" in caught.value.details["rows"][0]["message"]


def test_no_payment_without_a_payee_account(session):
    app, vouchers, cashier = reviewed_application(session)
    for account in session.scalars(select(PayeeAccount)):
        account.status = ACCOUNT_REPLACED
    session.commit()

    with pytest.raises(PayeeMissing) as caught:
        settlement.pay(session, app, cashier, reference="HD001", now=NOW)
    assert caught.value.code == "PAYEE_MISSING"
    assert {session.get(Voucher, v.id).status for v in vouchers} == {USED}


def test_an_institution_change_pending_confirmation_is_not_paid_to(session):
    app, _, cashier = reviewed_application(session)
    before = payees.settlement_account(session, app)
    payees.change_institution_account(session, app.institution, {
        "account_name": app.institution.name, "bank_name": "中国银行绍兴分行", "account_number": "12345678901234"},
        f.institution_actor(app.institution))

    batch = settlement.pay(session, app, cashier, reference="HD001", now=NOW)

    assert session.get(Settlement, app.id).lines[0].payee_account_id == before.id
    assert batch.paid_lines == 2


# --- the worker paid directly (Shaoxing) -----------------------------------------------------------

def test_the_worker_is_told_when_the_subsidy_is_approved_failed_and_paid(session):
    voucher, _cls = shaoxing_certificate_case(session)
    f.certificate(voucher.person, occupation="电工", issued_on=date(2022, 6, 1))
    session.commit()
    [app] = settlement.match_worker_subsidies(session, "330600", f.bureau_actor(), now=NOW + timedelta(days=30))
    reviewer, cashier = bureau_pair()
    session.commit()
    settlement.review(session, app, reviewer, approve=[voucher.code], now=NOW + timedelta(days=31))

    with pytest.raises(PayeeMissing):
        settlement.pay(session, app, cashier, reference="HD001", now=NOW + timedelta(days=32))
    payees.set_worker_account(session, voucher.person, {
        "account_name": voucher.person.name, "bank_name": "中国农业银行", "account_number": f.CARD_NUMBER},
        f.bureau_actor())
    settlement.pay(session, app, cashier, reference="HD001", failed=[(voucher.code, "户名与账号不符")],
                   now=NOW + timedelta(days=32))
    settlement.pay(session, app, cashier, reference="HD002", now=NOW + timedelta(days=33))

    kinds = [n.kind for n in session.scalars(select(Notification).where(Notification.person_id == voucher.person_id)
                                             .order_by(Notification.id))]
    assert kinds[:1] == ["subsidy_matched"]
    assert {"subsidy_approved", "subsidy_failed", "settled"} <= set(kinds)
    settled = session.scalar(select(Notification).where(Notification.kind == "settled"))
    assert "6222****" in settled.body and f.CARD_NUMBER not in settled.body


def test_the_worker_subsidy_is_reviewed_by_the_bureau_of_the_workers_own_district(session):
    voucher, _cls = shaoxing_certificate_case(session)
    voucher.person.region_code = "330603"
    f.certificate(voucher.person, occupation="电工", issued_on=date(2022, 6, 1))
    session.commit()

    [app] = settlement.match_worker_subsidies(session, None, f.bureau_actor(), now=NOW + timedelta(days=30))

    assert app.region_code == "330603"


# --- pages -----------------------------------------------------------------------------------------

def test_chongqing_reviewer_enters_a_lower_amount_on_the_page(client, session):
    voucher, app = chongqing_application(session)
    clerk = f.staff("bureau", region_code="500000")
    session.commit()
    staff_sign_in(client, clerk)
    line = app.lines[0]
    page = client.get(f"/bureau/settlements/{app.id}").get_data(as_text=True)
    assert "参考金额" in page and f'name="amount-{line.id}"' in page

    too_much = client.post(f"/bureau/settlements/{app.id}", data={f"decision-{line.id}": "approve",
                                                                 f"amount-{line.id}": "1000.01"})
    assert too_much.status_code == 400 and "高于该行的补贴上限" in too_much.get_data(as_text=True)
    negative = client.post(f"/bureau/settlements/{app.id}", data={f"decision-{line.id}": "approve",
                                                                 f"amount-{line.id}": "-5"})
    assert negative.status_code == 400
    session.expire_all()
    assert session.get(Settlement, app.id).lines[0].decision == "pending"

    done = client.post(f"/bureau/settlements/{app.id}", data={f"decision-{line.id}": "approve",
                                                             f"amount-{line.id}": "300"})
    assert done.status_code == 302
    session.expire_all()
    assert session.get(Settlement, app.id).lines[0].approved_amount_fen == 30000


def test_a_batch_with_a_failed_line_on_the_page(app, client, session):
    application, (first, second), _ = reviewed_application(session)
    cashier = f.staff("bureau")
    session.commit()
    staff_sign_in(client, cashier)
    lines = {line.voucher_id: line.id for line in application.lines}

    missing = client.post(f"/bureau/settlements/{application.id}/payment", data={"paid_on": "2022-05-11"})
    assert missing.status_code == 400 and "请填写银行回单号" in missing.get_data(as_text=True)
    response = client.post(f"/bureau/settlements/{application.id}/payment", data={
        "reference": "HD001", "paid_on": "2022-05-11", f"failed-{lines[second.id]}": "1",
        f"failure-{lines[second.id]}": "账号有误"})
    assert response.status_code == 302
    page = client.get(f"/bureau/settlements/{application.id}").get_data(as_text=True)
    assert "1 行拨付失败，已退回待拨付" in page and "上次拨付失败：账号有误" in page and "部分已拨付" in page
    assert (session.get(Voucher, first.id).status, session.get(Voucher, second.id).status) == (SETTLED, USED)


def test_the_list_has_tabs_totals_and_flags_a_missing_account(client, session):
    app, _, _ = reviewed_application(session)
    for account in session.scalars(select(PayeeAccount)):
        account.status = ACCOUNT_REPLACED
    clerk = f.staff("bureau")
    session.commit()
    staff_sign_in(client, clerk)

    page = client.get("/bureau/settlements?status=reviewed").get_data(as_text=True)

    assert f"申请 #{app.id}" in page and "缺少收款账户" in page and "¥3,000.00" in page
    assert f"申请 #{app.id}" not in client.get("/bureau/settlements?status=paid").get_data(as_text=True)
    assert f"申请 #{app.id}" not in client.get("/bureau/settlements?status=reviewed&payee=worker").get_data(
        as_text=True)


def test_the_disbursement_sheet_prints_30_lines_a_page_with_each_pages_total(client, session):
    payees_made = []
    for n in range(35):
        inst = f.institution()
        cls = make_class(inst)
        trainee(cls, make_template(face_value_fen=10000 + n))
        payees_made.append(inst)
    session.commit()
    reviewer, _ = bureau_pair()
    session.commit()
    for inst in payees_made:
        cls = session.scalar(select(Voucher).where(Voucher.institution_id == inst.id)).training_class
        application = settlement.apply(session, cls, officer(cls), now=NOW)
        settlement.review(session, application, reviewer, approve=[application.lines[0].voucher.code], now=NOW)
    clerk = f.staff("bureau")
    session.commit()
    staff_sign_in(client, clerk)

    response = client.get("/bureau/settlements/disbursement.xlsx")

    sheet = load_workbook(io.BytesIO(response.get_data())).active
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=4)]
    subtotals = [r for r in rows if r[0] == "本页合计"]
    [total] = [r for r in rows if r[0] == "总计"]
    entries = [r for r in rows if isinstance(r[0], int)]
    assert len(entries) == 35 and rows.index(subtotals[0]) == 30
    assert [r[6] for r in subtotals] == [pytest.approx(sum(100 + n / 100 for n in range(30))),
                                         pytest.approx(sum(100 + n / 100 for n in range(30, 35)))]
    assert total[6] == pytest.approx(sum(100 + n / 100 for n in range(35)))
    account = payees.active_account(session, institution_id=payees_made[0].id)
    assert account.account_number in {r[5] for r in entries}  # the one export with full numbers
    assert len(sheet.row_breaks.brk) == 1
    assert sheet.print_title_rows == "$3:$3"


# --- deadlines -------------------------------------------------------------------------------------

def test_overdue_review_and_application_are_flagged_on_both_home_pages(client, app, session):
    ensure_policies(session)["default"].review_within_days = 10
    ensure_policies(session)["default"].apply_within_days = 15
    cls = make_class()
    template = make_template()
    applied = trainee(cls, template)
    session.commit()
    late = settlement.apply(session, cls, officer(cls), now=NOW)
    waiting_class = make_class(cls.institution, status="completed")
    waiting_class.completed_at = NOW
    trainee(waiting_class, template)
    clerk = f.staff("bureau")
    officer_user = f.staff("officer", institution_id=cls.institution_id, region_code=None)
    session.commit()
    assert applied.status == USED

    staff_sign_in(client, clerk)
    assert f"申请 #{late.id}" in client.get("/bureau/").get_data(as_text=True)
    other = app.test_client()
    staff_sign_in(other, officer_user)
    home = other.get("/institution/").get_data(as_text=True)
    assert "尚未申请结算，已超过结业后 15 天的申请期限" in home
    assert f"结算申请 #{late.id}" in home and "已超过 10 天审核期限" in home


# --- API -------------------------------------------------------------------------------------------

def test_api_review_with_an_amount_payment_with_a_failure_and_the_list(client, session):
    voucher, app = chongqing_application(session)
    session.commit()
    reviewer, cashier = key_for("bureau", "500000"), key_for("bureau", "500000")
    path = f"/api/v1/settlements/{app.id}"

    above = client.post(path + "/review", json={"approve": [{"code": voucher.code, "amount_fen": 100001}]},
                        headers=auth(reviewer))
    assert above.status_code == 409 and error_code(above) == "AMOUNT_ABOVE_MAXIMUM"
    assert above.get_json()["error"]["rows"][0]["voucher_code"] == voucher.code
    reviewed = client.post(path + "/review", json={"approve": [{"code": voucher.code, "amount_fen": 30000}]},
                           headers=auth(reviewer))
    line = reviewed.get_json()["lines"][0]
    assert (line["amount_fen"], line["reference_fen"], line["approved_amount_fen"]) == (100000, 100000, 30000)
    assert reviewed.get_json()["payee"]["account_number"].count("*") >= 4

    failed = client.post(path + "/payment", json={"reference": "HD9", "failed": [{"code": voucher.code,
                                                                                  "reason": "账号有误"}]},
                         headers=auth(cashier))
    body = failed.get_json()
    assert failed.status_code == 200 and body["status"] == "reviewed"
    assert (body["lines"][0]["failure_reason"], body["lines"][0]["paid_amount_fen"]) == ("账号有误", None)
    paid = client.post(path + "/payment", json={"reference": "HD10", "paid_on": "2022-05-11"}, headers=auth(cashier))
    line = paid.get_json()["lines"][0]
    assert (line["paid_amount_fen"], line["payment_reference"]) == (30000, "HD10")
    again = client.post(path + "/payment", json={"reference": "HD11"}, headers=auth(cashier))
    assert again.status_code == 409 and error_code(again) == "VOUCHER_SETTLED"

    listed = client.get("/api/v1/settlements?status=paid&payee_kind=institution", headers=auth(reviewer)).get_json()
    assert [s["id"] for s in listed["settlements"]] == [app.id] and listed["paid_total_fen"] == 30000
    assert client.get("/api/v1/settlements?status=nope", headers=auth(reviewer)).status_code == 422
    assert client.get("/api/v1/settlements?region_code=330600", headers=auth(reviewer)).status_code == 422
    assert client.get("/api/v1/settlements", headers=auth(key_for("bureau", "330600"))).get_json()["count"] == 0


def test_api_worker_settlements_appear_by_themselves(client, session):
    voucher, _cls = shaoxing_certificate_case(session)
    session.commit()
    bureau = key_for("bureau", "330600")
    response = client.post("/api/v1/certificates", json={
        "id_number": voucher.person.id_number, "name": voucher.person.name, "number": "ZS-2022-0001",
        "occupation": "电工", "level": "四级", "issued_on": "2022-06-01", "issuer": "绍兴市职业技能鉴定中心"},
        headers=auth(bureau))
    assert response.status_code == 201

    listed = client.get("/api/v1/settlements?payee_kind=worker", headers=auth(bureau)).get_json()

    [row] = listed["settlements"]
    assert (row["payee_kind"], row["institution_code"], row["status"]) == ("worker", None, "submitted")
    detail = client.get(f"/api/v1/settlements/{row['id']}", headers=auth(bureau)).get_json()
    assert detail["payee"] is None and detail["person"]["id_number"].count("*") == 10


def test_review_rows_carry_error_codes_not_voucher_codes(session):
    cls = make_class()
    trainee(cls, make_template())
    session.commit()
    app = settlement.apply(session, cls, officer(cls), now=NOW)
    reviewer, _ = bureau_pair()
    session.commit()

    with pytest.raises(DomainError) as caught:
        settlement.review(session, app, reviewer, approve=["NOSUCHCODE"], now=NOW)

    [row] = caught.value.details["rows"]
    assert (row["code"], row["voucher_code"]) == ("VOUCHER_NOT_FOUND", "NOSUCHCODE")


def test_a_refused_review_keeps_what_the_clerk_chose_and_typed(client, session):
    voucher, app = chongqing_application(session)
    clerk = f.staff("bureau", region_code="500000")
    session.commit()
    staff_sign_in(client, clerk)
    line = app.lines[0]

    page = client.post(f"/bureau/settlements/{app.id}", data={f"decision-{line.id}": "approve",
                                                             f"amount-{line.id}": "1200"}).get_data(as_text=True)

    assert f'name="decision-{line.id}" value="approve" checked' in page
    assert f'name="amount-{line.id}" inputmode="decimal" placeholder="1000.00" value="1200"' in page


def test_the_bureau_sets_an_institutions_account_itself_and_it_is_in_force_at_once(client, session):
    institution = f.institution(payee=False)
    clerk = f.staff("bureau")
    session.commit()
    staff_sign_in(client, clerk)
    path = f"/bureau/institutions/{institution.id}"
    assert "设置收款账户" in client.get(path).get_data(as_text=True)

    bad = client.post(path, data={"payee-account_name": institution.name, "payee-bank_name": "中国银行",
                                  "payee-account_number": "6222021001115550004", "payee-submit": "保存收款账户"})
    assert bad.status_code == 400 and "校验位不正确" in bad.get_data(as_text=True)
    assert payees.active_account(session, institution_id=institution.id) is None

    good = client.post(path, data={"payee-account_name": institution.name, "payee-bank_name": "中国银行绍兴分行",
                                   "payee-account_number": "1211 0201 0920 0012 345", "payee-submit": "保存收款账户"})
    assert good.status_code == 302
    account = payees.active_account(session, institution_id=institution.id)
    assert account.account_number == "1211020109200012345" and account.confirmed_by
    assert "1211020109200012345" not in client.get(path).get_data(as_text=True)


def test_without_an_account_the_page_offers_no_payment_and_the_sheet_leaves_it_out(client, session):
    app, _, _ = reviewed_application(session)
    for account in session.scalars(select(PayeeAccount)):
        account.status = ACCOUNT_REPLACED
    cashier = f.staff("bureau")
    session.commit()
    staff_sign_in(client, cashier)

    page = client.get(f"/bureau/settlements/{app.id}").get_data(as_text=True)
    csv_text = client.get("/bureau/settlements/disbursement.csv").get_data().decode("utf-8-sig")

    assert "收款方还没有收款账户，补充后才能拨付" in page and "确认拨付" not in page
    assert "另有 1 笔共 3,000.00 元因收款方缺少收款账户未列入本表" in csv_text
    assert "总计" in csv_text and app.lines[0].voucher.code not in csv_text
