"""The contract around the endpoints: the OpenAPI document, keys, the error format (the words of its
messages are in test_api_error_messages.py), idempotency, rate limits and CSRF."""
import re
import socket
import threading
import time
from datetime import timedelta

import pytest
from flask.sessions import SecureCookieSessionInterface
from openapi_spec_validator import validate
from sqlalchemy import func, select, update

from h5app.api.keys import forget_cached_keys
from h5app.extensions import db, limiter
from h5app.models import ApiKey, IdempotencyRecord, Issuance, Voucher
from h5app.timeutil import utcnow

from . import factories as f
from .api_support import auth, error_code, world


@pytest.fixture
def w(session):
    return world()


def _flask_rule_to_openapi(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def test_openapi_document_is_valid_and_covers_every_route(app, client):
    document = client.get("/api/v1/openapi.json").get_json()
    validate(document)
    routes = {(_flask_rule_to_openapi(rule.rule), method.lower())
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routes == documented
    for path, item in document["paths"].items():
        for method, operation in item.items():
            params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert params == set(re.findall(r"\{(\w+)\}", path)), (method, path)
            if method == "post" and path != "/api/v1/openapi.json":
                assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"])


def test_the_settlement_list_documents_the_filters_it_reads(client):
    """API.md's GET /settlements?status=&payee_kind=&region_code=&from=&to= and its paging."""
    operation = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/settlements"]["get"]
    query = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    assert set(query) == {"status", "payee_kind", "region_code", "from", "to", "page"}
    assert query["payee_kind"]["schema"]["enum"] == ["institution", "worker"]


def test_api_md_endpoints_are_all_there(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    contract = """GET /templates|POST /templates|POST /templates/{id}/issuances|GET /people/{id_number}/vouchers|
    GET /vouchers/{code}|POST /vouchers/revocations|POST /institutions|POST /classes|POST /classes/{id}/trainees|
    POST /verifications|POST /trainees/lookup|POST /checkins|POST /classes/{id}/results|POST /settlements|
    GET /settlements/{id}|POST /settlements/{id}/review|POST /settlements/{id}/payment|POST /certificates"""
    for line in contract.split("|"):
        method, path = line.split()
        assert method.lower() in paths["/api/v1" + path], line


def test_request_bodies_use_the_contract_field_names(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assert set(schemas["VerificationIn"]["properties"]) == {"qr", "class_id"}
    assert {"result", "voucher", "trainee"} <= set(schemas["VerificationOut"]["properties"])
    assert {"code", "status", "template_id", "function_mode", "distribution_mode", "face_value_fen", "claimed_at",
            "expires_at", "used_at", "class_id", "institution_code", "settled_at"} == set(
        schemas["VoucherOut"]["properties"])


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}])
def test_missing_or_bad_key_is_401(client, w, headers):
    response = client.get("/api/v1/templates", headers=headers)
    assert response.status_code == 401 and error_code(response) == "UNAUTHORIZED"


def test_revoked_key_is_refused_at_once(app, client, w, session):
    assert client.get("/api/v1/templates", headers=auth(w.bureau_key)).status_code == 200
    prefix = w.bureau_key.split(".")[0]
    result = app.test_cli_runner().invoke(args=["api-key", "revoke", prefix])
    assert result.exit_code == 0, result.output
    assert client.get("/api/v1/templates", headers=auth(w.bureau_key)).status_code == 401


def test_cli_creates_keys_per_scope_and_shows_them_once(app, client, w, session):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["api-key", "create", "--institution", w.institution.code])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == token.split(".")[0]))
    assert (row.scope_type, row.scope_code) == ("institution", w.institution.code)
    assert token not in row.key_hash and len(row.key_hash) == 64
    assert client.get("/api/v1/templates", headers=auth(token)).status_code == 200
    assert runner.invoke(args=["api-key", "create", "--bureau", "330600", "--channel", "zhrs"]).exit_code != 0
    assert runner.invoke(args=["api-key", "create", "--channel", "nope"]).exit_code != 0


