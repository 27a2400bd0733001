"""/metrics (Prometheus): latency by endpoint, the engine's claims and verifications counted when
their transaction commits, refusals by code, settlement amounts; /healthz and /readyz."""
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from h5app import metrics
from h5app.timeutil import local_today
from h5app.vouchers import audit
from h5app.vouchers import claim as claim_service

from . import factories as f
from .api_support import auth, key_for, used_and_completed, verify, world


def sample(client, name: str, **labels) -> float:
    """What /metrics reports for `name`, added up over the series that carry `labels`."""
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return sum(found.value for family in text_string_to_metric_families(response.get_data(as_text=True))
               for found in family.samples
               if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()))


@pytest.fixture
def w(session):
    return world()


def test_metrics_counts_a_verification_once_and_times_its_endpoint(client, w):
    verified = sample(client, "h5app_verifications_total", actor="api_key")
    timed = sample(client, "h5app_request_duration_seconds_count", endpoint="api.verify_voucher", method="POST")
    assert verify(client, w).get_json()["result"] == "verified"
    assert sample(client, "h5app_verifications_total", actor="api_key") == verified + 1
    assert sample(client, "h5app_request_duration_seconds_count", endpoint="api.verify_voucher",
                  method="POST") == timed + 1
    assert verify(client, w).get_json()["result"] == "already_verified"  # nothing moved: not counted
    assert sample(client, "h5app_verifications_total", actor="api_key") == verified + 1


def test_a_refusal_is_counted_by_its_code_and_moves_nothing(client, w, session):
    verify(client, w)
    w.other_class.institution_id = w.institution.id
    session.commit()
    refused = sample(client, "h5app_refusals_total", code="VOUCHER_ALREADY_USED")
    verified = sample(client, "h5app_verifications_total", actor="api_key")
    assert verify(client, w, class_id=w.other_class.id).status_code == 409
    assert sample(client, "h5app_refusals_total", code="VOUCHER_ALREADY_USED") == refused + 1
    assert sample(client, "h5app_verifications_total", actor="api_key") == verified


def test_a_claim_rolled_back_is_not_counted(client, session):
    person, template = f.person(insurance_months=20, groups=["unemployed"]), f.template()
    session.commit()
    before = sample(client, "h5app_claims_total")
    claim_service.claim(session, person, template)
    assert sample(client, "h5app_claims_total") == before + 1
    audit.record(session, audit.Actor.for_person(person), "voucher.claim", person_id=person.id)
    session.rollback()  # an audit row written, then the transaction given up
    assert sample(client, "h5app_claims_total") == before + 1


def test_settlement_amounts_are_counted_on_review_and_payment(client, w, session):
    used_and_completed(w, session)
    approved = sample(client, "h5app_settlement_amount_fen_total", stage="approved")
    paid = sample(client, "h5app_settlement_amount_fen_total", stage="paid")
    settlement = client.post("/api/v1/settlements", json={"class_id": w.training_class.id},
                             headers=auth(w.institution_key)).get_json()
    path = f"/api/v1/settlements/{settlement['id']}"
    assert client.post(path + "/review", json={"approve": [w.voucher.code]}, headers=auth(w.bureau_key)).status_code == 200
    assert sample(client, "h5app_settlement_amount_fen_total", stage="approved") == approved + 150000
    cashier = key_for("bureau", "330600")
    payment = client.post(path + "/payment", json={"reference": "HD1", "paid_on": local_today().isoformat()}, headers=auth(cashier))
    assert payment.status_code == 200
    assert sample(client, "h5app_settlement_amount_fen_total", stage="paid") == paid + 150000


def test_metrics_can_be_switched_off(make_app):
    assert make_app(METRICS_ENABLED=False).test_client().get("/metrics").status_code == 404


def test_refusals_passing_through_nested_services_count_once():
    class Refusal(Exception):
        code = "NESTED"

    error = Refusal()
    before = REGISTRY.get_sample_value("h5app_refusals_total", {"code": "NESTED"}) or 0
    metrics.count_refusal(error)
    metrics.count_refusal(error)
    assert REGISTRY.get_sample_value("h5app_refusals_total", {"code": "NESTED"}) == before + 1


def test_healthz_answers_without_the_database_and_readyz_checks_it(client, make_app):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"]["database"] == "ok"
    assert "Set-Cookie" not in ready.headers
    broken = make_app(SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody@127.0.0.1:1/none").test_client()
    assert broken.get("/healthz").status_code == 200
    down = broken.get("/readyz")
    assert down.status_code == 503 and down.headers["Retry-After"] == "5"
    assert down.get_json()["checks"]["database"] == "unreachable"
