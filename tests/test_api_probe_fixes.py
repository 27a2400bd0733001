"""What a partner-API probe against API.md found, pinned: directed issuance to an ended class, a
person hidden from the bureau that issued her voucher by another region's record, a body that is
not JSON, a certificate dated in the future, study minutes of a lesson to come, a trainee batch
that named only its first bad row, and English (or a wrong reason) in the API's messages."""
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import (
    Certificate, CheckIn, ClassSession, Enrolment, Notification, Person, TrainingClass, Voucher, VoucherTemplate,
)
from h5app.models.classes import CLASS_CANCELLED, CLASS_CLOSED, CLASS_COMPLETED, DELIVERY_ONLINE
from h5app.models.vouchers import CLAIMED
from h5app.timeutil import local_today, utcnow
from h5app.vouchers import cancellation, issuance

from . import factories as f
from .api_support import auth, error_code, key_for, template_body, world
from .auth_support import staff_sign_in
from .concurrency_support import hold_after_cancellation_lock, in_thread, postgresql_only, release_when_blocked_or_done


@pytest.fixture
def w(session):
    return world()


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- 1. directed issuance to a class that has ended ---------------------------------------------------

@pytest.mark.parametrize(("status", "code", "words"), [
    (CLASS_CANCELLED, "CLASS_CANCELLED", "已取消，不能发放定向券"),
    (CLASS_COMPLETED, "CLASS_COMPLETED", "已结业，不能发放定向券"),
])
def test_directed_issuance_to_an_ended_class_is_refused_and_enrols_nobody(client, w, session, status, code, words):
    directed = f.directed_template()
    w.training_class.status = status
    session.commit()
    newcomer = f.valid_id_number()
    response = client.post(f"/api/v1/templates/{directed.id}/issuances", headers=auth(w.bureau_key),
                           json={"people": [{"id_number": newcomer, "name": "赵定向"}], "class_id": w.training_class.id})
    assert (response.status_code, error_code(response)) == (409, code)
    assert words in response.get_json()["error"]["message"]
    assert count(Enrolment) == 0 and count(Notification) == 0
    assert session.scalar(select(func.count(Voucher.id)).where(Voucher.template_id == directed.id)) == 0
    assert session.scalar(select(Person.id).where(Person.id_number == newcomer)) is None


def test_a_class_whose_enrolment_is_closed_still_gets_directed_vouchers_for_its_roster(session):
    """The roster of a class past 截止报名 still trains (and is verified): the bureau may issue to it."""
    training_class = f.training_class(status=CLASS_CLOSED)
    trainee = f.person(name="孙丽")
    f.enrol(training_class, trainee)
    template = f.directed_template()
    session.commit()
    report = issuance.issue_directed(session, template, training_class, f.bureau_actor())
    assert [row.person_id for row in report.done] == [trainee.id]


def test_a_directed_issuance_after_the_cancellation_locked_the_class_is_refused(app, session, monkeypatch):
    """PostgreSQL: the issuance waits for the cancellation's lock and then sees the class cancelled,
    instead of binding vouchers to it after the cancellation unbound the others."""
    postgresql_only()
    training_class = f.training_class()
    f.enrol(training_class, f.person(name="孙丽"))
    template = f.directed_template()
    session.commit()
    class_id, template_id = training_class.id, template.id
    locked, go = hold_after_cancellation_lock(monkeypatch)
    results = {}
    cancelling = in_thread(app, lambda: cancellation.cancel_class(
        db.session, db.session.get(TrainingClass, class_id), "场地被征用", f.bureau_actor()) and "cancelled",
        results, "cancel")
    issuing = in_thread(app, lambda: len(issuance.issue_directed(
        db.session, db.session.get(VoucherTemplate, template_id), db.session.get(TrainingClass, class_id),
        f.bureau_actor()).done), results, "issue")
    cancelling.start()
    locked.wait()
    issuing.start()
    release_when_blocked_or_done(issuing, go)
    cancelling.join()
    issuing.join()

    assert results == {"cancel": "cancelled", "issue": "CLASS_CANCELLED"}
    session.expire_all()
    assert session.scalar(select(func.count(Voucher.id)).where(Voucher.template_id == template_id)) == 0


def test_the_bureau_preview_of_a_cancelled_class_says_it_is_cancelled(client, session):
    training_class = f.training_class(course_name="育婴员培训", status=CLASS_CANCELLED)
    f.enrol(training_class, f.person(name="孙丽"))
    template = f.directed_template()
    clerk = f.staff("bureau", region_code="330600")
    session.commit()
    staff_sign_in(client, clerk)
    response = client.get(f"/bureau/issue/directed?template_id={template.id}&class_id={training_class.id}")
    assert response.status_code == 409
    assert "班期“育婴员培训”已取消，不能发放定向券" in response.get_data(as_text=True)