def test_last_used_is_written_at_most_once_a_minute(client, w, session):
    forget_cached_keys()
    prefix = w.bureau_key.split(".")[0]

    def last_used():
        session.expire_all()
        return session.scalar(select(ApiKey.last_used_at).where(ApiKey.prefix == prefix))

    client.get("/api/v1/templates", headers=auth(w.bureau_key))
    first = last_used()
    assert first is not None
    forget_cached_keys()  # as another worker would: the database guard still holds it
    client.get("/api/v1/templates", headers=auth(w.bureau_key))
    assert last_used() == first
    session.execute(ApiKey.__table__.update().where(ApiKey.prefix == prefix)
                    .values(last_used_at=utcnow() - timedelta(minutes=2)))
    session.commit()
    forget_cached_keys()
    client.get("/api/v1/templates", headers=auth(w.bureau_key))
    assert last_used() > first - timedelta(seconds=1)


def test_unknown_route_and_method_answer_in_the_error_format(client, w):
    missing = client.get("/api/v1/nothing-here", headers=auth(w.bureau_key))
    assert missing.status_code == 404 and error_code(missing) == "NOT_FOUND"
    wrong = client.delete("/api/v1/templates", headers=auth(w.bureau_key))
    assert wrong.status_code == 405 and error_code(wrong) == "METHOD_NOT_ALLOWED"
    assert client.get("/no-such-page").mimetype == "text/html"  # pages keep their HTML error pages


@pytest.mark.parametrize("data", [b"{not json", b"", b"\xff\xfe", b"null"])
def test_malformed_json_is_400_and_changes_nothing(client, w, session, data):
    response = client.post("/api/v1/vouchers/revocations", data=data, content_type="application/json",
                           headers=auth(w.bureau_key))
    assert response.status_code == 400 and error_code(response) == "BAD_REQUEST"
    assert session.get(Voucher, w.voucher.id).status == "claimed"


@pytest.mark.parametrize("body", [[], {"codes": "abc", "reason": "x"}, {"codes": [], "reason": "x"},
                                  {"codes": ["A"], "reason": ""}, {"codes": ["A\u0000"], "reason": "x"}])
def test_invalid_fields_are_422(client, w, body):
    response = client.post("/api/v1/vouchers/revocations", json=body, headers=auth(w.bureau_key))
    assert response.status_code == 422 and error_code(response) == "VALIDATION_FAILED"


def test_huge_ids_are_not_found_not_500(client, w):
    response = client.get(f"/api/v1/settlements/{10**30}", headers=auth(w.bureau_key))
    assert response.status_code == 404
    response = client.post("/api/v1/verifications", json={"qr": "X", "class_id": 10**30},
                           headers=auth(w.institution_key))
    assert response.status_code == 422


def issue(client, w, key="k-1", people=None):
    people = people or [{"id_number": f.valid_id_number(serial=7), "name": "吴幂等"}]
    return client.post(f"/api/v1/templates/{w.template.id}/issuances", json={"people": people},
                       headers=auth(w.bureau_key, **{"Idempotency-Key": key}))


def test_idempotent_replay_returns_the_first_answer_without_a_second_effect(client, w, session):
    first = issue(client, w)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = issue(client, w)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert session.scalar(select(func.count(Issuance.id))) == 1


def test_idempotency_key_reused_with_another_body_is_422(client, w, session):
    issue(client, w)
    other = issue(client, w, people=[{"id_number": f.valid_id_number(serial=8), "name": "郑另一"}])
    assert other.status_code == 422 and error_code(other) == "IDEMPOTENCY_KEY_REUSED"
    assert session.scalar(select(func.count(Issuance.id))) == 1


def test_a_key_older_than_24_hours_runs_again_and_keeps_one_answer(client, w, session):
    first = issue(client, w)
    assert first.status_code == 201
    session.execute(update(IdempotencyRecord).values(created_at=utcnow() - timedelta(hours=25)))
    session.commit()
    later = issue(client, w, people=[{"id_number": f.valid_id_number(serial=8), "name": "郑另一"}])
    assert later.status_code == 201 and "Idempotent-Replayed" not in later.headers
    assert session.scalar(select(func.count(Issuance.id))) == 2
    assert session.scalar(select(func.count(IdempotencyRecord.id))) == 1


