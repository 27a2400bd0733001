"""开班申请 and 开班审核 through the partner API (API.md, Contract additions → Classes): POST /classes
carries the teaching plan and teachers and answers pending_review where the policy requires review;
POST /classes/{id}/review approves or returns with a reason; an unapproved class takes no
verification (CLASS_PENDING_REVIEW / CLASS_NOT_OPEN) and no directed issuance. Errors change nothing."""
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from h5app.models import ClassReview, Enrolment, Person, TrainingClass, Voucher
from h5app.models.vouchers import CLAIMED
from h5app.timeutil import local_today, utcnow
from h5app.vouchers import class_review

from . import factories as f
from .api_support import auth, error_code, key_for

START = local_today() + timedelta(days=14)  # a class two weeks ahead: never in the past, whatever today is


def lesson(day: date, starts: str, ends: str, hours: int) -> dict:
    return {"starts_at": f"{day.isoformat()}T{starts}:00+08:00", "ends_at": f"{day.isoformat()}T{ends}:00+08:00",
            "hours": hours}


CLASS = {"course_name": "焊工（四级）培训", "occupation": "焊工", "level": "四级", "project_type": "employment_skills",
         "starts_on": START.isoformat(), "ends_on": (START + timedelta(days=4)).isoformat(),
         "sessions": [lesson(START, "08:00", "12:00", 4)],
         "teaching_plan": "焊工理论与实操，结业考核由第三方评价机构组织。",
         "teachers": [{"name": "鲁明", "certificate_number": "3701002019000123"}]}


@pytest.fixture
def keys(session):
    f.region("330600", "绍兴市")
    f.region("370100", "济南市", "shandong")
    f.region("370102", "历下区", "shandong", parent="370100")
    school = f.institution(name="济南市历下区鲁班职业培训学校", region_code="370102")
    session.commit()
    return dict(school=school, institution=key_for("institution", school.code), bureau=key_for("bureau", "370100"),
                foreign=key_for("bureau", "330600"))


def create(client, keys, **changes):
    return client.post("/api/v1/classes", json={**CLASS, **changes}, headers=auth(keys["institution"]))


def review(client, key, class_id, body):
    return client.post(f"/api/v1/classes/{class_id}/review", json=body, headers=auth(key))


def reviews(session):
    return session.scalar(select(func.count(ClassReview.id)))


def test_a_class_in_a_review_region_answers_pending_review_with_its_plan_and_teachers(client, keys, session):
    response = create(client, keys, status="open")  # the caller's wish does not skip the review
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "pending_review" and body["approved_at"] is None
    assert body["teachers"] == CLASS["teachers"] and body["teaching_plan"] == CLASS["teaching_plan"]


def test_a_submission_without_plan_or_teachers_is_422_and_makes_nothing(client, keys, session):
    response = create(client, keys, teaching_plan=None, teachers=[])
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"teaching_plan", "teachers"}
    bad = create(client, keys, teachers=[{"name": "鲁明", "certificate_number": "编号!"}])
    assert bad.status_code == 422 and "teachers.0.certificate_number" in bad.get_json()["error"]["fields"]
    assert session.scalar(select(func.count(TrainingClass.id))) == 0


def test_the_bureau_approves_once(client, keys, session):
    class_id = create(client, keys).get_json()["id"]
    approved = review(client, keys["bureau"], class_id, {"approve": True})
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["status"] == "open" and approved.get_json()["approved_at"].endswith("+08:00")
    again = review(client, keys["bureau"], class_id, {"approve": True})
    assert again.status_code == 409 and error_code(again) == "INVALID_STATE"
    assert again.get_json()["error"]["message"] == "该班期已审核通过，无需再次审核"
    assert reviews(session) == 2


def test_a_return_needs_a_reason_which_the_answer_carries(client, keys, session):
    class_id = create(client, keys).get_json()["id"]
    for body in ({"approve": False}, {"approve": False, "reason": "   "}):
        empty = review(client, keys["bureau"], class_id, body)
        assert empty.status_code == 422 and "reason" in empty.get_json()["error"]["fields"]
    assert reviews(session) == 1
    returned = review(client, keys["bureau"], class_id, {"approve": False, "reason": "请补充实操场地"})
    assert returned.status_code == 200
    assert (returned.get_json()["status"], returned.get_json()["review_reason"]) == ("returned", "请补充实操场地")


@pytest.mark.parametrize("body", [{}, {"approve": "yes"}, {"approve": None}, {"approve": False, "reason": "长" * 501}])
def test_malformed_reviews_are_422(client, keys, session, body):
    class_id = create(client, keys).get_json()["id"]
    assert review(client, keys["bureau"], class_id, body).status_code == 422
    assert session.get(TrainingClass, class_id).status == "pending_review"


def test_only_the_bureau_covering_the_district_reviews(client, keys, session):
    class_id = create(client, keys).get_json()["id"]
    assert review(client, keys["foreign"], class_id, {"approve": True}).status_code == 404
    assert review(client, keys["bureau"], 999999, {"approve": True}).status_code == 404
    assert review(client, keys["institution"], class_id, {"approve": True}).status_code == 403
    assert session.get(TrainingClass, class_id).status == "pending_review" and reviews(session) == 1


