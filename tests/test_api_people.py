"""People records through the partner API (API.md, "People records"): `POST /people` (bureau, per
item done/rejected, the record rule) and `GET /people/{id_number}` (bureau of the person's region in
full; a channel, masked, for the people who signed in through it) with the open general templates
the person may claim now and the reasons for the others. One rule for who sees a person: a record
moved to another region by one bureau hides her from none that holds a region of it."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.identity import mask_id_number
from h5app.models import AuditEvent, Certificate, Person, PersonRecordChange
from h5app.models.vouchers import CLAIMED
from h5app.timeutil import local_today, utcnow

from . import factories as f
from .api_support import auth, certificate_body, count, error_code, key_for

TODAY = local_today().isoformat()
YESTERDAY = (local_today() - timedelta(days=1)).isoformat()


@pytest.fixture(autouse=True)
def regions(session):
    f.region("330600", "绍兴市", "shaoxing")
    f.region("330602", "越城区", "shaoxing", parent="330600")
    session.commit()


@pytest.fixture
def bureau_key():
    return key_for("bureau", "330600")


def item(id_number=None, **values) -> dict:
    return {"id_number": id_number or f.valid_id_number(), "name": "王建国", "insurance_region_code": "330602",
            "insurance_months": 40, "as_of": TODAY, **values}


def post(client, key, *items, **headers):
    return client.post("/api/v1/people", headers=auth(key, **headers), json={"people": list(items)})


def test_post_people_creates_and_updates_item_by_item(client, bureau_key):
    known = f.person(name="王建国", region_code="330602")
    db.session.commit()
    new = f.valid_id_number()
    response = post(client, bureau_key, item(new, groups=["unemployed", "失业人员"], phone="13900001234"),
                    item(known.id_number, hukou_region_code="410102"))
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["rejected"] == []
    assert body["done"][0] == {"index": 1, "id_number": new, "created": True,
                               "changed": ["insurance_region_code", "insurance_months", "groups"], "notes": []}
    assert body["done"][1]["index"] == 2 and not body["done"][1]["created"]
    person = db.session.scalar(select(Person).where(Person.id_number == new))
    assert (person.record_source, person.verified_via, person.groups, person.phone) == (
        "api", "api", ["unemployed"], "13900001234")
    change = db.session.scalar(select(PersonRecordChange).where(PersonRecordChange.person_id == person.id))
    assert change.source == "api" and change.origin.startswith("API ")


def test_post_people_rejects_bad_items_and_takes_the_rest(client, bureau_key):
    older_target = f.valid_id_number()
    assert post(client, bureau_key, item(older_target, as_of=TODAY)).status_code == 200
    named = f.person(name="李四", region_code="330602")
    db.session.commit()
    response = post(client, bureau_key,
                    item(),  # 1: fine
                    item("330602198501010012"),  # 2: bad check digit
                    item(insurance_months=601),  # 3
                    item(as_of="2026-02-30"),  # 4
                    item(insurance_region_code="320211"),  # 5: not this bureau's
                    item(older_target, insurance_months=12, as_of=YESTERDAY),  # 6: older
                    item(named.id_number),  # 7: another name
                    item(older_target, insurance_months=41))  # 8: same day, another value
    body = response.get_json()
    assert response.status_code == 200
    assert [d["index"] for d in body["done"]] == [1]
    codes = {r["index"]: (r["code"], r.get("field")) for r in body["rejected"]}
    assert codes == {2: ("INVALID", "id_number"), 3: ("INVALID", "insurance_months"), 4: ("INVALID", "as_of"),
                     5: ("OUT_OF_SCOPE", None), 6: ("RECORD_OUTDATED", None), 7: ("NAME_MISMATCH", None),
                     8: ("RECORD_CONFLICT", None)}
    messages = {r["index"]: r["message"] for r in body["rejected"]}
    assert "身份证号码校验位不正确" in messages[2] and f"信息日期早于已登记的信息（{TODAY}）" in messages[6]
    assert db.session.scalar(select(Person.insurance_months).where(Person.id_number == older_target)) == 40


def test_post_people_twice_changes_nothing_the_second_time(client, bureau_key):
    body = item()
    post(client, bureau_key, body)
    changes = db.session.scalar(select(func.count(PersonRecordChange.id)))
    again = post(client, bureau_key, body).get_json()
    assert again["done"][0]["changed"] == [] and not again["done"][0]["created"]
    assert db.session.scalar(select(func.count(PersonRecordChange.id))) == changes


def test_post_people_replays_an_idempotency_key(client, bureau_key):
    body = item()
    first = post(client, bureau_key, body, **{"Idempotency-Key": "people-1"})
    second = post(client, bureau_key, body, **{"Idempotency-Key": "people-1"})
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert second.get_json() == first.get_json()
    assert db.session.scalar(select(func.count(Person.id))) == 1


@pytest.mark.parametrize("scope,code", [("channel", "zhrs"), ("institution", None)])
def test_post_people_is_for_bureaus_only(client, scope, code):
    if scope == "institution":
        code = f.institution().code
        db.session.commit()
    response = post(client, key_for(scope, code), item())
    assert response.status_code == 403 and error_code(response) == "FORBIDDEN"


@pytest.mark.parametrize("body", [{}, {"people": []}, {"people": [{"name": "王建国"}]},
                                  {"people": [{**item(), "insurance_months": "40"}]}])
def test_post_people_with_a_malformed_body_is_a_422(client, bureau_key, body):
    response = client.post("/api/v1/people", headers=auth(bureau_key), json=body)
    assert response.status_code == 422 and error_code(response) == "VALIDATION_FAILED"
    assert db.session.scalar(select(func.count(Person.id))) == 0


def test_get_person_gives_the_bureau_the_record_and_what_may_be_claimed(client, bureau_key):
    claimable = f.template(policy_code="shaoxing", name="通用券A")
    for_graduates = f.template(policy_code="shaoxing", name="毕业生券", eligible_groups=["graduate"])
    f.template(policy_code="shaoxing", name="定向券", distribution_mode="directed")
    f.template(policy_code="shaoxing", name="未开始", claim_starts_on=local_today() + timedelta(days=3))
    number = f.valid_id_number()
    post(client, bureau_key, item(number, groups=["unemployed"], phone="13900007777"))
    response = client.get(f"/api/v1/people/{number}", headers=auth(bureau_key))
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["person"] == {"name": "王建国", "id_number": number, "phone": "139****7777"}
    record = body["record"]
    assert (record["insurance_region_code"], record["insurance_months"], record["groups"], record["as_of"],
            record["source"], record["region_code"]) == ("330602", 40, ["unemployed"], TODAY, "api", "330602")
    assert record["field_dates"]["insurance_months"] == TODAY
    templates = {t["name"]: t for t in body["templates"]}
    assert set(templates) == {"通用券A", "毕业生券"}  # open general templates in their claim window
    assert templates["通用券A"]["claimable"] and templates["通用券A"]["template_id"] == claimable.id
    assert not templates["毕业生券"]["claimable"]
    assert templates["毕业生券"]["reasons"] == [
        {"code": "NOT_ELIGIBLE", "message": "该券面向高校毕业生，人社部门登记的您的身份为失业人员"}]
    assert for_graduates.id == templates["毕业生券"]["template_id"]
    view = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "person.view"))
    assert view.actor_type == "api_key" and view.details == {"via": "api"}


def test_get_person_without_a_record_says_what_is_missing(client, bureau_key):
    f.template(policy_code="shaoxing", name="通用券A")
    person = f.person(region_code="330602", insurance_months=0, groups=[])
    db.session.commit()
    body = client.get(f"/api/v1/people/{person.id_number}", headers=auth(bureau_key)).get_json()
    assert body["record"]["as_of"] is None and body["record"]["source"] is None
    [template] = body["templates"]
    assert not template["claimable"]
    assert "人社部门尚未登记您的参保信息，如已参保请联系当地人社部门" in template["reasons"][0]["message"]


def test_get_person_of_another_region_is_not_found(client):
    person = f.person(region_code="330602")
    db.session.commit()
    response = client.get(f"/api/v1/people/{person.id_number}", headers=auth(key_for("bureau", "320200")))
    assert response.status_code == 404 and error_code(response) == "NOT_FOUND"


def test_a_channel_sees_its_own_signed_in_people_masked(client):
    key = key_for("channel", "zhrs")
    f.template(policy_code="shaoxing", name="通用券A")
    mine = f.person(channel_code="zhrs", region_code="330602")
    theirs = f.person(channel_code="other", region_code="330602")
    db.session.commit()
    body = client.get(f"/api/v1/people/{mine.id_number}", headers=auth(key)).get_json()
    assert body["person"]["id_number"] == mask_id_number(mine.id_number)
    assert mine.id_number not in str(body)
    assert [t["name"] for t in body["templates"]] == ["通用券A"]
    assert client.get(f"/api/v1/people/{theirs.id_number}", headers=auth(key)).status_code == 404


def test_get_person_with_an_invalid_id_number_is_a_422(client, bureau_key):
    response = client.get("/api/v1/people/330602198501010012", headers=auth(bureau_key))
    assert response.status_code == 422 and "校验位" in response.get_json()["error"]["message"]


def test_get_person_is_not_for_institutions(client):
    institution = f.institution()
    db.session.commit()
    person = f.person()
    db.session.commit()
    response = client.get(f"/api/v1/people/{person.id_number}", headers=auth(key_for("institution", institution.code)))
    assert response.status_code == 403


# --- one rule for who sees a person --------------------------------------------------------------

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


def test_the_openapi_document_declares_both_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "post" in paths["/api/v1/people"] and "get" in paths["/api/v1/people/{id_number}"]