# --- 2. one rule for who sees a person ----------------------------------------------------------------

@pytest.fixture
def moved(client, session):
    """陈小燕 of 绍兴 (户籍地 and 常住地 越城区) holds 绍兴's voucher; 绍兴's bureau then records her
    常住地 in 历下区 (she moved to 济南), which makes 历下区 her 所在地区. (济南 could not record it: a
    person another region records is that region's to change, tests/test_people_records.py.)"""
    f.region("330600", "绍兴市")
    f.region("330602", "越城区", parent="330600")
    f.region("370100", "济南市")
    f.region("370102", "历下区", parent="370100")
    person = f.person(name="陈小燕", hukou_region_code="330602", residence_region_code="330602", region_code="330602")
    voucher = f.voucher(f.template(), person, CLAIMED, claimed_at=utcnow(), expires_at=utcnow() + timedelta(days=30))
    session.commit()
    jinan, shaoxing = key_for("bureau", "370100"), key_for("bureau", "330600")
    answer = client.post("/api/v1/people", headers=auth(shaoxing), json={"people": [{
        "id_number": person.id_number, "name": "陈小燕", "residence_region_code": "370102",
        "as_of": local_today().isoformat()}]})
    assert answer.status_code == 200 and answer.get_json()["rejected"] == []
    session.expire_all()
    assert db.session.get(Person, person.id).region_code == "370102"
    return person, voucher, shaoxing, jinan


def certificate_body(person, number="CERT-MOVED", **values) -> dict:
    return {"id_number": person.id_number, "name": person.name, "number": number, "occupation": "育婴员",
            "level": "四级", "issued_on": local_today().isoformat(), "issuer": "绍兴市职业技能鉴定中心", **values}


def test_a_record_moved_by_another_bureau_does_not_hide_the_person_from_the_issuing_bureau(client, moved):
    person, voucher, shaoxing, _jinan = moved
    vouchers = client.get(f"/api/v1/people/{person.id_number}/vouchers", headers=auth(shaoxing))
    assert vouchers.status_code == 200, vouchers.get_json()
    assert [v["code"] for v in vouchers.get_json()["vouchers"]] == [voucher.code]
    assert client.get(f"/api/v1/people/{person.id_number}", headers=auth(shaoxing)).status_code == 200
    added = client.post("/api/v1/certificates", json=certificate_body(person), headers=auth(shaoxing))
    assert added.status_code == 201, added.get_json()
    assert db.session.scalar(select(Certificate.person_id).where(Certificate.number == "CERT-MOVED")) == person.id


def test_the_bureau_that_moved_the_record_sees_the_person_but_not_the_other_regions_vouchers(client, moved):
    person, _voucher, _shaoxing, jinan = moved
    vouchers = client.get(f"/api/v1/people/{person.id_number}/vouchers", headers=auth(jinan))
    assert vouchers.status_code == 200 and vouchers.get_json()["vouchers"] == []


def test_a_bureau_holding_no_region_of_the_record_sees_nothing_of_the_person(client, moved):
    person, _voucher, _shaoxing, _jinan = moved
    chongqing = key_for("bureau", "500000")
    assert client.get(f"/api/v1/people/{person.id_number}/vouchers", headers=auth(chongqing)).status_code == 404
    assert client.get(f"/api/v1/people/{person.id_number}", headers=auth(chongqing)).status_code == 404
    refused = client.post("/api/v1/certificates", json=certificate_body(person), headers=auth(chongqing))
    assert refused.status_code == 404 and count(Certificate) == 0


# --- 3. a body that is not JSON -------------------------------------------------------------------

@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "text/json"])
def test_a_body_that_is_not_said_to_be_json_is_415_and_creates_nothing(client, w, content_type):
    response = client.post("/api/v1/templates", data=json.dumps(template_body()), content_type=content_type,
                           headers=auth(w.bureau_key))
    assert (response.status_code, error_code(response)) == (415, "UNSUPPORTED_MEDIA_TYPE")
    message = response.get_json()["error"]["message"]
    assert "请求体须为 JSON" in message and content_type in message
    assert count(VoucherTemplate) == 1  # the world's own


def test_a_body_without_a_content_type_is_415(client, w):
    response = client.post("/api/v1/templates", data=json.dumps(template_body()).encode(), headers=auth(w.bureau_key))
    assert (response.status_code, error_code(response)) == (415, "UNSUPPORTED_MEDIA_TYPE")
    assert "未说明 Content-Type" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/vnd.partner+json"])
