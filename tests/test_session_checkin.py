"""Check-in with the institution: the desk scans a trainee's QR for a session; or the classroom shows
a rotating session QR that trainees scan from their phones. The attendance sheet shows both. The
page a classroom code opens on the phone speaks to the worker: it names the class and the lesson,
says so of a lesson already checked in or checked out, and refuses a stale or bad code, or a class
the worker is not in, at once rather than asking to confirm."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import CheckIn
from h5app.timeutil import to_local, utcnow
from h5app.vouchers import app_qr_secret, qrtoken

from . import factories as f
from .auth_support import sign_in, staff_sign_in
from .lifecycle_support import SITE, checked_in, classroom_code, state, the_record
from .lifecycle_support import lesson_begun, phone  # noqa: F401  (fixtures: a lesson under way, its trainee's phone)
from .page_support import JSON, visible


@pytest.fixture
def lesson():
    return f.desk_lesson(started=timedelta(minutes=5), ends_in=timedelta(hours=2), hours=4)


def test_the_desk_scans_a_trainee_qr_and_the_sheet_shows_it(client, lesson):
    class_session, worker, verifier = lesson
    staff_sign_in(client, verifier)
    qr = qrtoken.sign(app_qr_secret(), "P", worker.qr_code)
    data = client.post(f"/institution/sessions/{class_session.id}/checkin", headers=JSON, data={"qr": qr}).get_json()
    assert (data["title"], data["trainee"]["name"]) == ("签到成功", "陈*燕")
    # The answer carries the lesson's 签到表, so the desk page redraws it without a reload.
    assert (data["sheet"]["checked_in"], data["sheet"]["total"]) == (1, 1)
    [row] = data["sheet"]["rows"]
    assert (row["name"], row["checked_in"].endswith("机构扫码")) == ("陈*燕", True)
    assert worker.id_number not in str(data)
    page = client.get(f"/institution/sessions/{class_session.id}/checkin").get_data(as_text=True)
    sheet = re.sub(r"<[^>]+>", "", page)  # the text a reader sees
    assert "签到表（1/1）" in sheet and "机构扫码" in sheet


def test_a_second_scan_of_the_same_trainee_says_already_checked_in(client, lesson):
    """As the 扫码台 says it: the desk must not read 签到成功 twice and think two people came."""
    class_session, worker, verifier = lesson
    staff_sign_in(client, verifier)
    qr = qrtoken.sign(app_qr_secret(), "P", worker.qr_code)
    path = f"/institution/sessions/{class_session.id}/checkin"
    first = client.post(path, headers=JSON, data={"qr": qr}).get_json()
    again = client.post(path, headers=JSON, data={"qr": qr}).get_json()
    assert (first["title"], again["title"]) == ("签到成功", "本次课已签到")
    assert again["sheet"]["checked_in"] == 1


def test_a_scan_after_the_trainee_checked_out_says_so(client, lesson):
    class_session, worker, verifier = lesson
    staff_sign_in(client, verifier)
    qr = qrtoken.sign(app_qr_secret(), "P", worker.qr_code)
    client.post(f"/institution/sessions/{class_session.id}/checkin", headers=JSON, data={"qr": qr})
    record = db.session.scalar(select(CheckIn).where(CheckIn.person_id == worker.id))
    record.checked_out_at, record.checkout_method = utcnow(), "scan"
    db.session.commit()
    again = client.post(f"/institution/sessions/{class_session.id}/checkin", headers=JSON, data={"qr": qr})
    assert again.get_json()["title"] == "本次课已签退"


def test_the_desk_refuses_someone_not_enrolled(client, lesson):
    class_session, _, verifier = lesson
    stranger = f.person()
    db.session.commit()
    staff_sign_in(client, verifier)
    qr = qrtoken.sign(app_qr_secret(), "P", stranger.qr_code)
    response = client.post(f"/institution/sessions/{class_session.id}/checkin", headers=JSON, data={"qr": qr})
    assert response.status_code == 409 and response.get_json()["code"] == "NOT_ENROLLED"
    assert db.session.scalar(select(func.count(CheckIn.id))) == 0


def test_the_session_qr_links_to_a_one_tap_check_in(app, client, lesson):
    class_session, worker, verifier = lesson
    staff_sign_in(client, verifier)
    assert client.get(f"/institution/sessions/{class_session.id}/qr").status_code == 200
    assert client.get(f"/institution/sessions/{class_session.id}/qr.json").get_json()["svg"].startswith("<svg")

    phone = app.test_client()
    staff_sign_in(phone, worker)
    token = qrtoken.sign(app_qr_secret(), "S", class_session.qr_code)
    assert "确认签到" in phone.get(f"/worker/checkin/scan/{token}").get_data(as_text=True)
    phone.post(f"/worker/checkin/scan/{token}")
    assert "签到成功" in phone.get("/worker/checkin").get_data(as_text=True)
    [record] = db.session.scalars(select(CheckIn)).all()
    assert (record.person_id, record.method) == (worker.id, "session_qr")


@pytest.mark.parametrize("make_token,message", [
    (lambda s: qrtoken.sign(app_qr_secret(), "S", s.qr_code, f.epoch(utcnow()) - 61), "已过期"),
    (lambda s: "GARBAGE", "二维码无效"),
    (lambda s: qrtoken.sign(app_qr_secret(), "P", "P" + "2" * 15), "不是签到二维码"),
])
def test_a_stale_or_wrong_session_qr_is_explained(app, lesson, make_token, message):
    class_session, worker, _ = lesson
    phone = app.test_client()
    staff_sign_in(phone, worker)
    phone.post(f"/worker/checkin/scan/{make_token(class_session)}")
    assert message in phone.get("/worker/checkin").get_data(as_text=True)
    assert db.session.scalar(select(func.count(CheckIn.id))) == 0


def test_another_institutions_session_is_404(client, lesson):
    class_session, _, _ = lesson
    outsider = f.staff("verifier")
    db.session.commit()
    staff_sign_in(client, outsider)
    assert client.get(f"/institution/sessions/{class_session.id}/checkin").status_code == 404
    assert client.get(f"/institution/sessions/{class_session.id}/qr.json").status_code == 404


# --- the classroom code on the worker's phone ------------------------------------------------------

def test_the_checkin_confirm_page_names_the_class_and_the_lesson(phone, lesson_begun):
    class_session, worker, _ = lesson_begun

    shown = visible(phone.get(f"/worker/checkin/scan/{classroom_code(class_session)}"))

    assert class_session.training_class.course_name in shown and "第1次课" in shown and "确认签到" in shown
    assert db.session.scalar(select(func.count(CheckIn.id))) == 0


def test_the_checkin_confirm_page_of_a_lesson_already_checked_in_says_so_without_a_button(phone, lesson_begun):
    class_session, worker, _ = lesson_begun
    record = checked_in(class_session, worker, minutes_ago=20)
    words = f"您已于{to_local(record.created_at):%H:%M}签到本次课"

    shown = visible(phone.get(f"/worker/checkin/scan/{classroom_code(class_session)}"))

    assert words in shown and "无需重复签到" in shown and "确认签到" not in shown


def test_a_classroom_code_of_a_class_the_worker_is_not_in_is_refused_at_once(app, lesson_begun):
    class_session, _, _ = lesson_begun
    stranger = f.person()
    db.session.commit()
    client = app.test_client()
    sign_in(client, stranger)

    shown = visible(client.get(f"/worker/checkin/scan/{classroom_code(class_session)}", follow_redirects=True))

    assert "未报名该班期，不能签到" in shown and "确认签到" not in shown


def test_a_classroom_code_checkin_after_the_checkout_answers_the_truth(phone, lesson_begun):
    class_session, worker, _ = lesson_begun
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


@pytest.mark.parametrize("route,kind,word", [
    ("checkin", qrtoken.KIND_SESSION, "签到"),
    ("checkout", qrtoken.KIND_SESSION_OUT, "签退"),
])
def test_a_stale_classroom_code_is_refused_at_once_in_the_workers_words(phone, lesson_begun, route, kind, word):
    class_session, worker, _ = lesson_begun
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
def test_a_garbage_code_is_refused_at_once_rather_than_asking_to_confirm(phone, lesson_begun, route, word):
    class_session, worker, _ = lesson_begun
    checked_in(class_session, worker, minutes_ago=25)

    at_once = phone.get(f"/worker/{route}/scan/GARBAGE")

    shown = visible(phone.get("/worker/checkin"))
    assert at_once.status_code == 302 and at_once.headers["Location"].endswith("/worker/checkin")
    assert f"二维码无效，请扫描教室屏幕上的课堂{word}码" in shown and "学员" not in shown
