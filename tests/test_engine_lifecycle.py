"""The voucher state machine, 作废 (revoke), 失效 (the expiry sweep), expiring-soon notices, and
institution strikes → suspension → reinstatement (PRODUCT.md §4)."""
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm.attributes import set_committed_value

from h5app.models import AuditEvent, Institution, Notification, Strike, Voucher
from h5app.models.institutions import ACTIVE, SUSPENDED
from h5app.models.vouchers import CLAIMED, EXPIRED, OFFERED, REVOKED, SETTLED, USED, VOUCHER_STATUSES
from h5app.timeutil import local_at
from h5app.vouchers import app_qr_secret, audit, lifecycle, states, supervision, verify
from h5app.vouchers.errors import DomainError, InvalidTransition, OutOfScope, ValidationFailed
from tests import factories as f

NOW = local_at(date(2022, 5, 10), time(10))
WINDOW = dict(claim_starts_on=date(2022, 5, 1), claim_ends_on=date(2022, 6, 30))
ALL_STATES = list(VOUCHER_STATUSES)


def count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


def make_voucher(status=CLAIMED, template=None, owner=None, **values):
    template = template or f.template(**WINDOW)
    defaults = dict(claimed_at=NOW - timedelta(days=1) if status != OFFERED else None,
                    expires_at=NOW + timedelta(days=30))
    return f.voucher(template, owner or f.person(), status, **{**defaults, **values})


def stored(session, voucher_id):
    session.expire_all()
    return session.get(Voucher, voucher_id)


# --- the state machine ---------------------------------------------------------------------------

def test_the_allowed_moves_are_exactly_those_of_the_product_spec():
    assert states.ALLOWED_MOVES == {
        OFFERED: {CLAIMED, EXPIRED, REVOKED},
        CLAIMED: {USED, EXPIRED, REVOKED},
        USED: {SETTLED, CLAIMED},  # back to claimed: class cancelled or trainee withdrawn (issue 19)
        SETTLED: set(),
        EXPIRED: set(),
        REVOKED: set(),
    }


@pytest.mark.parametrize("from_status, to_status", [(a, b) for a in ALL_STATES for b in ALL_STATES])
def test_only_allowed_moves_happen_and_each_is_audited(session, from_status, to_status):
    voucher = make_voucher(from_status)
    session.commit()
    actor = audit.Actor("staff", None, "测试经办", region_code="330600")

    if to_status in states.ALLOWED_MOVES[from_status]:
        states.move(session, voucher, to_status, actor, reason="测试原因", at=NOW)
        session.commit()
        assert stored(session, voucher.id).status == to_status
        [event] = f.audit_events(voucher_id=voucher.id)
        assert (event.from_status, event.to_status, event.reason, event.at) == (from_status, to_status, "测试原因", NOW)
        assert (event.actor_type, event.actor_label) == ("staff", "测试经办")
        assert event.action == ("voucher.return" if (from_status, to_status) == (USED, CLAIMED)
                                else states.ACTIONS[to_status])
    else:
        with pytest.raises(InvalidTransition):
            states.move(session, voucher, to_status, actor, reason="测试原因", at=NOW)
        session.rollback()
        assert stored(session, voucher.id).status == from_status
        assert count(session, AuditEvent) == 0


def test_a_move_from_a_state_read_before_someone_else_moved_it_is_stale(session):
    voucher = make_voucher(CLAIMED)
    session.commit()
    voucher_id = voucher.id
    session.execute(Voucher.__table__.update().where(Voucher.id == voucher_id).values(status=USED))
    session.commit()
    voucher = session.get(Voucher, voucher_id)
    set_committed_value(voucher, "status", CLAIMED)  # what an earlier read saw

    with pytest.raises(states.StaleState):
        states.move(session, voucher, REVOKED, f.bureau_actor(), reason="过期读", at=NOW)

    session.rollback()
    assert stored(session, voucher_id).status == USED
    assert count(session, AuditEvent) == 0


# --- revoke --------------------------------------------------------------------------------------

def test_revoke_cancels_claimed_and_offered_vouchers_with_audit_and_notice(session):
    claimed, offered = make_voucher(CLAIMED), make_voucher(OFFERED, offered_at=NOW - timedelta(days=2))
    session.commit()
    codes = [claimed.code, offered.code]

    report = lifecycle.revoke(session, codes, "  资格复核不符  ", f.bureau_actor(), now=NOW)

    assert report.done == codes and report.rejected == []
    for voucher, before in ((claimed, CLAIMED), (offered, OFFERED)):
        row = stored(session, voucher.id)
        assert (row.status, row.revoked_at, row.revoke_reason) == (REVOKED, NOW, "资格复核不符")
        [event] = f.audit_events(voucher_id=voucher.id)
        assert (event.action, event.from_status, event.to_status, event.reason) == (
            "voucher.revoke", before, REVOKED, "资格复核不符")
        assert event.actor_label == "测试经办"
        [notice] = session.scalars(select(Notification).where(Notification.voucher_id == voucher.id)).all()
        assert (notice.kind, notice.person_id) == ("revoked", voucher.person_id)
        assert "资格复核不符" in notice.body


