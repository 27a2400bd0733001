"""Classes (held at the site `site` names), rosters (a bad batch names every bad row), exam results
and settlements (none before 结业; one whose every line was rejected is listed as rejected) through
the API."""
import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import Enrolment, ExamResult, Institution, Person, Settlement, Site, TrainingClass, Voucher
from h5app.models.settlement import S_REJECTED
from h5app.timeutil import local_today

from . import factories as f
from .api_support import CLASS, auth, count, error_code, key_for, used_and_completed, world
from .settlement_support import rejected_application
from .settlement_support import running  # noqa: F401  (fixture: a class still running)


@pytest.fixture
def w(session):
    return world()


# --- classes --------------------------------------------------------------------------------------

def test_institution_creates_an_open_class_with_sessions(client, w, session):
    response = client.post("/api/v1/classes", json=CLASS, headers=auth(w.institution_key))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["hours"] == 8 and body["status"] == "open" and len(body["sessions"]) == 2
    assert body["sessions"][0]["starts_at"] == "2027-12-01T08:00:00+08:00"
    assert session.get(TrainingClass, body["id"]).institution_id == w.institution.id


def test_class_with_a_foreign_site_or_bad_project_type_is_422(client, w, session):
    foreign_site = w.other_institution.sites[0].id
    response = client.post("/api/v1/classes", json={**CLASS, "site_id": foreign_site, "project_type": "x"},
                           headers=auth(w.institution_key))
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"site_id", "project_type"}
    naive = client.post("/api/v1/classes", json={**CLASS, "sessions": [{**CLASS["sessions"][0],
                                                                         "starts_at": "2027-12-01T08:00:00"}]},
                        headers=auth(w.institution_key))
    assert naive.status_code == 422


@pytest.mark.parametrize("change, field, message", [
    ({"ends_on": "2027-11-30"}, "ends_on", "结业日期不能早于开班日期"),
    ({"ends_on": "2027-12-01"}, "sessions.1.starts_at", "课次日期 2027-12-02 不在开班至结业日期之内"),
])
def test_the_api_refuses_a_class_by_the_rules_and_words_of_the_new_class_page(client, w, session, change, field,
                                                                               message):
    """One rule, one place: vouchers/classes.py serves the 新建班期 page and the API alike."""
    response = client.post("/api/v1/classes", json={**CLASS, **change}, headers=auth(w.institution_key))
    assert response.status_code == 422 and response.get_json()["error"]["fields"][field] == message
    assert session.scalar(select(func.count(TrainingClass.id))) == 2  # the world's two classes only


def test_the_documented_lesson_limit_is_the_class_rule(client):
    """The OpenAPI document admits no more lessons than vouchers/classes.py allows a class."""
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["components"]["schemas"]["ClassIn"]["properties"]["sessions"]["maxItems"] == 200


# --- `site` (the contract's name) as well as site_id ---------------------------------------------

def _second_site(institution) -> int:
    site = Site(name="分部", lat=30.01, lng=120.59, radius_m=300, institution_id=institution.id)
    db.session.add(site)
    db.session.commit()
    return site.id


def test_a_class_is_held_at_the_site_named_by_site(client, w, session):
    second = _second_site(w.institution)
    response = client.post("/api/v1/classes", json={**CLASS, "site": second}, headers=auth(w.institution_key))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["site_id"] == second
    assert [s.id for s in session.get(TrainingClass, response.get_json()["id"]).sites] == [second]


def test_site_and_site_id_may_both_be_given_when_they_agree(client, w, session):
    second = _second_site(w.institution)
    response = client.post("/api/v1/classes", json={**CLASS, "site": second, "site_id": second},
                           headers=auth(w.institution_key))
    assert response.status_code == 201 and response.get_json()["site_id"] == second


def test_site_and_site_id_that_differ_are_422(client, w, session):
    second = _second_site(w.institution)
    first = w.institution.sites[0].id
    response = client.post("/api/v1/classes", json={**CLASS, "site": second, "site_id": first},
                           headers=auth(w.institution_key))
    assert response.status_code == 422 and "site" in response.get_json()["error"]["fields"]
    assert count(Institution) == 2 and count(Voucher) == 1


def test_another_institutions_site_given_as_site_is_blamed_on_site(client, w):
    foreign = w.other_institution.sites[0].id
    response = client.post("/api/v1/classes", json={**CLASS, "site": foreign}, headers=auth(w.institution_key))
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {"site": "不是本机构的培训地点"}


# --- rosters, results ---------------------------------------------------------------------------

