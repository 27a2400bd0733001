"""签退 in the engine (issue 19): by scan or by location it closes the lesson's check-in — a 签退 by
location minutes after the 签到 only once the worker confirms it as early (the desk is not asked),
and a 签到 after the 签退 says so and changes nothing; where the region's policy says so (Shaoxing
003 §三(六)), a lesson counts the time present, check-in to check-out, against its length — not the
check-in alone."""
from datetime import time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from h5app.extensions import db
from h5app.models import CheckIn
from h5app.policies import PRESETS
from h5app.timeutil import local_at
from h5app.vouchers import app_qr_secret, cancellation, checkin, checkout, presence, qrtoken, subsidy
from h5app.vouchers.errors import AlreadyCheckedOut, CheckOutTooSoon, DomainError
from tests import factories as f

from .lifecycle_support import FIRST_DAY, NOW, course, state, the_record

SITE = (30.0, 120.58)  # the factories' institution site, radius 300 m


def at(hour: int, minute: int = 0, day=FIRST_DAY):
    return local_at(day, time(hour, minute))


def person_qr(person, moment):
    return qrtoken.sign(app_qr_secret(), qrtoken.KIND_PERSON, person.qr_code, f.epoch(moment))


@pytest.fixture
def lesson_world(session):
    cls = course()
    worker = f.person(name="陈小燕")
    f.enrol(cls, worker)
    session.commit()
    return cls, cls.sessions[0], worker


def scan_in(lesson, worker, moment):
    return checkin.scan_check_in(db.session, lesson, person_qr(worker, moment),
                                 f.institution_actor(lesson.training_class.institution), app_qr_secret(), now=moment,
                                 now_ts=f.epoch(moment))


def scan_out(lesson, worker, moment, actor=None):
    return checkout.scan_check_out(db.session, lesson, person_qr(worker, moment),
                                   actor or f.institution_actor(lesson.training_class.institution), app_qr_secret(),
                                   now=moment, now_ts=f.epoch(moment))


def test_a_scan_check_out_closes_the_check_in_and_is_audited(session, lesson_world):
    _cls, lesson, worker = lesson_world
    scan_in(lesson, worker, at(8, 10))

    done = scan_out(lesson, worker, at(11, 40))

    assert (done.result, done.minutes_present) == (checkout.CHECKED_OUT, 210)
    record = session.get(CheckIn, done.check_in.id)
    assert (record.checked_out_at, record.checkout_method) == (at(11, 40), "scan")
    [event] = f.audit_events(action="checkout.scan")
    assert event.person_id == worker.id and event.details["minutes_present"] == 210


def test_checking_out_twice_keeps_the_first(session, lesson_world):
    _cls, lesson, worker = lesson_world
    scan_in(lesson, worker, at(8))
    scan_out(lesson, worker, at(10))

    again = scan_out(lesson, worker, at(11))

    assert again.result == checkout.ALREADY_CHECKED_OUT and again.check_in.checked_out_at == at(10)
    assert len(f.audit_events(action="checkout.scan")) == 1


def test_the_desk_takes_back_a_check_out_scanned_by_mistake_and_the_trainee_checks_out_again(session, lesson_world):
    _cls, lesson, worker = lesson_world
    scan_in(lesson, worker, at(8))
    slip = scan_out(lesson, worker, at(8, 5))
    desk = f.institution_actor(lesson.training_class.institution)

    undone = checkout.undo_scan_check_out(session, lesson, slip.check_in.id, desk, now=at(8, 9))

    assert undone.result == checkout.CHECKOUT_UNDONE and session.get(CheckIn, slip.check_in.id).checked_out_at is None
    [event] = f.audit_events(action="checkout.undo")
    assert event.person_id == worker.id and event.details["session_id"] == lesson.id
    assert scan_out(lesson, worker, at(11, 40)).minutes_present == 220


