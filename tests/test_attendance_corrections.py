"""补签: an institution asks, with a reason and a photo of the paper sign-in sheet, that a trainee the
check-in missed be counted present; the bureau of the class's region approves (the lesson counts
toward the 打卡率, the sheet and the export) or refuses with a reason. Through the service, the
pages and the API; every refusal is a clear error that changes nothing."""
import io
import re
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from h5app.extensions import db
from h5app.models import AttendanceCorrection, CheckIn, ClassSession, Notification, Settlement, SettlementLine
from h5app.models.attendance import CORRECTION_APPROVED, CORRECTION_PENDING, CORRECTION_REFUSED
from h5app.models.classes import DELIVERY_ONLINE
from h5app.timeutil import utcnow
from h5app.vouchers import corrections, subsidy
from h5app.vouchers.errors import (
    AlreadyCheckedIn, ClassIsOnline, CorrectionPending, CorrectionReviewed, NotEnrolled, OutOfScope,
    OutsideSessionTime, SettlementError, ValidationFailed,
)

from . import factories as f
from .api_support import auth, error_code, key_for
from .auth_support import staff_sign_in

REASON = "学员手机没电，未能定位签到，已在纸质签到表签名"


def photo(fmt: str = "JPEG", size=(320, 240), exif: bool = False) -> bytes:
    """A small real picture, as a phone would send it (optionally with EXIF naming the phone)."""
    image = Image.new("RGB", size, "white")
    for x in range(40, 280):  # a line of "signatures"
        image.putpixel((x, 120), (0, 0, 0))
    out = io.BytesIO()
    if exif:
        tags = Image.Exif()
        tags[0x010F] = "HUAWEI"  # Make
        tags[0x0110] = "HMA-AL00"  # Model
        image.save(out, fmt, exif=tags)
    else:
        image.save(out, fmt)
    return out.getvalue()


@pytest.fixture
def evidence_dir(app, tmp_path, monkeypatch):
    folder = tmp_path / "evidence"
    monkeypatch.setitem(app.config, "EVIDENCE_DIR", str(folder))
    return folder


@pytest.fixture
def world(evidence_dir):
    """越城区's school with a class of two past lessons (4 h each); 陈小燕 checked in at the first only."""
    school, training_class, lessons, trainee, officer, clerk = f.missed_lesson_class()
    other_school = f.institution(name="柯桥区烹饪学校", region_code="330603")
    other_officer = f.staff("officer", institution_id=other_school.id)
    foreign_clerk = f.staff("bureau", region_code="500000")
    db.session.commit()
    return type("World", (), dict(school=school, training_class=training_class, lessons=lessons, trainee=trainee,
                                  officer=officer, clerk=clerk, other_school=other_school,
                                  other_officer=other_officer, foreign_clerk=foreign_clerk,
                                  folder=evidence_dir))


def rate(world):
    return subsidy.attendance_rate(db.session, world.training_class, world.trainee.id)


def ask(world, lesson=None, **kwargs):
    return corrections.request_correction(db.session, lesson or world.lessons[1], world.trainee, REASON,
                                          f.institution_actor(world.school), **kwargs)


def counts():
    return (db.session.scalar(select(func.count(AttendanceCorrection.id))),
            db.session.scalar(select(func.count(CheckIn.id))))


# ---- the service ---------------------------------------------------------------------------------

def test_an_approved_correction_counts_toward_the_attendance_rate(world):
    assert rate(world) == pytest.approx(0.5)
    correction = ask(world, evidence_file="0" * 32 + ".jpg")
    assert correction.status == CORRECTION_PENDING and rate(world) == pytest.approx(0.5)  # not before the bureau
    [asked] = f.audit_events(action="attendance.correction.request")
    assert (asked.person_id, asked.institution_id, asked.region_code) == (
        world.trainee.id, world.school.id, "330602")

    corrections.review_correction(db.session, correction, True, None, f.bureau_actor("330600"))
    assert correction.status == CORRECTION_APPROVED
    check_in = db.session.get(CheckIn, correction.check_in_id)
    assert (check_in.session_id, check_in.method) == (world.lessons[1].id, "correction")
    assert rate(world) == 1
    [approved] = f.audit_events(action="attendance.correction.approve")
    assert approved.details["correction_id"] == correction.id and approved.region_code == "330602"
    notice = db.session.scalar(select(Notification).where(Notification.person_id == world.trainee.id))
    assert notice.title == "补签已通过" and "低压电工作业培训" in notice.body


