"""取消班期, 退班 and 签退 through the API (API.md, Classes): POST /classes/{id}/cancellation,
POST /classes/{id}/withdrawals, POST /checkouts — the engine's answers, its refusals as domain codes,
scopes per object, and nothing changed by a refusal."""
from datetime import timedelta

import pytest

from h5app.extensions import db
from h5app.models import CheckIn, ClassSession, Voucher
from h5app.models.classes import CLASS_COMPLETED
from h5app.timeutil import local_today, utcnow
from h5app.vouchers import app_qr_secret, qrtoken

from . import factories as f
from .api_support import auth, error_code, world
from .lifecycle_support import state, verified


@pytest.fixture
def w(session):
    return world()


def upcoming(w, **values):
    start = local_today() + timedelta(days=5)
    return f.training_class(w.institution, starts_on=start, ends_on=start + timedelta(days=10), **values)


def used(training_class):
    now = utcnow()
    return verified(training_class, at=now, claimed_at=now - timedelta(days=1), expires_at=now + timedelta(days=30))


def cancel(client, class_id, key, reason="报名人数不足"):
    return client.post(f"/api/v1/classes/{class_id}/cancellation", json={"reason": reason}, headers=auth(key))


def test_the_institution_cancels_its_class_and_the_vouchers_come_back(client, w):
    training_class = upcoming(w)
    voucher = used(training_class)
    deadline = voucher.expires_at
    db.session.commit()

    response = cancel(client, training_class.id, w.institution_key)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["by"], body["reason"], body["enrolments_ended"]) == (
        "cancelled", "institution", "报名人数不足", 1)
    [returned] = body["vouchers_returned"]
    assert (returned["code"], returned["status"], returned["held_days"]) == (voucher.code, "claimed", 1)
    assert body["cancelled_at"].endswith("+08:00")
    db.session.expire_all()
    stored = db.session.get(Voucher, voucher.id)
    assert (stored.status, stored.expires_at) == ("claimed", deadline + timedelta(days=1))
    again = client.post("/api/v1/verifications", json={"qr": f.qr_for(stored), "class_id": training_class.id},
                        headers=auth(w.institution_key))
    assert again.status_code == 409 and error_code(again) == "CLASS_CANCELLED"


def test_after_the_first_lesson_began_only_the_bureau_may_cancel(client, w):
    training_class = upcoming(w)
    training_class.sessions[0].starts_at = utcnow() - timedelta(minutes=1)
    used(training_class)
    db.session.commit()
    before = state()

    refused = cancel(client, training_class.id, w.institution_key)
    foreign = cancel(client, training_class.id, w.foreign_bureau_key)
    assert (refused.status_code, error_code(refused)) == (409, "CLASS_STARTED")
    assert "请联系人社部门" in refused.get_json()["error"]["message"]
    assert foreign.status_code == 404
    assert state() == before

    done = cancel(client, training_class.id, w.bureau_key)
    assert done.status_code == 200 and done.get_json()["by"] == "bureau"


@pytest.mark.parametrize("case, status, code", [
    ("completed", 409, "CLASS_COMPLETED"),
    ("twice", 409, "CLASS_CANCELLED"),
    ("empty reason", 422, "VALIDATION_FAILED"),
    ("blank reason", 422, "VALIDATION_FAILED"),
    ("other institution", 404, "NOT_FOUND"),
    ("channel", 403, "FORBIDDEN"),
])
def test_a_cancellation_refused_by_the_api_changes_nothing(client, w, case, status, code):
    training_class = upcoming(w)
    used(training_class)
    key, reason = w.institution_key, "报名人数不足"
    if case == "completed":
        training_class.status = CLASS_COMPLETED
    elif case == "twice":
        db.session.commit()
        assert cancel(client, training_class.id, key).status_code == 200
    elif case == "empty reason":
        reason = ""
    elif case == "blank reason":
        reason = "   "
    elif case == "other institution":
        key = w.other_institution_key
    elif case == "channel":
        key = w.channel_key
    db.session.commit()
    before = state()

    response = cancel(client, training_class.id, key, reason)

    assert (response.status_code, error_code(response)) == (status, code), response.get_json()
    if case == "blank reason":
        assert response.get_json()["error"]["fields"]["reason"] == "请填写取消原因"
    assert state() == before


def test_a_trainee_is_withdrawn_before_attending_and_refused_after(client, w):
    training_class = upcoming(w)
    leaving, attending = used(training_class), used(training_class)
    f.check_in(training_class.sessions[0], attending.person)
    db.session.commit()
    url = f"/api/v1/classes/{training_class.id}/withdrawals"

    response = client.post(url, json={"id_number": leaving.person.id_number, "reason": "工作调动"},
                           headers=auth(w.institution_key, **{"Idempotency-Key": "withdraw-1"}))
    replay = client.post(url, json={"id_number": leaving.person.id_number, "reason": "工作调动"},
                         headers=auth(w.institution_key, **{"Idempotency-Key": "withdraw-1"}))

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["voucher"]["code"], body["voucher"]["status"], body["held_days"]) == (leaving.code, "claimed", 1)
    assert "*" in body["trainee"]["id_number"] and body["voucher"]["class_id"] is None
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.get_json() == body
    before = state()
    refused = client.post(url, json={"id_number": attending.person.id_number, "reason": "工作调动"},
                          headers=auth(w.institution_key))
    assert (refused.status_code, error_code(refused)) == (409, "ALREADY_ATTENDING")
    assert "不能退班" in refused.get_json()["error"]["message"]
    assert state() == before