@pytest.mark.parametrize("case, words", [
    ("late", "签退已超过10分钟，不能撤销"),
    ("after the lesson", "本次课的签退时间已过，不能撤销签退"),
    ("own", "学员本人的签退不能由机构撤销"),
    ("other institution", "只能为本机构的班期撤销签退"),
    ("not checked out", "没有签退记录"),
])
def test_a_check_out_that_may_not_be_taken_back_says_why_and_stays(session, lesson_world, case, words):
    _cls, lesson, worker = lesson_world
    scan_in(lesson, worker, at(8))
    record = session.scalar(select(CheckIn))
    if case == "after the lesson":  # checked out in the last minutes of 签退 (lesson 8:00–12:00, +1 h)
        scan_out(lesson, worker, at(12, 55))
    elif case != "not checked out":
        scan_out(lesson, worker, at(9))
    if case == "own":
        record.checkout_method = "location"
        session.commit()
    actor = f.institution_actor(f.institution()) if case == "other institution" else \
        f.institution_actor(lesson.training_class.institution)
    before = session.get(CheckIn, record.id).checked_out_at

    with pytest.raises(DomainError) as refused:
        checkout.undo_scan_check_out(session, lesson, record.id, actor,
                                     now={"late": at(9, 30), "after the lesson": at(13, 2)}.get(case, at(9, 2)))

    assert words in refused.value.message
    session.expire_all()
    assert session.get(CheckIn, record.id).checked_out_at == before and not f.audit_events(action="checkout.undo")


def test_a_location_check_out_inside_the_site(session, lesson_world):
    _cls, lesson, worker = lesson_world
    checkin.location_check_in(session, worker, lesson, *SITE, now=at(7, 50))

    done = checkout.location_check_out(session, worker, lesson, SITE[0] + 0.001, SITE[1], now=at(12, 5))

    record = session.get(CheckIn, done.check_in.id)
    assert (record.checkout_method, round(record.checkout_distance_m)) == ("location", 111)
    assert done.minutes_present == 240  # 07:50 → 12:05 counts the lesson, 08:00–12:00
    assert f.audit_events(action="checkout.location")[0].actor_type == "person"


@pytest.mark.parametrize("case, code, words", [
    ("not checked in", "NOT_CHECKED_IN", "还没有签到"),
    ("outside the site", "OUTSIDE_SITE", "需在300米范围内签退"),
    ("too late", "OUTSIDE_SESSION_TIME", "下课后1小时内"),
    ("before the start", "OUTSIDE_SESSION_TIME", "上课后才能扫码签退"),
    ("not enrolled", "NOT_ENROLLED", "不能签退"),
    ("other institution", "FORBIDDEN", "只能为本机构"),
    ("class cancelled", "CLASS_CANCELLED", "已取消，不能签退"),
    ("screenshot", "QR_EXPIRED", "过期"),
])
def test_a_check_out_that_may_not_be_done_says_why_and_changes_nothing(session, lesson_world, case, code, words):
    cls, lesson, worker = lesson_world
    if case != "not checked in":
        scan_in(lesson, worker, at(7, 45) if case == "before the start" else at(8))
    moment, actor, who = at(11), None, worker
    if case == "too late":
        moment = at(13, 1)
    elif case == "before the start":  # a gun left in 签退 mode as the class arrives
        moment = at(7, 55)
    elif case == "not enrolled":
        who = f.person()
    elif case == "other institution":
        actor = f.institution_actor(f.institution())
    elif case == "class cancelled":
        session.commit()
        cancellation.cancel_class(session, cls, "场地问题", f.bureau_actor(), now=at(9))
    session.commit()
    before = state()

    with pytest.raises(DomainError) as refused:
        if case == "outside the site":
            checkout.location_check_out(session, who, lesson, SITE[0] + 0.01, SITE[1], now=moment)
        elif case == "screenshot":
            checkout.scan_check_out(session, lesson, person_qr(who, moment - timedelta(minutes=5)),
                                    f.institution_actor(cls.institution), app_qr_secret(), now=moment,
                                    now_ts=f.epoch(moment))
        else:
            scan_out(lesson, who, moment, actor)

    assert refused.value.code == code and words in refused.value.message, refused.value.message
    assert state() == before