def test_trainees_batch_is_all_or_nothing(client, w, session):
    good = {"id_number": f.valid_id_number(), "name": "钱学员", "phone": "13600000001"}
    bad = {"id_number": "330602198501010000", "name": "孙学员"}
    response = client.post(f"/api/v1/classes/{w.training_class.id}/trainees", json={"trainees": [good, bad]},
                           headers=auth(w.institution_key))
    assert response.status_code == 422
    assert [r["index"] for r in response.get_json()["error"]["rows"]] == [2]
    assert session.scalar(select(func.count(Enrolment.id))) == 0
    ok = client.post(f"/api/v1/classes/{w.training_class.id}/trainees", json={"trainees": [good]},
                     headers=auth(w.institution_key))
    assert ok.status_code == 201 and ok.get_json()["added"] == 1
    assert "*" in ok.get_json()["trainees"][0]["id_number"]
    foreign = client.post(f"/api/v1/classes/{w.other_class.id}/trainees", json={"trainees": [good]},
                          headers=auth(w.institution_key))
    assert foreign.status_code == 404


def test_a_roster_takes_no_more_trainees_than_the_class_has_places(client, w, session):
    w.training_class.capacity = 2
    f.enrol(w.training_class, w.person)
    session.commit()
    path = f"/api/v1/classes/{w.training_class.id}/trainees"
    newcomers = [{"id_number": f.valid_id_number(), "name": name} for name in ("钱学员", "孙学员")]

    full = client.post(path, json={"trainees": newcomers}, headers=auth(w.institution_key))
    again = client.post(path, json={"trainees": [{"id_number": w.person.id_number, "name": w.person.name},
                                                 newcomers[0]]}, headers=auth(w.institution_key))

    assert full.status_code == 409 and full.get_json()["error"]["code"] == "CLASS_FULL"
    assert "名额2人，已报名1人，本次新增2人，超出1人" in full.get_json()["error"]["message"]
    assert again.status_code == 201 and again.get_json()["added"] == 1  # the one enrolled already takes no place
    assert session.scalar(select(func.count(Enrolment.id))) == 2


def test_a_refused_roster_ends_its_transaction(w, session):
    """A service's refusal rolls back: no transaction (on SQLite, no write lock) is left open."""
    from h5app.vouchers import roster
    from h5app.vouchers.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        roster.add_trainees(session, w.training_class, [{"id_number": "123", "name": "坏号码"}],
                            f.institution_actor(w.institution))
    assert not session().in_transaction()


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


def test_results_name_each_trainee_once_and_are_fixed_at_completion(client, w, session):
    f.enrol(w.training_class, w.person)
    session.commit()
    path = f"/api/v1/classes/{w.training_class.id}/results"
    twice = client.post(path, headers=auth(w.institution_key), json={"results": [
        {"id_number": w.person.id_number, "passed": True}, {"id_number": w.person.id_number, "passed": False}]})
    assert twice.status_code == 422 and twice.get_json()["error"]["rows"] == [
        {"index": 2, "message": "与第1行是同一学员", "code": "INVALID"}]
    w.training_class.status, w.training_class.completed_at = "completed", f.utcnow_plus()
    session.commit()
    late = client.post(path, headers=auth(w.institution_key),
                       json={"results": [{"id_number": w.person.id_number, "passed": False}]})
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "CLASS_COMPLETED"
    assert session.scalar(select(func.count(ExamResult.id))) == 0


def test_results_are_all_or_nothing(client, w, session):
    f.enrol(w.training_class, w.person)
    session.commit()
    stranger = f.valid_id_number()
    response = client.post(f"/api/v1/classes/{w.training_class.id}/results",
                           json={"results": [{"id_number": w.person.id_number, "passed": True},
                                             {"id_number": stranger, "passed": False}]},
                           headers=auth(w.institution_key))
    assert response.status_code == 422 and response.get_json()["error"]["rows"][0]["index"] == 2
    assert session.scalar(select(func.count(ExamResult.id))) == 0
    strict = client.post(f"/api/v1/classes/{w.training_class.id}/results",
                         json={"results": [{"id_number": w.person.id_number, "passed": "yes"}]},
                         headers=auth(w.institution_key))
    assert strict.status_code == 422
    ok = client.post(f"/api/v1/classes/{w.training_class.id}/results",
                     json={"results": [{"id_number": w.person.id_number, "passed": True}]},
                     headers=auth(w.institution_key))
    assert ok.status_code == 200 and ok.get_json()["changed"] == 1


# --- settlements -----------------------------------------------------------------------------------

