"""Issue 20, contract and data: a template's policy and its activation through the API, `site` on
POST /classes, the site ids of onboarded institutions, and no offers of a template that has lapsed
(the same rule for the 发券 page and the API)."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import AuditEvent, Institution, Issuance, Person, Site, TrainingClass, Voucher, VoucherTemplate
from h5app.models.vouchers import TEMPLATE_CLOSED, TEMPLATE_DRAFT
from h5app.timeutil import local_today
from h5app.vouchers import issuance
from h5app.vouchers.errors import ValidationFailed

from . import factories as f
from .api_support import CLASS, auth, error_code, institution_row, key_for, template_body, world
from .auth_support import staff_sign_in


@pytest.fixture
def w(session):
    return world()


def count(model, *where) -> int:
    return db.session.scalar(select(func.count(model.id)).where(*where))


# ---- 1. POST /templates takes policy_code; POST /templates/{id}/activation -----------------------

@pytest.mark.parametrize("code", ["wuxi", "shaoxing", "chongqing"])
def test_a_template_made_by_api_takes_the_policy_named_by_its_code(client, w, session, code):
    f.region("330602", "越城区").policy_id = f.policy(code).id  # a district under its own rules
    session.commit()
    response = client.post("/api/v1/templates", json=template_body(policy_code=code), headers=auth(w.bureau_key))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["policy_code"] == code
    assert session.get(VoucherTemplate, response.get_json()["id"]).policy.code == code


def test_a_policy_no_region_of_the_bureau_follows_is_422_naming_the_ones_that_apply(client, w, session):
    f.region("320200", "无锡市", "wuxi")
    session.commit()
    response = client.post("/api/v1/templates", json=template_body(policy_code="wuxi"),
                           headers=auth(w.bureau_key))
    assert response.status_code == 422 and error_code(response) == "VALIDATION_FAILED"
    message = response.get_json()["error"]["fields"]["policy_code"]
    assert "default" in message and "wuxi" not in message
    assert count(VoucherTemplate) == 1  # the world's template only


def test_an_unknown_policy_code_is_422_in_words_a_clerk_reads(client, w, session):
    response = client.post("/api/v1/templates", json=template_body(policy_code="beijing"), headers=auth(w.bureau_key))
    assert response.status_code == 422 and error_code(response) == "VALIDATION_FAILED"
    message = response.get_json()["error"]["fields"]["policy_code"]
    assert "beijing" in message and "default" in message
    assert count(VoucherTemplate) == 1  # the world's template only


def test_without_a_policy_code_the_template_takes_its_regions_policy_as_on_the_page(client, session):
    f.region("500000", "重庆市", "chongqing")
    session.commit()
    key = key_for("bureau", "500000")
    response = client.post("/api/v1/templates", json=template_body(region_code="500000"), headers=auth(key))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["policy_code"] == "chongqing"


def _draft(client, w, **values) -> int:
    response = client.post("/api/v1/templates", json=template_body(**values), headers=auth(w.bureau_key))
    assert response.status_code == 201 and response.get_json()["status"] == TEMPLATE_DRAFT
    return response.get_json()["id"]


def _visible_to_institutions(client, w) -> set[int]:
    templates = client.get("/api/v1/templates", headers=auth(w.institution_key)).get_json()["templates"]
    return {t["id"] for t in templates}


def test_activation_puts_a_draft_in_force_once_and_audits_it(client, w, session):
    template_id = _draft(client, w)
    visible = _visible_to_institutions(client, w)
    assert template_id not in visible

    response = client.post(f"/api/v1/templates/{template_id}/activation", headers=auth(w.bureau_key))

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "active" and response.get_json()["id"] == template_id
    visible = _visible_to_institutions(client, w)
    assert template_id in visible
    [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "template.activate")).all()
    assert event.details == {"template_id": template_id, "from": "draft"}

    again = client.post(f"/api/v1/templates/{template_id}/activation", headers=auth(w.bureau_key))
    assert again.status_code == 200 and again.get_json() == response.get_json()
    assert count(AuditEvent, AuditEvent.action == "template.activate") == 1


def test_activation_of_another_regions_template_is_not_found(client, w, session):
    template_id = _draft(client, w)
    response = client.post(f"/api/v1/templates/{template_id}/activation", headers=auth(w.foreign_bureau_key))
    assert response.status_code == 404
    assert session.get(VoucherTemplate, template_id).status == TEMPLATE_DRAFT
    assert client.post("/api/v1/templates/999999/activation", headers=auth(w.bureau_key)).status_code == 404


@pytest.mark.parametrize("key_name", ["institution_key", "channel_key"])
def test_only_bureaus_activate_templates(client, w, key_name):
    response = client.post(f"/api/v1/templates/{w.template.id}/activation", headers=auth(getattr(w, key_name)))
    assert response.status_code == 403


def test_a_closed_template_cannot_be_activated(client, w, session):
    w.template.status = TEMPLATE_CLOSED
    session.commit()
    response = client.post(f"/api/v1/templates/{w.template.id}/activation", headers=auth(w.bureau_key))
    assert response.status_code == 409 and "关闭" in response.get_json()["error"]["message"]
    assert session.get(VoucherTemplate, w.template.id).status == TEMPLATE_CLOSED


def test_a_lapsed_draft_cannot_be_activated(client, w, session):
    today = local_today()
    lapsed = f.template(status=TEMPLATE_DRAFT, claim_starts_on=today - timedelta(days=40),
                        claim_ends_on=today - timedelta(days=1))
    session.commit()
    response = client.post(f"/api/v1/templates/{lapsed.id}/activation", headers=auth(w.bureau_key))
    assert response.status_code == 422 and "领取时间已于" in response.get_json()["error"]["message"]
    assert session.get(VoucherTemplate, lapsed.id).status == TEMPLATE_DRAFT


def test_the_activation_summary_says_what_a_second_call_answers(client):
    operation = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/templates/{id}/activation"]["post"]
    assert "原样返回" in operation["summary"]


# ---- 2. POST /classes takes `site` (the contract's name) as well as site_id -----------------------

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


# ---- 3. POST /institutions answers the ids of the sites it made -----------------------------------

def test_onboarded_institutions_answer_their_site_ids(client, w, session):
    two_sites = institution_row("3306002", sites=[{"lat": 30.0, "lng": 120.58, "radius_m": 500},
                                                  {"lat": 30.1, "lng": 120.4}])
    response = client.post("/api/v1/institutions", json={"institutions": [institution_row(), two_sites]},
                           headers=auth(w.bureau_key))
    assert response.status_code == 201, response.get_json()
    made = response.get_json()["institutions"]
    for answer in made:
        institution = session.scalar(select(Institution).where(Institution.code == answer["code"]))
        assert answer["sites"] == [{"id": s.id, "lat": s.lat, "lng": s.lng, "radius_m": s.radius_m}
                                   for s in institution.sites]
        assert answer["officer_password"] and answer["id"] == institution.id
    assert [s["radius_m"] for s in made[1]["sites"]] == [500, 300]


# ---- 4. no offers of a template whose claim window has ended or whose use deadline passed ---------

def _lapsed(kind: str):
    today = local_today()
    if kind == "claim_ended":
        return f.template(claim_starts_on=today - timedelta(days=40), claim_ends_on=today - timedelta(days=1))
    return f.template(claim_starts_on=today - timedelta(days=40), claim_ends_on=today + timedelta(days=30),
                      valid_until=today - timedelta(days=1))


LAPSED = [("claim_ended", "领取时间已于"), ("use_deadline_passed", "使用期限已于")]


@pytest.mark.parametrize("kind, words", LAPSED)
def test_the_api_refuses_offers_of_a_lapsed_template_and_writes_nothing(client, w, session, kind, words):
    template = _lapsed(kind)
    session.commit()
    people_before = count(Person)
    new_person = {"id_number": f.valid_id_number(), "name": "李新人"}
    response = client.post(f"/api/v1/templates/{template.id}/issuances", json={"people": [new_person]},
                           headers=auth(w.bureau_key))
    assert response.status_code == 422 and error_code(response) == "VALIDATION_FAILED"
    message = response.get_json()["error"]["message"]
    assert words in message and "不能再发券" in message
    assert count(Voucher, Voucher.template_id == template.id) == 0
    assert count(Issuance) == 0 and count(Person) == people_before


@pytest.mark.parametrize("kind, words", LAPSED)
def test_the_engine_refuses_general_issuance_of_a_lapsed_template(session, kind, words):
    template = _lapsed(kind)
    f.person()
    session.commit()
    with pytest.raises(ValidationFailed, match=words):
        issuance.issue_general(session, template, f.bureau_actor())
    assert count(Voucher, Voucher.template_id == template.id) == 0 and count(Issuance) == 0


def test_offers_may_go_out_before_the_claim_window_opens(client, w, session):
    today = local_today()
    early = f.template(claim_starts_on=today + timedelta(days=5), claim_ends_on=today + timedelta(days=30))
    session.commit()
    response = client.post(f"/api/v1/templates/{early.id}/issuances",
                           json={"people": [{"id_number": f.valid_id_number(), "name": "李新人"}]},
                           headers=auth(w.bureau_key))
    assert response.status_code == 201 and [v["status"] for v in response.get_json()["done"]] == ["offered"]


def test_the_issue_page_refuses_a_lapsed_template_in_the_same_words(client, session):
    clerk = f.staff("bureau")
    template = _lapsed("claim_ended")
    f.person()
    session.commit()
    staff_sign_in(client, clerk)
    response = client.post("/bureau/issue/general", data={"template_id": template.id, "expected": 1})
    assert response.status_code == 400
    assert "领取时间已于" in response.get_data(as_text=True)
    assert count(Voucher, Voucher.template_id == template.id) == 0