def test_a_refusal_needs_a_reason_and_counts_nothing(world):
    correction = ask(world)
    with pytest.raises(ValidationFailed) as refused:
        corrections.review_correction(db.session, correction, False, "  ", f.bureau_actor("330600"))
    assert "原因" in refused.value.message
    assert db.session.get(AttendanceCorrection, correction.id).status == CORRECTION_PENDING

    corrections.review_correction(db.session, correction, False, "签到表照片看不清学员签名", f.bureau_actor("330600"))
    assert (correction.status, correction.review_reason) == (CORRECTION_REFUSED, "签到表照片看不清学员签名")
    assert correction.check_in_id is None and rate(world) == pytest.approx(0.5)
    [refusal] = f.audit_events(action="attendance.correction.refuse")
    assert refusal.reason == "签到表照片看不清学员签名"
    # Refused, it may be asked again (with a better photo).
    assert ask(world).status == CORRECTION_PENDING


def test_a_correction_is_decided_once(world):
    correction = ask(world)
    corrections.review_correction(db.session, correction, True, None, f.bureau_actor("330600"))
    with pytest.raises(CorrectionReviewed):
        corrections.review_correction(db.session, correction, False, "重复审核一次", f.bureau_actor("330600"))
    assert db.session.get(AttendanceCorrection, correction.id).status == CORRECTION_APPROVED
    assert len(f.audit_events(action="attendance.correction.refuse")) == 0


def test_of_two_clerks_deciding_at_once_one_decides(world):
    correction = ask(world)
    # Another clerk approved it after this clerk's page loaded it as pending.
    db.session.execute(update(AttendanceCorrection).where(AttendanceCorrection.id == correction.id)
                       .values(status=CORRECTION_APPROVED))
    db.session.commit()
    set_committed_value(correction, "status", CORRECTION_PENDING)
    with pytest.raises(CorrectionReviewed) as refused:
        corrections.review_correction(db.session, correction, False, "签到表照片看不清", f.bureau_actor("330600"))
    assert "他人" in refused.value.message
    assert db.session.get(AttendanceCorrection, correction.id).status == CORRECTION_APPROVED
    assert not f.audit_events(action="attendance.correction.refuse")


def test_only_the_bureau_of_the_class_region_decides(world):
    correction = ask(world)
    with pytest.raises(OutOfScope):
        corrections.review_correction(db.session, correction, True, None, f.bureau_actor("500000"))
    assert db.session.get(AttendanceCorrection, correction.id).status == CORRECTION_PENDING


@pytest.mark.parametrize("case, error", [
    ("another_institution", OutOfScope),
    ("not_enrolled", NotEnrolled),
    ("already_checked_in", AlreadyCheckedIn),
    ("lesson_not_started", OutsideSessionTime),
    ("online_class", ClassIsOnline),
    ("short_reason", ValidationFailed),
    ("bad_evidence_url", ValidationFailed),
])
def test_bad_requests_are_refused_and_change_nothing(world, case, error):
    lesson, person, reason, url = world.lessons[1], world.trainee, REASON, None
    actor = f.institution_actor(world.school)
    if case == "another_institution":
        actor = f.institution_actor(world.other_school)
    elif case == "not_enrolled":
        person = f.person(name="李国强")
    elif case == "already_checked_in":
        lesson = world.lessons[0]
    elif case == "lesson_not_started":
        lesson = ClassSession(class_id=world.training_class.id, title="第3次课", starts_at=utcnow() + timedelta(days=1),
                              ends_at=utcnow() + timedelta(days=1, hours=4), hours=4)
        db.session.add(lesson)
    elif case == "online_class":
        world.training_class.delivery = DELIVERY_ONLINE
    elif case == "short_reason":
        reason = "漏签"
    elif case == "bad_evidence_url":
        url = "javascript:alert(1)"
    db.session.commit()
    before = counts()
    with pytest.raises(error) as refused:
        corrections.request_correction(db.session, lesson, person, reason, actor, evidence_url=url)
    assert re.search(r"[\u4e00-\u9fff]", refused.value.message)
    assert counts() == before
    assert not f.audit_events(action="attendance.correction.request")


def test_a_second_request_while_one_waits_is_refused(world):
    ask(world)
    with pytest.raises(CorrectionPending) as refused:
        ask(world)
    assert "待审核" in refused.value.message
    assert counts()[0] == 1


