"""The endpoint scan guns post to (/scanner/v1): device-token auth, the engine's verdict stored once
per idempotency key, the batch drain, and a clear JSON error for every bad input."""
import os
import time
from datetime import timedelta

import pytest
from sqlalchemy import event, func, insert, select

from h5app.extensions import db
from h5app.models import AuditEvent, CheckIn, ScanDevice, ScanRecord, Voucher
from h5app.scanning import devices
from h5app.scanning.judge import code_hash
from h5app.timeutil import utcnow

from . import factories as f
from .scanner_support import bearer, claimed_voucher, new_key, scan_gun


@pytest.fixture
def desk():
    institution = f.institution(name="绍兴市技师学院")
    training_class = f.training_class(institution, course_name="低压电工作业培训")
    device, token = scan_gun(institution, training_class=training_class)
    voucher = claimed_voucher()
    db.session.commit()
    return device, token, training_class, voucher


def post(client, token, code, key=None, **extra):
    return client.post("/scanner/v1/scans", json={"code": code, **extra},
                       headers={**bearer(token), "Idempotency-Key": key or new_key()})


def records():
    return db.session.scalars(select(ScanRecord).order_by(ScanRecord.id)).all()


def test_a_good_scan_verifies_the_voucher_and_stores_the_masked_verdict(client, desk):
    device, token, training_class, voucher = desk
    response = post(client, token, f.qr_for(voucher))
    data = response.get_json()
    assert response.status_code == 201
    assert (data["result"], data["title"], data["ok"]) == ("verified", "验券成功", True)
    assert data["trainee"]["name"] == "王*国" and data["trainee"]["id_number"].count("*") == 10
    assert db.session.get(Voucher, voucher.id).status == "used"
    [record] = records()
    assert record.result == "verified" and record.class_id == training_class.id
    assert voucher.person.id_number not in (record.trainee_id_number or "")
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.to_status == "used")).all()
    assert (event.actor_type, event.actor_id, event.voucher_id) == ("device", device.id, voucher.id)


def test_a_resend_with_the_same_key_replays_the_first_verdict_without_a_second_effect(client, desk):
    _device, token, _cls, voucher = desk
    key, qr = new_key(), f.qr_for(voucher)
    first = post(client, token, qr, key).get_json()
    again = post(client, token, qr, key)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["result"] == first["result"] == "verified"
    assert len(records()) == 1 and records()[0].attempts == 2
    used_events = db.session.scalar(select(func.count()).select_from(AuditEvent)
                                    .where(AuditEvent.to_status == "used"))
    assert used_events == 1


def test_the_same_key_with_another_scan_is_refused(client, desk):
    _device, token, _cls, voucher = desk
    key = new_key()
    post(client, token, f.qr_for(voucher), key)
    response = post(client, token, "SOMETHING-ELSE", key)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_a_forged_qr_is_a_stored_refusal_and_changes_nothing(client, desk):
    _device, token, _cls, voucher = desk
    forged = f.qr_for(voucher)[:-1] + ("A" if f.qr_for(voucher)[-1] != "A" else "B")
    data = post(client, token, forged).get_json()
    assert (data["result"], data["code"], data["title"]) == ("refused", "QR_INVALID", "不能验券")
    assert "二维码" in data["message"]
    assert db.session.get(Voucher, voucher.id).status == "claimed"
    assert [r.result for r in records()] == ["refused"]


def test_a_second_voucher_use_elsewhere_is_refused(client, desk):
    _device, token, _cls, voucher = desk
    other_class = f.training_class(f.institution(), course_name="别家的班")
    db.session.commit()
    post(client, token, f.qr_for(voucher))
    device2, token2 = scan_gun(other_class.institution, training_class=other_class)
    db.session.commit()
    data = post(client, token2, f.qr_for(voucher)).get_json()
    assert (data["result"], data["code"]) == ("refused", "VOUCHER_ALREADY_USED")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Bearer sg_unknown"},
                                     {"Authorization": "Basic abc"}])
def test_no_or_an_unknown_token_is_401(client, desk, headers):
    response = client.post("/scanner/v1/scans", json={"code": "X"}, headers={**headers, "Idempotency-Key": new_key()})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "UNAUTHORIZED"
    assert records() == []


