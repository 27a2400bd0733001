"""签退 by the classroom's rotating 签退码: the screen switches from the 签到码 to the 签退码 as the
lesson ends, a trainee scans it and confirms with one tap; a 签到码, a stale code or someone who never
checked in is told why, and nothing changes."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from h5app.extensions import db
from h5app.models import AuditEvent, CheckIn
from h5app.timeutil import utcnow
from h5app.vouchers import app_qr_secret, qrtoken

from . import factories as f
from .auth_support import staff_sign_in


@pytest.fixture
def lesson():
    return f.desk_lesson(started=timedelta(hours=2), ends_in=timedelta(minutes=5), hours=2)


def checked_in(class_session, worker) -> CheckIn:
    """In by the classroom's 签到码 when the lesson began, not yet out."""
    record = f.check_in(class_session, worker, method="session_qr", checked_out_at=None, checkout_method=None)
    db.session.commit()
    return record


def test_the_screen_shows_the_checkout_code_and_a_scan_checks_the_trainee_out(app, client, lesson):
    class_session, worker, verifier = lesson
    record = checked_in(class_session, worker)
    staff_sign_in(client, verifier)
    page = client.get(f"/institution/sessions/{class_session.id}/qr", query_string={"for": "checkout"})
    assert page.status_code == 200 and "课堂签退码" in page.get_data(as_text=True)
    refreshed = client.get(f"/institution/sessions/{class_session.id}/qr.json", query_string={"for": "checkout"})
    assert refreshed.get_json()["title"] == "课堂签退码"

    phone = app.test_client()
    staff_sign_in(phone, worker)
    token = qrtoken.sign(app_qr_secret(), qrtoken.KIND_SESSION_OUT, class_session.qr_code)
    assert "确认签退" in phone.get(f"/worker/checkout/scan/{token}").get_data(as_text=True)
    assert phone.post(f"/worker/checkout/scan/{token}").status_code == 302
    assert "签退成功" in phone.get("/worker/checkin").get_data(as_text=True)
    db.session.expire_all()
    record = db.session.get(CheckIn, record.id)
    assert record.checked_out_at is not None and record.checkout_method == "session_qr"
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "checkout.session_qr")) is not None
    phone.post(f"/worker/checkout/scan/{token}")  # again: the first check-out stands
    assert "本次课已签退" in phone.get("/worker/checkin").get_data(as_text=True)


@pytest.mark.parametrize("make_token,message", [
    (lambda s: qrtoken.sign(app_qr_secret(), qrtoken.KIND_SESSION_OUT, s.qr_code, f.epoch(utcnow()) - 61), "已过期"),
    (lambda s: "GARBAGE", "二维码无效"),
    (lambda s: qrtoken.sign(app_qr_secret(), qrtoken.KIND_SESSION, s.qr_code), "不是签退二维码"),
])
def test_a_stale_or_wrong_code_is_explained_and_changes_nothing(app, lesson, make_token, message):
    class_session, worker, _ = lesson
    record = checked_in(class_session, worker)
    phone = app.test_client()
    staff_sign_in(phone, worker)
    phone.post(f"/worker/checkout/scan/{make_token(class_session)}")
    assert message in phone.get("/worker/checkin").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(CheckIn, record.id).checked_out_at is None


def test_a_trainee_who_never_checked_in_is_told_to_check_in_first(app, lesson):
    class_session, worker, _ = lesson
    phone = app.test_client()
    staff_sign_in(phone, worker)
    token = qrtoken.sign(app_qr_secret(), qrtoken.KIND_SESSION_OUT, class_session.qr_code)
    phone.post(f"/worker/checkout/scan/{token}")
    assert "还没有签到" in phone.get("/worker/checkin").get_data(as_text=True)
    assert db.session.scalars(select(CheckIn)).all() == []