def test_no_request_once_the_trainees_voucher_is_applied_for_unless_its_line_was_rejected(world):
    """The attendance of a line is judged when it is applied for: a 补签 afterwards changes nothing paid."""
    voucher = f.voucher(f.template(), world.trainee, "used", class_id=world.training_class.id,
                        institution_id=world.school.id)
    application = Settlement(institution_id=world.school.id, class_id=world.training_class.id,
                             region_code="330600", status="submitted")
    line = SettlementLine(voucher=voucher, eligible=False, attendance_rate=0.5, amount_fen=0, reason="打卡率不足")
    application.lines = [line]
    db.session.add(application)
    db.session.commit()

    with pytest.raises(SettlementError) as refused:
        ask(world)
    assert f"已申请结算（结算申请 {application.id}）" in refused.value.message and counts()[0] == 0

    line.decision = "rejected"
    db.session.commit()
    assert ask(world).status == CORRECTION_PENDING


def test_the_database_keeps_one_pending_request_per_trainee_and_lesson(world):
    """What stops two requests sent at the same moment: the partial unique index."""
    values = dict(session_id=world.lessons[1].id, class_id=world.training_class.id, person_id=world.trainee.id,
                  institution_id=world.school.id, region_code="330602", reason=REASON, requested_by="测试")
    db.session.add(AttendanceCorrection(**values, status=CORRECTION_REFUSED))
    db.session.add(AttendanceCorrection(**values, status=CORRECTION_PENDING))
    db.session.commit()  # a decided one beside a waiting one is fine
    db.session.add(AttendanceCorrection(**values, status=CORRECTION_PENDING))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


# ---- the pages -----------------------------------------------------------------------------------

def upload(client, world, data: bytes, filename="签到表.jpg", reason=REASON, lesson=None):
    lesson = lesson or world.lessons[1]
    return client.post(f"/institution/sessions/{lesson.id}/corrections/new", content_type="multipart/form-data",
                       data={"trainee": str(world.trainee.id), "reason": reason,
                             "photo": (io.BytesIO(data), filename)})


def text(response) -> str:
    return re.sub(r"<[^>]+>", "", response.get_data(as_text=True))


def test_the_sign_in_sheet_offers_a_correction_only_once_the_lesson_has_begun(client, world):
    later = ClassSession(class_id=world.training_class.id, title="第3次课", starts_at=utcnow() + timedelta(days=1),
                         ends_at=utcnow() + timedelta(days=1, hours=4), hours=4)
    db.session.add(later)
    db.session.commit()
    staff_sign_in(client, world.officer)
    past = client.get(f"/institution/sessions/{world.lessons[1].id}/checkin").get_data(as_text=True)
    coming = client.get(f"/institution/sessions/{later.id}/checkin").get_data(as_text=True)
    assert f"/institution/sessions/{world.lessons[1].id}/corrections/new" in past
    assert f"/institution/sessions/{later.id}/corrections/new" not in coming and "本次课开始后才能申请补签" in coming


def test_the_officer_asks_with_a_photo_and_the_bureau_approves_on_its_page(client, new_client, world):
    staff_sign_in(client, world.officer)
    form = client.get(f"/institution/sessions/{world.lessons[1].id}/corrections/new")
    assert form.status_code == 200 and "陈*燕" in text(form) and world.trainee.id_number not in text(form)
    assert 'accept="image/*"' in form.get_data(as_text=True)

    response = upload(client, world, photo(exif=True))
    assert response.status_code == 302
    correction = db.session.scalar(select(AttendanceCorrection))
    stored = list(world.folder.iterdir())
    assert [p.name for p in stored] == [correction.evidence_file]
    assert re.fullmatch(r"[0-9a-f]{32}\.jpg", correction.evidence_file)  # never the uploader's name
    with Image.open(stored[0]) as kept:  # re-encoded: a JPEG without the phone's EXIF
        assert kept.format == "JPEG" and not kept.getexif()

    clerk = new_client()
    staff_sign_in(clerk, world.clerk)
    queue = clerk.get("/bureau/corrections")
    assert "低压电工作业培训" in text(queue) and REASON in text(queue)
    assert f"/bureau/corrections/{correction.id}/evidence" in queue.get_data(as_text=True)
    picture = clerk.get(f"/bureau/corrections/{correction.id}/evidence")
    assert picture.status_code == 200 and picture.mimetype == "image/jpeg"
    assert "no-store" in picture.headers["Cache-Control"]

    decided = clerk.post(f"/bureau/corrections/{correction.id}/review",
                         data={f"c{correction.id}-reason": "", f"c{correction.id}-approve": "通过，计入打卡率"})
    assert decided.status_code == 302
    assert db.session.get(AttendanceCorrection, correction.id).status == CORRECTION_APPROVED

    # The lesson counts: the trainee list, the export and the sheet say so.
    trainees = client.get(f"/institution/classes/{world.training_class.id}")
    assert "100%" in text(trainees)
    export = client.get(f"/institution/classes/{world.training_class.id}/trainees.csv").get_data(as_text=True)
    assert "100%" in export
    sheet = client.get(f"/institution/sessions/{world.lessons[1].id}/checkin")
    assert "补签（人社审核通过）" in text(sheet)
    assert "已通过" in text(client.get("/institution/corrections"))


