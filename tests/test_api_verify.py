"""POST /verifications, /trainees/lookup, /checkins: the institution's front desk through the API."""
import pytest

from h5app.models import AuditEvent, CheckIn, Voucher
from h5app.models.vouchers import USED

from . import factories as f
from .api_support import auth, error_code, verify, world


@pytest.fixture
def w(session):
    return world()


def test_verification_uses_the_voucher_and_masks_the_trainee(client, w, session):
    response = verify(client, w)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["result"] == "verified"
    assert body["voucher"]["code"] == w.voucher.code and body["voucher"]["status"] == "used"
    assert body["voucher"]["class_id"] == w.training_class.id
    assert body["voucher"]["institution_code"] == w.institution.code
    assert body["voucher"]["used_at"].endswith("+08:00")
    assert body["trainee"]["id_number"] == w.person.id_number[:4] + "*" * 10 + w.person.id_number[-4:]
    session.expire_all()
    assert session.get(Voucher, w.voucher.id).status == USED
    event = session.query(AuditEvent).filter_by(action="voucher.verify").one()
    assert (event.actor_type, event.from_status, event.to_status) == ("api_key", "claimed", "used")


def test_second_verify_for_the_same_class_answers_already_verified(client, w):
    verify(client, w)
    again = verify(client, w)
    assert again.status_code == 200 and again.get_json()["result"] == "already_verified"


def test_second_verify_of_used_voucher_elsewhere_is_refused(client, w, session):
    verify(client, w)
    w.other_class.institution_id = w.institution.id
    session.commit()
    response = verify(client, w, class_id=w.other_class.id)
    assert response.status_code == 409 and error_code(response) == "VOUCHER_ALREADY_USED"


def test_verify_for_another_institutions_class_is_not_found(client, w, session):
    response = verify(client, w, class_id=w.other_class.id)
    assert response.status_code == 404 and error_code(response) == "NOT_FOUND"
    assert session.get(Voucher, w.voucher.id).status == "claimed"


@pytest.mark.parametrize("key_name", ["bureau_key", "channel_key"])
def test_verify_needs_an_institution_key(client, w, key_name):
    response = verify(client, w, key=getattr(w, key_name))
    assert response.status_code == 403 and error_code(response) == "FORBIDDEN"


def test_forged_qr_is_qr_invalid(client, w):
    response = verify(client, w, qr="V" + "A" * 30)
    assert response.status_code == 409 and error_code(response) == "QR_INVALID"


def test_old_qr_is_qr_expired(client, w):
    response = verify(client, w, qr=f.qr_for(w.voucher, now_ts=f.epoch(f.utcnow_plus(minutes=-5))))
    assert response.status_code == 409 and error_code(response) == "QR_EXPIRED"


@pytest.mark.parametrize("status, code", [
    ("revoked", "VOUCHER_REVOKED"), ("settled", "VOUCHER_SETTLED"), ("expired", "VOUCHER_EXPIRED"),
])
def test_voucher_state_refusals_have_their_codes(client, w, session, status, code):
    w.voucher.status = status
    session.commit()
    response = verify(client, w)
    assert response.status_code == 409 and error_code(response) == code


def test_unknown_voucher_is_voucher_not_found(client, w, session):
    session.delete(w.voucher)
    session.commit()
    response = verify(client, w)
    assert response.status_code == 404 and error_code(response) == "VOUCHER_NOT_FOUND"


def test_template_not_for_this_class_is_not_applicable(client, w, session):
    w.template.occupation = "焊工"
    session.commit()
    response = verify(client, w)
    assert response.status_code == 409 and error_code(response) == "NOT_APPLICABLE"


def test_suspended_institution_cannot_verify(client, w, session):
    w.institution.status = "suspended"
    session.commit()
    response = verify(client, w)
    assert response.status_code == 409 and error_code(response) == "INSTITUTION_SUSPENDED"


def test_closed_class_is_class_not_open(client, w, session):
    w.training_class.status = "draft"
    session.commit()
    response = verify(client, w)
    assert response.status_code == 409 and error_code(response) == "CLASS_NOT_OPEN"