def test_a_correction_or_online_record_needs_no_check_out(session, lesson_world):
    _cls, lesson, worker = lesson_world
    session.add(CheckIn(session_id=lesson.id, person_id=worker.id, method="correction", created_at=NOW))
    session.commit()

    with pytest.raises(DomainError) as refused:
        scan_out(lesson, worker, at(11))

    assert refused.value.code == "NOT_CHECKED_IN" and "无需签退" in refused.value.message


# --- a 签退 minutes after the 签到 -------------------------------------------------------------------

def test_a_location_checkout_minutes_after_the_checkin_is_refused_without_confirmation(session, lesson_world):
    _cls, lesson, worker = lesson_world
    checkin.location_check_in(session, worker, lesson, *SITE, now=at(8, 5))

    with pytest.raises(CheckOutTooSoon) as refused:
        checkout.location_check_out(session, worker, lesson, *SITE, now=at(8, 7))

    assert "您08:05签到，到现在只在场2分钟" in refused.value.message and "签退后本次课不能再签到" in refused.value.message
    assert the_record(lesson, worker).checked_out_at is None
    assert f.audit_events(action="checkout.location") == []


def test_an_early_arrival_is_told_the_time_present_counts_from_the_lesson_start(session, lesson_world):
    _cls, lesson, worker = lesson_world
    checkin.location_check_in(session, worker, lesson, *SITE, now=at(7, 50))

    with pytest.raises(CheckOutTooSoon) as refused:
        checkout.location_check_out(session, worker, lesson, *SITE, now=at(8, 3))

    assert "您07:50签到，在场时间从08:00开课算起，到现在只在场3分钟" in refused.value.message


def test_a_checkout_confirmed_as_early_closes_the_lesson(session, lesson_world):
    _cls, lesson, worker = lesson_world
    checkin.location_check_in(session, worker, lesson, *SITE, now=at(8, 5))

    done = checkout.location_check_out(session, worker, lesson, *SITE, now=at(8, 7), early_ok=True)

    assert (done.result, done.minutes_present) == (checkout.CHECKED_OUT, 2)
    assert len(f.audit_events(action="checkout.location")) == 1


def test_a_checkout_before_the_lesson_starts_counts_as_too_soon(session, lesson_world):
    _cls, lesson, worker = lesson_world
    checkin.location_check_in(session, worker, lesson, *SITE, now=at(7, 35))  # the door opens at 07:30

    with pytest.raises(CheckOutTooSoon, match="只在场0分钟"):
        checkout.location_check_out(session, worker, lesson, *SITE, now=at(7, 55))


def test_a_checkout_ten_minutes_into_the_lesson_needs_no_extra_confirmation(session, lesson_world):
    _cls, lesson, worker = lesson_world
    checkin.location_check_in(session, worker, lesson, *SITE, now=at(8))

    done = checkout.location_check_out(session, worker, lesson, *SITE, now=at(8, 10))

    assert done.result == checkout.CHECKED_OUT


def test_the_desk_scanning_a_trainee_out_soon_after_the_checkin_is_not_asked(session, lesson_world):
    _cls, lesson, worker = lesson_world
    actor = f.institution_actor(lesson.training_class.institution)
    qr = qrtoken.sign(app_qr_secret(), qrtoken.KIND_PERSON, worker.qr_code, f.epoch(at(8, 2)))
    checkin.location_check_in(session, worker, lesson, *SITE, now=at(8))

    done = checkout.scan_check_out(session, lesson, qr, actor, app_qr_secret(), now=at(8, 2), now_ts=f.epoch(at(8, 2)))

    assert done.result == checkout.CHECKED_OUT


# --- a 签到 after the 签退 ----------------------------------------------------------------------------