def test_the_bureau_must_give_a_reason_to_refuse(client, world):
    correction = ask(world)
    staff_sign_in(client, world.clerk)
    response = client.post(f"/bureau/corrections/{correction.id}/review",
                           data={f"c{correction.id}-reason": "", f"c{correction.id}-refuse": "不予通过"})
    assert response.status_code == 400 and "不予通过须写明原因" in text(response)
    assert db.session.get(AttendanceCorrection, correction.id).status == CORRECTION_PENDING
    response = client.post(f"/bureau/corrections/{correction.id}/review",
                           data={f"c{correction.id}-reason": "照片中没有该学员的签名",
                                 f"c{correction.id}-refuse": "不予通过"})
    assert response.status_code == 302
    assert db.session.get(AttendanceCorrection, correction.id).status == CORRECTION_REFUSED


@pytest.mark.parametrize("data, filename, message", [
    (b"%PDF-1.4 not a picture at all", "签到表.jpg", "不是有效的图片"),  # the name says jpg; the content does not
    (photo("GIF"), "签到表.gif", "不是有效的图片"),
    (photo()[:200], "签到表.jpg", "不是有效的图片"),  # cut off in transit
    (b"\xff\xd8\xff\xe0" + b"\0" * (20 * 1024 * 1024), "大照片.jpg", "照片不能超过5MB"),  # 20 MB
])
def test_an_upload_that_is_not_a_photo_or_too_big_is_refused_in_chinese(client, world, data, filename, message):
    staff_sign_in(client, world.officer)
    response = upload(client, world, data, filename)
    assert response.status_code == 400 and message in text(response)
    assert "413" not in text(response)
    assert counts()[0] == 0
    assert not world.folder.exists() or not any(world.folder.iterdir())


def test_a_png_photo_is_taken(client, world):
    staff_sign_in(client, world.officer)
    assert upload(client, world, photo("PNG"), "IMG_0001.PNG").status_code == 302
    with Image.open(next(world.folder.iterdir())) as kept:
        assert kept.format == "JPEG"


def test_a_request_over_the_app_limit_gets_a_chinese_page_not_flask_413(client, world):
    staff_sign_in(client, world.officer)
    response = upload(client, world, b"\0" * (33 * 1024 * 1024))
    assert response.status_code == 413
    assert "上传的文件太大" in text(response) and "Request Entity Too Large" not in text(response)
    assert counts()[0] == 0


def test_a_refused_request_keeps_no_photo(client, world):
    staff_sign_in(client, world.officer)
    assert upload(client, world, photo()).status_code == 302
    assert len(list(world.folder.iterdir())) == 1
    # The trainee is no longer offered for this lesson; posting them anyway is refused.
    response = upload(client, world, photo())
    assert response.status_code == 400
    assert len(list(world.folder.iterdir())) == 1 and counts()[0] == 1


def test_another_institution_sees_neither_the_lesson_nor_the_photo(client, new_client, world):
    correction = ask(world, evidence_file=None)
    staff_sign_in(client, world.other_officer)
    assert client.get(f"/institution/sessions/{world.lessons[1].id}/corrections/new").status_code == 404
    assert upload(client, world, photo()).status_code == 404
    assert client.get(f"/institution/corrections/{correction.id}/evidence").status_code == 404
    assert "低压电工作业培训" not in text(client.get("/institution/corrections"))
    foreign = new_client()
    staff_sign_in(foreign, world.foreign_clerk)
    assert foreign.get(f"/bureau/corrections/{correction.id}/evidence").status_code == 404
    assert "低压电工作业培训" not in text(foreign.get("/bureau/corrections"))
    response = foreign.post(f"/bureau/corrections/{correction.id}/review",
                            data={f"c{correction.id}-approve": "通过，计入打卡率"})
    assert response.status_code == 404
    assert db.session.get(AttendanceCorrection, correction.id).status == CORRECTION_PENDING


