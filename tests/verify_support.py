"""Helpers for the 验券 engine tests: a claimed or used voucher, a verification at a given moment,
and the check that a refused verification left the voucher, the audit log and the roster as they
were."""
from datetime import date, time, timedelta

import pytest
from sqlalchemy import func, inspect, select

from h5app.models import AuditEvent, Enrolment, Voucher
from h5app.models.vouchers import CLAIMED, USED
from h5app.timeutil import local_at
from h5app.vouchers import app_qr_secret, verify
from h5app.vouchers.errors import DomainError

from . import factories as f

NOW = local_at(date(2022, 5, 10), time(10))  # 02:00:00 UTC, on a 30-second step boundary
TS = f.epoch(NOW)
WINDOW = dict(claim_starts_on=date(2022, 5, 1), claim_ends_on=date(2022, 6, 30))


def make_template(policy_code="default", **values):
    return f.template(policy_code, **{**WINDOW, **values})


def claimed_voucher(template=None, owner=None, status=CLAIMED, **values):
    template = template or make_template()
    owner = owner or f.person()
    defaults = dict(claimed_at=NOW - timedelta(days=1), expires_at=NOW + timedelta(days=30))
    return f.voucher(template, owner, status, **{**defaults, **values})


def used_voucher(template, owner, training_class, used_at=NOW - timedelta(days=20), status=USED):
    return f.voucher(template, owner, status, claimed_at=used_at - timedelta(days=1), used_at=used_at,
                     class_id=training_class.id, institution_id=training_class.institution_id)


def run_verify(session, voucher, training_class, *, now=NOW, qr=None, id_number=None):
    return verify.verify(
        session, qr=qr or f.qr_for(voucher, f.epoch(now)), class_id=training_class.id,
        actor=f.institution_actor(training_class.institution), qr_secret=app_qr_secret(),
        id_number=id_number, now=now, now_ts=f.epoch(now),
    )


def snapshot(session, voucher_id):
    session.expire_all()
    voucher = session.get(Voucher, voucher_id)
    row = {attr.key: getattr(voucher, attr.key) for attr in inspect(Voucher).column_attrs}
    return (row, session.scalar(select(func.count(AuditEvent.id))),
            session.scalar(select(func.count(Enrolment.id))))


def assert_refused(session, code, voucher, training_class, **kwargs) -> DomainError:
    """Verification fails with `code` and leaves the voucher, the audit log and the roster as they were."""
    voucher_id = voucher.id
    before = snapshot(session, voucher_id)
    with pytest.raises(DomainError) as caught:
        run_verify(session, session.get(Voucher, voucher_id), training_class, **kwargs)
    assert caught.value.code == code, caught.value.message
    assert snapshot(session, voucher_id) == before
    return caught.value


def _tampered(token):
    return token[:-1] + ("A" if token[-1] != "A" else "B")
