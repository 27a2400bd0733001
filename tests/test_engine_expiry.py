"""失效 (PRODUCT.md §4): the sweep records overdue vouchers as expired, once, in batches; and the
expiring-soon notice, sent once to the worker whose claimed voucher lapses within a week."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from h5app.models import AuditEvent, Notification, Voucher
from h5app.models.vouchers import CLAIMED, EXPIRED, OFFERED, USED
from h5app.vouchers import lifecycle
from tests import factories as f
from tests.voucher_support import NOW, WINDOW, count, make_voucher, stored

# --- the expiry sweep ----------------------------------------------------------------------------

def test_expiry_sweep_records_overdue_vouchers_as_expired_with_audit(session):
    overdue_claimed = make_voucher(CLAIMED, expires_at=NOW - timedelta(seconds=1))
    overdue_offered = make_voucher(OFFERED, expires_at=NOW - timedelta(days=3))
    current = make_voucher(CLAIMED, expires_at=NOW + timedelta(days=1))
    no_deadline = make_voucher(CLAIMED, expires_at=None)
    used = make_voucher(USED, expires_at=NOW - timedelta(days=3), used_at=NOW - timedelta(days=5))
    session.commit()

    assert lifecycle.expire_overdue(session, now=NOW) == 2

    assert stored(session, overdue_claimed.id).status == EXPIRED
    assert stored(session, overdue_offered.id).status == EXPIRED
    for untouched, status in ((current, CLAIMED), (no_deadline, CLAIMED), (used, USED)):
        assert stored(session, untouched.id).status == status
    events = f.audit_events(action="voucher.expire")
    assert [(e.voucher_id, e.from_status, e.to_status) for e in events] == [
        (overdue_claimed.id, CLAIMED, EXPIRED), (overdue_offered.id, OFFERED, EXPIRED),
    ]
    assert all(e.actor_type == "system" and e.reason == "超过有效期未使用" and e.at == NOW for e in events)


def test_expiry_sweep_is_idempotent(session):
    make_voucher(CLAIMED, expires_at=NOW - timedelta(days=1))
    session.commit()
    lifecycle.expire_overdue(session, now=NOW)
    audits = count(session, AuditEvent)

    assert lifecycle.expire_overdue(session, now=NOW) == 0
    assert lifecycle.expire_overdue(session, now=NOW + timedelta(days=1)) == 0
    assert count(session, AuditEvent) == audits


def test_expiry_sweep_works_through_more_than_one_batch(session):
    template = f.template(**WINDOW, stock=None)
    ids = [make_voucher(CLAIMED, template=template, expires_at=NOW - timedelta(days=1)).id for _ in range(5)]
    session.commit()

    assert lifecycle.expire_overdue(session, now=NOW, batch_size=2) == 5

    assert count(session, Voucher, Voucher.id.in_(ids), Voucher.status == EXPIRED) == 5


# --- expiring-soon notices -----------------------------------------------------------------------

def test_expiring_notice_is_sent_once_per_voucher(session):
    soon = make_voucher(CLAIMED, expires_at=NOW + timedelta(days=3))
    session.commit()

    assert lifecycle.notify_expiring(session, now=NOW) == 1
    assert lifecycle.notify_expiring(session, now=NOW + timedelta(hours=12)) == 0

    [notice] = session.scalars(select(Notification)).all()
    assert (notice.kind, notice.person_id, notice.voucher_id) == ("expiring", soon.person_id, soon.id)
    assert "还有3天到期" in notice.body


@pytest.mark.parametrize("status, expires_in", [
    (CLAIMED, timedelta(days=8)),      # not soon yet
    (CLAIMED, timedelta(seconds=-1)),  # already past
    (CLAIMED, None),                   # no deadline
    (USED, timedelta(days=2)),         # already used: nothing to warn about
    (OFFERED, timedelta(days=2)),      # not the worker's voucher yet
])
def test_expiring_notice_only_for_claimed_vouchers_lapsing_within_a_week(session, status, expires_in):
    make_voucher(status, expires_at=NOW + expires_in if expires_in is not None else None)
    session.commit()

    assert lifecycle.notify_expiring(session, now=NOW) == 0
    assert count(session, Notification) == 0