def test_yearly_limit_reached(client, session):
    f.region("330600", "绍兴市", "chongqing")
    w = world()
    for n in range(3):
        other = f.template("chongqing", name=f"券{n}", voucher_type=f"类型{n}")
        f.voucher(other, w.person, status="used", used_at=f.earlier_this_year(days=1), class_id=None)
    w.template.policy_id = f.policy("chongqing").id
    session.commit()
    response = verify(client, w)
    assert response.status_code == 409 and error_code(response) == "YEARLY_LIMIT_REACHED"


def test_lookup_shows_the_masked_trainee_and_usable_vouchers(client, w):
    response = client.post("/api/v1/trainees/lookup", json={"qr": f.qr_for(w.voucher)}, headers=auth(w.institution_key))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["trainee"]["name"] == w.person.name and "*" in body["trainee"]["id_number"]
    assert [v["code"] for v in body["vouchers"]] == [w.voucher.code]


def lesson_under_way(w, session, minutes: int) -> tuple:
    """The world's trainee enrolled, its first lesson begun `minutes` ago: (lesson, /checkins body)."""
    f.enrol(w.training_class, w.person)
    class_session = w.training_class.sessions[0]
    class_session.starts_at, class_session.ends_at = f.utcnow_plus(minutes=-minutes), f.utcnow_plus(hours=2)
    session.commit()
    return class_session, {"session_id": class_session.id, "qr": f.qr_for(w.voucher)}


def test_scan_check_in_records_attendance_once(client, w, session):
    _lesson, payload = lesson_under_way(w, session, minutes=10)
    first = client.post("/api/v1/checkins", json=payload, headers=auth(w.institution_key))
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["method"] == "scan"
    assert first.get_json()["result"] == "checked_in" and first.get_json()["checked_out_at"] is None
    second = client.post("/api/v1/checkins", json=payload, headers=auth(w.institution_key))
    assert second.status_code == 200
    assert second.get_json()["result"] == "already_checked_in"
    assert second.get_json()["checked_in_at"] == first.get_json()["checked_in_at"]
    assert session.query(AuditEvent).filter_by(action="checkin.scan").count() == 1


def test_a_scan_after_the_trainee_left_says_so_and_keeps_the_record(client, w, session):
    class_session, payload = lesson_under_way(w, session, minutes=60)
    first = client.post("/api/v1/checkins", json=payload, headers=auth(w.institution_key))
    assert first.status_code == 200, first.get_json()
    record = session.query(CheckIn).filter_by(session_id=class_session.id, person_id=w.person.id).one()
    record.checked_out_at = f.utcnow_plus(minutes=-5)
    session.commit()
    again = client.post("/api/v1/checkins", json=payload, headers=auth(w.institution_key))
    assert again.status_code == 200, again.get_json()
    body = again.get_json()
    assert body["result"] == "already_checked_out" and body["checked_out_at"].endswith("+08:00")
    assert body["checked_in_at"] == first.get_json()["checked_in_at"]
    assert session.query(CheckIn).filter_by(session_id=class_session.id).count() == 1


def test_check_in_refusals(client, w, session):
    class_session = w.training_class.sessions[0]
    payload = {"session_id": class_session.id, "qr": f.qr_for(w.voucher)}
    not_enrolled = client.post("/api/v1/checkins", json=payload, headers=auth(w.institution_key))
    assert not_enrolled.status_code == 409 and error_code(not_enrolled) == "NOT_ENROLLED"
    f.enrol(w.training_class, w.person)
    class_session.starts_at, class_session.ends_at = f.utcnow_plus(days=3), f.utcnow_plus(days=3, hours=2)
    session.commit()
    early = client.post("/api/v1/checkins", json=payload, headers=auth(w.institution_key))
    assert early.status_code == 409 and error_code(early) == "OUTSIDE_SESSION_TIME"
    foreign = client.post("/api/v1/checkins", json={**payload, "session_id": w.other_class.sessions[0].id},
                          headers=auth(w.institution_key))
    assert foreign.status_code == 404