@pytest.mark.parametrize("status, values, label", [
    (USED, dict(used_at=NOW - timedelta(days=1)), "已使用"),
    (SETTLED, dict(settled_at=NOW - timedelta(days=1)), "已核销"),
    (EXPIRED, {}, "已失效"),
    (REVOKED, dict(revoked_at=NOW - timedelta(days=1)), "已作废"),
    (CLAIMED, dict(expires_at=NOW - timedelta(days=1)), "已失效"),  # overdue, not yet swept
])
def test_revoke_refuses_vouchers_that_are_not_claimed_or_offered(session, status, values, label):
    voucher = make_voucher(status, **values)
    session.commit()

    report = lifecycle.revoke(session, [voucher.code], "资格复核不符", f.bureau_actor(), now=NOW)

    assert report.done == []
    [rejected] = report.rejected
    assert (rejected["code"], rejected["error"]) == (voucher.code, "INVALID_STATE")
    assert f"“{label}”" in rejected["message"]
    assert stored(session, voucher.id).status == status
    assert count(session, AuditEvent) == 0 and count(session, Notification) == 0


def test_revoke_reports_unknown_and_out_of_region_codes_as_not_found(session):
    f.region("320200", "无锡市", "wuxi")
    wuxi = make_voucher(CLAIMED, template=f.template("wuxi", region_code="320200", **WINDOW))
    mine = make_voucher(CLAIMED)
    session.commit()

    report = lifecycle.revoke(session, ["ZZZZZZZZZZZZZZZZ", wuxi.code, mine.code], "核查", f.bureau_actor("330600"),
                              now=NOW)

    assert report.done == [mine.code]
    assert [(r["code"], r["error"]) for r in report.rejected] == [
        ("ZZZZZZZZZZZZZZZZ", "VOUCHER_NOT_FOUND"), (wuxi.code, "VOUCHER_NOT_FOUND"),
    ]
    assert stored(session, wuxi.id).status == CLAIMED


def test_revoke_normalises_codes_and_handles_each_once(session):
    voucher = make_voucher(CLAIMED)
    session.commit()
    code = voucher.code

    report = lifecycle.revoke(session, [code, f" {code.lower()} ", f"{code[:8]}-{code[8:]}", ""], "核查",
                              f.bureau_actor(), now=NOW)

    assert report.done == [code] and report.rejected == []
    assert len(f.audit_events(voucher_id=voucher.id)) == 1


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_revoke_needs_a_reason_and_changes_nothing_without_one(session, reason):
    voucher = make_voucher(CLAIMED)
    session.commit()

    with pytest.raises(ValidationFailed) as caught:
        lifecycle.revoke(session, [voucher.code], reason, f.bureau_actor(), now=NOW)

    assert caught.value.details["fields"] == {"reason": "请填写作废原因"}
    assert stored(session, voucher.id).status == CLAIMED
    assert count(session, AuditEvent) == 0


def test_revoked_voucher_can_no_longer_be_verified(session):
    voucher = make_voucher(CLAIMED)
    cls = f.training_class()
    session.commit()
    lifecycle.revoke(session, [voucher.code], "冒领", f.bureau_actor(), now=NOW)

    with pytest.raises(DomainError) as caught:
        verify.verify(session, qr=f.qr_for(voucher, f.epoch(NOW)), class_id=cls.id,
                      actor=f.institution_actor(cls.institution), qr_secret=app_qr_secret(),
                      now=NOW, now_ts=f.epoch(NOW))
    assert caught.value.code == "VOUCHER_REVOKED"


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


# --- strikes, suspension, reinstatement ----------------------------------------------------------

def strike(session, inst, at, kind="quality", reason="课时不足"):
    return supervision.record_strike(session, inst, kind, reason, f.bureau_actor(), now=at)


def institution_status(session, inst):
    session.expire_all()
    return session.get(Institution, inst.id).status


def test_three_strikes_in_a_year_suspend_the_institution_automatically(session):
    inst = f.institution()
    session.commit()
    strike(session, inst, NOW - timedelta(days=60), "eligibility", "未核验学员身份")
    strike(session, inst, NOW - timedelta(days=30))

    strike(session, inst, NOW)

    session.expire_all()
    row = session.get(Institution, inst.id)
    assert (row.status, row.suspended_at) == (SUSPENDED, NOW)
    assert "本年度累计3次" in row.suspended_reason
    [event] = f.audit_events(action="institution.suspend")
    assert (event.actor_type, event.institution_id, event.at) == ("system", inst.id, NOW)
    assert event.reason == row.suspended_reason
    assert len(f.audit_events(action="institution.strike")) == 3


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
