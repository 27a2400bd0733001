"""取消班期 and 退班 in the engine (issue 19): the vouchers used for the class go back to claimed with
their deadline extended by the days they were held, enrolments end, workers are told, all audited;
every refusal says why and changes nothing."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import (
    AuditEvent, Enrolment, Notification, SettlementLine, TrainingClass, Voucher, VoucherMonthlyStat,
)
from h5app.models.classes import CLASS_CANCELLED, CLASS_COMPLETED
from h5app.models.vouchers import CLAIMED, SETTLED, USED
from h5app.statistics import rollup
from h5app.timeutil import iso_local
from h5app.vouchers import app_qr_secret, cancellation, checkin, enrolment, roster, settlement, verify
from h5app.vouchers.errors import DomainError
from tests import factories as f

from .lifecycle_support import FIRST_LESSON, NOW, VERIFIED_AT, claimed, course, state, stored, template, verified


def cancel(training_class, actor=None, reason="报名人数不足，无法开班", now=NOW):
    return cancellation.cancel_class(db.session, training_class, reason,
                                     actor or f.institution_actor(training_class.institution), now=now)


def notices(person_id) -> list[Notification]:
    return db.session.scalars(select(Notification).where(Notification.person_id == person_id)
                              .order_by(Notification.id)).all()


# --- cancellation --------------------------------------------------------------------------------

def test_cancelling_gives_every_used_voucher_back_with_its_deadline_extended_by_the_days_held(session):
    cls = course()
    first, second = verified(cls), verified(cls, at=VERIFIED_AT + timedelta(hours=3))
    deadlines = {first.id: first.expires_at, second.id: second.expires_at}
    walk_in = f.person()
    f.enrol(cls, walk_in, source="self")
    session.commit()

    done = cancel(cls)

    assert (len(done.returned), done.enrolments_ended, done.by_bureau) == (2, 3, False)
    # Held 5 days, and 4 days 21 hours (a part of a day counts as a whole one).
    assert done.held_days == {first.id: 5, second.id: 5}
    for voucher_id in (first.id, second.id):
        voucher = stored(voucher_id)
        assert (voucher.status, voucher.used_at, voucher.class_id, voucher.institution_id) == (CLAIMED, None, None,
                                                                                               None)
        assert voucher.expires_at == deadlines[voucher_id] + timedelta(days=5)
        [used, returned] = f.audit_events(voucher_id=voucher_id)
        assert (used.action, used.to_status) == ("voucher.verify", USED)
        assert (returned.action, returned.from_status, returned.to_status) == ("voucher.return", USED, CLAIMED)
        assert (returned.reason, returned.at, returned.institution_id) == ("报名人数不足，无法开班", NOW,
                                                                           cls.institution_id)
        assert returned.details["held_days"] == 5 and returned.details["cause"] == "class_cancelled"
        assert returned.details["expires_at"] == iso_local(voucher.expires_at)
        [notice] = notices(voucher.person_id)
        assert notice.kind == "voucher_returned" and notice.link == f"/worker/vouchers/{voucher.code}"
        assert "报名人数不足" in notice.body and "有效期延长5天" in notice.body
    [walk_in_notice] = notices(walk_in.id)
    assert walk_in_notice.kind == "class_cancelled" and "已取消" in walk_in_notice.body
    assert {e.status for e in session.scalars(select(Enrolment))} == {"cancelled"}
    assert all(e.ended_at == NOW and e.end_reason == "报名人数不足，无法开班" and e.voucher_id is None
               for e in session.scalars(select(Enrolment)))
    stored_class = session.get(TrainingClass, cls.id)
    assert (stored_class.status, stored_class.cancelled_at, stored_class.cancel_reason) == (
        CLASS_CANCELLED, NOW, "报名人数不足，无法开班")
    [event] = f.audit_events(action="class.cancel")
    assert set(event.details["vouchers_returned"]) == {first.code, second.code}
    assert event.details["by"] == "institution" and event.details["enrolments_ended"] == 3


def uses_rolled_up() -> int:
    return db.session.scalar(select(func.coalesce(func.sum(VoucherMonthlyStat.used), 0)))


def test_a_use_given_back_leaves_the_rolled_up_months_as_a_recount_would(session):
    cls = course()
    verified(cls)  # five days ago: a day the roll-up has counted
    verified(cls, at=NOW - timedelta(hours=2))  # today: counted live, not rolled up
    session.commit()
    rollup.roll_up(session, now=NOW)
    assert uses_rolled_up() == 1

    cancel(cls)

    assert uses_rolled_up() == 0  # 查询统计 no longer counts the use given back
    rollup.roll_up(session, now=NOW, rebuild=True)
    assert uses_rolled_up() == 0


def test_a_voucher_held_for_hours_gets_a_whole_day_and_one_without_a_deadline_keeps_none(session):
    cls = course()
    recent = verified(cls, at=NOW - timedelta(hours=2))
    open_ended = verified(cls, expires_at=None)
    session.commit()

    done = cancel(cls)

    assert done.held_days[recent.id] == 1
    assert stored(recent.id).expires_at == NOW + timedelta(days=31)
    assert stored(open_ended.id).expires_at is None and stored(open_ended.id).status == CLAIMED


def test_directed_vouchers_of_a_cancelled_class_may_be_used_at_another_class(session):
    cls, other = course(), course()
    directed = f.directed_template(**dict(claim_starts_on=NOW.date() - timedelta(days=9),
                                          claim_ends_on=NOW.date() + timedelta(days=50)))
    used = verified(cls, tmpl=directed, bound_class_id=cls.id)
    waiting = claimed(tmpl=directed, bound_class_id=cls.id)
    session.commit()

    cancel(cls)

    assert stored(used.id).bound_class_id is None and stored(used.id).status == CLAIMED
    assert stored(waiting.id).bound_class_id is None
    [unbind] = f.audit_events(voucher_id=waiting.id)
    assert (unbind.action, unbind.to_status) == ("voucher.unbind", None)
    # Freed, the returned voucher is verified at another class (it was bound to the cancelled one).
    again = verify.verify(session, qr=f.qr_for(used, f.epoch(NOW)), class_id=other.id,
                          actor=f.institution_actor(other.institution), qr_secret=app_qr_secret(), now=NOW,
                          now_ts=f.epoch(NOW))
    assert again.result == verify.VERIFIED


def test_the_bureau_may_cancel_after_the_first_lesson_began(session):
    cls = course()
    voucher = verified(cls)
    session.commit()

    done = cancel(cls, f.bureau_actor("330600"), now=FIRST_LESSON + timedelta(days=1))

    assert done.by_bureau and stored(voucher.id).status == CLAIMED
    assert f.audit_events(action="class.cancel")[0].details["by"] == "bureau"


def _completed(cls):
    cls.status = CLASS_COMPLETED


def _cancelled(cls):
    cls.status, cls.cancelled_at = CLASS_CANCELLED, NOW - timedelta(days=1)


def _applied_before_completion(cls):
    """An application made while the class ran, as was possible before 结算 required 结业: the
    cancellation and withdrawal rules still hold for such data."""
    status, cls.status = cls.status, CLASS_COMPLETED
    settlement.apply(db.session, cls, f.institution_actor(cls.institution), now=NOW)
    cls.status = status
    db.session.commit()


def _in_settlement(cls):
    _applied_before_completion(cls)


def _settled(cls):
    voucher = db.session.scalar(select(Voucher).where(Voucher.class_id == cls.id))
    voucher.status = SETTLED


@pytest.mark.parametrize("arrange, actor, reason, now, code, words", [
    (_completed, "institution", "场地变更", NOW, "CLASS_COMPLETED", "已结业"),
    (_completed, "bureau", "场地变更", NOW, "CLASS_COMPLETED", "已结业"),
    (_cancelled, "institution", "场地变更", NOW, "CLASS_CANCELLED", "已于"),
    (None, "institution", "", NOW, "VALIDATION_FAILED", "请填写取消原因"),
    (None, "institution", "   ", NOW, "VALIDATION_FAILED", "请填写取消原因"),
    (None, "institution", "长" * 501, NOW, "VALIDATION_FAILED", "500字以内"),
    (None, "institution", "x", NOW, "VALIDATION_FAILED", "取消原因请写清楚"),
    (None, "institution", "场地变更", FIRST_LESSON, "CLASS_STARTED", "05月20日 08:00开始"),
    (None, "other institution", "场地变更", NOW, "FORBIDDEN", "只能取消本机构或本地区的班期"),
    (None, "other bureau", "场地变更", NOW, "FORBIDDEN", "只能取消本机构或本地区的班期"),
    (_in_settlement, "bureau", "场地变更", NOW, "SETTLEMENT_INVALID", "已在结算申请中"),
    (_settled, "bureau", "场地变更", NOW, "VOUCHER_SETTLED", "已结算核销"),
])
def test_a_cancellation_that_may_not_be_done_says_why_and_changes_nothing(session, arrange, actor, reason, now,
                                                                           code, words):
    cls = course()
    verified(cls)
    if arrange:
        arrange(cls)
    session.commit()
    actors = {"institution": f.institution_actor(cls.institution), "bureau": f.bureau_actor("330600"),
              "other institution": f.institution_actor(f.institution()), "other bureau": f.bureau_actor("500000")}
    acting = actors[actor]
    session.commit()
    before = state()

    with pytest.raises(DomainError) as refused:
        cancel(cls, acting, reason=reason, now=now)

    assert refused.value.code == code and words in refused.value.message
    assert state() == before


def test_a_cancelled_class_takes_no_verification_enrolment_check_in_or_roster(session):
    cls = course()
    verified(cls)
    voucher = claimed()
    worker = f.person()
    session.commit()
    cancel(cls)
    before = state()

    with pytest.raises(DomainError) as verifying:
        verify.verify(session, qr=f.qr_for(voucher, f.epoch(NOW)), class_id=cls.id,
                      actor=f.institution_actor(cls.institution), qr_secret=app_qr_secret(), now=NOW,
                      now_ts=f.epoch(NOW))
    with pytest.raises(DomainError) as enrolling:
        enrolment.enrol(session, worker, session.get(TrainingClass, cls.id), now=NOW)
    with pytest.raises(DomainError) as listing:
        roster.add_trainees(session, session.get(TrainingClass, cls.id),
                            [{"name": "钱学员", "id_number": f.valid_id_number()}], f.institution_actor(cls.institution))
    f.enrol(cls, worker, status="enrolled")
    session.commit()
    with pytest.raises(DomainError) as checking_in:
        checkin.location_check_in(session, worker, cls.sessions[0], 30.0, 120.58, now=FIRST_LESSON)

    assert {e.value.code for e in (verifying, enrolling, listing, checking_in)} == {"CLASS_CANCELLED"}
    assert "已取消" in verifying.value.message
    session.rollback()
    session.execute(Enrolment.__table__.delete().where(Enrolment.person_id == worker.id))
    session.commit()
    assert state() == before


def test_a_returned_voucher_no_longer_counts_toward_a_one_use_a_year_policy(session):
    """Shaoxing allows one use a year: the voucher given back is the person's to use again."""
    owner = f.person()
    shaoxing = template("shaoxing", valid_days=365)
    cls, other = course(), course()
    voucher = verified(cls, owner, tmpl=shaoxing)
    session.commit()
    cancel(cls)

    again = verify.verify(session, qr=f.qr_for(voucher, f.epoch(NOW)), class_id=other.id,
                          actor=f.institution_actor(other.institution), qr_secret=app_qr_secret(), now=NOW,
                          now_ts=f.epoch(NOW))

    assert again.result == verify.VERIFIED and stored(voucher.id).class_id == other.id


