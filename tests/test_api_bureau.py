"""The bureau's and channels' endpoints: templates (the policy a template follows, its activation),
issuance (none to a class that has ended, no offers of a lapsed template), people's vouchers,
voucher status, revocation, institutions (with the ids of the sites made), certificates (none dated
in the future) — with each scope refusal."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from h5app.models import (
    AuditEvent, Certificate, Enrolment, Institution, Issuance, Notification, Person, StaffUser, Voucher,
    VoucherTemplate,
)
from h5app.models.classes import CLASS_CANCELLED, CLASS_COMPLETED
from h5app.models.vouchers import TEMPLATE_CLOSED, TEMPLATE_DRAFT
from h5app.timeutil import local_today

from . import factories as f
from .api_support import (
    auth, certificate_body, count, error_code, institution_row, key_for, template_body, world,
)


@pytest.fixture
def w(session):
    return world()


# --- templates ------------------------------------------------------------------------------------

def test_templates_list_is_what_each_caller_may_see(client, w, session):
    f.template(region_code="500000", name="重庆券")
    session.commit()
    bureau = client.get("/api/v1/templates", headers=auth(w.bureau_key)).get_json()["templates"]
    assert [t["id"] for t in bureau] == [w.template.id]
    institution = client.get("/api/v1/templates", headers=auth(w.institution_key)).get_json()["templates"]
    assert [t["id"] for t in institution] == [w.template.id]
    foreign = client.get("/api/v1/templates", headers=auth(w.foreign_bureau_key)).get_json()["templates"]
    assert [t["name"] for t in foreign] == ["重庆券"]


def test_bureau_creates_a_draft_template(client, w, session):
    response = client.post("/api/v1/templates", json=template_body(), headers=auth(w.bureau_key))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "draft" and body["face_value_fen"] == 50000
    assert session.get(VoucherTemplate, body["id"]).policy_id is not None
    assert session.query(AuditEvent).filter_by(action="template.create").count() == 1


@pytest.mark.parametrize("values, field", [
    ({"face_value_fen": None}, "face_value_fen"),
    ({"valid_days": None}, "valid_until"),
    ({"eligible_groups": ["aliens"]}, "eligible_groups"),
    ({"function_mode": "gift"}, "function_mode"),
    ({"claim_starts_on": "2026-13-40"}, "claim_starts_on"),
])
def test_invalid_template_is_422_with_the_field(client, w, session, values, field):
    response = client.post("/api/v1/templates", json=template_body(**values), headers=auth(w.bureau_key))
    assert response.status_code == 422 and error_code(response) in ("VALIDATION_FAILED",)
    assert field in response.get_json()["error"]["fields"]
    assert session.scalar(select(func.count(VoucherTemplate.id))) == 1


def test_a_template_nobody_could_use_is_refused(client, w):
    """A claim period already over, or a use deadline before the claim deadline (a voucher claimed
    late would be dead on arrival): the walk-through's 制券 saved both."""
    today = local_today()
    past = {"claim_starts_on": str(today - timedelta(days=60)), "claim_ends_on": str(today - timedelta(days=30))}
    dead = {"claim_ends_on": str(today + timedelta(days=90)), "valid_until": str(today + timedelta(days=8))}
    fields = [client.post("/api/v1/templates", json=template_body(**body), headers=auth(w.bureau_key))
              .get_json()["error"]["fields"] for body in (past, dead)]
    assert fields[0]["claim_ends_on"] == "领取截止日期已过，无人能够领取"
    assert fields[1]["valid_until"].startswith("使用截止日期不能早于领取截止")


