"""线上培训: an online class has no site; the worker enrolled in it uses their voucher themselves,
confirming who they are with an SMS code to their bound phone or a fresh channel sign-in (never a
QR) — the same checks, move and audit as a front-desk verification — and the online platform's
study minutes count as attendance (never minutes of a lesson still to come). Through the service, the
pages and the API."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from h5app.auth import sso
from h5app.extensions import db
from h5app.models import CheckIn, ClassSession, Enrolment, TrainingClass, Voucher
from h5app.models.classes import CLASS_COMPLETED, DELIVERY_ONLINE
from h5app.models.vouchers import CLAIMED, USED
from h5app.timeutil import local_today, utcnow
from h5app.vouchers import classes, online, subsidy
from h5app.vouchers.checkin import location_check_in
from h5app.vouchers.errors import (
    ClassIsOnline, ClassNotFound, ClassNotOnline, ClassNotOpen, NotApplicable, NotEnrolled, ValidationFailed,
    VoucherNotFound,
)

from . import factories as f
from .api_support import auth, count, error_code, key_for
from .auth_support import sms_code, staff_sign_in, ticket_for

@pytest.fixture
def world():
    """An online class of 越城区's school: two lessons of 2 h; 王建国 enrolled, holding a claimed voucher."""
    f.region("330600", "绍兴市")
    f.region("330602", "越城区", parent="330600")
    school = f.institution(name="越城区网络培训学校", region_code="330602")
    training_class = f.training_class(school, sessions=0, course_name="电子商务师线上培训", occupation="电子商务师",
                                      level=None, delivery=DELIVERY_ONLINE, hours=4)
    training_class.sites = []
    now = utcnow()
    lessons = []
    for n in (1, 2):
        lesson = ClassSession(class_id=training_class.id, title=f"第{n}单元", starts_at=now - timedelta(days=3 - n),
                              ends_at=now - timedelta(days=3 - n) + timedelta(hours=2), hours=2)
        db.session.add(lesson)
        lessons.append(lesson)
    worker = f.person(name="王建国", phone="13912345678")
    f.enrol(training_class, worker, source="self")
    voucher = f.voucher(f.template(name="就业技能培训券"), worker, CLAIMED, claimed_at=now - timedelta(days=1),
                        expires_at=now + timedelta(days=30))
    officer = f.staff("officer", institution_id=school.id)
    db.session.commit()
    return type("World", (), dict(school=school, training_class=training_class, lessons=lessons, worker=worker,
                                  voucher=voucher, officer=officer))


def rate(world, person=None):
    return subsidy.attendance_rate(db.session, world.training_class, (person or world.worker).id)


# ---- the service ---------------------------------------------------------------------------------

def test_an_online_class_is_created_without_a_site(world):
    made = classes.create_class(
        db.session, world.school, {"course_name": "育婴员线上班", "occupation": "育婴员", "level": None,
                                   "project_type": "employment_skills", "price_fen": 0, "starts_on": local_today(),
                                   "ends_on": local_today() + timedelta(days=5), "delivery": DELIVERY_ONLINE},
        [(utcnow() + timedelta(days=1), utcnow() + timedelta(days=1, hours=2), 2)], f.institution_actor(world.school))
    assert made.is_online and made.sites == [] and made.sessions[0].site_id is None


def test_the_worker_uses_the_voucher_with_their_identity_as_a_verification_would(world):
    result = online.use_online(db.session, world.worker, world.training_class.id, world.voucher.code,
                               proof=online.PROOF_SMS)
    assert result.result == "verified"
    voucher = db.session.get(Voucher, world.voucher.id)
    assert (voucher.status, voucher.class_id, voucher.institution_id) == (
        USED, world.training_class.id, world.school.id)
    [move] = f.audit_events(action="voucher.verify")
    assert (move.actor_type, move.actor_id, move.from_status, move.to_status) == (
        "person", world.worker.id, CLAIMED, USED)
    assert move.details == {"delivery": "online", "identity": "sms"}
    enrolment = db.session.scalar(select(Enrolment).where(Enrolment.person_id == world.worker.id))
    assert enrolment.voucher_id == voucher.id
    # The same again is no second use.
    again = online.use_online(db.session, world.worker, world.training_class.id, world.voucher.code,
                              proof=online.PROOF_SSO)
    assert again.result == "already_verified" and len(f.audit_events(action="voucher.verify")) == 1


