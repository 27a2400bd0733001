"""An Idempotency-Key's retry is the same request when it says the same thing: the partner's JSON
library may send the body again with other spacing or key order; another body is still refused."""
import json

from sqlalchemy import func, select

from h5app.models import Issuance

from . import factories as f
from .api_support import auth, error_code, world

DEEP = "[" * 100_000 + "]" * 100_000


def issue(client, w, body: str):
    return client.post(f"/api/v1/templates/{w.template.id}/issuances", data=body, content_type="application/json",
                       headers=auth(w.bureau_key, **{"Idempotency-Key": "same-key"}))


def test_a_retry_reserialised_with_other_spacing_and_key_order_is_replayed(client, session):
    w = world()
    person = {"id_number": f.valid_id_number(serial=5), "name": "吴幂等"}
    first = issue(client, w, json.dumps({"people": [person]}))
    again = issue(client, w, json.dumps({"people": [dict(reversed(list(person.items())))]}, indent=2))

    assert first.status_code == 201 and again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json() == first.get_json()
    assert session.scalar(select(func.count(Issuance.id))) == 1


def test_a_retry_saying_something_else_is_still_refused(client, session):
    w = world()
    issue(client, w, json.dumps({"people": [{"id_number": f.valid_id_number(serial=5), "name": "吴幂等"}]}))
    other = issue(client, w, json.dumps({"people": [{"id_number": f.valid_id_number(serial=6), "name": "郑另一"}]}))
    assert other.status_code == 422 and error_code(other) == "IDEMPOTENCY_KEY_REUSED"


def test_json_nested_past_the_parser_under_a_key_is_a_bad_request(client, session):
    w = world()
    response = issue(client, w, DEEP)
    assert response.status_code == 400