@pytest.mark.parametrize("values, field, message", [
    ({"face_value_fen": None}, "face_value_fen", "面值券须填写面值（大于0元）"),
    ({"function_mode": "credential", "face_value_fen": None}, "standard_fen", "抵用券须填写补贴标准（结算时按此金额补贴）"),
    ({"function_mode": "credential", "standard_fen": 90000}, "face_value_fen", "抵用券不设面值，请清空面值（结算按补贴标准补贴）"),
    ({"claim_ends_on": "2020-01-01"}, "claim_ends_on", "领取截止不能早于领取开始"),
    ({"valid_days": None}, "valid_until", "请设置使用期限：截止日期或领取后天数（至少一项）"),
])
def test_the_api_refuses_a_template_by_the_rules_and_words_of_the_page(client, w, values, field, message):
    """One rule, one place: vouchers/templates.py serves the 制券 page and the API alike."""
    response = client.post("/api/v1/templates", json=template_body(**values), headers=auth(w.bureau_key))
    assert response.status_code == 422 and response.get_json()["error"]["fields"][field] == message


def test_text_is_read_without_the_spaces_around_it(client, w, session):
    blank = client.post("/api/v1/templates", json=template_body(name="   "), headers=auth(w.bureau_key))
    assert blank.status_code == 422 and blank.get_json()["error"]["fields"]["name"] == "不能为空"
    padded = client.post("/api/v1/templates", json=template_body(name="  电工培训券 "), headers=auth(w.bureau_key))
    assert padded.status_code == 201 and padded.get_json()["name"] == "电工培训券"


def test_a_template_may_set_both_a_fixed_deadline_and_days_after_claim_as_on_the_page(client, w):
    until = str(local_today() + timedelta(days=100))
    response = client.post("/api/v1/templates", json=template_body(valid_until=until), headers=auth(w.bureau_key))
    assert response.status_code == 201 and response.get_json()["valid_until"] == until


def test_template_for_another_region_is_out_of_scope(client, w):
    response = client.post("/api/v1/templates", json=template_body(region_code="500000"), headers=auth(w.bureau_key))
    assert response.status_code == 403


@pytest.mark.parametrize("key_name", ["institution_key", "channel_key"])
def test_only_bureaus_create_templates(client, w, key_name):
    response = client.post("/api/v1/templates", json=template_body(), headers=auth(getattr(w, key_name)))
    assert response.status_code == 403 and error_code(response) == "FORBIDDEN"


# --- the policy a template follows ---------------------------------------------------------------

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


# --- POST /templates/{id}/activation ----------------------------------------------------------------

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


# --- issuance -------------------------------------------------------------------------------------

def test_general_issuance_offers_and_reports_per_person(client, w, session):
    new_id = f.valid_id_number()
    people = [{"id_number": new_id, "name": "李新人", "phone": "13700000001"},
              {"id_number": w.person.id_number, "name": w.person.name},
              {"id_number": "123", "name": "坏号码"}]
    response = client.post(f"/api/v1/templates/{w.template.id}/issuances", json={"people": people},
                           headers=auth(w.bureau_key))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert [v["status"] for v in body["done"]] == ["offered"]
    assert {r["code"] for r in body["rejected"]} == {"ALREADY_CLAIMED", "INVALID"}
    assert session.scalar(select(Person).where(Person.id_number == new_id)).name == "李新人"


def test_general_issuance_beyond_the_stock_left_is_refused_and_creates_nobody(client, w, session):
    template = f.template(name="限量券", stock=1)
    session.commit()
    people = [{"id_number": f.valid_id_number(), "name": name} for name in ("李新人", "王新人")]
    response = client.post(f"/api/v1/templates/{template.id}/issuances", json={"people": people},
                           headers=auth(w.bureau_key))
    error = response.get_json()["error"]
    assert response.status_code == 409 and error["code"] == "OUT_OF_STOCK" and "最多还能向1人发放" in error["message"]
    assert session.scalar(select(func.count(Voucher.id)).where(Voucher.template_id == template.id)) == 0
    assert session.scalar(select(Person).where(Person.id_number == people[0]["id_number"])) is None


def test_directed_issuance_naming_more_people_than_places_is_refused(client, w, session):
    directed = f.directed_template(name="定向券")
    w.training_class.capacity = 1
    session.commit()
    people = [{"id_number": f.valid_id_number(), "name": name} for name in ("李新人", "王新人")]
    response = client.post(f"/api/v1/templates/{directed.id}/issuances", headers=auth(w.bureau_key),
                           json={"people": people, "class_id": w.training_class.id})
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "CLASS_FULL"
    assert session.scalar(select(func.count(Voucher.id)).where(Voucher.template_id == directed.id)) == 0