@pytest.mark.parametrize("case, error", [
    ("not_enrolled", NotEnrolled),
    ("someone_elses_voucher", VoucherNotFound),
    ("offline_class", ClassNotFound),
    ("not_applicable", NotApplicable),
])
def test_an_online_use_is_refused_as_the_engine_says(world, case, error):
    person, class_id, code = world.worker, world.training_class.id, world.voucher.code
    if case == "not_enrolled":
        db.session.query(Enrolment).delete()
    elif case == "someone_elses_voucher":
        person = f.person(name="李国强")
        f.enrol(world.training_class, person)
    elif case == "offline_class":
        offline = f.training_class(world.school)
        f.enrol(offline, world.worker)
        class_id = offline.id
    elif case == "not_applicable":
        world.voucher.template.occupation = "电工"
    db.session.commit()
    with pytest.raises(error):
        online.use_online(db.session, person, class_id, code, proof=online.PROOF_SMS)
    assert db.session.get(Voucher, world.voucher.id).status == CLAIMED
    assert not f.audit_events(action="voucher.verify")


def test_study_minutes_count_as_attendance_up_to_the_lesson(world):
    actor = f.institution_actor(world.school)
    first, second = world.lessons
    online.record_study(db.session, world.training_class, [
        {"id_number": world.worker.id_number, "session_id": first.id, "minutes": 60}], actor)
    assert rate(world) == pytest.approx(0.25)  # 1 h of 4
    online.record_study(db.session, world.training_class, [
        {"id_number": world.worker.id_number, "session_id": first.id, "minutes": 300},  # more than the lesson: 2 h
        {"id_number": world.worker.id_number, "session_id": second.id, "minutes": 90}], actor)
    assert rate(world) == pytest.approx(0.875)  # (2 + 1.5) / 4
    assert db.session.scalar(select(func.count(CheckIn.id))) == 2  # the latest report replaced the first
    assert [e.details["minutes"] for e in f.audit_events(action="attendance.study")] == [60, 300, 90]


@pytest.mark.parametrize("row, code", [
    ("stranger", "NOT_ENROLLED"),
    ("other_class_session", "SESSION_NOT_IN_CLASS"),
    ("bad_id", "INVALID_ID_NUMBER"),
    ("negative", "INVALID_MINUTES"),
])
def test_bad_study_rows_are_each_rejected_with_a_code_and_nothing_is_saved(world, row, code):
    good = {"id_number": world.worker.id_number, "session_id": world.lessons[0].id, "minutes": 45}
    bad = dict(good)
    if row == "stranger":
        bad["id_number"] = f.person(name="赵敏").id_number
    elif row == "other_class_session":
        bad["session_id"] = f.training_class(world.school).sessions[0].id
    elif row == "bad_id":
        bad["id_number"] = "330602198501010000"
    elif row == "negative":
        bad.update(session_id=world.lessons[1].id, minutes=-5)
    db.session.commit()
    with pytest.raises(ValidationFailed) as refused:
        online.record_study(db.session, world.training_class, [good, bad], f.institution_actor(world.school))
    [problem] = refused.value.details["rows"]
    assert (problem.index, problem.code) == (2, code)
    assert db.session.scalar(select(func.count(CheckIn.id))) == 0 and rate(world) == 0
    assert not f.audit_events(action="attendance.study")


def test_study_records_are_for_online_classes_in_progress(world):
    offline = f.training_class(world.school)
    f.enrol(offline, world.worker)
    db.session.commit()
    rows = [{"id_number": world.worker.id_number, "session_id": offline.sessions[0].id, "minutes": 30}]
    with pytest.raises(ClassNotOnline):
        online.record_study(db.session, offline, rows, f.institution_actor(world.school))
    world.training_class.status = CLASS_COMPLETED
    db.session.commit()
    rows = [{"id_number": world.worker.id_number, "session_id": world.lessons[0].id, "minutes": 30}]
    with pytest.raises(ClassNotOpen):
        online.record_study(db.session, world.training_class, rows, f.institution_actor(world.school))
    assert db.session.scalar(select(func.count(CheckIn.id))) == 0


