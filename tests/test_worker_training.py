"""培训报名, 打卡签到, 培训评价, 证书, 就业岗位 and 我的 — as a signed-in worker uses them. Finding a class
is in test_worker_class_search.py, which voucher a class's page offers and takes in
test_worker_enrolment_vouchers.py, the 签退 confirm step in test_worker_checkout.py."""
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import AuditEvent, CheckIn, ClassRating, Enrolment, Job, Notification
from h5app.timeutil import local_today, start_of_local_day, utcnow

from . import factories as f
from .auth_support import sign_in, signed_in_worker, text_of


@pytest.fixture
def worker(client):
    return signed_in_worker(client, name="王建国", region_code="330602")


def test_a_full_class_says_so_on_the_list_and_its_page_before_the_worker_taps(client, worker):
    full = f.training_class(course_name="家用电器维修培训（小班）", capacity=1)
    roomy = f.training_class(course_name="中式烹调师培训", capacity=30)
    f.enrol(full, f.person())
    db.session.commit()
    listing = text_of(client.get("/worker/classes"))
    assert "名额已满" in listing and "剩余 30 个名额" in listing
    page = client.get(f"/worker/classes/{full.id}").get_data(as_text=True)
    assert "1个名额已满，不能再报名" in page and 'value="报名"' not in page
    assert 'value="报名"' in client.get(f"/worker/classes/{roomy.id}").get_data(as_text=True)


def test_class_page_shows_schedule_price_and_rating(client, worker):
    training_class = f.training_class(course_name="中式烹调师培训", price_fen=110000)
    db.session.add(ClassRating(class_id=training_class.id, person_id=f.person().id, stars=4))
    db.session.commit()
    page = text_of(client.get(f"/worker/classes/{training_class.id}"))
    assert "中式烹调师培训" in page and "¥1,100.00" in page and "4.0 星（1人评价）" in page
    assert "第1次课" in page and "uri.amap.com" in page


def test_a_half_hour_class_reads_half_an_hour_not_none(client, worker):
    training_class = f.training_class(course_name="消防安全微课", hours=0.5)
    db.session.commit()
    assert "共0.5课时" in text_of(client.get(f"/worker/classes/{training_class.id}"))
    assert "0.5课时" in text_of(client.get("/worker/classes"))


def test_enrol_offers_my_voucher_and_attaches_it(client, worker):
    training_class = f.training_class()
    voucher = f.voucher(f.template(), worker, "claimed", expires_at=utcnow() + timedelta(days=30))
    db.session.commit()
    page = text_of(client.get(f"/worker/classes/{training_class.id}"))
    assert "使用培训券报名" in page and voucher.code in page
    response = client.post(f"/worker/classes/{training_class.id}", data={"voucher": voucher.code})
    assert response.status_code == 302
    enrolment = db.session.scalar(select(Enrolment))
    assert (enrolment.person_id, enrolment.voucher_id, enrolment.source) == (worker.id, voucher.id, "self")
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "class.enrol")) == 1


def test_enrolling_twice_is_refused_with_a_message(client, worker):
    training_class = f.training_class()
    f.enrol(training_class, worker, source="self")
    db.session.commit()
    page = text_of(client.get(f"/worker/classes/{training_class.id}"))
    assert "您已报名本班期" in page and 'value="报名"' not in page  # no second enrol button
    response = client.post(f"/worker/classes/{training_class.id}", data={})
    assert response.status_code == 400 and "您已报名该班期" in text_of(response)
    assert db.session.scalar(select(func.count(Enrolment.id))) == 1


def test_a_full_class_says_so_and_enrols_nobody(client, worker):
    training_class = f.training_class(capacity=1)
    f.enrol(training_class, f.person())
    db.session.commit()
    response = client.post(f"/worker/classes/{training_class.id}", data={})
    assert response.status_code == 400 and "名额已满" in text_of(response)
    assert db.session.scalar(select(func.count(Enrolment.id))) == 1


def test_a_voucher_that_does_not_fit_cannot_be_forced_on_an_enrolment(client, worker):
    training_class = f.training_class(occupation="电工")
    other = f.voucher(f.template(occupation="育婴员"), worker, "claimed", expires_at=utcnow() + timedelta(days=9))
    db.session.commit()
    assert other.code not in text_of(client.get(f"/worker/classes/{training_class.id}"))
    response = client.post(f"/worker/classes/{training_class.id}", data={"voucher": other.code})
    assert response.status_code == 400 and "不能用于该班期" in text_of(response)
    assert db.session.scalar(select(func.count(Enrolment.id))) == 0


@pytest.fixture
def today_class(worker):
    training_class = f.training_class(starts_on=local_today(), sessions=0)
    from h5app.models import ClassSession

    lesson = ClassSession(class_id=training_class.id, title="今天的课", starts_at=utcnow() - timedelta(minutes=10),
                          ends_at=utcnow() + timedelta(hours=2), hours=4, site_id=training_class.sites[0].id)
    db.session.add(lesson)
    f.enrol(training_class, worker)
    db.session.commit()
    return training_class, lesson