def test_a_revoked_device_is_401(client, desk):
    device, token, _cls, voucher = desk
    device.revoked_at = utcnow()
    db.session.commit()
    assert post(client, token, f.qr_for(voucher)).status_code == 401
    assert db.session.get(Voucher, voucher.id).status == "claimed"


@pytest.mark.parametrize("body, key, field", [
    ({"code": ""}, None, "code"),
    ({"code": "A" * 129}, None, "code"),
    ({"code": "含中文"}, None, "code"),
    ({"code": "AB CD"}, None, "code"),
    ({"code": 5}, None, "code"),
    ({"code": "ABC", "age_ms": -1}, None, "age_ms"),
    ({"code": "ABC", "age_ms": "soon"}, None, "age_ms"),
    ({"code": "ABC"}, "short", "key"),
    ({"code": "ABC"}, "bad key with spaces", "key"),
])
def test_invalid_scan_fields_are_422_and_store_nothing(client, desk, body, key, field):
    _device, token, _cls, _voucher = desk
    response = client.post("/scanner/v1/scans", json=body, headers={**bearer(token), "Idempotency-Key": key or new_key()})
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]
    assert records() == []


@pytest.mark.parametrize("data", [b"not json", b"[1,2]", b"\x00\xff"])
def test_malformed_json_is_400(client, desk, data):
    _device, token, _cls, _voucher = desk
    response = client.post("/scanner/v1/scans", data=data, content_type="application/json",
                           headers={**bearer(token), "Idempotency-Key": new_key()})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "BAD_JSON"


def test_a_device_without_a_class_refuses_with_a_clear_message(client):
    institution = f.institution()
    _device, token = scan_gun(institution)
    voucher = claimed_voucher()
    db.session.commit()
    data = post(client, token, f.qr_for(voucher)).get_json()
    assert (data["result"], data["code"]) == ("refused", "DEVICE_NOT_CONFIGURED")
    assert "扫码台" in data["message"]
    assert db.session.get(Voucher, voucher.id).status == "claimed"


def test_a_scan_that_waited_in_the_queue_is_judged_as_of_its_read(client, desk):
    """A QR minted 90 s ago is stale when read now, genuine when the gun read it 89 s ago."""
    device, token, _cls, voucher = desk
    device.configured_at = utcnow() - timedelta(minutes=5)  # set up before the outage began
    db.session.commit()
    qr = f.qr_for(voucher, now_ts=time.time() - 90)
    late = post(client, token, qr).get_json()
    assert late["code"] == "QR_EXPIRED"
    voucher2 = claimed_voucher(template=voucher.template, owner=f.person(name="李四"))
    db.session.commit()
    queued = post(client, token, f.qr_for(voucher2, now_ts=time.time() - 90), age_ms=89_000).get_json()
    assert queued["result"] == "verified"


def test_a_scan_read_before_the_desk_switched_the_gun_is_not_judged_under_its_new_use(client, desk):
    """Read in 扫码验券 while the bridge was offline, delivered after the desk switched the gun to
    扫码签退: it must neither verify (the old use) nor close the trainee's lesson (the new one)."""
    device, token, training_class, voucher = desk
    lesson = training_class.sessions[0]
    device.mode, device.session_id = "checkout", lesson.id
    device.configured_at = utcnow() - timedelta(seconds=30)  # switched half a minute ago
    db.session.commit()

    queued = post(client, token, f.qr_for(voucher, now_ts=time.time() - 60), age_ms=59_000)

    data = queued.get_json()
    assert queued.status_code == 201 and data["result"] == "refused", data
    assert data["code"] == "DEVICE_MODE_CHANGED" and "请学员重新扫码" in data["message"]
    assert db.session.get(Voucher, voucher.id).status == "claimed"
    assert db.session.scalar(select(func.count(CheckIn.id))) == 0


def test_check_in_mode_records_attendance_once(client):
    institution = f.institution()
    training_class = f.training_class(institution, sessions=1)
    class_session = training_class.sessions[0]
    class_session.starts_at = utcnow() - timedelta(minutes=10)
    class_session.ends_at = utcnow() + timedelta(hours=2)
    worker = f.person(name="张小明")
    f.enrol(training_class, worker)
    voucher = claimed_voucher(owner=worker)
    _device, token = scan_gun(institution, mode="checkin", class_session=class_session)
    db.session.commit()
    first = post(client, token, f.qr_for(voucher)).get_json()
    second = post(client, token, f.qr_for(voucher)).get_json()
    assert (first["result"], first["title"]) == ("checked_in", "签到成功")
    assert (second["result"], second["tone"]) == ("already_checked_in", "again")
    assert db.session.scalar(select(func.count()).select_from(CheckIn)) == 1