def test_an_online_lesson_has_no_location_check_in(world):
    lesson = world.lessons[1]
    with pytest.raises(ClassIsOnline):
        location_check_in(db.session, world.worker, lesson, 30.0, 120.58, now=lesson.starts_at)


# ---- the pages -----------------------------------------------------------------------------------

def worker_sign_in(client, person):
    with client.session_transaction() as sess:
        sess["_user_id"] = person.get_id()
        sess["_fresh"] = True


def text(response) -> str:
    return re.sub(r"<[^>]+>", "", response.get_data(as_text=True))


def test_a_voucher_used_for_an_online_class_shows_no_qr_to_present(client, world):
    world.voucher.status, world.voucher.class_id, world.voucher.used_at = USED, world.training_class.id, utcnow()
    db.session.commit()
    worker_sign_in(client, world.worker)

    page = client.get(f"/worker/vouchers/{world.voucher.code}")

    assert 'id="live-qr"' not in page.get_data(as_text=True)
    assert "学习时长由培训平台自动记录，无需出示二维码" in text(page)
    assert client.get(f"/worker/vouchers/{world.voucher.code}/qr.json").status_code == 409


def test_the_officer_creates_an_online_class_on_the_form(client, world):
    staff_sign_in(client, world.officer)
    day = (local_today() + timedelta(days=3)).isoformat()
    response = client.post("/institution/classes/new", data={
        "course_name": "育婴员线上培训", "occupation": "育婴员", "project_type": "employment_skills", "price": "0",
        "starts_on": day, "ends_on": day, "delivery": "online", "sessions": f"{day} 19:00-21:00 2"})
    assert response.status_code == 302, text(response)
    made = db.session.scalar(select(TrainingClass).where(TrainingClass.course_name == "育婴员线上培训"))
    assert made.is_online and made.sites == []
    page = client.get(f"/institution/classes/{made.id}")
    assert "线上培训" in text(page)


def test_an_offline_class_still_needs_a_site(client, world):
    staff_sign_in(client, world.officer)
    day = (local_today() + timedelta(days=3)).isoformat()
    response = client.post("/institution/classes/new", data={
        "course_name": "电工线下班", "occupation": "电工", "project_type": "employment_skills", "price": "0",
        "starts_on": day, "ends_on": day, "delivery": "offline", "sessions": f"{day} 09:00-12:00 3"})
    assert response.status_code == 400 and "请至少选择一个培训地点" in text(response)


def test_the_worker_enrols_and_confirms_the_use_by_sms(app, client, world):
    db.session.query(Enrolment).delete()
    db.session.commit()
    worker_sign_in(client, world.worker)
    detail = client.get(f"/worker/classes/{world.training_class.id}")
    assert "线上培训" in text(detail) and "不用到场" in text(detail)
    enrolled = client.post(f"/worker/classes/{world.training_class.id}", data={"voucher": world.voucher.code})
    assert enrolled.status_code == 302 and "/use" in enrolled.headers["Location"]
    assert db.session.get(Voucher, world.voucher.id).status == CLAIMED  # enrolled: not used yet

    page = client.get(enrolled.headers["Location"])
    assert "139****5678" in text(page) and "二维码" not in text(page)
    sent = client.post(f"/worker/classes/{world.training_class.id}/use",
                       data={"voucher": world.voucher.code, "send": "获取验证码"})
    assert sent.status_code == 302
    [(phone, message)] = app.extensions["sms_outbox"]
    assert phone == "13912345678" and "线上培训" in message
    code = sms_code(app, "13912345678")
    wrong = "000000" if code != "000000" else "111111"
    refused = client.post(f"/worker/classes/{world.training_class.id}/use",
                          data={"voucher": world.voucher.code, "code": wrong, "confirm": "验证并使用培训券"})
    assert refused.status_code == 400 and "验证码不正确" in text(refused)
    assert db.session.get(Voucher, world.voucher.id).status == CLAIMED

    done = client.post(f"/worker/classes/{world.training_class.id}/use",
                       data={"voucher": world.voucher.code, "code": code, "confirm": "验证并使用培训券"})
    assert done.status_code == 302
    voucher = db.session.get(Voucher, world.voucher.id)
    assert (voucher.status, voucher.class_id) == (USED, world.training_class.id)
    assert f.audit_events(action="voucher.verify")[0].details["identity"] == "sms"
    assert "培训券已使用" in text(client.get(f"/worker/classes/{world.training_class.id}"))


