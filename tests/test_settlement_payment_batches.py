"""Paying a reviewed settlement in batches (issue 16): the bank's reference and date, a failed line
goes back to 待拨付 and its voucher waits, the totals kept on the settlement follow each payment,
bad details change nothing; on the page and through the API."""
from datetime import date

import pytest

from h5app.models import Settlement, Voucher
from h5app.models.settlement import LINE_APPROVED, S_PAID, S_REVIEWED, S_SUBMITTED
from h5app.models.vouchers import SETTLED, USED
from h5app.timeutil import local_today
from h5app.vouchers import settlement
from h5app.vouchers.errors import SettlementError, ValidationFailed, VoucherNotFound

from . import factories as f
from .api_support import auth, error_code, key_for
from .auth_support import sign_in, staff_sign_in
from .page_support import visible
from .settlement_support import (
    NOW, bureau_pair, chongqing_application, make_class, make_template, officer, reviewed_application, trainee,
)

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


def test_a_payment_dated_before_the_review_is_refused(session):
    """The walk-through recorded a 拨付日期 of 2020-01-01 for an application reviewed in 2026."""
    app, _vouchers, cashier = reviewed_application(session)
    with pytest.raises(ValidationFailed) as refused:
        settlement.pay(session, app, cashier, reference="HD001", paid_on=date(2022, 5, 1), now=NOW)
    assert refused.value.details["fields"]["paid_on"].startswith("拨付日期不能早于审核日期")


@pytest.mark.parametrize("reference, paid_on, failed, error", [
    ("", None, [], ValidationFailed),
    ("HD001", date(2099, 1, 1), [], ValidationFailed),
    ("HD001", None, [("NOSUCHCODE", "账号有误")], VoucherNotFound),
])
def test_bad_payment_details_change_nothing(session, reference, paid_on, failed, error):
    app, vouchers, cashier = reviewed_application(session)

    with pytest.raises(error):
        settlement.pay(session, app, cashier, reference=reference, paid_on=paid_on, failed=failed, now=NOW)
    assert {session.get(Voucher, v.id).status for v in vouchers} == {USED}


def test_a_bank_slip_entered_for_another_payee_is_refused_and_changes_nothing(session):
    """One slip is one transfer to one payee: entering it twice records a payment the bank never made."""
    first_app, _, cashier = reviewed_application(session)
    settlement.pay(session, first_app, cashier, reference="HD777", paid_on=date(2022, 5, 10), now=NOW)
    other_app, vouchers, other_cashier = reviewed_application(session)

    with pytest.raises(ValidationFailed) as refused:
        settlement.pay(session, other_app, other_cashier, reference="HD777", now=NOW)
    assert refused.value.details["fields"]["reference"] == (
        f"回单号 HD777 已登记于结算申请 {first_app.id} 2022-05-10 的拨付，请核对银行回单")
    assert {session.get(Voucher, v.id).status for v in vouchers} == {USED}
    assert session.get(Settlement, other_app.id).status == S_REVIEWED


def test_a_second_batch_of_one_application_needs_its_own_slip(session):
    app, (_, second), cashier = reviewed_application(session)
    settlement.pay(session, app, cashier, reference="HD001", paid_on=date(2022, 5, 10),
                   failed=[(second.code, "账号有误")], now=NOW)

    with pytest.raises(ValidationFailed) as refused:
        settlement.pay(session, session.get(Settlement, app.id), cashier, reference="HD001", now=NOW)
    assert "已登记于本申请 2022-05-10 的拨付" in refused.value.message
    assert session.get(Voucher, second.id).status == USED


def test_one_slip_may_pay_two_applications_of_the_same_institution(session):
    template = make_template(face_value_fen=150000)
    first_class = make_class()
    second_class = make_class(first_class.institution)
    first, second = trainee(first_class, template), trainee(second_class, template)
    session.commit()
    reviewer, cashier = bureau_pair()
    applications = [settlement.apply(session, cls, officer(cls), now=NOW) for cls in (first_class, second_class)]
    for app, voucher in zip(applications, (first, second)):
        settlement.review(session, app, reviewer, approve=[voucher.code], now=NOW)

    for app in applications:
        settlement.pay(session, session.get(Settlement, app.id), cashier, reference="HD900", now=NOW)
    assert {session.get(Voucher, v.id).status for v in (first, second)} == {SETTLED}


def test_the_worker_reads_the_subsidy_paid_in_the_vouchers_history(client, session):
    app, (first, _), cashier = reviewed_application(session)
    settlement.pay(session, app, cashier, reference="HD001", paid_on=date(2022, 5, 10), now=NOW)
    sign_in(client, session.get(Voucher, first.id).person)

    page = visible(client.get(f"/worker/vouchers/{first.code}"))

    assert "该券已结算核销" in page and "培训补贴1,500.00元已拨付给培训机构，唯一码核销" in page


def test_a_failed_line_needs_a_reason(session):
    app, (first, _), cashier = reviewed_application(session)

    with pytest.raises(ValidationFailed) as caught:
        settlement.pay(session, app, cashier, reference="HD001", failed=[(first.code, " ")], now=NOW)
    assert "原因" in caught.value.details["rows"][0]["message"]


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
    paid = client.post(path + "/payment", json={"reference": "HD10", "paid_on": str(local_today())},
                       headers=auth(cashier))
    line = paid.get_json()["lines"][0]
    assert (line["paid_amount_fen"], line["payment_reference"]) == (30000, "HD10")
    again = client.post(path + "/payment", json={"reference": "HD11"}, headers=auth(cashier))
    assert again.status_code == 409 and error_code(again) == "VOUCHER_SETTLED"

    listed = client.get("/api/v1/settlements?status=paid&payee_kind=institution", headers=auth(reviewer)).get_json()
    assert [s["id"] for s in listed["settlements"]] == [app.id] and listed["paid_total_fen"] == 30000
    past = client.get("/api/v1/settlements?status=paid&page=2", headers=auth(reviewer)).get_json()
    assert (past["settlements"], past["page"], past["pages"], past["count"]) == ([], 2, 1, 1)  # paging ends
    assert client.get("/api/v1/settlements?status=nope", headers=auth(reviewer)).status_code == 422
    assert client.get("/api/v1/settlements?region_code=330600", headers=auth(reviewer)).status_code == 422
    assert client.get("/api/v1/settlements", headers=auth(key_for("bureau", "330600"))).get_json()["count"] == 0
    institution = auth(key_for("institution", app.institution.code))
    assert client.get("/api/v1/settlements?region_code=500000", headers=institution).get_json()["count"] == 1
    assert client.get("/api/v1/settlements?region_code=330600", headers=institution).get_json()["count"] == 0
    assert client.get("/api/v1/settlements?region_code=abc", headers=institution).status_code == 422