# --- withdrawal ----------------------------------------------------------------------------------

def withdraw(cls, person, reason="工作调动，无法参加", actor=None, now=NOW):
    return cancellation.withdraw(db.session, cls, person.id_number, reason,
                                 actor or f.institution_actor(cls.institution), now=now)


def test_withdrawing_a_trainee_before_the_first_lesson_gives_the_voucher_back(session):
    cls = course()
    voucher = verified(cls)
    stays = verified(cls)
    deadline = voucher.expires_at
    session.commit()

    done = withdraw(cls, voucher.person)

    assert done.held_days == 5 and done.voucher.id == voucher.id
    back = stored(voucher.id)
    assert (back.status, back.class_id, back.expires_at) == (CLAIMED, None, deadline + timedelta(days=5))
    assert stored(stays.id).status == USED
    mine = session.scalar(select(Enrolment).where(Enrolment.person_id == voucher.person_id))
    assert (mine.status, mine.ended_at, mine.end_reason) == ("withdrawn", NOW, "工作调动，无法参加")
    returned = f.audit_events(voucher_id=voucher.id)[-1]
    assert (returned.action, returned.details["cause"]) == ("voucher.return", "withdrawn")
    [event] = f.audit_events(action="class.withdraw")
    assert event.person_id == voucher.person_id and event.details["voucher"] == voucher.code
    [notice] = notices(voucher.person_id)
    assert "您已退出该班期" in notice.body and "有效期延长5天" in notice.body
    assert session.get(TrainingClass, cls.id).status != CLASS_CANCELLED