def test_a_fresh_channel_sign_in_confirms_with_one_tap(client, world, channel):
    signed = client.get(f"/sso/{channel.code}", query_string={
        "ticket": ticket_for(world.worker.id_number, world.worker.name, world.worker.phone)})
    assert signed.status_code == 302
    page = client.get(f"/worker/classes/{world.training_class.id}/use")
    assert "智慧人社" in text(page)
    done = client.post(f"/worker/classes/{world.training_class.id}/use",
                       data={"voucher": world.voucher.code, "channel": "确认使用（已通过渠道实名认证）"})
    assert done.status_code == 302
    assert db.session.get(Voucher, world.voucher.id).status == USED
    assert f.audit_events(action="voucher.verify")[0].details["identity"] == "sso"


def test_a_stale_channel_sign_in_does_not_confirm(client, world, channel):
    client.get(f"/sso/{channel.code}", query_string={
        "ticket": ticket_for(world.worker.id_number, world.worker.name, world.worker.phone)})
    with client.session_transaction() as sess:  # signed in through the channel an hour ago
        mark = sess[sso.FRESH_SIGN_IN_KEY]
        sess[sso.FRESH_SIGN_IN_KEY] = {**mark, "at": mark["at"] - 3600}
    refused = client.post(f"/worker/classes/{world.training_class.id}/use",
                          data={"voucher": world.voucher.code, "channel": "确认使用（已通过渠道实名认证）"})
    assert refused.status_code == 400 and "超过10分钟" in text(refused)
    assert db.session.get(Voucher, world.voucher.id).status == CLAIMED


def test_a_worker_without_a_bound_phone_is_told_what_to_do(app, client, world):
    world.worker.phone = None
    db.session.commit()
    worker_sign_in(client, world.worker)
    refused = client.post(f"/worker/classes/{world.training_class.id}/use",
                          data={"voucher": world.voucher.code, "send": "获取验证码"})
    assert refused.status_code == 400 and "没有绑定手机号" in text(refused)
    assert app.extensions["sms_outbox"] == []


def test_the_study_minutes_show_on_the_sheet(client, world):
    online.record_study(db.session, world.training_class, [
        {"id_number": world.worker.id_number, "session_id": world.lessons[0].id, "minutes": 75}],
        f.institution_actor(world.school))
    staff_sign_in(client, world.officer)
    sheet = client.get(f"/institution/sessions/{world.lessons[0].id}/checkin")
    assert "线上学习 75分钟" in text(sheet) and "扫学员二维码" not in text(sheet)


# ---- the API -------------------------------------------------------------------------------------

def test_api_creates_an_online_class(client, world):
    key = key_for("institution", world.school.code)
    day = local_today() + timedelta(days=2)
    body = {"course_name": "电子商务线上班", "occupation": "电子商务师", "project_type": "employment_skills",
            "starts_on": day.isoformat(), "ends_on": day.isoformat(), "delivery": "online",
            "sessions": [{"starts_at": f"{day}T19:00:00+08:00", "ends_at": f"{day}T21:00:00+08:00", "hours": 2}]}
    made = client.post("/api/v1/classes", json=body, headers=auth(key))
    assert made.status_code == 201, made.get_json()
    assert (made.get_json()["delivery"], made.get_json()["site_id"]) == ("online", None)
    with_site = client.post("/api/v1/classes", json={**body, "site": world.school.sites[0].id}, headers=auth(key))
    assert (with_site.status_code, error_code(with_site)) == (422, "VALIDATION_FAILED")
    assert "site" in with_site.get_json()["error"]["fields"]
    bad = client.post("/api/v1/classes", json={**body, "delivery": "hybrid"}, headers=auth(key))
    assert (bad.status_code, error_code(bad)) == (422, "VALIDATION_FAILED")


