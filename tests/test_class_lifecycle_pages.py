"""取消班期, 退班 and 签退 on the pages (issue 19): the institution officer's class page, the bureau's
institution page, the front desk's 签退 scan, and the worker's 打卡签到, 我的卡券 and 消息."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from h5app.auth.users import session_values
from h5app.extensions import db
from h5app.models import CheckIn, ClassSession, Enrolment, Notification, TrainingClass, Voucher
from h5app.timeutil import local_today, utcnow
from h5app.vouchers import app_qr_secret, qrtoken

from . import factories as f
from .auth_support import sign_in, staff_sign_in, text_of
from .lifecycle_support import state, verified
from .page_support import JSON, visible


def upcoming_class(**values) -> TrainingClass:
    """A class whose first lesson is five days away."""
    start = local_today() + timedelta(days=5)
    return f.training_class(starts_on=start, ends_on=start + timedelta(days=10), **values)


def used_voucher(training_class, **person) -> Voucher:
    now = utcnow()
    return verified(training_class, f.person(**person), at=now, claimed_at=now - timedelta(days=1),
                    expires_at=now + timedelta(days=30))


@pytest.fixture
def officer_world(client):
    training_class = upcoming_class(course_name="低压电工作业培训")
    voucher = used_voucher(training_class, name="陈小燕")
    officer = f.staff("officer", institution_id=training_class.institution_id)
    db.session.commit()
    staff_sign_in(client, officer)
    return training_class, voucher, officer


# --- 取消班期 ------------------------------------------------------------------------------------

def test_the_officer_sees_what_a_cancellation_will_do_then_cancels_with_a_reason(client, officer_world):
    training_class, voucher, _officer = officer_world
    class_page = visible(client.get(f"/institution/classes/{training_class.id}"))
    assert "取消班期" in class_page

    page = visible(client.get(f"/institution/classes/{training_class.id}/cancellation"))
    assert "已验券使用的 1 张培训券退回" in page and "结束 1 名学员的报名" in page and "取消原因" in page

    response = client.post(f"/institution/classes/{training_class.id}/cancellation",
                           data={"reason": "报名人数不足，无法开班"}, follow_redirects=True)

    assert response.status_code == 200
    shown = visible(response)
    assert "班期已取消：1张培训券已退回学员，1名学员的报名已结束" in shown
    assert "本班期已于" in shown and "报名人数不足，无法开班" in shown and "已取消" in shown
    assert "已结束报名（1人）" in shown and "陈*燕" in shown and voucher.person.id_number not in text_of(response)
    db.session.expire_all()
    assert db.session.get(Voucher, voucher.id).status == "claimed"
    # Nothing more to do in a cancelled class: no 取消 again, no 编辑, no 开放报名.
    assert "编辑班期" not in shown and "开放报名" not in shown and ">取消班期<" not in text_of(response)


def test_a_cancellation_without_a_reason_is_refused_on_the_field(client, officer_world):
    training_class, _voucher, _officer = officer_world
    before = state()

    response = client.post(f"/institution/classes/{training_class.id}/cancellation", data={"reason": "  "})

    assert response.status_code == 400 and "请填写取消原因" in visible(response)
    assert state() == before


def test_the_institution_may_not_cancel_once_the_first_lesson_began(client, officer_world):
    training_class, _voucher, _officer = officer_world
    lesson = training_class.sessions[0]
    lesson.starts_at, lesson.ends_at = utcnow() - timedelta(hours=1), utcnow() + timedelta(hours=2)
    db.session.commit()
    before = state()

    page = visible(client.get(f"/institution/classes/{training_class.id}/cancellation"))
    response = client.post(f"/institution/classes/{training_class.id}/cancellation", data={"reason": "场地问题"})

    assert "培训机构不能再取消班期" in page and "请联系人社部门" in page and "确认取消班期" not in page
    assert response.status_code == 400 and "培训机构不能再取消班期" in visible(response)
    assert state() == before


def test_a_completed_class_cannot_be_cancelled_from_the_page(client, officer_world):
    training_class, _voucher, _officer = officer_world
    training_class.status = "completed"
    db.session.commit()
    before = state()

    response = client.post(f"/institution/classes/{training_class.id}/cancellation", data={"reason": "x"})

    assert response.status_code == 400 and "已结业，不能取消" in visible(response)
    assert state() == before


def test_another_institution_and_a_verifier_cannot_cancel(client, new_client, officer_world):
    training_class, _voucher, _officer = officer_world
    stranger = f.staff("officer")
    verifier = f.staff("verifier", institution_id=training_class.institution_id)
    db.session.commit()
    before = state()
    other, desk = new_client(), new_client()
    staff_sign_in(other, stranger)
    staff_sign_in(desk, verifier)

    assert other.post(f"/institution/classes/{training_class.id}/cancellation", data={"reason": "x"}).status_code == 404
    assert desk.post(f"/institution/classes/{training_class.id}/cancellation", data={"reason": "x"}).status_code == 403
    assert state() == before


def test_the_cancel_form_needs_its_csrf_token(make_app, officer_world):
    training_class, _voucher, officer = officer_world
    url = f"/institution/classes/{training_class.id}/cancellation"
    before, officer_id = state(), officer.get_id()
    db.session.rollback()  # the other app's requests must not wait for this session's SQLite lock
    client = make_app(WTF_CSRF_ENABLED=True).test_client()
    with client.session_transaction() as cookie:
        cookie.update(session_values(officer_id))

    response = client.post(url, data={"reason": "报名人数不足"})

    assert response.status_code == 400 and state() == before


def test_the_bureau_cancels_any_class_of_its_region_from_the_institution_page(client, new_client):
    f.region("330600", "绍兴市")
    training_class = upcoming_class(course_name="中式烹调师培训")
    lesson = training_class.sessions[0]
    lesson.starts_at = utcnow() - timedelta(days=1)  # already begun: only the bureau may cancel now
    voucher = used_voucher(training_class)
    clerk = f.staff("bureau", region_code="330600")
    foreign = f.staff("bureau", region_code="500000")
    f.region("500000", "重庆市")
    db.session.commit()
    staff_sign_in(client, clerk)

    institution_page = visible(client.get(f"/bureau/institutions/{training_class.institution_id}"))
    assert "中式烹调师培训" in institution_page and "取消班期" in institution_page
    page = visible(client.get(f"/bureau/classes/{training_class.id}/cancellation"))
    assert "已验券使用的 1 张培训券退回" in page
    response = client.post(f"/bureau/classes/{training_class.id}/cancellation", data={"reason": "机构违规，责令停班"},
                           follow_redirects=True)

    assert "已取消“中式烹调师培训”：1张培训券已退回学员" in visible(response)
    db.session.expire_all()
    assert db.session.get(Voucher, voucher.id).status == "claimed"
    [event] = f.audit_events(action="class.cancel")
    assert event.actor_label.endswith(clerk.username) and event.details["by"] == "bureau"
    audit_page = visible(client.get("/bureau/audit"))
    assert "取消班期" in audit_page and "退回可使用" in audit_page
    other = new_client()
    staff_sign_in(other, foreign)
    assert other.get(f"/bureau/classes/{training_class.id}/cancellation").status_code == 404


# --- 退班 ----------------------------------------------------------------------------------------

def _enrolment_of(voucher) -> Enrolment:
    return db.session.scalar(select(Enrolment).where(Enrolment.person_id == voucher.person_id))


def test_the_officer_withdraws_a_trainee_from_the_trainee_list(client, officer_world):
    training_class, voucher, _officer = officer_world
    enrolment = _enrolment_of(voucher)
    listing = text_of(client.get(f"/institution/classes/{training_class.id}"))
    link = f"/institution/classes/{training_class.id}/withdrawals/{enrolment.id}"
    assert link in listing

    page = visible(client.get(link))
    assert "陈*燕" in page and "退回其“我的卡券”" in page and "退班原因" in page
    response = client.post(link, data={"reason": "工作调动"}, follow_redirects=True)

    assert "已为陈*燕办理退班，培训券已退回，有效期延长1天" in visible(response)
    db.session.expire_all()
    assert db.session.get(Voucher, voucher.id).status == "claimed"
    assert _enrolment_of(voucher).status == "withdrawn"


def test_a_trainee_who_attended_is_not_withdrawn_and_the_page_says_why(client, officer_world):
    training_class, voucher, _officer = officer_world
    f.check_in(training_class.sessions[0], voucher.person)
    db.session.commit()
    link = f"/institution/classes/{training_class.id}/withdrawals/{_enrolment_of(voucher).id}"
    before = state()

    page = visible(client.get(link))
    response = client.post(link, data={"reason": "工作调动"})
    listing = text_of(client.get(f"/institution/classes/{training_class.id}"))

    assert link not in listing and "已参训" in listing  # the list offers no 退班 that would be refused
    assert "培训已开始，不能退班" in page and "确认退班" not in page
    assert response.status_code == 400 and "培训已开始，不能退班" in visible(response)
    assert state() == before


def test_a_trainee_checked_in_with_no_time_counted_yet_is_not_offered_for_withdrawal(client, officer_world):
    """Where time present counts, a check-in without 签退 counts 0%: still, 退班 is refused."""
    training_class, voucher, _officer = officer_world
    f.region("330600").policy_id = f.policy("shaoxing").id  # 003 §三(六): the time present counts
    db.session.add(CheckIn(session_id=training_class.sessions[0].id, person_id=voucher.person_id, method="scan",
                           created_at=utcnow()))
    db.session.commit()
    listing = text_of(client.get(f"/institution/classes/{training_class.id}"))
    assert f"/withdrawals/{_enrolment_of(voucher).id}" not in listing and "已参训" in listing


def test_a_withdrawal_page_of_another_class_is_not_found(client, officer_world):
    training_class, _voucher, _officer = officer_world
    elsewhere = used_voucher(upcoming_class())
    db.session.commit()
    response = client.get(f"/institution/classes/{training_class.id}/withdrawals/{_enrolment_of(elsewhere).id}")
    assert response.status_code == 404


# --- 签退 ----------------------------------------------------------------------------------------

@pytest.fixture
def lesson_now():
    """A lesson that began half an hour ago, in a region whose policy counts time present."""
    f.region("330600", "绍兴市", "shaoxing")
    training_class = f.training_class(sessions=0)
    lesson = ClassSession(class_id=training_class.id, title="第1次课", starts_at=utcnow() - timedelta(minutes=30),
                          ends_at=utcnow() + timedelta(hours=2), hours=4)
    db.session.add(lesson)
    worker = f.person(name="陈小燕")
    f.enrol(training_class, worker)
    db.session.flush()
    db.session.add(CheckIn(session_id=lesson.id, person_id=worker.id, method="scan",
                           created_at=utcnow() - timedelta(minutes=25)))
    verifier = f.staff("verifier", institution_id=training_class.institution_id)
    db.session.commit()
    return lesson, worker, verifier


def test_the_desk_scans_a_trainee_out_and_the_sheet_shows_the_time_present(client, lesson_now):
    lesson, worker, verifier = lesson_now
    staff_sign_in(client, verifier)
    sheet_before = visible(client.get(f"/institution/sessions/{lesson.id}/checkin"))
    assert "未签退（不计课时）" in sheet_before and "按在场时长计算打卡率" in sheet_before
    qr = qrtoken.sign(app_qr_secret(), qrtoken.KIND_PERSON, worker.qr_code)

    data = client.post(f"/institution/sessions/{lesson.id}/checkout", headers=JSON, data={"qr": qr}).get_json()

    assert (data["title"], data["trainee"]["name"]) == ("签退成功", "陈*燕")
    assert data["message"].startswith("第1次课 · 在场") and worker.id_number not in str(data)
    [row] = data["sheet"]["rows"]
    assert "扫码签退 · 在场" in row["checked_out"]
    again = client.post(f"/institution/sessions/{lesson.id}/checkout", headers=JSON, data={"qr": qr}).get_json()
    assert again["title"] == "本次课已签退"
    page = visible(client.get(f"/institution/sessions/{lesson.id}/checkout"))
    assert "扫学员二维码签退" in page and "扫码签退 · 在场" in page


def test_the_desk_undoes_a_check_out_from_its_verdict(client, lesson_now):
    lesson, worker, verifier = lesson_now
    staff_sign_in(client, verifier)
    qr = qrtoken.sign(app_qr_secret(), qrtoken.KIND_PERSON, worker.qr_code)
    data = client.post(f"/institution/sessions/{lesson.id}/checkout", headers=JSON, data={"qr": qr}).get_json()
    page = client.post(f"/institution/sessions/{lesson.id}/checkout", data={"qr": qr}).get_data(as_text=True)
    assert 'class="verdict-undo" hidden' in page  # the second scan's verdict (已签退) offers nothing to take back

    undone = client.post(f"/institution/sessions/{lesson.id}/checkout/undo", headers=JSON,
                         data={"check_in_id": data["undo"]["check_in_id"]}).get_json()

    assert undone["title"] == "已撤销签退" and "未签退" in undone["sheet"]["rows"][0]["checked_out"]
    again = client.post(f"/institution/sessions/{lesson.id}/checkout/undo", headers=JSON,
                        data={"check_in_id": "abc"})
    assert again.status_code == 400 and again.get_json()["title"] == "不能撤销签退"


def test_the_desk_is_told_why_a_check_out_is_refused(client, lesson_now):
    lesson, _worker, verifier = lesson_now
    stranger = f.person()
    db.session.commit()
    staff_sign_in(client, verifier)
    before = state()
    qr = qrtoken.sign(app_qr_secret(), qrtoken.KIND_PERSON, stranger.qr_code)

    response = client.post(f"/institution/sessions/{lesson.id}/checkout", headers=JSON, data={"qr": qr})

    assert response.status_code == 409
    assert (response.get_json()["title"], response.get_json()["code"]) == ("不能签退", "NOT_ENROLLED")
    assert state() == before


def test_the_worker_checks_out_by_location_on_the_checkin_page(client, lesson_now):
    lesson, worker, _verifier = lesson_now
    sign_in(client, worker)
    page = visible(client.get("/worker/checkin"))
    assert "定位签退" in page and "不签退不计课时" in page

    response = client.post(f"/worker/checkout/{lesson.id}", data={"lat": "30.0", "lng": "120.58"},
                           follow_redirects=True)

    shown = visible(response)
    assert "签退成功，本次在场" in shown and "已签退" in shown and "定位签退" not in shown
    db.session.expire_all()
    assert db.session.scalar(select(CheckIn.checkout_method).where(CheckIn.person_id == worker.id)) == "location"


def test_the_worker_far_from_the_site_is_told_and_nothing_changes(client, lesson_now):
    lesson, worker, _verifier = lesson_now
    sign_in(client, worker)
    before = state()

    response = client.post(f"/worker/checkout/{lesson.id}", data={"lat": "30.1", "lng": "120.58"},
                           follow_redirects=True)
    missing = client.post(f"/worker/checkout/{lesson.id}", data={}, follow_redirects=True)

    assert "需在300米范围内签退" in visible(response)
    assert "没有拿到您的位置" in visible(missing)
    assert state() == before


# --- the worker after a cancellation ----------------------------------------------------------------

def test_the_worker_finds_the_voucher_back_in_my_vouchers_with_its_history_and_a_notice(client, officer_world,
                                                                                         new_client):
    training_class, voucher, _officer = officer_world
    client.post(f"/institution/classes/{training_class.id}/cancellation", data={"reason": "报名人数不足"})
    worker = new_client()
    sign_in(worker, voucher.person)

    mine = visible(worker.get("/worker/vouchers?tab=claimed"))
    detail = visible(worker.get(f"/worker/vouchers/{voucher.code}"))
    messages = worker.get("/worker/messages")
    class_response = worker.get(f"/worker/classes/{training_class.id}")
    class_page = visible(class_response)

    assert voucher.template.name in mine
    assert "券的记录" in detail and "班期取消，“低压电工作业培训”退回，恢复可使用" in detail
    assert "有效期延长1天" in detail and "原因：报名人数不足" in detail and "验券使用" in detail
    assert "培训券已退回，可继续使用" in visible(messages) and f"/worker/vouchers/{voucher.code}" in text_of(messages)
    assert "本班期已于" in class_page and "已退回“我的卡券”" in class_page and 'value="报名"' not in text_of(class_response)
    assert db.session.scalar(select(Notification.kind).where(Notification.person_id == voucher.person_id)) == \
        "voucher_returned"


@pytest.mark.parametrize("policy_code, rate", [("shaoxing", "50%"), ("default", "100%")])
def test_the_trainee_list_and_its_export_count_time_present_where_the_policy_says_so(client, policy_code, rate):
    f.region("330600", "绍兴市", policy_code)
    training_class = upcoming_class()
    trainee = f.person(name="陈小燕")
    f.enrol(training_class, trainee)
    for lesson in training_class.sessions:  # present for the first half of each lesson
        db.session.add(CheckIn(session_id=lesson.id, person_id=trainee.id, method="scan", created_at=lesson.starts_at,
                               checked_out_at=lesson.starts_at + (lesson.ends_at - lesson.starts_at) / 2,
                               checkout_method="scan"))
    staff_sign_in(client, f.staff("officer", institution_id=training_class.institution_id))
    db.session.commit()

    page = visible(client.get(f"/institution/classes/{training_class.id}"))
    export = client.get(f"/institution/classes/{training_class.id}/trainees.csv").get_data().decode("utf-8-sig")

    assert re.search(rf"陈\*燕 \S+ 花名册 无培训券 {rate} ", page), page
    assert f",{rate}," in export


def test_the_export_words_a_rate_as_the_page_does(client):
    f.region("330600", "绍兴市", "default")
    training_class = f.training_class(sessions=3)
    trainee = f.person(name="陈小燕")
    f.enrol(training_class, trainee)
    f.check_in(training_class.sessions[0], trainee)  # one lesson of three
    staff_sign_in(client, f.staff("officer", institution_id=training_class.institution_id))
    db.session.commit()

    export = client.get(f"/institution/classes/{training_class.id}/trainees.csv").get_data().decode("utf-8-sig")

    assert ",33.3%," in export  # not 33%: 59.6% must not read as the 60% it falls short of


# --- what the class page offers -------------------------------------------------------------------

def class_page(client, training_class) -> str:
    return text_of(client.get(f"/institution/classes/{training_class.id}"))


def test_the_class_page_offers_only_what_the_institution_may_still_do(client):
    """The walk-through met buttons that then refused: 取消班期 after the first lesson, 上传花名册 on a
    completed class, 签到 links on a completed one."""
    running = f.training_class(starts_on=local_today(), course_name="已开课班期")  # first lesson at 08:00 today
    running.sessions[0].starts_at = utcnow() - timedelta(hours=1)
    completed = f.training_class(course_name="已结业班期", status="completed")
    fresh = upcoming_class(course_name="未开课班期")
    for training_class in (running, completed):
        training_class.institution_id = fresh.institution_id
    officer = f.staff("officer", institution_id=fresh.institution_id)
    db.session.commit()
    staff_sign_in(client, officer)

    assert "取消班期" in class_page(client, fresh) and "取消班期" not in class_page(client, running)
    page = class_page(client, completed)
    assert "上传花名册" not in page and ">签到<" not in page and "签到表" in page


def test_a_cancelled_class_puts_no_classroom_code_on_the_screen(client, officer_world):
    training_class, _voucher, _officer = officer_world
    lesson_id = training_class.sessions[0].id
    client.post(f"/institution/classes/{training_class.id}/cancellation", data={"reason": "场地问题，无法开班"})

    response = client.get(f"/institution/sessions/{lesson_id}/qr")

    assert response.status_code == 302 and response.headers["Location"].endswith(f"/classes/{training_class.id}")
    assert "班期已取消，不能显示课堂签到码" in text_of(client.get(response.headers["Location"]))
