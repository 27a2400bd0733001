"""How long a claimed voucher lasts (PRODUCT.md §4): the use deadline set at claim, and expiry that
is right without any job having run."""
from datetime import date, datetime, time, timedelta

import pytest

from h5app.models.vouchers import CLAIMED, EXPIRED
from h5app.timeutil import end_of_local_day, local_at
from h5app.vouchers import app_qr_secret, claim, issuance, verify
from h5app.vouchers.errors import VoucherExpired
from tests import factories as f
from tests.claim_support import NOW, make_template


@pytest.mark.parametrize("policy_code, values, claimed_at, deadline", [
    # A fixed deadline: the whole of that local day.
    ("default", dict(valid_until=date(2022, 11, 30), valid_days=None), NOW,
     datetime(2022, 11, 30, 15, 59, 59, 999999)),
    # N days after claim, counted from the local day of the claim (05-11 04:00 in Beijing).
    ("default", dict(valid_days=30), datetime(2022, 5, 10, 20, 0), end_of_local_day(date(2022, 6, 10))),
    # Both set: whichever comes first.
    ("default", dict(valid_until=date(2022, 5, 20), valid_days=30), NOW, end_of_local_day(date(2022, 5, 20))),
    # Shaoxing: activate (verify) within 90 days of claim, even when the template allows longer.
    ("shaoxing", dict(valid_days=365), NOW, end_of_local_day(date(2022, 8, 8))),
    # No deadline at all.
    ("default", dict(valid_days=None), NOW, None),
])
def test_claim_sets_the_use_deadline(session, policy_code, values, claimed_at, deadline):
    template = make_template(policy_code, **values)
    worker = f.person()
    session.commit()

    voucher = claim.claim(session, worker, template, now=claimed_at)

    assert voucher.expires_at == deadline


def test_expiry_is_right_without_any_job_having_run(session):
    template = make_template(valid_days=30)
    worker = f.person()
    session.commit()
    voucher = claim.claim(session, worker, template, now=NOW)
    deadline = end_of_local_day(date(2022, 6, 9))
    assert voucher.expires_at == deadline

    assert voucher.effective_status(deadline) == CLAIMED
    assert voucher.effective_status(deadline + timedelta(microseconds=1)) == EXPIRED
    assert voucher.status == CLAIMED  # nothing recorded: the state is derived

    late = deadline + timedelta(minutes=1)
    cls = f.training_class()
    with pytest.raises(VoucherExpired) as caught:
        verify.verify(session, qr=f.qr_for(voucher, f.epoch(late)), class_id=cls.id,
                      actor=f.institution_actor(cls.institution), qr_secret=app_qr_secret(), now=late,
                      now_ts=f.epoch(late))
    assert caught.value.code == "VOUCHER_EXPIRED"


def test_offered_voucher_lapses_when_the_claim_window_closes(session):
    template = make_template(audience="targeted")
    worker = f.person()
    session.commit()

    offered = issuance.issue_general(session, template, f.bureau_actor(), people=[worker], now=NOW).done[0]

    assert offered.expires_at == end_of_local_day(date(2022, 6, 30))
    assert offered.effective_status(local_at(date(2022, 7, 1), time(0))) == EXPIRED