def test_json_and_json_suffixed_content_types_are_taken(client, w, content_type):
    response = client.post("/api/v1/templates", data=json.dumps(template_body()), content_type=content_type,
                           headers=auth(w.bureau_key))
    assert response.status_code == 201, response.get_json()


def test_the_document_names_the_415_of_every_operation_with_a_body(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "415" in paths["/api/v1/templates"]["post"]["responses"]
    assert "415" not in paths["/api/v1/templates"]["get"]["responses"]


# --- 4. a certificate dated in the future -------------------------------------------------------------

def test_a_certificate_issued_in_the_future_is_refused(client, w):
    tomorrow = (local_today() + timedelta(days=1)).isoformat()
    response = client.post("/api/v1/certificates", json=certificate_body(w.person, issued_on=tomorrow),
                           headers=auth(w.bureau_key))
    assert (response.status_code, error_code(response)) == (422, "VALIDATION_FAILED")
    assert response.get_json()["error"]["fields"]["issued_on"].startswith("发证日期不能晚于今天")
    assert count(Certificate) == 0


# --- 5. study minutes of a lesson that has not started -------------------------------------------------

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


# --- 6. a trainee batch lists every bad row -----------------------------------------------------------

def test_a_trainee_batch_lists_every_bad_row_and_adds_nobody(client, w, session):
    known = f.person(name="李四")
    session.commit()
    rows = [{"id_number": "330602198501010000", "name": "孙学员"},  # 1: bad check digit
            {"id_number": known.id_number, "name": "张三"},  # 2: not the name of that ID number
            {"id_number": f.valid_id_number(), "name": "钱学员"}]  # 3: fine
    response = client.post(f"/api/v1/classes/{w.training_class.id}/trainees", json={"trainees": rows},
                           headers=auth(w.institution_key))
    assert response.status_code == 422
    assert [(r["index"], r["field"]) for r in response.get_json()["error"]["rows"]] == [(1, "id_number"), (2, "name")]
    assert "2处错误" in response.get_json()["error"]["message"]
    assert count(Enrolment) == 0
    assert session.scalar(select(func.count(Person.id)).where(Person.name == "钱学员")) == 0


# --- 7. the API's words -------------------------------------------------------------------------------

def test_a_value_not_among_the_choices_lists_them_in_chinese(client, w):
    response = client.post("/api/v1/templates", json=template_body(function_mode="x"), headers=auth(w.bureau_key))
    assert response.get_json()["error"]["fields"]["function_mode"] == "应为以下之一：face_value、credential"


def test_settlement_review_errors_name_the_fields_the_caller_sent(client, w):
    body = {"approve": [5, {"code": "ABC"}, "X" * 40], "reject": [{"code": "ABC"}]}
    response = client.post("/api/v1/settlements/1/review", json=body, headers=auth(w.bureau_key))
    assert response.get_json()["error"]["fields"] == {
        "approve.0": "应为字符串，或应为对象", "approve.1.amount_fen": "必填", "approve.2": "最多32个字符",
        "reject.0.reason": "必填"}


@pytest.mark.parametrize(("limit", "words"), [
    ("600 per minute", "每分钟600次"), ("100 per 2 hours", "每2小时100次"), ("5000 per day", "每天5000次")])
def test_a_rate_limit_reads_in_chinese(limit, words):
    from limits import parse

    from h5app.api.ratelimit import limit_words

    assert limit_words(parse(limit)) == words


def test_the_429_names_its_limit_in_chinese(make_app, w, restore_limiter):
    client = make_app(RATELIMIT_ENABLED=True, API_RATE_LIMIT="1 per minute").test_client()
    client.get("/api/v1/templates", headers=auth(w.bureau_key))
    refused = client.get("/api/v1/templates", headers=auth(w.bureau_key))
    assert refused.status_code == 429
    assert refused.get_json()["error"]["message"] == "请求过于频繁，请稍后再试（限额：每分钟1次）"


def test_a_nul_in_the_path_is_explained_as_a_bad_path_value(client, w):
    response = client.get("/api/v1/people/%00/vouchers", headers=auth(w.bureau_key))
    assert (response.status_code, error_code(response)) == (400, "BAD_REQUEST")
    message = response.get_json()["error"]["message"]
    assert "路径" in message and "JSON" not in message
    query = client.get("/api/v1/settlements?status=%00", headers=auth(w.bureau_key))
    assert "查询参数" in query.get_json()["error"]["message"]


def test_the_json_parse_error_keeps_its_own_words(client, w):
    response = client.post("/api/v1/templates", data="{", content_type="application/json", headers=auth(w.bureau_key))
    assert response.status_code == 400 and response.get_json()["error"]["message"] == "请求体不是有效的 JSON"