def test_idempotency_keys_belong_to_one_api_key(client, w, session):
    issue(client, w)
    bureau_two = w.bureau_key
    from .api_support import key_for

    w.bureau_key = key_for("bureau", "330600")
    fresh = issue(client, w)
    assert fresh.status_code == 201 and "Idempotent-Replayed" not in fresh.headers
    w.bureau_key = bureau_two


def test_domain_refusals_are_replayed_too(client, w, session):
    body = {"qr": f.qr_for(w.voucher), "class_id": w.other_class.id}
    w.other_class.institution_id = w.institution.id
    w.template.occupation = "焊工"
    session.commit()
    headers = auth(w.institution_key, **{"Idempotency-Key": "v-1"})
    first = client.post("/api/v1/verifications", json=body, headers=headers)
    again = client.post("/api/v1/verifications", json=body, headers=headers)
    assert first.status_code == again.status_code == 409
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_key_still_in_flight_is_refused_not_run_twice(client, w, session):
    owner = "key:" + str(session.scalar(select(ApiKey.id).where(ApiKey.prefix == w.bureau_key.split(".")[0])))
    body = b'{"people": [{"id_number": "x", "name": "y"}]}'
    import hashlib

    path = f"/api/v1/templates/{w.template.id}/issuances"
    fingerprint = hashlib.sha256(b"POST " + path.encode() + b"\n" + body).hexdigest()
    session.add(IdempotencyRecord(owner=owner, key="busy", request_hash=fingerprint))
    session.commit()
    response = client.post(path, data=body, content_type="application/json",
                           headers=auth(w.bureau_key, **{"Idempotency-Key": "busy"}))
    assert response.status_code == 409 and error_code(response) == "IDEMPOTENCY_IN_PROGRESS"
    assert session.scalar(select(func.count(Issuance.id))) == 0


def test_concurrent_requests_with_one_key_have_one_effect(app, w, session):
    barrier = threading.Barrier(6)
    statuses = []
    path = f"/api/v1/templates/{w.template.id}/issuances"
    body = {"people": [{"id_number": f.valid_id_number(serial=9), "name": "冯并发"}]}
    headers = auth(w.bureau_key, **{"Idempotency-Key": "together"})
    session.rollback()  # hold no transaction (on SQLite every one takes the write lock) while they run

    def call():
        with app.app_context():  # a thread of its own, as a server worker would be
            client = app.test_client()
            barrier.wait()
            response = client.post(path, json=body, headers=headers)
            statuses.append((response.status_code, response.headers.get("Idempotent-Replayed")))
            db.session.remove()

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    session.expire_all()
    assert session.scalar(select(func.count(Issuance.id))) == 1
    assert sorted(statuses, key=str) == sorted([(201, None)] + [(201, "true")] * 5, key=str)