def test_a_withdrawn_trainee_is_told_a_directed_voucher_still_serves_that_class_alone(session):
    cls = course()
    voucher = verified(cls, bound_class_id=cls.id)  # 定向券, issued for this class's roster
    session.commit()

    withdraw(cls, voucher.person)

    [notice] = notices(voucher.person_id)
    assert f"该券为定向券，只能用于“{cls.course_name}”" in notice.body and "可报名其他班期使用" not in notice.body
    assert stored(voucher.id).bound_class_id == cls.id


def test_a_trainee_without_a_voucher_is_withdrawn_and_told(session):
    cls = course()
    worker = f.person()
    f.enrol(cls, worker, source="self")
    session.commit()

    done = withdraw(cls, worker)

    assert done.voucher is None
    assert session.scalar(select(Enrolment.status).where(Enrolment.person_id == worker.id)) == "withdrawn"
    assert [n.kind for n in notices(worker.id)] == ["class_withdrawn"]


def test_a_withdrawn_trainee_may_come_back_with_the_voucher(session):
    cls = course()
    voucher = verified(cls)
    session.commit()
    withdraw(cls, voucher.person)

    again = verify.verify(session, qr=f.qr_for(voucher, f.epoch(NOW)), class_id=cls.id,
                          actor=f.institution_actor(cls.institution), qr_secret=app_qr_secret(), now=NOW,
                          now_ts=f.epoch(NOW))

    assert again.result == verify.VERIFIED
    assert session.scalar(select(Enrolment.status).where(Enrolment.person_id == voucher.person_id)) == "enrolled"


