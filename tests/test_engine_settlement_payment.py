"""Payment of a reviewed 结算 application (PRODUCT.md §4): the vouchers settle, the worker is told,
a settled code is dead, an application is paid once, only by the issuing bureau, and never by the
clerk or API key that reviewed it. Payment batches and failed lines are in
test_settlement_payment_batches.py."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from h5app.models import Notification, Settlement, Voucher
from h5app.models.settlement import S_PAID, S_REVIEWED
from h5app.models.vouchers import SETTLED, USED
from h5app.vouchers import app_qr_secret, audit, settlement, verify
from h5app.vouchers.errors import DomainError, DutySegregation, OutOfScope
from tests import factories as f
from tests.settlement_support import NOW, bureau_pair, officer
from tests.settlement_support import course, reviewed, submitted  # noqa: F401  (fixtures)

# --- payment -------------------------------------------------------------------------------------

def test_reviewer_cannot_also_pay(session, reviewed):
    app = reviewed["app"]

    with pytest.raises(DutySegregation) as caught:
        settlement.pay(session, app, reviewed["reviewer"], reference="HD-TEST-1", now=NOW + timedelta(days=1))

    assert (caught.value.code, caught.value.status) == ("SEGREGATION_OF_DUTIES", 403)
    session.rollback()
    assert session.get(Settlement, app.id).status == S_REVIEWED
    assert session.get(Voucher, reviewed["good"].id).status == USED


def test_payment_settles_approved_vouchers_audits_and_tells_the_worker(session, reviewed):
    app, good, weak, cashier = reviewed["app"], reviewed["good"], reviewed["weak"], reviewed["cashier"]
    paid_at = NOW + timedelta(days=1)

    settlement.pay(session, app, cashier, reference="HD-TEST-1", now=paid_at)

    session.expire_all()
    app = session.get(Settlement, app.id)
    assert (app.status, app.paid_at, app.paid_by_id) == (S_PAID, paid_at, cashier.id)
    settled = session.get(Voucher, good.id)
    assert (settled.status, settled.settled_at) == (SETTLED, paid_at)
    [event] = f.audit_events(voucher_id=good.id, action="voucher.settle")
    assert (event.from_status, event.to_status, event.actor_id, event.at) == (USED, SETTLED, cashier.id, paid_at)
    assert event.details == {"settlement_id": app.id, "amount_fen": 150000, "batch_id": app.batches[0].id,
                             "reference": "HD-TEST-1"}
    [notice] = session.scalars(select(Notification).where(Notification.kind == "settled")).all()
    assert (notice.person_id, notice.voucher_id) == (good.person_id, good.id)
    assert "¥1,500.00" in notice.body
    # The rejected line's voucher is untouched.
    assert session.get(Voucher, weak.id).status == USED
    assert f.audit_events(voucher_id=weak.id, action="voucher.settle") == []
    assert len(f.audit_events(action="settlement.pay")) == 1


def test_a_settled_code_is_dead(session, reviewed):
    good, cls = reviewed["good"], reviewed["cls"]
    settlement.pay(session, reviewed["app"], reviewed["cashier"], reference="HD-TEST-1", now=NOW)

    with pytest.raises(DomainError) as caught:
        verify.verify(session, qr=f.qr_for(good, f.epoch(NOW)), class_id=cls.id, actor=officer(cls),
                      qr_secret=app_qr_secret(), now=NOW, now_ts=f.epoch(NOW))
    assert caught.value.code == "VOUCHER_SETTLED"
    with pytest.raises(DomainError) as second:
        settlement.apply(session, cls, officer(cls), codes=[good.code], now=NOW)
    assert second.value.code == "VOUCHER_SETTLED"
    assert second.value.details["rows"][0]["voucher_code"] == good.code


def test_an_application_is_paid_once(session, reviewed):
    settlement.pay(session, reviewed["app"], reviewed["cashier"], reference="HD-TEST-1", now=NOW)

    with pytest.raises(DomainError) as caught:
        settlement.pay(session, reviewed["app"], reviewed["cashier"], reference="HD-TEST-2", now=NOW)
    assert caught.value.code == "VOUCHER_SETTLED"
    assert len(f.audit_events(action="voucher.settle")) == 1


def test_only_the_issuing_bureau_pays(session, reviewed):
    with pytest.raises(OutOfScope):
        settlement.pay(session, reviewed["app"], f.bureau_actor("320200"), reference="HD-TEST-1", now=NOW)
    assert session.get(Voucher, reviewed["good"].id).status == USED


# --- segregation of duties across partial reviews, and API keys -----------------------------------

def test_a_clerk_who_reviewed_part_of_an_application_cannot_pay_it(session, submitted):
    first, second = bureau_pair()
    session.commit()
    app = submitted["app"]
    settlement.review(session, app, first, approve=[submitted["good"].code], now=NOW)
    settlement.review(session, app, second, reject=[(submitted["weak"].code, "打卡率不足")], now=NOW)
    assert app.status == S_REVIEWED

    with pytest.raises(DutySegregation):
        settlement.pay(session, app, first, reference="HD-TEST-1", now=NOW)
    with pytest.raises(DutySegregation):
        settlement.pay(session, app, second, reference="HD-TEST-1", now=NOW)


def test_one_api_key_cannot_review_and_pay(session, submitted):
    key = audit.Actor("api_key", 7, "省平台", region_code="330600")
    app = submitted["app"]
    settlement.review(session, app, key, approve=[submitted["good"].code],
                      reject=[(submitted["weak"].code, "打卡率不足")], now=NOW)

    with pytest.raises(DutySegregation):
        settlement.pay(session, app, key, reference="HD-TEST-1", now=NOW)
    settlement.pay(session, app, audit.Actor("api_key", 8, "财务平台", region_code="330600"), reference="HD-1",
                   now=NOW)
    assert app.status == S_PAID