def test_checkin_page_lists_todays_sessions(client, today_class):
    page = text_of(client.get("/worker/checkin"))
    assert "今天的课" in page and "定位签到" in page and "0%" in page


def test_a_lesson_running_past_midnight_is_still_on_todays_checkin_page(app):
    # Begun yesterday evening (local time), still on: its trainees check out after 00:00.
    lesson, worker, _ = f.desk_lesson(started=utcnow() - start_of_local_day(local_today()) + timedelta(hours=1),
                                      ends_in=timedelta(hours=1), hours=2)
    client = app.test_client()
    sign_in(client, worker)

    page = client.get("/worker/checkin").get_data(as_text=True)

    assert f"/worker/checkin/{lesson.id}" in page or f"/worker/checkout/{lesson.id}" in page


def test_a_lesson_ended_just_before_midnight_stays_on_the_page_while_it_may_be_checked_out(app):
    # Ended 23:30 (local) yesterday: 签退 stays open until 00:30, so the page still lists it.
    midnight = start_of_local_day(local_today())
    lesson, worker, _ = f.desk_lesson(started=utcnow() - midnight + timedelta(hours=3),
                                      ends_in=midnight - timedelta(minutes=30) - utcnow(), hours=2.5)
    client = app.test_client()
    sign_in(client, worker)

    page = client.get("/worker/checkin").get_data(as_text=True)

    assert f"/worker/checkin/{lesson.id}" in page or f"/worker/checkout/{lesson.id}" in page


def test_location_check_in_inside_the_radius(client, today_class):
    _, lesson = today_class
    response = client.post(f"/worker/checkin/{lesson.id}", data={"lat": "30.0005", "lng": "120.58"})
    assert response.status_code == 302
    assert "签到成功" in text_of(client.get("/worker/checkin"))
    assert db.session.scalar(select(func.count(CheckIn.id))) == 1


def test_location_check_in_outside_the_radius_is_explained(client, today_class):
    _, lesson = today_class
    client.post(f"/worker/checkin/{lesson.id}", data={"lat": "30.05", "lng": "120.58"})
    page = text_of(client.get("/worker/checkin"))
    assert "需在300米范围内签到" in page
    assert db.session.scalar(select(func.count(CheckIn.id))) == 0


@pytest.mark.parametrize("data", [{}, {"lat": "abc", "lng": "120"}, {"lat": "91", "lng": "120"}])
def test_check_in_without_a_usable_position_is_explained(client, today_class, data):
    _, lesson = today_class
    client.post(f"/worker/checkin/{lesson.id}", data=data)
    assert "没有拿到您的位置" in text_of(client.get("/worker/checkin"))
    assert db.session.scalar(select(func.count(CheckIn.id))) == 0


def test_my_qr_is_a_person_token(client, worker):
    data = client.get("/worker/qr.json").get_json()
    from h5app.vouchers import app_qr_secret, qrtoken

    assert qrtoken.verify(app_qr_secret(), data["token"]) == ("P", worker.qr_code)


def test_rating_a_completed_class_once(client, worker):
    training_class = f.training_class(status="completed")
    f.enrol(training_class, worker)
    db.session.commit()
    assert "提交评价" in text_of(client.get(f"/worker/classes/{training_class.id}"))
    client.post(f"/worker/classes/{training_class.id}/rating", data={"stars": "5", "comment": "老师讲得清楚"})
    client.post(f"/worker/classes/{training_class.id}/rating", data={"stars": "1", "comment": "再来一次"})
    ratings = db.session.scalars(select(ClassRating)).all()
    assert [(r.stars, r.comment) for r in ratings] == [(5, "老师讲得清楚")]
    assert "您已评价过该班期" in text_of(client.get(f"/worker/classes/{training_class.id}"))


def test_a_comment_of_500_characters_with_line_breaks_is_taken_as_the_page_counted_it(client, worker):
    training_class = f.training_class(status="completed")
    f.enrol(training_class, worker)
    db.session.commit()
    lines = ["实操课很实用"] * 71 + ["好"]  # 71 × 6 + 1 = 427 characters and 71 line breaks: 498 as typed
    comment = "\r\n".join(lines)  # as the browser sends it: each break two characters
    client.post(f"/worker/classes/{training_class.id}/rating", data={"stars": "5", "comment": comment})
    assert db.session.scalars(select(ClassRating.comment)).one() == "\n".join(lines)


@pytest.mark.parametrize("status,enrolled,stars,message", [
    ("open", True, "5", "结业后才能评价"),
    ("completed", False, "5", "只有参加了该班期的学员才能评价"),
    ("completed", True, "9", "选择"),
])
def test_rating_refusals(client, worker, status, enrolled, stars, message):
    training_class = f.training_class(status=status)
    if enrolled:
        f.enrol(training_class, worker)
    db.session.commit()
    client.post(f"/worker/classes/{training_class.id}/rating", data={"stars": stars})
    assert message in text_of(client.get(f"/worker/classes/{training_class.id}"))
    assert db.session.scalar(select(func.count(ClassRating.id))) == 0


