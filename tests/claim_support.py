"""Helpers for the 领券 engine tests: a template open for claims on 2022-05-10, and the check that a
refused claim wrote nothing."""
from datetime import date, time

import pytest
from sqlalchemy import func, select

from h5app.models import AuditEvent, Voucher, VoucherTemplate
from h5app.models.vouchers import CLAIMED
from h5app.timeutil import local_at
from h5app.vouchers import claim

from . import factories as f

NOW = local_at(date(2022, 5, 10), time(10))  # 10:00 in Beijing, 02:00 UTC
WINDOW = dict(claim_starts_on=date(2022, 5, 1), claim_ends_on=date(2022, 6, 30))


def make_template(policy_code="default", **values):
    return f.template(policy_code, **{**WINDOW, **values})


def voucher_count(session, template=None):
    query = select(func.count(Voucher.id))
    if template is not None:
        query = query.where(Voucher.template_id == template.id)
    return session.scalar(query)


def audit_count(session):
    return session.scalar(select(func.count(AuditEvent.id)))


def claimed_count(session, template):
    session.expire_all()
    return session.get(VoucherTemplate, template.id).claimed_count


def assert_refused(session, error_class, person, template, now=NOW):
    """The claim is refused with `error_class` and writes nothing at all."""
    audits_before = audit_count(session)
    count_before = claimed_count(session, template)
    with pytest.raises(error_class) as caught:
        claim.claim(session, person, template, now=now)
    assert session.scalar(select(func.count(Voucher.id)).where(
        Voucher.person_id == person.id, Voucher.template_id == template.id, Voucher.status == CLAIMED,
    )) == 0
    assert audit_count(session) == audits_before
    assert claimed_count(session, template) == count_before
    return caught.value