def test_directed_issuance_needs_a_class_and_yields_claimed_vouchers(client, w, session):
    directed = f.directed_template()
    session.commit()
    people = [{"id_number": f.valid_id_number(), "name": "赵定向"}]
    missing = client.post(f"/api/v1/templates/{directed.id}/issuances", json={"people": people},
                          headers=auth(w.bureau_key))
    assert missing.status_code == 409 and error_code(missing) == "NOT_APPLICABLE"
    response = client.post(f"/api/v1/templates/{directed.id}/issuances",
                           json={"people": people, "class_id": w.training_class.id}, headers=auth(w.bureau_key))
    assert response.status_code == 201, response.get_json()
    done = response.get_json()["done"]
    assert [v["status"] for v in done] == ["claimed"]
    assert session.query(Enrolment).filter_by(class_id=w.training_class.id).count() == 1


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


@pytest.mark.parametrize("kind, words", f.LAPSED)
def test_the_api_refuses_offers_of_a_lapsed_template_and_writes_nothing(client, w, session, kind, words):
    template = f.lapsed_template(kind)
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


def test_offers_may_go_out_before_the_claim_window_opens(client, w, session):
    today = local_today()
    early = f.template(claim_starts_on=today + timedelta(days=5), claim_ends_on=today + timedelta(days=30))
    session.commit()
    response = client.post(f"/api/v1/templates/{early.id}/issuances",
                           json={"people": [{"id_number": f.valid_id_number(), "name": "李新人"}]},
                           headers=auth(w.bureau_key))
    assert response.status_code == 201 and [v["status"] for v in response.get_json()["done"]] == ["offered"]


def test_issuance_of_a_foreign_template_is_not_found(client, w):
    response = client.post(f"/api/v1/templates/{w.template.id}/issuances",
                           json={"people": [{"id_number": f.valid_id_number(), "name": "张三"}]},
                           headers=auth(w.foreign_bureau_key))
    assert response.status_code == 404


# --- people's vouchers, voucher status, revocation ------------------------------------------------

def test_people_vouchers_unmasked_only_to_the_owning_bureau(client, w, session):
    path = f"/api/v1/people/{w.person.id_number}/vouchers"
    bureau = client.get(path, headers=auth(w.bureau_key)).get_json()
    assert bureau["person"]["id_number"] == w.person.id_number
    assert [v["code"] for v in bureau["vouchers"]] == [w.voucher.code]
    channel = client.get(path, headers=auth(w.channel_key))
    assert channel.status_code == 200 and "*" in channel.get_json()["person"]["id_number"]
    other_channel = client.get(path, headers=auth(key_for("channel", "ykb")))
    assert other_channel.status_code == 404
    assert client.get(path, headers=auth(w.foreign_bureau_key)).status_code == 404
    assert client.get(path, headers=auth(w.institution_key)).status_code == 403


def test_voucher_status_for_bureau_and_the_institution_where_used(client, w, session):
    path = f"/api/v1/vouchers/{w.voucher.code}"
    assert client.get(path, headers=auth(w.bureau_key)).get_json()["status"] == "claimed"
    assert client.get(path, headers=auth(w.institution_key)).status_code == 404  # not used there yet
    w.voucher.status, w.voucher.institution_id, w.voucher.class_id = "used", w.institution.id, w.training_class.id
    session.commit()
    body = client.get(path, headers=auth(w.institution_key)).get_json()
    assert body["status"] == "used" and body["institution_code"] == w.institution.code
    assert client.get(path, headers=auth(w.other_institution_key)).status_code == 404
    assert client.get(path, headers=auth(w.foreign_bureau_key)).status_code == 404
    unknown = client.get("/api/v1/vouchers/NOSUCHCODE", headers=auth(w.bureau_key))
    assert unknown.status_code == 404 and error_code(unknown) == "VOUCHER_NOT_FOUND"
    # Out of scope looks the same as unknown: its existence is not the caller's to learn.
    assert error_code(client.get(path, headers=auth(w.foreign_bureau_key))) == "VOUCHER_NOT_FOUND"


