"""The worker's 打卡签到 after the walk-through: 签退 is a confirm step, never a second tap on 定位签到;
a 签退 minutes after the 签到 needs the worker's explicit confirmation (the desk is not asked); a 签到
after the 签退 says so instead of 签到成功; the classroom-code pages speak to the worker, name the
lesson, and refuse a bad code at once."""
import re
from datetime import time, timedelta

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import CheckIn
from h5app.timeutil import local_at, local_today, start_of_local_day, to_local, utcnow
from h5app.vouchers import app_qr_secret, checkin, checkout, qrtoken
from h5app.vouchers.errors import AlreadyCheckedOut, CheckOutTooSoon
from tests import factories as f

from .auth_support import sign_in
from .lifecycle_support import FIRST_DAY, course, state

SITE = {"lat": "30.0", "lng": "120.58"}  # the factories' institution site, radius 300 m
SITE_AT = (30.0, 120.58)


def at(hour: int, minute: int = 0):
    return local_at(FIRST_DAY, time(hour, minute))


def visible(response) -> str:
    """The text a reader sees."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def classroom_code(lesson, kind=qrtoken.KIND_SESSION, age_seconds: float = 0) -> str:
    return qrtoken.sign(app_qr_secret(), kind, lesson.qr_code, f.epoch(utcnow()) - age_seconds)


def the_record(lesson, worker) -> CheckIn | None:
    db.session.expire_all()
    return db.session.scalar(select(CheckIn).where(CheckIn.session_id == lesson.id, CheckIn.person_id == worker.id))


@pytest.fixture
def engine_world(session):
    """A lesson 08:00–12:00 of a running class, 陈小燕 enrolled (the engine with a fixed clock)."""
    cls = course()
    worker = f.person(name="陈小燕")
    f.enrol(cls, worker)
    session.commit()
    return cls.sessions[0], worker


@pytest.fixture
def lesson():
    """Now: a lesson that began half an hour ago and ends in two hours, 陈小燕 enrolled, not yet in."""
    return f.desk_lesson(started=timedelta(minutes=30), ends_in=timedelta(hours=2), hours=2)


@pytest.fixture
def phone(app, lesson):
    client = app.test_client()
    sign_in(client, lesson[1])
    return client


def checked_in(lesson, worker, minutes_ago: int, method: str = "location") -> CheckIn:
    record = f.check_in(lesson, worker, method=method, created_at=utcnow() - timedelta(minutes=minutes_ago),
                        checked_out_at=None, checkout_method=None)
    db.session.commit()
    return record


# --- 1. 签退 is a confirm step --------------------------------------------------------------------------

def test_after_checking_in_the_checkin_page_offers_checkout_only_as_a_step_to_a_confirm_page(phone, lesson):
    class_session, worker, _ = lesson
    phone.post(f"/worker/checkin/{class_session.id}", data=SITE)

    page = phone.get("/worker/checkin").get_data(as_text=True)

    assert f'method="get" action="/worker/checkout/{class_session.id}"' in page
    assert f'method="post" action="/worker/checkout/{class_session.id}"' not in page
    assert the_record(class_session, worker).checked_out_at is None


def test_a_lesson_running_past_midnight_is_still_on_todays_checkin_page(app):
    # Begun yesterday evening (local time), still on: its trainees check out after 00:00.
    lesson, worker, _ = f.desk_lesson(started=utcnow() - start_of_local_day(local_today()) + timedelta(hours=1),
                                      ends_in=timedelta(hours=1), hours=2)
    client = app.test_client()
    sign_in(client, worker)

    page = client.get("/worker/checkin").get_data(as_text=True)

    assert f"/worker/checkin/{lesson.id}" in page or f"/worker/checkout/{lesson.id}" in page


def test_the_checkout_confirm_page_names_the_lesson_and_says_the_checkout_is_final(phone, lesson):
    class_session, worker, _ = lesson
    checked_in(class_session, worker, minutes_ago=25)
    before = state()

    response = phone.get(f"/worker/checkout/{class_session.id}")

    shown = visible(response)
    assert response.status_code == 200
    assert class_session.training_class.course_name in shown and "第1次课" in shown
    assert "到现在在场25分钟" in shown and "签退后本次课不能再签到" in shown and "确认定位签退" in shown
    assert "我确认提前签退" not in shown  # 25 minutes in: no early warning
    assert state() == before


def test_the_checkout_confirm_page_of_a_lesson_not_checked_in_refuses_at_once(phone, lesson):
    class_session, _, _ = lesson

    response = phone.get(f"/worker/checkout/{class_session.id}", follow_redirects=True)

    assert "还没有签到，请先签到" in visible(response) and "确认定位签退" not in visible(response)


# --- 1. a 签退 minutes after the 签到 -----------------------------------------------------------------

def test_a_location_checkout_minutes_after_the_checkin_is_refused_without_confirmation(session, engine_world):
    lesson, worker = engine_world
    checkin.location_check_in(session, worker, lesson, *SITE_AT, now=at(8, 5))

    with pytest.raises(CheckOutTooSoon) as refused:
        checkout.location_check_out(session, worker, lesson, *SITE_AT, now=at(8, 7))

    assert "您08:05签到，到现在只在场2分钟" in refused.value.message and "签退后本次课不能再签到" in refused.value.message
    assert the_record(lesson, worker).checked_out_at is None
    assert f.audit_events(action="checkout.location") == []


def test_a_checkout_confirmed_as_early_closes_the_lesson(session, engine_world):
    lesson, worker = engine_world
    checkin.location_check_in(session, worker, lesson, *SITE_AT, now=at(8, 5))

    done = checkout.location_check_out(session, worker, lesson, *SITE_AT, now=at(8, 7), early_ok=True)

    assert (done.result, done.minutes_present) == (checkout.CHECKED_OUT, 2)
    assert len(f.audit_events(action="checkout.location")) == 1


def test_a_checkout_before_the_lesson_starts_counts_as_too_soon(session, engine_world):
    lesson, worker = engine_world
    checkin.location_check_in(session, worker, lesson, *SITE_AT, now=at(7, 35))  # the door opens at 07:30

    with pytest.raises(CheckOutTooSoon, match="只在场0分钟"):
        checkout.location_check_out(session, worker, lesson, *SITE_AT, now=at(7, 55))


def test_a_checkout_ten_minutes_into_the_lesson_needs_no_extra_confirmation(session, engine_world):
    lesson, worker = engine_world
    checkin.location_check_in(session, worker, lesson, *SITE_AT, now=at(8))

    done = checkout.location_check_out(session, worker, lesson, *SITE_AT, now=at(8, 10))

    assert done.result == checkout.CHECKED_OUT


def test_the_desk_scanning_a_trainee_out_soon_after_the_checkin_is_not_asked(session, engine_world):
    lesson, worker = engine_world
    actor = f.institution_actor(lesson.training_class.institution)
    qr = qrtoken.sign(app_qr_secret(), qrtoken.KIND_PERSON, worker.qr_code, f.epoch(at(8, 2)))
    checkin.location_check_in(session, worker, lesson, *SITE_AT, now=at(8))

    done = checkout.scan_check_out(session, lesson, qr, actor, app_qr_secret(), now=at(8, 2), now_ts=f.epoch(at(8, 2)))

    assert done.result == checkout.CHECKED_OUT


def test_the_page_warns_of_an_early_checkout_and_a_post_without_the_checkbox_changes_nothing(phone, lesson):
    class_session, worker, _ = lesson
    phone.post(f"/worker/checkin/{class_session.id}", data=SITE)
    before = state()

    confirm = visible(phone.get(f"/worker/checkout/{class_session.id}"))
    refused = visible(phone.post(f"/worker/checkout/{class_session.id}", data=SITE, follow_redirects=True))

    assert "您刚签到不久，现在签退本次只在场0分钟" in confirm and "我确认提前签退" in confirm
    assert 'name="early" required' in phone.get(f"/worker/checkout/{class_session.id}").get_data(as_text=True)
    assert "到现在只在场0分钟" in refused and "签退成功" not in refused
    assert state() == before


def test_the_page_checks_out_early_when_the_worker_ticks_the_confirmation(phone, lesson):
    class_session, worker, _ = lesson
    phone.post(f"/worker/checkin/{class_session.id}", data=SITE)

    done = visible(phone.post(f"/worker/checkout/{class_session.id}", data={**SITE, "early": "y"},
                              follow_redirects=True))

    assert "签退成功，本次在场" in done
    assert the_record(class_session, worker).checkout_method == "location"


def test_an_early_checkout_by_the_classroom_code_needs_the_confirmation_too(phone, lesson):
    class_session, worker, _ = lesson
    checked_in(class_session, worker, minutes_ago=1, method="session_qr")
    code = classroom_code(class_session, qrtoken.KIND_SESSION_OUT)

    confirm = visible(phone.get(f"/worker/checkout/scan/{code}"))
    phone.post(f"/worker/checkout/scan/{code}")
    assert the_record(class_session, worker).checked_out_at is None
    phone.post(f"/worker/checkout/scan/{code}", data={"early": "y"})

    assert "我确认提前签退" in confirm and class_session.training_class.course_name in confirm
    assert the_record(class_session, worker).checkout_method == "session_qr"


# --- 1. a 签到 after the 签退 ----------------------------------------------------------------------------

def test_a_location_checkin_after_the_checkout_says_so_and_changes_nothing(session, engine_world):
    lesson, worker = engine_world
    checkin.location_check_in(session, worker, lesson, *SITE_AT, now=at(8))
    checkout.location_check_out(session, worker, lesson, *SITE_AT, now=at(9, 30))

    with pytest.raises(AlreadyCheckedOut) as refused:
        checkin.location_check_in(session, worker, lesson, *SITE_AT, now=at(9, 40))

    assert refused.value.message == "本次课已于09:30签退（在场1小时30分），不能再签到"
    assert len(f.audit_events(action="checkin.location")) == 1


def test_a_classroom_code_checkin_after_the_checkout_answers_the_truth(phone, lesson):
    class_session, worker, _ = lesson
    checked_in(class_session, worker, minutes_ago=25)
    phone.post(f"/worker/checkout/{class_session.id}", data=SITE)
    out_at = the_record(class_session, worker).checked_out_at
    code = classroom_code(class_session)
    before = state()

    at_once = visible(phone.get(f"/worker/checkin/scan/{code}", follow_redirects=True))
    posted = visible(phone.post(f"/worker/checkin/scan/{code}", follow_redirects=True))

    for shown in (at_once, posted):
        assert "本次课已于" in shown and "签退（在场" in shown and "不能再签到" in shown
        assert "签到成功" not in shown and "确认签到" not in shown
    assert state() == before and the_record(class_session, worker).checked_out_at == out_at


def test_the_desk_scanning_a_trainee_in_again_after_the_checkout_is_unchanged(session, engine_world):
    lesson, worker = engine_world
    actor = f.institution_actor(lesson.training_class.institution)
    checkin.location_check_in(session, worker, lesson, *SITE_AT, now=at(8))
    checkout.location_check_out(session, worker, lesson, *SITE_AT, now=at(9))
    qr = qrtoken.sign(app_qr_secret(), qrtoken.KIND_PERSON, worker.qr_code, f.epoch(at(9, 5)))

    record, _person = checkin.scan_check_in(session, lesson, qr, actor, app_qr_secret(), now=at(9, 5),
                                            now_ts=f.epoch(at(9, 5)))

    assert (record.created_at, record.checked_out_at) == (at(8), at(9))


# --- 2. the classroom-code pages speak to the worker ----------------------------------------------------

@pytest.mark.parametrize("route,kind,word", [
    ("checkin", qrtoken.KIND_SESSION, "签到"),
    ("checkout", qrtoken.KIND_SESSION_OUT, "签退"),
])
def test_a_stale_classroom_code_is_refused_at_once_in_the_workers_words(phone, lesson, route, kind, word):
    class_session, worker, _ = lesson
    checked_in(class_session, worker, minutes_ago=25)
    before = state()
    code = classroom_code(class_session, kind, age_seconds=61)

    at_once = phone.get(f"/worker/{route}/scan/{code}")
    shown = visible(phone.get("/worker/checkin"))
    posted = visible(phone.post(f"/worker/{route}/scan/{code}", follow_redirects=True))

    assert at_once.status_code == 302 and at_once.headers["Location"].endswith("/worker/checkin")
    for text in (shown, posted):
        assert f"课堂{word}码已过期，请扫描教室屏幕上最新的{word}码" in text and "学员" not in text
    assert state() == before


@pytest.mark.parametrize("route,word", [("checkin", "签到"), ("checkout", "签退")])
def test_a_garbage_code_is_refused_at_once_rather_than_asking_to_confirm(phone, lesson, route, word):
    class_session, worker, _ = lesson
    checked_in(class_session, worker, minutes_ago=25)

    at_once = phone.get(f"/worker/{route}/scan/GARBAGE")

    shown = visible(phone.get("/worker/checkin"))
    assert at_once.status_code == 302 and at_once.headers["Location"].endswith("/worker/checkin")
    assert f"二维码无效，请扫描教室屏幕上的课堂{word}码" in shown and "学员" not in shown


def test_the_checkin_confirm_page_names_the_class_and_the_lesson(phone, lesson):
    class_session, worker, _ = lesson

    shown = visible(phone.get(f"/worker/checkin/scan/{classroom_code(class_session)}"))

    assert class_session.training_class.course_name in shown and "第1次课" in shown and "确认签到" in shown
    assert db.session.scalar(select(func.count(CheckIn.id))) == 0


def test_the_checkin_confirm_page_of_a_lesson_already_checked_in_says_so_without_a_button(phone, lesson):
    class_session, worker, _ = lesson
    record = checked_in(class_session, worker, minutes_ago=20)
    words = f"您已于{to_local(record.created_at):%H:%M}签到本次课"

    shown = visible(phone.get(f"/worker/checkin/scan/{classroom_code(class_session)}"))

    assert words in shown and "无需重复签到" in shown and "确认签到" not in shown


def test_a_classroom_code_of_a_class_the_worker_is_not_in_is_refused_at_once(app, lesson):
    class_session, _, _ = lesson
    stranger = f.person()
    db.session.commit()
    client = app.test_client()
    sign_in(client, stranger)

    shown = visible(client.get(f"/worker/checkin/scan/{classroom_code(class_session)}", follow_redirects=True))

    assert "未报名该班期，不能签到" in shown and "确认签到" not in shown
