"""Institution supervision (PRODUCT.md §4): strikes, three in a local calendar year suspend the
institution automatically, a suspended one cannot verify, and the bureau reinstates it with a
reason — only the bureau of its region."""
from datetime import date, datetime, time, timedelta

import pytest

from h5app.models import AuditEvent, Institution, Strike
from h5app.models.institutions import ACTIVE, SUSPENDED
from h5app.models.vouchers import CLAIMED
from h5app.timeutil import local_at
from h5app.vouchers import app_qr_secret, supervision, verify
from h5app.vouchers.errors import DomainError, OutOfScope, ValidationFailed
from tests import factories as f
from tests.voucher_support import NOW, count, make_voucher


def strike(session, inst, at, kind="quality", reason="课时不足"):
    return supervision.record_strike(session, inst, kind, reason, f.bureau_actor(), now=at)


def institution_status(session, inst):
    session.expire_all()
    return session.get(Institution, inst.id).status


@pytest.mark.parametrize("kind, words", [("quality", "本年度培训质量问题累计3次"),
                                         ("eligibility", "本年度资格审核把关不严累计3次")])
def test_three_strikes_of_one_kind_in_a_year_suspend_the_institution_automatically(session, kind, words):
    inst = f.institution()
    session.commit()
    strike(session, inst, NOW - timedelta(days=60), kind, "未核验学员身份")
    strike(session, inst, NOW - timedelta(days=30), kind)

    strike(session, inst, NOW, kind)

    session.expire_all()
    row = session.get(Institution, inst.id)
    assert (row.status, row.suspended_at) == (SUSPENDED, NOW)
    assert words in row.suspended_reason
    [event] = f.audit_events(action="institution.suspend")
    assert (event.actor_type, event.institution_id, event.at) == ("system", inst.id, NOW)
    assert event.reason == row.suspended_reason
    assert len(f.audit_events(action="institution.strike")) == 3


def test_strikes_of_the_two_kinds_are_not_added_together(session):
    # Seed 003 §四(四): 资格审核把关不严3次（含）以上的，或年度出现质量问题3次（含）以上的.
    inst = f.institution()
    session.commit()
    strike(session, inst, NOW - timedelta(days=2), "eligibility", "未核验学员身份")
    strike(session, inst, NOW - timedelta(days=1), "eligibility", "未核验学员身份")
    strike(session, inst, NOW, "quality")

    assert institution_status(session, inst) == ACTIVE
    assert supervision.strikes_this_year(session, session.get(Institution, inst.id), NOW) == {
        "eligibility": 2, "quality": 1}


def test_two_strikes_do_not_suspend(session):
    inst = f.institution()
    session.commit()
    strike(session, inst, NOW - timedelta(days=1))
    strike(session, inst, NOW)

    assert institution_status(session, inst) == ACTIVE
    assert f.audit_events(action="institution.suspend") == []


@pytest.mark.parametrize("earlier, suspended", [
    ([datetime(2021, 3, 1), datetime(2021, 12, 31, 15, 59)], False),  # 2021-12-31 23:59 in Beijing
    ([datetime(2021, 12, 31, 16, 0), datetime(2022, 2, 1)], True),    # 2022-01-01 00:00 in Beijing
])
def test_strikes_count_per_local_calendar_year(session, earlier, suspended):
    inst = f.institution()
    session.commit()
    for at in earlier:
        strike(session, inst, at)

    strike(session, inst, NOW)

    assert institution_status(session, inst) == (SUSPENDED if suspended else ACTIVE)


def test_strikes_in_the_first_hours_of_the_local_new_year_count_in_the_new_year(session):
    inst = f.institution()
    session.commit()
    # 00:05, 00:10 and 00:30 on 2022-01-01 in Beijing: still 2021-12-31 in UTC.
    for minute in (5, 10, 30):
        strike(session, inst, local_at(date(2022, 1, 1), time(0, minute)))

    assert institution_status(session, inst) == SUSPENDED


def test_a_fourth_strike_does_not_suspend_twice(session):
    inst = f.institution()
    session.commit()
    for days in (3, 2, 1, 0):
        strike(session, inst, NOW - timedelta(days=days))

    assert len(f.audit_events(action="institution.suspend")) == 1
    assert count(session, Strike) == 4


@pytest.mark.parametrize("kind, reason, field", [
    ("bad-kind", "原因", "kind"),
    ("quality", "", "reason"),
    ("quality", "   ", "reason"),
])
def test_strike_needs_a_kind_and_a_reason(session, kind, reason, field):
    inst = f.institution()
    session.commit()

    with pytest.raises(ValidationFailed) as caught:
        supervision.record_strike(session, inst, kind, reason, f.bureau_actor(), now=NOW)

    assert field in caught.value.details["fields"]
    session.rollback()
    assert count(session, Strike) == 0 and count(session, AuditEvent) == 0


def test_suspended_institution_cannot_verify_until_reinstated(session):
    inst = f.institution()
    cls = f.training_class(inst)
    voucher = make_voucher(CLAIMED)
    session.commit()
    for days in (2, 1, 0):
        strike(session, inst, NOW - timedelta(days=days))

    def scan():
        return verify.verify(session, qr=f.qr_for(voucher, f.epoch(NOW)), class_id=cls.id,
                             actor=f.institution_actor(inst), qr_secret=app_qr_secret(),
                             now=NOW, now_ts=f.epoch(NOW))

    with pytest.raises(DomainError) as caught:
        scan()
    assert caught.value.code == "INSTITUTION_SUSPENDED"

    supervision.reinstate(session, session.get(Institution, inst.id), "已完成整改", f.bureau_actor(),
                          now=NOW + timedelta(hours=1))

    assert scan().result == verify.VERIFIED


def test_reinstate_restores_the_institution_and_audits_it(session):
    inst = f.institution(status=SUSPENDED, suspended_reason="累计3次", suspended_at=NOW - timedelta(days=1))
    session.commit()

    supervision.reinstate(session, inst, " 已完成整改 ", f.bureau_actor(), now=NOW)

    session.expire_all()
    row = session.get(Institution, inst.id)
    assert (row.status, row.suspended_reason, row.suspended_at) == (ACTIVE, None, None)
    [event] = f.audit_events(action="institution.reinstate")
    assert (event.reason, event.actor_label, event.at, event.institution_id) == ("已完成整改", "测试经办", NOW, inst.id)


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_reinstate_needs_a_reason(session, reason):
    inst = f.institution(status=SUSPENDED, suspended_reason="累计3次")
    session.commit()

    with pytest.raises(ValidationFailed):
        supervision.reinstate(session, inst, reason, f.bureau_actor(), now=NOW)

    assert institution_status(session, inst) == SUSPENDED
    assert count(session, AuditEvent) == 0


def test_reinstating_an_active_institution_is_refused(session):
    inst = f.institution()
    session.commit()

    with pytest.raises(ValidationFailed):
        supervision.reinstate(session, inst, "误操作", f.bureau_actor(), now=NOW)
    assert count(session, AuditEvent) == 0


@pytest.mark.parametrize("action", ["strike", "reinstate"])
def test_bureau_of_another_region_cannot_strike_or_reinstate(session, action):
    inst = f.institution(status=SUSPENDED if action == "reinstate" else ACTIVE)
    session.commit()
    outsider = f.bureau_actor("320200")

    with pytest.raises(OutOfScope):
        if action == "strike":
            supervision.record_strike(session, inst, "quality", "原因", outsider, now=NOW)
        else:
            supervision.reinstate(session, inst, "原因", outsider, now=NOW)
    session.rollback()
    assert count(session, Strike) == 0 and count(session, AuditEvent) == 0