def test_revocations_report_per_code(client, w, session):
    used = f.voucher(f.template(name="另一张"), w.person, status="used")
    session.commit()
    response = client.post("/api/v1/vouchers/revocations",
                           json={"codes": [w.voucher.code, used.code, "NOSUCH"], "reason": "重复发放"},
                           headers=auth(w.bureau_key))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["done"] == [w.voucher.code]
    assert {(r["voucher_code"], r["code"]) for r in body["rejected"]} == {(used.code, "VOUCHER_ALREADY_USED"),
                                                                        ("NOSUCH", "VOUCHER_NOT_FOUND")}
    session.expire_all()
    assert session.get(Voucher, w.voucher.id).status == "revoked"
    assert session.query(AuditEvent).filter_by(action="voucher.revoke").count() == 1


def test_revocation_by_a_foreign_bureau_changes_nothing(client, w, session):
    response = client.post("/api/v1/vouchers/revocations", json={"codes": [w.voucher.code], "reason": "重复发放"},
                           headers=auth(w.foreign_bureau_key))
    assert response.get_json()["done"] == []
    assert session.get(Voucher, w.voucher.id).status == "claimed"


# --- institutions and certificates ----------------------------------------------------------------

def test_institutions_batch_creates_all_with_officers(client, w, session):
    response = client.post("/api/v1/institutions", json={"institutions": [institution_row(), institution_row("3306002")]},
                           headers=auth(w.bureau_key))
    assert response.status_code == 201, response.get_json()
    made = response.get_json()["institutions"]
    assert [m["code"] for m in made] == ["3306001", "3306002"]
    assert all(m["officer_password"] for m in made)
    institution = session.scalar(select(Institution).where(Institution.code == "3306001"))
    assert institution.sites[0].radius_m == 500
    assert session.scalar(select(StaffUser).where(StaffUser.username == "officer_3306001")) is not None


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


def test_institutions_batch_with_a_bad_row_creates_nothing(client, w, session):
    before = session.scalar(select(func.count(Institution.id)))
    rows = [institution_row(), institution_row("3306002", region_code="999999"),
            institution_row("3306003", officer_id_number="330602198501010000")]
    response = client.post("/api/v1/institutions", json={"institutions": rows}, headers=auth(w.bureau_key))
    assert response.status_code == 422
    assert {r["index"] for r in response.get_json()["error"]["rows"]} == {2, 3}
    assert session.scalar(select(func.count(Institution.id))) == before


def test_certificate_is_recorded_for_a_known_person(client, w, session):
    body = {"id_number": w.person.id_number, "name": w.person.name, "number": "CERT-1", "occupation": "电工",
            "level": "四级", "issued_on": "2026-06-01", "issuer": "绍兴市职业技能鉴定中心"}
    response = client.post("/api/v1/certificates", json=body, headers=auth(w.bureau_key))
    assert response.status_code == 201, response.get_json()
    assert session.scalar(select(Certificate.person_id).where(Certificate.number == "CERT-1")) == w.person.id
    again = client.post("/api/v1/certificates", json=body, headers=auth(w.bureau_key))
    assert again.status_code == 422 and "number" in again.get_json()["error"]["fields"]
    wrong_name = client.post("/api/v1/certificates", json={**body, "number": "CERT-2", "name": "别人"},
                             headers=auth(w.bureau_key))
    assert wrong_name.status_code == 422
    foreign = client.post("/api/v1/certificates", json={**body, "number": "CERT-3"}, headers=auth(w.foreign_bureau_key))
    assert foreign.status_code == 404


def test_a_certificate_issued_in_the_future_is_refused(client, w):
    tomorrow = (local_today() + timedelta(days=1)).isoformat()
    response = client.post("/api/v1/certificates", json=certificate_body(w.person, issued_on=tomorrow),
                           headers=auth(w.bureau_key))
    assert (response.status_code, error_code(response)) == (422, "VALIDATION_FAILED")
    assert response.get_json()["error"]["fields"]["issued_on"].startswith("发证日期不能晚于今天")
    assert count(Certificate) == 0