def test_the_owner_sees_its_photo(client, world):
    staff_sign_in(client, world.officer)
    upload(client, world, photo())
    correction = db.session.scalar(select(AttendanceCorrection))
    response = client.get(f"/institution/corrections/{correction.id}/evidence")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# ---- the API -------------------------------------------------------------------------------------

@pytest.fixture
def keys(world):
    return type("Keys", (), dict(school=key_for("institution", world.school.code),
                                 other=key_for("institution", world.other_school.code),
                                 bureau=key_for("bureau", "330600"), foreign=key_for("bureau", "500000")))


def post(client, path, key, body):
    return client.post(f"/api/v1{path}", json=body, headers=auth(key))


def test_api_correction_asked_and_approved(client, world, keys):
    body = {"session_id": world.lessons[1].id, "id_number": world.trainee.id_number, "reason": REASON,
            "evidence_url": "https://px.example.gov.cn/sheets/1.jpg"}
    asked = post(client, "/attendance-corrections", keys.school, body)
    assert asked.status_code == 201, asked.get_json()
    data = asked.get_json()
    assert (data["status"], data["attendance_rate"], data["has_evidence_photo"]) == ("pending", 0.5, False)
    assert data["trainee"]["id_number"] != world.trainee.id_number  # masked to the institution

    reviewed = post(client, f"/attendance-corrections/{data['id']}/review", keys.bureau, {"approve": True})
    assert reviewed.status_code == 200
    assert (reviewed.get_json()["status"], reviewed.get_json()["attendance_rate"]) == ("approved", 1.0)
    again = post(client, f"/attendance-corrections/{data['id']}/review", keys.bureau,
                 {"approve": False, "reason": "重复审核一次"})
    assert (again.status_code, error_code(again)) == (409, "CORRECTION_REVIEWED")
    seen = client.get(f"/api/v1/attendance-corrections/{data['id']}", headers=auth(keys.school))
    assert seen.get_json()["status"] == "approved"


@pytest.mark.parametrize("case, status, code", [
    ("another_institution_session", 404, "NOT_FOUND"),
    ("not_enrolled", 409, "NOT_ENROLLED"),
    ("already_checked_in", 409, "ALREADY_CHECKED_IN"),
    ("bad_id_number", 422, "VALIDATION_FAILED"),
    ("bad_url", 422, "VALIDATION_FAILED"),
    ("bureau_key", 403, "FORBIDDEN"),
])
def test_api_bad_correction_requests(client, world, keys, case, status, code):
    body = {"session_id": world.lessons[1].id, "id_number": world.trainee.id_number, "reason": REASON}
    key = keys.school
    if case == "another_institution_session":
        key = keys.other
    elif case == "not_enrolled":
        body["id_number"] = f.person().id_number
        db.session.commit()
    elif case == "already_checked_in":
        body["session_id"] = world.lessons[0].id
    elif case == "bad_id_number":
        body["id_number"] = "330602198501010000"
    elif case == "bad_url":
        body["evidence_url"] = "ftp://example.com/x"
    elif case == "bureau_key":
        key = keys.bureau
    response = post(client, "/attendance-corrections", key, body)
    assert (response.status_code, error_code(response)) == (status, code), response.get_json()
    assert re.search(r"[\u4e00-\u9fff]", response.get_json()["error"]["message"])
    assert counts()[0] == 0


def test_api_duplicate_pending_request(client, world, keys):
    body = {"session_id": world.lessons[1].id, "id_number": world.trainee.id_number, "reason": REASON}
    assert post(client, "/attendance-corrections", keys.school, body).status_code == 201
    again = post(client, "/attendance-corrections", keys.school, body)
    assert (again.status_code, error_code(again)) == (409, "CORRECTION_PENDING")


def test_api_review_scope_and_reason(client, world, keys):
    correction = ask(world)
    foreign = post(client, f"/attendance-corrections/{correction.id}/review", keys.foreign, {"approve": True})
    assert (foreign.status_code, error_code(foreign)) == (404, "NOT_FOUND")
    mute = post(client, f"/attendance-corrections/{correction.id}/review", keys.bureau, {"approve": False})
    assert (mute.status_code, error_code(mute)) == (422, "VALIDATION_FAILED")
    institution = post(client, f"/attendance-corrections/{correction.id}/review", keys.school, {"approve": True})
    assert institution.status_code == 403
    assert db.session.get(AttendanceCorrection, correction.id).status == CORRECTION_PENDING
    assert client.get(f"/api/v1/attendance-corrections/{correction.id}", headers=auth(keys.other)).status_code == 404