def test_check_out_mode_closes_the_check_in_once_and_refuses_one_never_checked_in(client):
    """签退 at the front desk by scan gun: the trainee's check-in of the lesson gets its time out, a
    second scan is answered as already done, and someone who never checked in is refused."""
    institution = f.institution()
    training_class = f.training_class(institution, sessions=1)
    lesson = training_class.sessions[0]
    lesson.starts_at = utcnow() - timedelta(hours=2)
    lesson.ends_at = utcnow() + timedelta(minutes=5)
    worker, absent = f.person(name="张小明"), f.person(name="李四")
    f.enrol(training_class, worker)
    f.enrol(training_class, absent)
    voucher, absent_voucher = claimed_voucher(owner=worker), claimed_voucher(owner=absent)
    db.session.add(CheckIn(session_id=lesson.id, person_id=worker.id, method="scan",
                           created_at=utcnow() - timedelta(hours=2)))
    _device, token = scan_gun(institution, mode="checkout", class_session=lesson)
    db.session.commit()
    first = post(client, token, f.qr_for(voucher)).get_json()
    second = post(client, token, f.qr_for(voucher)).get_json()
    never = post(client, token, f.qr_for(absent_voucher)).get_json()
    assert (first["result"], first["title"], first["mode"]) == ("checked_out", "签退成功", "checkout")
    assert "在场2小时" in first["message"]  # the time present, as the desk's 签退 page says it
    assert (second["result"], second["tone"]) == ("already_checked_out", "again")
    assert (never["result"], never["title"]) == ("refused", "不能签退")
    [check_in] = db.session.scalars(select(CheckIn)).all()
    assert check_in.person_id == worker.id and check_in.checked_out_at is not None
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "checkout.scan")) == 1


def test_a_check_out_gun_without_a_lesson_refuses_with_a_clear_message(client):
    institution = f.institution()
    _device, token = scan_gun(institution, mode="checkout")
    voucher = claimed_voucher()
    db.session.commit()
    data = post(client, token, f.qr_for(voucher)).get_json()
    assert (data["result"], data["code"]) == ("refused", "DEVICE_NOT_CONFIGURED")
    assert "签退的课次" in data["message"]


def test_the_batch_judges_in_order_and_answers_per_scan(client, desk):
    _device, token, _cls, voucher = desk
    other = claimed_voucher(template=voucher.template, owner=f.person(name="李四"))
    db.session.commit()
    keys = [new_key() for _ in range(4)]
    scans = [{"key": keys[0], "code": f.qr_for(voucher)}, {"key": keys[1], "code": "GARBAGE"},
             {"key": keys[2], "code": "bad code"}, {"key": keys[3], "code": f.qr_for(other), "age_ms": 20}]
    response = client.post("/scanner/v1/scans/batch", json={"scans": scans}, headers=bearer(token))
    results = response.get_json()["results"]
    assert response.status_code == 200
    assert [r.get("result") for r in results] == ["verified", "refused", None, "verified"]
    assert results[2]["error"]["code"] == "VALIDATION_FAILED"
    assert [r.idempotency_key for r in records()] == [keys[0], keys[1], keys[3]]
    again = client.post("/scanner/v1/scans/batch", json={"scans": scans}, headers=bearer(token)).get_json()
    assert [r.get("replayed") for r in again["results"]] == [True, True, None, True]
    assert len(records()) == 3


@pytest.mark.parametrize("body", [{}, {"scans": []}, {"scans": "x"}, {"scans": [1]}])
def test_a_malformed_batch_is_400(client, desk, body):
    _device, token, _cls, _voucher = desk
    assert client.post("/scanner/v1/scans/batch", json=body, headers=bearer(token)).status_code == 400


def test_an_oversized_batch_is_422(client, desk):
    _device, token, _cls, _voucher = desk
    scans = [{"key": new_key(), "code": "A"} for _ in range(201)]
    response = client.post("/scanner/v1/scans/batch", json={"scans": scans}, headers=bearer(token))
    assert response.status_code == 422 and records() == []