@pytest.fixture
def holder(keys, session):
    template = f.template("shandong", name="济南市职业技能培训券", region_code="370100")
    worker = f.person(name="孔秀兰", region_code="370102")
    voucher = f.voucher(template, worker, CLAIMED, claimed_at=utcnow(), expires_at=utcnow() + timedelta(days=60))
    session.commit()
    return voucher


def test_verification_waits_for_approval(client, keys, session, holder):
    class_id = create(client, keys).get_json()["id"]
    body = {"qr": f.qr_for(holder), "class_id": class_id}
    pending = client.post("/api/v1/verifications", json=body, headers=auth(keys["institution"]))
    assert pending.status_code == 409 and error_code(pending) == "CLASS_PENDING_REVIEW"
    review(client, keys["bureau"], class_id, {"approve": False, "reason": "请补充"})
    returned = client.post("/api/v1/verifications", json=body, headers=auth(keys["institution"]))
    assert returned.status_code == 409 and error_code(returned) == "CLASS_NOT_OPEN"
    assert session.get(Voucher, holder.id).status == CLAIMED
    class_review.resubmit(session, session.get(TrainingClass, class_id), f.institution_actor(keys["school"]))
    review(client, keys["bureau"], class_id, {"approve": True})
    verified = client.post("/api/v1/verifications", json={**body, "qr": f.qr_for(holder)},
                           headers=auth(keys["institution"]))
    assert verified.status_code == 200 and verified.get_json()["result"] == "verified"


def test_directed_issuance_to_a_class_waiting_for_review_is_refused_and_adds_no_one(client, keys, session):
    class_id = create(client, keys).get_json()["id"]
    template = f.directed_template(policy_code="shandong", name="济南市定向培训券", region_code="370100")
    session.commit()
    people = [{"id_number": f.valid_id_number("370102"), "name": "孔秀兰", "phone": "13900000001"}]
    response = client.post(f"/api/v1/templates/{template.id}/issuances", json={"people": people, "class_id": class_id},
                           headers=auth(keys["bureau"]))
    assert response.status_code == 409 and error_code(response) == "CLASS_PENDING_REVIEW"
    assert session.scalar(select(func.count(Voucher.id))) == 0
    assert session.scalar(select(func.count(Enrolment.id))) == 0
    assert session.scalar(select(func.count(Person.id))) == 0


def test_the_review_endpoint_and_the_new_fields_are_in_the_openapi_document(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert "post" in document["paths"]["/api/v1/classes/{id}/review"]
    assert {"teaching_plan", "teachers"} <= set(document["components"]["schemas"]["ClassIn"]["properties"])
    answer = document["components"]["schemas"]["ClassOut"]["properties"]
    assert {"teachers", "approved_at", "review_reason"} <= set(answer)


def test_a_returned_class_mended_through_the_api_goes_back_to_the_bureau(client, keys, session):
    """PUT /classes/{id}: the institution's own system mends a returned 开班申请 (here its teaching
    plan and a second lesson) and it is waiting for review again; the bureau sees the resubmission."""
    class_id = create(client, keys).get_json()["id"]
    assert review(client, keys["bureau"], class_id, {"approve": False, "reason": "教学计划过于简略"}).status_code == 200
    mended = {**CLASS, "teaching_plan": "第一周理论，第二周实操；结业考核由第三方评价机构组织。",
              "sessions": CLASS["sessions"] + [lesson(START + timedelta(days=1), "08:00", "12:00", 4)]}
    response = client.put(f"/api/v1/classes/{class_id}", json=mended, headers=auth(keys["institution"]))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "pending_review" and body["teaching_plan"] == mended["teaching_plan"]
    assert len(body["sessions"]) == 2 and body["hours"] == 8
    assert [r.action for r in class_review.history(session, session.get(TrainingClass, class_id))][-1] == "resubmit"


def test_an_edit_through_the_api_is_refused_for_another_institution_and_after_a_check_in(client, keys, session):
    class_id = create(client, keys).get_json()["id"]
    other = f.institution(name="别家学校", region_code="370102")
    session.commit()
    foreign = client.put(f"/api/v1/classes/{class_id}", json=CLASS, headers=auth(key_for("institution", other.code)))
    assert foreign.status_code == 404
    training_class = session.get(TrainingClass, class_id)
    worker = f.person()
    f.enrol(training_class, worker)
    f.check_in(training_class.sessions[0], worker)
    session.commit()
    shorter = [lesson(START, "08:00", "11:00", 3)]
    attended = client.put(f"/api/v1/classes/{class_id}", json={**CLASS, "course_name": "改名", "sessions": shorter},
                          headers=auth(keys["institution"]))  # the lessons may no longer change
    assert attended.status_code == 422 and "已有学员签到" in attended.get_json()["error"]["message"]
    session.expire_all()
    assert session.get(TrainingClass, class_id).course_name == CLASS["course_name"]
