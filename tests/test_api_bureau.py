"""The bureau's and channels' endpoints: templates, issuance, people's vouchers, voucher status,
revocation, institutions, certificates — with each scope refusal."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from h5app.models import AuditEvent, Certificate, Enrolment, Institution, Person, StaffUser, Voucher, VoucherTemplate
from h5app.timeutil import local_today

from . import factories as f
from .api_support import auth, error_code, institution_row, key_for, template_body, world


@pytest.fixture
def w(session):
    return world()


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
    ({"claim_ends_on": "2020-01-01"}, "claim_ends_on", "领取截止不能早于领取开始"),
    ({"valid_days": None}, "valid_until", "请设置使用期限：截止日期或领取后天数（至少一项）"),
])
def test_the_api_refuses_a_template_by_the_rules_and_words_of_the_page(client, w, values, field, message):
    """One rule, one place: vouchers/templates.py serves the 制券 page and the API alike."""
    response = client.post("/api/v1/templates", json=template_body(**values), headers=auth(w.bureau_key))
    assert response.status_code == 422 and response.get_json()["error"]["fields"][field] == message


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


def test_issuance_of_a_foreign_template_is_not_found(client, w):
    response = client.post(f"/api/v1/templates/{w.template.id}/issuances",
                           json={"people": [{"id_number": f.valid_id_number(), "name": "张三"}]},
                           headers=auth(w.foreign_bureau_key))
    assert response.status_code == 404


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
