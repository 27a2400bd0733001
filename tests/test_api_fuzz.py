"""A property-based run of the whole API from its own OpenAPI document: generated requests,
valid and invalid, never get a 500 and never an answer the document does not describe."""
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance, not_a_server_error, response_schema_conformance,
    status_code_conformance,
)

from h5app.api.openapi import build
from h5app.extensions import db

from .api_support import auth, world

# negative_data_rejection is left out: the cases it judges include ones where schemathesis dropped
# the Authorization header, which this test puts back.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


# The document the app serves, built the same way (a test in test_api_contract checks it covers
# every route); loaded at import because schemathesis makes one test per operation from it.
schema = schemathesis.openapi.from_dict(build())


@pytest.fixture
def keys(session) -> dict:
    made = world()
    session.commit()
    return {"bureau": made.bureau_key, "institution": made.institution_key, "channel": made.channel_key}


@schema.parametrize()
@settings(max_examples=12, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_api_never_fails_or_breaks_its_document(app, keys, case):
    scopes = case.operation.definition.raw.get("x-scopes") or ["bureau"]
    db.session.rollback()  # on SQLite a transaction left open would hold the write lock
    case.call_and_validate(app=app, headers=auth(keys[scopes[0]]), checks=CHECKS)