def test_certificates_are_listed(client, worker):
    f.certificate(worker, number="CERT-2026-0001")
    db.session.commit()
    assert "CERT-2026-0001" in text_of(client.get("/worker/certificates"))


def _job(**values):
    row = Job(**{"title": "电工", "employer": "越城电力", "region_code": "330602", "occupation": "电工",
                 "posted_on": date(2026, 11, 1), **values})
    db.session.add(row)
    return row


def test_job_recommendations_need_consent_and_consent_is_revocable(client, worker):
    f.certificate(worker, occupation="电工")
    _job(title="配电运维电工")
    _job(title="育婴师", occupation="育婴员")
    db.session.commit()
    page = text_of(client.get("/worker/jobs"))
    assert "同意并开启岗位推荐" in page and "根据：" not in page

    client.post("/worker/me/consent", data={"give": "1"})
    page = text_of(client.get("/worker/jobs"))
    recommended = page.split("为您推荐", 1)[1].split("全部岗位", 1)[0]
    assert "配电运维电工" in recommended and "育婴师" not in recommended

    client.post("/worker/me/consent", data={"give": "0"})
    assert "根据：" not in text_of(client.get("/worker/jobs"))
    consents = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "person.job_consent")
                                  .order_by(AuditEvent.id)).all()
    assert [e.details["consent"] for e in consents] == [True, False]


def test_a_job_says_what_a_worker_needs_to_follow_it_up(client, worker):
    _job(title="配电运维电工", salary_min_fen=500000, salary_max_fen=700000, description="负责小区配电房日常巡检",
         address="越城区解放路1号", contact_phone="0575-88001111")
    db.session.commit()
    page = client.get("/worker/jobs").get_data(as_text=True)
    assert "月薪 5000–7000 元" in page and "负责小区配电房日常巡检" in page and "越城区解放路1号" in page
    assert 'href="tel:0575-88001111"' in page and "拨打电话 0575-88001111" in page


def test_job_search(client, worker):
    _job(title="配电运维电工")
    _job(title="育婴师", occupation="育婴员", employer="柯桥家政")
    db.session.commit()
    page = text_of(client.get("/worker/jobs?q=家政"))
    assert "育婴师" in page and "配电运维电工" not in page


@pytest.mark.parametrize("q, found", [("%", []), ("_", ["电工_学徒"])])
def test_percent_and_underscore_in_job_search_are_plain_characters(client, worker, q, found):
    _job(title="配电运维电工")
    _job(title="电工_学徒")
    db.session.commit()
    page = text_of(client.get("/worker/jobs", query_string={"q": q}))
    assert [t for t in ("配电运维电工", "电工_学徒") if f"<strong>{t}</strong>" in page] == found


def test_an_over_long_job_query_says_it_was_not_used(client, worker):
    _job(title="配电运维电工")
    db.session.commit()
    page = text_of(client.get("/worker/jobs", query_string={"q": "电" * 41}))
    assert "关键词最多40个字，本次未按关键词搜索" in page and "<strong>配电运维电工</strong>" in page


def test_messages_are_shown_new_once_then_read(client, worker):
    db.session.add(Notification(person_id=worker.id, kind="settled", title="培训补贴已拨付", body="¥800.00"))
    db.session.commit()
    assert ">新<" in text_of(client.get("/worker/messages"))
    assert ">新<" not in text_of(client.get("/worker/messages"))


def test_me_shows_the_masked_identity(client, worker):
    page = text_of(client.get("/worker/me"))
    assert worker.id_number not in page and worker.id_number[-4:] in page and "退出登录" in page


def test_new_matching_jobs_are_announced_once_to_consenting_workers(app, worker):
    from h5app.recommendations import notify_recommendations

    other = f.person(job_consent=False)
    f.certificate(worker, occupation="电工")
    f.certificate(other, occupation="电工")
    worker.job_consent = True
    _job(title="配电运维电工", posted_on=local_today())
    _job(title="育婴师", occupation="育婴员", posted_on=local_today())
    db.session.commit()

    assert notify_recommendations(db.session) == 1
    assert notify_recommendations(db.session) == 0
    [notice] = db.session.scalars(select(Notification)).all()
    assert (notice.person_id, notice.kind) == (worker.id, "recommendation") and "配电运维电工" in notice.body
    result = app.test_cli_runner().invoke(args=["jobs", "recommend"])
    assert "发送岗位推荐 0 条" in result.output


def test_check_in_outside_the_session_time_is_explained(client, worker):
    training_class = f.training_class(starts_on=local_today(), sessions=0)
    from h5app.models import ClassSession

    later = ClassSession(class_id=training_class.id, starts_at=utcnow() + timedelta(hours=3),
                         ends_at=utcnow() + timedelta(hours=5), hours=2, site_id=training_class.sites[0].id)
    db.session.add(later)
    f.enrol(training_class, worker)
    db.session.commit()
    client.post(f"/worker/checkin/{later.id}", data={"lat": "30.0", "lng": "120.58"})
    assert "现在不在签到时间内" in text_of(client.get("/worker/checkin"))
    assert db.session.scalar(select(func.count(CheckIn.id))) == 0