def test_a_location_checkin_after_the_checkout_says_so_and_changes_nothing(session, lesson_world):
    _cls, lesson, worker = lesson_world
    checkin.location_check_in(session, worker, lesson, *SITE, now=at(8))
    checkout.location_check_out(session, worker, lesson, *SITE, now=at(9, 30))

    with pytest.raises(AlreadyCheckedOut) as refused:
        checkin.location_check_in(session, worker, lesson, *SITE, now=at(9, 40))

    assert refused.value.message == "本次课已于09:30签退（在场1小时30分），不能再签到"
    assert len(f.audit_events(action="checkin.location")) == 1


def test_the_desk_scanning_a_trainee_in_again_after_the_checkout_is_unchanged(session, lesson_world):
    _cls, lesson, worker = lesson_world
    actor = f.institution_actor(lesson.training_class.institution)
    checkin.location_check_in(session, worker, lesson, *SITE, now=at(8))
    checkout.location_check_out(session, worker, lesson, *SITE, now=at(9))
    qr = qrtoken.sign(app_qr_secret(), qrtoken.KIND_PERSON, worker.qr_code, f.epoch(at(9, 5)))

    record, _person = checkin.scan_check_in(session, lesson, qr, actor, app_qr_secret(), now=at(9, 5),
                                            now_ts=f.epoch(at(9, 5)))

    assert (record.created_at, record.checked_out_at) == (at(8), at(9))


# --- what attendance counts ----------------------------------------------------------------------

def _attend(session, lesson, worker, came, left):
    session.add(CheckIn(session_id=lesson.id, person_id=worker.id, method="scan", created_at=came,
                        checked_out_at=left, checkout_method="scan" if left else None))


def test_shaoxing_counts_the_time_present_and_the_default_counts_the_check_in():
    assert PRESETS["shaoxing"]["attendance_by_time_present"] is True
    assert "attendance_by_time_present" not in PRESETS["default"]


@pytest.mark.parametrize("policy_code, rate", [("shaoxing", Decimal("0.2500")), ("default", Decimal("1.0000"))])
def test_where_the_policy_says_so_the_rate_counts_time_present(session, policy_code, rate):
    f.region("330600", "绍兴市", policy_code)  # the institution's district 330602 is under it
    cls = course()
    worker = f.person()
    f.enrol(cls, worker)
    first, second = cls.sessions
    _attend(session, first, worker, at(8, 10), at(10, 10))  # 2 of the lesson's 4 hours
    _attend(session, second, worker, at(8, day=second.starts_at.date()), None)  # never checked out
    session.commit()

    assert subsidy.attendance_rate(session, cls, worker.id) == rate


def test_time_present_is_clipped_to_the_lesson_and_a_correction_counts_the_lesson(session):
    f.region("330600", "绍兴市", "shaoxing")
    cls = course()
    early_late, corrected = f.person(), f.person()
    first, second = cls.sessions
    for worker in (early_late, corrected):
        f.enrol(cls, worker)
    _attend(session, first, early_late, at(7, 40), at(12, 50))  # counts 08:00–12:00 only
    session.add(CheckIn(session_id=second.id, person_id=corrected.id, method="correction", created_at=NOW))
    session.commit()

    rates = subsidy.attendance_rates(session, cls, [early_late.id, corrected.id])

    assert rates == {early_late.id: Decimal("0.5000"), corrected.id: Decimal("0.5000")}
    assert presence.counts_time_present(session, cls) is True


def test_the_subsidy_judges_the_time_present(session):
    """60% in Shaoxing: present for half of each lesson is 50%, not eligible."""
    f.region("330600", "绍兴市", "shaoxing")
    from .lifecycle_support import template, verified

    cls = course()
    voucher = verified(cls, tmpl=template("shaoxing", valid_days=365))
    for lesson in cls.sessions:
        _attend(session, lesson, voucher.person, lesson.starts_at, lesson.starts_at + timedelta(hours=2))
    f.exam_result(cls, voucher.person, True)
    session.commit()

    result = subsidy.assess(session, voucher, cls)

    assert not result.eligible and result.reason == "打卡率50.0%，低于60%"