def test_the_device_endpoint_says_who_the_bridge_is(client, desk):
    device, token, training_class, _voucher = desk
    data = client.get("/scanner/v1/device", headers=bearer(token)).get_json()
    assert (data["name"], data["mode"], data["class_id"]) == ("前台1号", "verify", training_class.id)


def test_the_token_is_stored_only_as_its_hash(desk):
    device, token, _cls, _voucher = desk
    stored = db.session.get(ScanDevice, device.id)
    assert token not in (stored.token_hash, stored.name) and len(stored.token_hash) == 64


def test_one_key_twice_in_a_batch_is_judged_once(client, desk):
    _device, token, _cls, voucher = desk
    key, qr = new_key(), f.qr_for(voucher)
    scans = [{"key": key, "code": qr}, {"key": key, "code": qr}, {"key": key, "code": "OTHER-SCAN"}]
    results = client.post("/scanner/v1/scans/batch", json={"scans": scans}, headers=bearer(token)).get_json()["results"]
    assert [r.get("result") for r in results] == ["verified", "verified", None]
    assert [r.get("replayed") for r in results[:2]] == [False, True]
    assert results[2]["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(records()) == 1


def test_refusals_and_successes_in_one_batch_each_keep_their_own_outcome(client, desk):
    """A refusal's savepoint is undone alone: the verifications around it stand."""
    _device, token, _cls, voucher = desk
    second = claimed_voucher(template=voucher.template, owner=f.person(name="李四"))
    expired_qr = f.qr_for(second, now_ts=time.time() - 300)
    db.session.commit()
    scans = [{"key": new_key(), "code": f.qr_for(voucher)}, {"key": new_key(), "code": expired_qr},
             {"key": new_key(), "code": f.qr_for(second)}]
    results = client.post("/scanner/v1/scans/batch", json={"scans": scans}, headers=bearer(token)).get_json()["results"]
    assert [(r["result"], r["code"]) for r in results] == [("verified", None), ("refused", "QR_EXPIRED"),
                                                           ("verified", None)]
    assert [r.result for r in records()] == ["verified", "refused", "verified"]
    assert db.session.scalar(select(func.count()).select_from(Voucher).where(Voucher.status == "used")) == 2


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
                    reason="PostgreSQL only: on SQLite a chunk holds the write lock, so no other delivery can commit")
def test_a_key_committed_meanwhile_by_a_concurrent_delivery_is_503_scan_conflict_and_changes_nothing(client, desk):
    device, token, _cls, voucher = desk
    key, qr = new_key(), f.qr_for(voucher)
    engine, fired = db.engine, []

    def other_delivery_commits_first(_connection, _cursor, statement, *_):
        # Between this delivery's look-up of the key and its insert, another delivery of the same
        # scan (the bridge retrying on a second connection) stores its verdict.
        if not fired and statement.lstrip().upper().startswith("INSERT INTO SCAN_RECORDS"):
            fired.append(statement)
            with engine.begin() as other:
                other.execute(insert(ScanRecord).values(
                    device_id=device.id, idempotency_key=key, code_hash=code_hash(qr), mode="verify",
                    result="verified", message="", read_at=utcnow(), created_at=utcnow(), attempts=1))

    event.listen(engine, "before_cursor_execute", other_delivery_commits_first)
    try:
        response = post(client, token, qr, key)
    finally:
        event.remove(engine, "before_cursor_execute", other_delivery_commits_first)

    assert response.status_code == 503 and response.get_json()["error"]["code"] == "SCAN_CONFLICT"
    db.session.expire_all()
    assert db.session.get(Voucher, voucher.id).status == "claimed"  # this delivery's chunk rolled back whole
    resend = post(client, token, qr, key)  # the bridge retries and finds the other delivery's verdict
    assert resend.status_code == 200 and resend.headers["Idempotent-Replayed"] == "true"


def test_saving_the_guns_settings_unchanged_keeps_queued_scans_judged_as_read(client, desk):
    device, token, training_class, voucher = desk
    device.configured_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    devices.configure(db.session, device, mode="verify", class_id=training_class.id, session_id=None,
                      actor=f.institution_actor(training_class.institution))  # 保存设置 with nothing changed

    queued = post(client, token, f.qr_for(voucher, now_ts=time.time() - 30), age_ms=29_000).get_json()
    assert queued["result"] == "verified", queued