def test_rate_limit_per_key_answers_429_in_the_error_format(make_app, w, restore_limiter):
    limited = make_app(RATELIMIT_ENABLED=True, API_RATE_LIMIT="3 per minute")
    client = limited.test_client()
    answers = [client.get("/api/v1/templates", headers=auth(w.bureau_key)).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    response = client.get("/api/v1/templates", headers=auth(w.bureau_key))
    assert error_code(response) == "RATE_LIMITED" and "每分钟3次" in response.get_json()["error"]["message"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-RateLimit-Remaining"] == "0"
    other = client.get("/api/v1/templates", headers=auth(w.institution_key))  # per key
    assert other.status_code == 200
    assert (other.headers["X-RateLimit-Limit"], other.headers["X-RateLimit-Remaining"]) == ("3", "2")
    assert int(other.headers["X-RateLimit-Reset"]) > time.time()


def test_with_several_limits_the_headers_show_the_tightest(make_app, w, restore_limiter):
    client = make_app(RATELIMIT_ENABLED=True, API_RATE_LIMIT="2 per minute;100 per hour").test_client()
    first = client.get("/api/v1/templates", headers=auth(w.bureau_key))
    assert (first.headers["X-RateLimit-Limit"], first.headers["X-RateLimit-Remaining"]) == ("2", "1")
    client.get("/api/v1/templates", headers=auth(w.bureau_key))
    refused = client.get("/api/v1/templates", headers=auth(w.bureau_key))
    assert refused.status_code == 429
    assert (refused.headers["X-RateLimit-Limit"], refused.headers["X-RateLimit-Remaining"]) == ("2", "0")


def test_one_budget_per_key_across_every_endpoint(make_app, w, session, restore_limiter):
    code = w.voucher.code
    session.commit()  # the other app's request must not wait for this session's SQLite lock
    client = make_app(RATELIMIT_ENABLED=True, API_RATE_LIMIT="3 per minute").test_client()
    answers = [client.get(path, headers=auth(w.bureau_key)).status_code
               for path in ("/api/v1/templates", "/api/v1/openapi.json", f"/api/v1/vouchers/{code}",
                            "/api/v1/openapi.json")]
    assert answers == [200, 200, 200, 429]


def _storage_down(*_args, **_kwargs):
    raise ConnectionError("rate-limit storage unreachable")


def test_a_failing_rate_limit_store_refuses_in_the_error_format(make_app, w, restore_limiter, monkeypatch):
    client = make_app(RATELIMIT_ENABLED=True, TESTING=False).test_client()  # a real 500, not a raised error
    monkeypatch.setattr(limiter.storage, "incr", _storage_down)
    response = client.get("/api/v1/templates", headers=auth(w.bureau_key))
    assert response.status_code == 500 and error_code(response) == "INTERNAL_ERROR"


def test_with_swallow_errors_a_failing_store_lets_requests_through(make_app, w, restore_limiter, monkeypatch):
    client = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SWALLOW_ERRORS=True,
                      API_RATE_LIMIT="1 per minute").test_client()
    monkeypatch.setattr(limiter.storage, "incr", _storage_down)
    answers = [client.get("/api/v1/templates", headers=auth(w.bureau_key)) for _ in range(2)]
    assert [response.status_code for response in answers] == [200, 200]  # uncounted
    assert "X-RateLimit-Limit" not in answers[0].headers


def test_with_the_in_memory_fallback_a_failing_store_counts_in_this_process(make_app, w, restore_limiter,
                                                                            monkeypatch):
    client = make_app(RATELIMIT_ENABLED=True, RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
                      API_RATE_LIMIT="1 per minute").test_client()
    monkeypatch.setattr(limiter.storage, "incr", _storage_down)
    monkeypatch.setattr(limiter.storage, "check", lambda: False)  # and it stays down
    answers = [client.get("/api/v1/templates", headers=auth(w.bureau_key)).status_code for _ in range(2)]
    assert answers == [200, 429]


def test_with_swallow_errors_a_store_failing_after_the_count_never_fails_the_answer(
        make_app, w, session, restore_limiter, monkeypatch):
    """The headers are read after the work is done (a revocation is committed by then). Without
    RATELIMIT_SWALLOW_ERRORS Flask-Limiter answers 500; a retry with the same Idempotency-Key
    then gets the stored answer."""
    code = w.voucher.code
    session.commit()  # the other app's request must not wait for this session's SQLite lock
    client = make_app(RATELIMIT_ENABLED=True, RATELIMIT_SWALLOW_ERRORS=True).test_client()
    monkeypatch.setattr(limiter.storage, "get", _storage_down)
    monkeypatch.setattr(limiter.storage, "get_expiry", _storage_down)
    response = client.post("/api/v1/vouchers/revocations", json={"codes": [code], "reason": "重复发放"},
                           headers=auth(w.bureau_key))
    assert response.status_code == 200 and "X-RateLimit-Limit" not in response.headers
    assert response.get_json()["done"] == [code]


def test_callers_without_a_key_share_their_address_limit(make_app, restore_limiter):
    limited = make_app(RATELIMIT_ENABLED=True, API_RATE_LIMIT="2 per minute")
    client = limited.test_client()
    answers = [client.get("/api/v1/openapi.json").status_code, client.get("/api/v1/templates").status_code,
               client.get("/api/v1/openapi.json").status_code]
    assert answers == [200, 401, 429]


def test_the_api_limit_leaves_the_pages_to_flask_limiter(make_app, w, restore_limiter):
    """A key's requests are not counted against the pages' limits, nor the pages' against the key."""
    limited = make_app(RATELIMIT_ENABLED=True, API_RATE_LIMIT="1 per minute")
    client = limited.test_client()
    assert client.get("/api/v1/templates", headers=auth(w.bureau_key)).status_code == 200
    page = client.get("/sso/nosuchchannel")  # Flask-Limiter's own limit on the page: 60 per minute
    assert page.status_code == 404
    assert (page.headers["X-RateLimit-Limit"], page.headers["X-RateLimit-Remaining"]) == ("60", "59")
    assert client.get("/api/v1/templates", headers=auth(w.bureau_key)).status_code == 429


def test_no_api_limit_when_the_limiter_is_switched_off(make_app, w, restore_limiter):
    unlimited = make_app(RATELIMIT_ENABLED=False, API_RATE_LIMIT="1 per minute")
    limiter.enabled = False
    client = unlimited.test_client()
    assert [client.get("/api/v1/templates", headers=auth(w.bureau_key)).status_code for _ in range(3)] == [200] * 3


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_rate_limit_on_redis_storage(make_app, w, restore_limiter):
    limited = make_app(RATELIMIT_ENABLED=True, API_RATE_LIMIT="2 per minute",
                       RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/15")
    limiter.reset()
    client = limited.test_client()
    answers = [client.get("/api/v1/templates", headers=auth(w.bureau_key)).status_code for _ in range(3)]
    assert answers == [200, 200, 429]


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")
def test_instances_with_their_own_key_prefix_count_apart(make_app, w, restore_limiter):
    settings = {"RATELIMIT_ENABLED": True, "API_RATE_LIMIT": "1 per minute",
                "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/15"}
    one = make_app(**settings, RATELIMIT_KEY_PREFIX="one").test_client()
    limiter.reset()
    assert one.get("/api/v1/templates", headers=auth(w.bureau_key)).status_code == 200
    restore_limiter()  # another instance: its own process, its own limiter, the same Redis
    two = make_app(**settings, RATELIMIT_KEY_PREFIX="two").test_client()
    answers = [two.get("/api/v1/templates", headers=auth(w.bureau_key)).status_code for _ in range(2)]
    assert answers == [200, 429]


def test_csrf_stays_on_forms_and_off_the_api(make_app, w, session):
    code = w.voucher.code
    session.rollback()  # the other app's requests must not wait for this session's SQLite lock
    strict = make_app(WTF_CSRF_ENABLED=True)
    client = strict.test_client()
    assert client.post("/login", data={"username": "x", "password": "y"}).status_code == 400
    response = client.post("/api/v1/vouchers/revocations", json={"codes": [code], "reason": "重复"},
                           headers=auth(w.bureau_key))
    assert response.status_code == 200


def test_api_and_scanner_requests_neither_open_nor_set_the_session_cookie(client, w, monkeypatch):
    opened = []
    original = SecureCookieSessionInterface.open_session

    def spy(self, app, request):
        opened.append(request.path)
        return original(self, app, request)

    monkeypatch.setattr(SecureCookieSessionInterface, "open_session", spy)
    assert client.get("/login").status_code == 200
    client.set_cookie("session", "not-a-signed-session")  # a page would drop it; the API leaves it alone
    api = client.get("/api/v1/templates", headers=auth(w.bureau_key))
    scanner = client.post("/scanner/v1/scans", json={})
    assert api.status_code == 200 and scanner.status_code == 401
    assert opened == ["/login"]
    assert "Set-Cookie" not in api.headers and "Vary" not in api.headers and "Set-Cookie" not in scanner.headers