@pytest.mark.parametrize("body, key, status, code", [
    ({"id_number": "330602198501010000", "reason": "个人原因"}, "institution", 422, "VALIDATION_FAILED"),
    ({"id_number": None, "reason": "个人原因"}, "institution", 422, "VALIDATION_FAILED"),
    ({"reason": "个人原因"}, "institution", 422, "VALIDATION_FAILED"),
    ({"id_number": "STRANGER", "reason": "个人原因"}, "institution", 409, "NOT_ENROLLED"),
    ({"id_number": "TRAINEE", "reason": "个人原因"}, "bureau", 403, "FORBIDDEN"),
    ({"id_number": "TRAINEE", "reason": "个人原因"}, "other", 404, "NOT_FOUND"),
    ({"id_number": "TRAINEE", "reason": "a"}, "institution", 422, "VALIDATION_FAILED"),
])
def test_bad_withdrawals_are_refused_with_a_code(client, w, body, key, status, code):
    training_class = upcoming(w)
    voucher = used(training_class)
    stranger = f.person()
    db.session.commit()
    body = {k: {"STRANGER": stranger.id_number, "TRAINEE": voucher.person.id_number}.get(v, v) for k, v in body.items()}
    keys = {"institution": w.institution_key, "bureau": w.bureau_key, "other": w.other_institution_key}
    before = state()

    response = client.post(f"/api/v1/classes/{training_class.id}/withdrawals", json=body, headers=auth(keys[key]))

    assert (response.status_code, error_code(response)) == (status, code), response.get_json()
    assert state() == before


@pytest.fixture
def lesson_now(w):
    training_class = f.training_class(w.institution, sessions=0)
    lesson = ClassSession(class_id=training_class.id, title="第1次课", starts_at=utcnow() - timedelta(hours=2),
                          ends_at=utcnow() + timedelta(hours=1), hours=4)
    db.session.add(lesson)
    f.enrol(training_class, w.person)
    db.session.flush()
    db.session.add(CheckIn(session_id=lesson.id, person_id=w.person.id, method="scan",
                           created_at=utcnow() - timedelta(hours=2)))
    db.session.commit()
    return lesson


def test_a_scan_check_out_through_the_api(client, w, lesson_now):
    qr = qrtoken.sign(app_qr_secret(), qrtoken.KIND_PERSON, w.person.qr_code)

    response = client.post("/api/v1/checkouts", json={"session_id": lesson_now.id, "qr": qr},
                           headers=auth(w.institution_key))
    again = client.post("/api/v1/checkouts", json={"session_id": lesson_now.id, "qr": qr},
                        headers=auth(w.institution_key))

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["result"] == "checked_out" and 119 <= body["minutes_present"] <= 121
    assert body["checked_out_at"].endswith("+08:00") and "*" in body["trainee"]["id_number"]
    # The world's region (绍兴市) has the default policy: the check-in alone counts the lesson.
    assert (body["counts_time_present"], body["hours_credited"]) == (False, 4.0)
    assert again.get_json()["result"] == "already_checked_out"


@pytest.mark.parametrize("case, status, code", [
    ("not checked in", 409, "NOT_CHECKED_IN"),
    ("other institution", 404, "NOT_FOUND"),
    ("bad qr", 409, "QR_INVALID"),
    ("missing qr", 422, "VALIDATION_FAILED"),
])
def test_a_check_out_refused_by_the_api_changes_nothing(client, w, lesson_now, case, status, code):
    qr = qrtoken.sign(app_qr_secret(), qrtoken.KIND_PERSON, w.person.qr_code)
    key = w.institution_key
    if case == "not checked in":
        db.session.query(CheckIn).delete()
        db.session.commit()
    elif case == "other institution":
        key = w.other_institution_key
    body = {"session_id": lesson_now.id, "qr": {"bad qr": "NOT-A-QR", "missing qr": None}.get(case, qr)}
    before = state()

    response = client.post("/api/v1/checkouts", json=body, headers=auth(key))

    assert (response.status_code, error_code(response)) == (status, code), response.get_json()
    assert state() == before


def test_the_three_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/classes/{id}/cancellation", "/api/v1/classes/{id}/withdrawals", "/api/v1/checkouts"):
        assert "post" in paths[path]
    assert paths["/api/v1/classes/{id}/cancellation"]["post"]["x-scopes"] == ["institution", "bureau"]