def test_settlement_apply_review_and_pay(client, w, session):
    used_and_completed(w, session)
    applied = client.post("/api/v1/settlements", json={"class_id": w.training_class.id},
                          headers=auth(w.institution_key))
    assert applied.status_code == 201, applied.get_json()
    body = applied.get_json()
    line = body["lines"][0]
    assert (line["code"], line["eligible"], line["attendance_rate"], line["exam_passed"]) == (
        w.voucher.code, True, 1.0, True)
    assert line["amount_fen"] == 150000 and body["status"] == "submitted"
    path = f"/api/v1/settlements/{body['id']}"
    assert client.get(path, headers=auth(w.institution_key)).status_code == 200
    assert client.get(path, headers=auth(w.bureau_key)).status_code == 200
    assert client.get(path, headers=auth(w.other_institution_key)).status_code == 404
    assert client.get(path, headers=auth(w.foreign_bureau_key)).status_code == 404
    assert client.post(path + "/review", json={"approve": [w.voucher.code]},
                       headers=auth(w.institution_key)).status_code == 403
    reviewed = client.post(path + "/review", json={"approve": [w.voucher.code]}, headers=auth(w.bureau_key))
    assert reviewed.status_code == 200 and reviewed.get_json()["status"] == "reviewed"
    payment = {"reference": "HD20261207001", "paid_on": local_today().isoformat()}
    same_clerk = client.post(path + "/payment", json=payment, headers=auth(w.bureau_key))
    assert same_clerk.status_code == 403 and error_code(same_clerk) == "SEGREGATION_OF_DUTIES"
    cashier = key_for("bureau", "330600")
    paid = client.post(path + "/payment", json=payment, headers=auth(cashier))
    assert paid.status_code == 200 and paid.get_json()["status"] == "paid"
    session.expire_all()
    assert session.get(Voucher, w.voucher.id).status == "settled"
    status = client.get(f"/api/v1/vouchers/{w.voucher.code}", headers=auth(w.bureau_key)).get_json()
    assert status["status"] == "settled" and status["settled_at"]
    dead = client.post("/api/v1/verifications", json={"qr": f.qr_for(w.voucher), "class_id": w.training_class.id},
                       headers=auth(w.institution_key))
    assert dead.status_code == 409 and error_code(dead) == "VOUCHER_SETTLED"


def test_settlement_with_foreign_codes_is_refused_whole(client, w, session):
    used_and_completed(w, session)
    response = client.post("/api/v1/settlements", json={"class_id": w.training_class.id,
                                                        "codes": [w.voucher.code, "NOSUCHCODE"]},
                           headers=auth(w.institution_key))
    error = response.get_json()["error"]  # API.md: an unknown voucher code anywhere answers 404 VOUCHER_NOT_FOUND
    assert response.status_code == 404 and error["code"] == "VOUCHER_NOT_FOUND" and error["rows"][0]["index"] == 2
    assert session.scalar(select(func.count(Settlement.id))) == 0
    foreign = client.post("/api/v1/settlements", json={"class_id": w.other_class.id},
                          headers=auth(w.institution_key))
    assert foreign.status_code == 404


def test_review_with_a_bad_line_changes_nothing(client, w, session):
    used_and_completed(w, session)
    settlement_id = client.post("/api/v1/settlements", json={"class_id": w.training_class.id},
                                headers=auth(w.institution_key)).get_json()["id"]
    response = client.post(f"/api/v1/settlements/{settlement_id}/review",
                           json={"approve": [w.voucher.code], "reject": [{"code": "NOSUCH", "reason": "x"}]},
                           headers=auth(w.bureau_key))
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "VOUCHER_NOT_FOUND"
    assert session.get(Settlement, settlement_id).status == "submitted"
    nothing = client.post(f"/api/v1/settlements/{settlement_id}/review", json={}, headers=auth(w.bureau_key))
    assert nothing.status_code == 422 and "至少" in nothing.get_json()["error"]["message"]
    assert session.scalar(select(func.count(Person.id))) >= 1


def test_the_api_refuses_an_application_before_the_class_is_completed(client, running):
    cls, _voucher, _officer = running
    key = key_for("institution", cls.institution.code)
    response = client.post("/api/v1/settlements", json={"class_id": cls.id}, headers=auth(key))
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "CLASS_NOT_FINISHED"
    assert "结业后才能申请结算" in response.get_json()["error"]["message"]
    assert db.session.scalar(select(func.count(Settlement.id))) == 0


def test_the_api_lists_it_as_rejected(client):
    """An application whose every line was rejected is 已驳回, not 已拨付."""
    made, _vouchers, _cls = rejected_application()
    key = key_for("bureau", "330600")
    found = client.get(f"/api/v1/settlements?status={S_REJECTED}", headers=auth(key)).get_json()
    assert [(s["id"], s["status"]) for s in found["settlements"]] == [(made.id, S_REJECTED)]
    paid = client.get("/api/v1/settlements?status=paid", headers=auth(key)).get_json()
    assert paid["settlements"] == []