def test_api_study_records(client, world):
    key = key_for("institution", world.school.code)
    path = f"/api/v1/classes/{world.training_class.id}/study-records"
    stranger = f.person(name="赵敏")
    other_lesson = f.training_class(world.school).sessions[0]
    db.session.commit()
    rows = [{"id_number": world.worker.id_number, "session_id": world.lessons[0].id, "minutes": 120},
            {"id_number": stranger.id_number, "session_id": world.lessons[0].id, "minutes": 30},
            {"id_number": world.worker.id_number, "session_id": other_lesson.id, "minutes": 30}]
    refused = client.post(path, json={"records": rows}, headers=auth(key))
    assert (refused.status_code, error_code(refused)) == (422, "VALIDATION_FAILED")
    assert [(r["index"], r["code"]) for r in refused.get_json()["error"]["rows"]] == [
        (2, "NOT_ENROLLED"), (3, "SESSION_NOT_IN_CLASS")]
    assert stranger.id_number not in str(refused.get_json())
    assert db.session.scalar(select(func.count(CheckIn.id))) == 0

    saved = client.post(path, json={"records": rows[:1]}, headers=auth(key))
    assert saved.status_code == 200, saved.get_json()
    data = saved.get_json()
    assert data["saved"] == 1 and data["trainees"][0]["attendance_rate"] == 0.5
    assert data["trainees"][0]["trainee"]["id_number"] != world.worker.id_number

    other = f.institution(region_code="330602")
    db.session.commit()
    foreign = client.post(path, json={"records": rows[:1]}, headers=auth(key_for("institution", other.code)))
    assert (foreign.status_code, error_code(foreign)) == (404, "NOT_FOUND")
    offline = f.training_class(world.school)
    db.session.commit()
    wrong_kind = client.post(f"/api/v1/classes/{offline.id}/study-records", json={"records": rows[:1]},
                             headers=auth(key))
    assert (wrong_kind.status_code, error_code(wrong_kind)) == (409, "CLASS_NOT_ONLINE")


@pytest.fixture
def online_class(session):
    """An online class: one lesson yesterday, one tomorrow; 王建国 enrolled."""
    school = f.institution(region_code="330602")
    training_class = f.training_class(school, sessions=0, delivery=DELIVERY_ONLINE, hours=4)
    training_class.sites = []
    now = utcnow()
    for n, start in ((1, now - timedelta(days=1)), (2, now + timedelta(days=1))):
        db.session.add(ClassSession(class_id=training_class.id, title=f"第{n}单元", starts_at=start,
                                    ends_at=start + timedelta(hours=2), hours=2))
    worker = f.person(name="王建国")
    f.enrol(training_class, worker, source="self")
    session.commit()
    past, future = sorted(training_class.sessions, key=lambda s: s.starts_at)
    return training_class, past, future, worker, key_for("institution", school.code)


def test_study_minutes_of_a_lesson_not_yet_started_are_refused(client, online_class):
    training_class, past, future, worker, key = online_class
    rows = [{"id_number": worker.id_number, "session_id": past.id, "minutes": 60},
            {"id_number": worker.id_number, "session_id": future.id, "minutes": 30}]
    response = client.post(f"/api/v1/classes/{training_class.id}/study-records", json={"records": rows},
                           headers=auth(key))
    assert (response.status_code, error_code(response)) == (422, "VALIDATION_FAILED")
    [row] = response.get_json()["error"]["rows"]
    assert (row["index"], row["code"], row["field"]) == (2, "SESSION_NOT_STARTED", "session_id")
    assert row["message"].startswith("第2单元（") and "尚未开始" in row["message"]
    assert count(CheckIn) == 0


def test_zero_minutes_of_a_lesson_to_come_is_no_claim_and_is_taken(client, online_class):
    training_class, past, future, worker, key = online_class
    rows = [{"id_number": worker.id_number, "session_id": past.id, "minutes": 60},
            {"id_number": worker.id_number, "session_id": future.id, "minutes": 0}]
    response = client.post(f"/api/v1/classes/{training_class.id}/study-records", json={"records": rows},
                           headers=auth(key))
    assert response.status_code == 200, response.get_json()
    assert db.session.scalars(select(CheckIn.session_id)).all() == [past.id]


def test_api_online_class_verification_by_qr_still_works_for_the_institution(client, world):
    """The desk may still scan a worker who comes in; the same engine judges it."""
    key = key_for("institution", world.school.code)
    response = client.post("/api/v1/verifications", json={"qr": f.qr_for(world.voucher),
                                                           "class_id": world.training_class.id}, headers=auth(key))
    assert response.status_code == 200 and response.get_json()["result"] == "verified"