def test_a_trainee_who_attended_is_not_withdrawn(session):
    cls = course()
    voucher = verified(cls)
    f.check_in(cls.sessions[0], voucher.person)
    session.commit()
    before = state()

    with pytest.raises(DomainError) as refused:
        withdraw(cls, voucher.person, now=FIRST_LESSON + timedelta(days=1))

    assert refused.value.code == "ALREADY_ATTENDING"
    assert "05月20日参加第1次课" in refused.value.message and "不能退班" in refused.value.message
    assert state() == before


@pytest.mark.parametrize("case, code, words", [
    ("stranger", "NOT_ENROLLED", "不在本班期名单中"),
    ("unknown", "NOT_ENROLLED", "不在本班期名单中"),
    ("bad id", "VALIDATION_FAILED", "校验位"),
    ("no reason", "VALIDATION_FAILED", "请填写退班原因"),
    ("twice", "NOT_ENROLLED", "已于"),
    ("other institution", "FORBIDDEN", "只能为本机构"),
    ("completed", "CLASS_COMPLETED", "已结业"),
    ("cancelled", "CLASS_CANCELLED", "取消，不能退班"),
])
def test_a_withdrawal_that_may_not_be_done_says_why_and_changes_nothing(session, case, code, words):
    cls = course()
    voucher = verified(cls)
    person, reason, actor = voucher.person, "工作调动", f.institution_actor(cls.institution)
    id_number = person.id_number
    if case == "stranger":
        id_number = f.person().id_number
    elif case == "unknown":
        id_number = f.valid_id_number()
    elif case == "bad id":
        id_number = id_number[:17] + ("0" if id_number[17] != "0" else "1")
    elif case == "no reason":
        reason = " "
    elif case == "twice":
        session.commit()
        withdraw(cls, person)
    elif case == "other institution":
        actor = f.institution_actor(f.institution())
    elif case == "completed":
        cls.status = CLASS_COMPLETED
    elif case == "cancelled":
        session.commit()
        cancel(cls)
    session.commit()
    before = state()

    with pytest.raises(DomainError) as refused:
        cancellation.withdraw(session, session.get(TrainingClass, cls.id), id_number, reason, actor, now=NOW)

    assert refused.value.code == code and words in refused.value.message, refused.value.message
    assert state() == before


def test_settlement_lines_keep_a_voucher_from_being_withdrawn(session):
    cls = course()
    voucher = verified(cls)
    session.commit()
    _applied_before_completion(cls)
    assert session.scalar(select(SettlementLine.id))
    before = state()

    with pytest.raises(DomainError) as refused:
        withdraw(cls, voucher.person)

    assert refused.value.code == "SETTLEMENT_INVALID" and state() == before


def test_the_voucher_history_audits_each_move_in_order(session):
    cls = course()
    voucher = verified(cls)
    session.commit()
    withdraw(cls, voucher.person)

    moves = [(e.action, e.from_status, e.to_status) for e in f.audit_events(voucher_id=voucher.id)]
    assert moves == [("voucher.verify", CLAIMED, USED), ("voucher.return", USED, CLAIMED)]
    assert session.scalar(select(AuditEvent.action).where(AuditEvent.action == "class.withdraw"))
