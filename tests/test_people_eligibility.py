"""Eligibility reads the person's record (issue 18), by the fields each region's policy names, and
whichever way the worker signed in: an SMS-bound worker is matched by ID number to the person a
bureau's import made, a channel's ticket updates the record by the same rule. Where nothing is on
record, 卡券中心 says so plainly and what to do."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import Person, PersonRecordChange, Voucher
from h5app.people.records import Incoming, apply_records
from h5app.timeutil import local_today
from h5app.vouchers import rules

from . import factories as f
from .api_support import auth, key_for
from .auth_support import (
    PHONE,
    _verify_new_phone,
    bind,
    enter_code,
    request_code,
    signed_in_user_id,
    sms_code,
    text_of,
)

TODAY = local_today()
REGIONS = [("330600", "绍兴市", "shaoxing", None), ("330602", "越城区", "shaoxing", "330600"),
           ("320200", "无锡市", "wuxi", None), ("320211", "滨湖区", "wuxi", "320200"),
           ("500000", "重庆市", "chongqing", None), ("500103", "渝中区", "chongqing", "500000"),
           ("370100", "济南市", "shandong", None), ("370102", "历下区", "shandong", "370100")]
TEMPLATE_REGION = {"shaoxing": "330600", "wuxi": "320200", "chongqing": "500000", "shandong": "370100"}
DISTRICT = {"shaoxing": "330602", "wuxi": "320211", "chongqing": "500103", "shandong": "370102"}


@pytest.fixture(autouse=True)
def regions(session):
    for code, name, policy, parent in REGIONS:
        f.region(code, name, policy, parent=parent)
    session.commit()


def general(policy: str, **values):
    return f.template(**{"policy_code": policy, "region_code": TEMPLATE_REGION[policy], "name": f"{policy}通用券",
                         **values})


def recorded(session, source="import", id_number=None, name="王建国", phone=None, as_of=None, **fields) -> Person:
    """A person as a record makes them (the import's path)."""
    item = Incoming(id_number=id_number or f.valid_id_number(), name=name, phone=phone,
                    as_of=as_of or TODAY - timedelta(days=2), fields=fields)
    [outcome] = apply_records(session, [item], source=source)
    session.commit()
    assert outcome.accepted, outcome.message
    return session.get(Person, outcome.person_id)


def problems(person, template) -> list[str]:
    session = db.session
    session.expire_all()
    return rules.eligibility_problems(session.get(Person, person.id), template, {"330600": "绍兴市", "320200": "无锡市"})


# --- each policy reads its own fields of the record -----------------------------------------------

@pytest.mark.parametrize(("policy", "field", "eligible"), [
    ("shaoxing", "insurance_region_code", True),
    ("shaoxing", "hukou_region_code", False),
    ("shaoxing", "residence_region_code", False),
    ("shaoxing", "employment_region_code", False),
    ("wuxi", "hukou_region_code", True),
    ("wuxi", "residence_region_code", True),
    ("wuxi", "employment_region_code", True),
    ("wuxi", "insurance_region_code", False),
    ("chongqing", "hukou_region_code", True),
    ("chongqing", "residence_region_code", True),
    ("chongqing", "employment_region_code", True),
    ("chongqing", "insurance_region_code", False),
    ("shandong", "employment_region_code", True),
    ("shandong", "insurance_region_code", True),
    ("shandong", "hukou_region_code", False),
    ("shandong", "residence_region_code", False),
])
def test_each_policy_reads_the_region_its_notice_names(session, policy, field, eligible):
    template = general(policy)
    person = recorded(session, **{field: DISTRICT[policy], "insurance_months": 40})
    assert (problems(person, template) == []) is eligible, problems(person, template)


def test_shaoxing_general_needs_36_months_insured_in_the_region(session):
    template = general("shaoxing")
    assert problems(recorded(session, insurance_region_code="330602", insurance_months=36), template) == []
    assert problems(recorded(session, insurance_region_code="330602", insurance_months=20), template) == [
        "需在本地缴纳失业保险满36个月，人社部门登记的您目前为20个月"]
    elsewhere = recorded(session, source="import", insurance_region_code="320211", hukou_region_code="330602",
                         insurance_months=60)
    assert problems(elsewhere, template) == ["该券限参保地在绍兴市的劳动者领取，人社部门登记的您的参保地为320211"]


def test_a_record_without_the_policys_field_says_what_is_missing(session):
    template = general("shaoxing")
    person = recorded(session, hukou_region_code="330602")
    assert problems(person, template) == [
        "该券限绍兴市的劳动者领取，人社部门尚未登记您的参保信息，如已参保请联系当地人社部门（该券需在本地缴纳失业保险满36个月）"]


def test_groups_on_record_and_not_on_record(session):
    template = general("wuxi", eligible_groups=["graduate"])
    assert problems(recorded(session, hukou_region_code="320211", groups=["graduate"]), template) == []
    assert problems(recorded(session, hukou_region_code="320211", groups=["unemployed"]), template) == [
        "该券面向高校毕业生，人社部门登记的您的身份为失业人员"]
    assert problems(recorded(session, hukou_region_code="320211"), template) == [
        "该券面向高校毕业生，人社部门尚未登记您属于这些群体，如属于请联系当地人社部门登记"]


def test_the_population_query_places_people_as_the_rule_does(session):
    """rules.region_clause (a population's SQL) and rules.person_regions (the claim) agree."""
    template = general("shaoxing")
    inside = recorded(session, insurance_region_code="330602", insurance_months=40)
    outside = recorded(session, insurance_region_code="320211", hukou_region_code="330602")
    legacy = f.person(region_code="330602")  # no dated record: 所在地区 counts
    no_record = f.person(region_code=None)
    session.commit()
    found = set(session.scalars(select(Person.id).where(rules.region_clause(template.policy, "330600"))))
    assert found == {inside.id, legacy.id}
    for person in (inside, outside, legacy, no_record):
        placed = any(code.startswith("3306") for _f, code in rules.person_regions(person, template.policy))
        assert placed is (person.id in found)


# --- 卡券中心, for a worker with nothing on record -----------------------------------------------

def sms_sign_in(app, client, name, id_number):
    _verify_new_phone(app, client)
    response = bind(client, name, id_number)
    assert response.status_code == 302, text_of(response)


def test_card_center_tells_a_worker_with_no_record_plainly_what_to_do(app, client, session):
    general("shaoxing", name="绍兴市通用培训券")
    sms_sign_in(app, client, "陈小燕", f.valid_id_number())
    page = text_of(client.get("/worker/cards"))
    assert "人社部门尚未登记您的参保信息，如已参保请联系当地人社部门" in page
    assert "未登记" not in page.replace("尚未登记", "")  # never 未登记 alone
    others = text_of(client.get("/worker/cards/others"))  # each template, with why not
    assert "绍兴市通用培训券" in others
    assert "该券限绍兴市的劳动者领取，人社部门尚未登记您的参保信息，如已参保请联系当地人社部门" in others
    assert "未登记" not in others.replace("尚未登记", "")
    me = text_of(client.get("/worker/me"))
    assert "人社部门尚未登记您的参保、就业等信息" in me and "未登记" not in me.replace("尚未登记", "")


def test_my_page_shows_the_record_and_its_date(app, client, session):
    id_number = f.valid_id_number()
    recorded(session, id_number=id_number, name="陈小燕", insurance_region_code="330602", insurance_months=40,
             hukou_region_code="410102")
    sms_sign_in(app, client, "陈小燕", id_number)
    me = text_of(client.get("/worker/me"))
    assert "参保地" in me and "越城区" in me and "410102" in me and "累计 40 个月" in me
    assert (TODAY - timedelta(days=2)).isoformat() in me and "人员信息导入" in me


# --- SMS-bound workers are matched to the imported person -----------------------------------------

def test_sms_bound_worker_is_matched_to_the_imported_person_and_may_claim(app, client, session):
    template = general("shaoxing", name="绍兴市通用培训券")
    id_number = f.valid_id_number()
    imported = recorded(session, id_number=id_number, name="陈小燕", insurance_region_code="330602",
                        insurance_months=40)
    sms_sign_in(app, client, "陈小燕", id_number)
    assert signed_in_user_id(client) == f"p:{imported.id}"
    assert session.scalar(select(func.count(Person.id))) == 1
    session.expire_all()
    person = session.get(Person, imported.id)
    assert (person.phone, person.verified_via, person.insurance_months, person.record_source) == (
        PHONE, "sms", 40, "import")
    page = text_of(client.get("/worker/cards"))
    assert "绍兴市通用培训券" in page and "人社部门尚未登记" not in page
    response = client.post(f"/worker/cards/{template.id}")
    assert response.status_code == 302
    assert session.scalar(select(Voucher.status).where(Voucher.person_id == imported.id)) == "claimed"


def test_an_imported_phone_that_is_not_the_workers_gives_way_to_the_proven_one(app, client, session):
    id_number = f.valid_id_number()
    imported = recorded(session, id_number=id_number, name="陈小燕", phone="13900009999",
                        insurance_region_code="330602", insurance_months=40)
    sms_sign_in(app, client, "陈小燕", id_number)
    session.expire_all()
    assert session.get(Person, imported.id).phone == PHONE
    assert signed_in_user_id(client) == f"p:{imported.id}"


def test_an_imported_phone_alone_does_not_sign_anyone_in(app, client, session):
    """The file's phone was never proven by its owner: the SMS code leads to the binding step."""
    recorded(session, name="陈小燕", phone=PHONE, insurance_region_code="330602", insurance_months=40)
    request_code(client)
    response = enter_code(client, sms_code(app, PHONE))
    assert response.headers["Location"].startswith("/bind") and signed_in_user_id(client) is None


def test_an_import_after_the_sms_binding_updates_the_same_person(app, client, session):
    id_number = f.valid_id_number()
    sms_sign_in(app, client, "陈小燕", id_number)
    person = recorded(session, id_number=id_number, name="陈小燕", phone="13900009999",
                      insurance_region_code="330602", insurance_months=40)
    assert session.scalar(select(func.count(Person.id))) == 1
    assert (person.phone, person.verified_via, person.insurance_months) == (PHONE, "sms", 40)


def test_binding_a_name_other_than_the_imported_one_is_refused(app, client, session):
    id_number = f.valid_id_number()
    recorded(session, id_number=id_number, name="陈小燕", insurance_region_code="330602")
    _verify_new_phone(app, client)
    response = bind(client, "陈晓燕", id_number)
    assert response.status_code == 400 and signed_in_user_id(client) is None


# --- channel SSO tickets go through the same rule --------------------------------------------------

def sso(client, id_number, name="王建国", **extra):
    import time

    from h5app.auth.sso import mint_ticket

    ticket = mint_ticket("channel-secret-for-tests", id_number=id_number, name=name, phone="",
                         nonce=f"nonce-{time.monotonic_ns()}", **extra)
    return client.get(f"/sso/zhrs?ticket={ticket}")


def test_a_ticket_writes_the_record_with_source_sso_and_history(client, session, channel):
    id_number = f.valid_id_number()
    assert sso(client, id_number, region_code="330602", insurance_months=40, groups=["unemployed"]).status_code == 302
    person = session.scalar(select(Person).where(Person.id_number == id_number))
    assert (person.residence_region_code, person.insurance_region_code, person.insurance_months, person.region_code,
            person.record_source, person.record_as_of) == ("330602", "330602", 40, "330602", "sso", TODAY)
    [change] = session.scalars(select(PersonRecordChange)).all()
    assert change.source == "sso" and change.origin == "zhrs"
    client.post("/logout")
    sso(client, id_number, region_code="330602", insurance_months=40, groups=["unemployed"])
    assert session.scalar(select(func.count(PersonRecordChange.id))) == 1  # the same ticket again: no change


def test_a_ticket_may_give_the_records_regions_by_name(client, session, channel):
    id_number = f.valid_id_number()
    sso(client, id_number, hukou_region_code="410102", insurance_region_code="330602", insurance_months=37,
        as_of=(TODAY - timedelta(days=1)).isoformat())
    person = session.scalar(select(Person).where(Person.id_number == id_number))
    assert (person.hukou_region_code, person.insurance_region_code, person.region_code, person.record_as_of) == (
        "410102", "330602", "330602", TODAY - timedelta(days=1))
    assert problems(person, general("shaoxing")) == []


def test_a_ticket_never_overwrites_a_newer_import(client, session, channel):
    person = recorded(session, insurance_region_code="330602", insurance_months=50, as_of=TODAY)
    assert sso(client, person.id_number, region_code="330602", insurance_months=10,
               as_of=(TODAY - timedelta(days=5)).isoformat()).status_code == 302
    session.expire_all()
    person = session.get(Person, person.id)
    assert person.insurance_months == 50 and person.record_source == "import"
    assert signed_in_user_id(client) == f"p:{person.id}"  # the sign-in itself goes through


def test_an_sso_worker_imported_first_is_the_same_person(client, session, channel):
    person = recorded(session, insurance_region_code="330602", insurance_months=50)
    sso(client, person.id_number)
    assert session.scalar(select(func.count(Person.id))) == 1
    session.expire_all()
    assert session.get(Person, person.id).verified_via == "sso:zhrs"


# --- an API issuance reads the record the partner sent -----------------------------------------------

def test_api_issuance_to_people_with_a_record_on_file_is_not_refused(client, session):
    template = general("shaoxing")
    key = key_for("bureau", "330600")
    on_file, not_on_file = f.valid_id_number(), f.valid_id_number()
    response = client.post("/api/v1/people", headers=auth(key), json={"people": [
        {"id_number": on_file, "name": "王建国", "insurance_region_code": "330602", "insurance_months": 40,
         "as_of": TODAY.isoformat()}]})
    assert response.status_code == 200 and response.get_json()["done"][0]["created"]
    response = client.post(f"/api/v1/templates/{template.id}/issuances", headers=auth(key), json={"people": [
        {"id_number": on_file, "name": "王建国"}, {"id_number": not_on_file, "name": "李四"}]})
    body = response.get_json()
    assert response.status_code == 201, body
    assert len(body["done"]) == 1
    [refused] = body["rejected"]
    assert refused["code"] == "NOT_ELIGIBLE" and "人社部门尚未登记该人员的参保信息" in refused["message"]
    # Refused, so not recorded either: the bureau listed them for an offer they did not get.
    assert session.scalar(select(Person.id).where(Person.id_number == not_on_file)) is None
