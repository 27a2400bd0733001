"""Review of a 结算 application by the bureau that issued the vouchers (PRODUCT.md §4): approve the
eligible lines, reject with a reason, never approve an ineligible line; an application is ready for
payment only once every line is decided, and one whose every line was rejected is 已驳回 (never paid)."""
import pytest
from sqlalchemy import func, select

from h5app.models import PaymentBatch, Settlement, Voucher
from h5app.models.settlement import LINE_APPROVED, LINE_PENDING, LINE_REJECTED, S_REJECTED, S_REVIEWED, S_SUBMITTED
from h5app.models.vouchers import USED
from h5app.vouchers import audit, settlement
from h5app.vouchers.errors import OutOfScope, SettlementError, ValidationFailed, VoucherNotFound
from tests import factories as f
from tests.settlement_support import NOW, bureau_pair, line_of, lines_state, rejected_application
from tests.settlement_support import course, submitted  # noqa: F401  (fixtures)


def test_review_approves_eligible_and_rejects_with_reason(session, submitted):
    app, good, weak = submitted["app"], submitted["good"], submitted["weak"]
    reviewer, _ = bureau_pair()
    session.commit()

    settlement.review(session, app, reviewer, approve=[good.code], reject=[(weak.code, "打卡率不足")], now=NOW)

    session.expire_all()
    app = session.get(Settlement, app.id)
    assert (app.status, app.reviewed_at, app.reviewed_by_id) == (S_REVIEWED, NOW, reviewer.id)
    assert (line_of(app, good).decision, line_of(app, good).amount_fen) == (LINE_APPROVED, 150000)
    weak_line = line_of(app, weak)
    assert (weak_line.decision, weak_line.decision_reason, weak_line.amount_fen) == (LINE_REJECTED, "打卡率不足", 0)
    assert app.approved_total_fen == 150000
    assert len(f.audit_events(action="settlement.review")) == 1


def test_review_cannot_approve_an_ineligible_line(session, submitted):
    app, good, weak = submitted["app"], submitted["good"], submitted["weak"]
    reviewer, _ = bureau_pair()
    session.commit()
    before = lines_state(session, app)

    with pytest.raises(ValidationFailed) as caught:
        settlement.review(session, session.get(Settlement, app.id), reviewer, approve=[good.code, weak.code], now=NOW)

    [row] = caught.value.details["rows"]
    assert (row["voucher_code"], row["code"], row["message"]) == (
        weak.code, "NOT_ELIGIBLE", "不符合补贴条件：打卡率40.0%，低于60%")
    assert lines_state(session, app) == before  # the good line was not approved either


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_rejecting_a_line_needs_a_reason(session, submitted, reason):
    app, weak = submitted["app"], submitted["weak"]
    reviewer, _ = bureau_pair()
    session.commit()
    before = lines_state(session, app)

    with pytest.raises(ValidationFailed) as caught:
        settlement.review(session, app, reviewer, reject=[(weak.code, reason)], now=NOW)

    assert caught.value.details["rows"][0]["message"] == "请填写驳回原因"
    assert lines_state(session, app) == before


def test_review_refuses_codes_outside_the_application_and_lines_decided_before(session, submitted):
    app, good = submitted["app"], submitted["good"]
    reviewer, _ = bureau_pair()
    session.commit()
    settlement.review(session, app, reviewer, approve=[good.code], now=NOW)

    with pytest.raises(VoucherNotFound) as caught:
        settlement.review(session, app, reviewer, approve=[good.code, submitted["elsewhere"].code], now=NOW)

    assert [r["message"] for r in caught.value.details["rows"]] == ["该行已审核", "该券不在本结算申请中"]


def test_partly_reviewed_application_is_not_ready_for_payment(session, submitted):
    app, good = submitted["app"], submitted["good"]
    reviewer, cashier = bureau_pair()
    session.commit()

    settlement.review(session, app, reviewer, approve=[good.code], now=NOW)

    assert session.get(Settlement, app.id).status == S_SUBMITTED
    with pytest.raises(SettlementError):
        settlement.pay(session, app, cashier, reference="HD-TEST-1", now=NOW)
    assert session.get(Voucher, good.id).status == USED


def test_only_the_issuing_bureau_reviews(session, submitted):
    app, good = submitted["app"], submitted["good"]
    session.commit()

    with pytest.raises(OutOfScope):
        settlement.review(session, app, f.bureau_actor("320200"), approve=[good.code], now=NOW)

    assert lines_state(session, app)[0][1] == LINE_PENDING


def test_a_district_bureau_does_not_review_the_citys_vouchers(session, submitted):
    app, good = submitted["app"], submitted["good"]
    session.commit()

    with pytest.raises(OutOfScope):
        settlement.review(session, app, f.bureau_actor("330602"), approve=[good.code], now=NOW)


def test_an_application_whose_every_line_was_rejected_is_rejected_not_paid(session):
    made, vouchers, _cls = rejected_application()
    session.expire_all()
    row = session.get(Settlement, made.id)
    assert (row.status, row.status_label, row.paid_at, row.review_done) == (S_REJECTED, "已驳回", None, False)
    assert {session.get(Voucher, v.id).status for v in vouchers} == {USED}
    cashier = f.staff("bureau", region_code="330600")
    session.commit()
    with pytest.raises(SettlementError) as refused:
        settlement.pay(session, row, audit.Actor.for_staff(cashier), reference="HD001")
    assert "已全部驳回" in refused.value.message
    assert session.scalar(select(func.count(PaymentBatch.id))) == 0
