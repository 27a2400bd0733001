"""What the API says when it refuses a request (API.md, the error format), in words a clerk reads: a
body not said to be JSON is a 415 naming its Content-Type (and the document says so of every
operation with a body); a value not among the choices lists them; a review's errors name the fields
the caller sent; a 429 names its limit; a NUL in the path or the query is a bad value there, not
bad JSON; a body that is not valid JSON says just that."""
import json

import pytest

from h5app.models import VoucherTemplate

from .api_support import auth, count, error_code, template_body, world


@pytest.fixture
def w(session):
    return world()


# --- a body that is not JSON ------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "text/json"])
def test_a_body_that_is_not_said_to_be_json_is_415_and_creates_nothing(client, w, content_type):
    response = client.post("/api/v1/templates", data=json.dumps(template_body()), content_type=content_type,
                           headers=auth(w.bureau_key))
    assert (response.status_code, error_code(response)) == (415, "UNSUPPORTED_MEDIA_TYPE")
    message = response.get_json()["error"]["message"]
    assert "请求体须为 JSON" in message and content_type in message
    assert count(VoucherTemplate) == 1  # the world's own


def test_a_body_without_a_content_type_is_415(client, w):
    response = client.post("/api/v1/templates", data=json.dumps(template_body()).encode(), headers=auth(w.bureau_key))
    assert (response.status_code, error_code(response)) == (415, "UNSUPPORTED_MEDIA_TYPE")
    assert "未说明 Content-Type" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/vnd.partner+json"])
def test_json_and_json_suffixed_content_types_are_taken(client, w, content_type):
    response = client.post("/api/v1/templates", data=json.dumps(template_body()), content_type=content_type,
                           headers=auth(w.bureau_key))
    assert response.status_code == 201, response.get_json()


def test_the_document_names_the_415_of_every_operation_with_a_body(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "415" in paths["/api/v1/templates"]["post"]["responses"]
    assert "415" not in paths["/api/v1/templates"]["get"]["responses"]


# --- the words ----------------------------------------------------------------------------------------

def test_a_value_not_among_the_choices_lists_them_in_chinese(client, w):
    response = client.post("/api/v1/templates", json=template_body(function_mode="x"), headers=auth(w.bureau_key))
    assert response.get_json()["error"]["fields"]["function_mode"] == "应为以下之一：face_value、credential"


def test_settlement_review_errors_name_the_fields_the_caller_sent(client, w):
    body = {"approve": [5, {"code": "ABC"}, "X" * 40], "reject": [{"code": "ABC"}]}
    response = client.post("/api/v1/settlements/1/review", json=body, headers=auth(w.bureau_key))
    assert response.get_json()["error"]["fields"] == {
        "approve.0": "应为字符串，或应为对象", "approve.1.amount_fen": "必填", "approve.2": "最多32个字符",
        "reject.0.reason": "必填"}


@pytest.mark.parametrize(("limit", "words"), [
    ("600 per minute", "每分钟600次"), ("100 per 2 hours", "每2小时100次"), ("5000 per day", "每天5000次")])
def test_a_rate_limit_reads_in_chinese(limit, words):
    from limits import parse

    from h5app.api.ratelimit import limit_words

    assert limit_words(parse(limit)) == words


def test_the_429_names_its_limit_in_chinese(make_app, w, restore_limiter):
    client = make_app(RATELIMIT_ENABLED=True, API_RATE_LIMIT="1 per minute").test_client()
    client.get("/api/v1/templates", headers=auth(w.bureau_key))
    refused = client.get("/api/v1/templates", headers=auth(w.bureau_key))
    assert refused.status_code == 429
    assert refused.get_json()["error"]["message"] == "请求过于频繁，请稍后再试（限额：每分钟1次）"


def test_a_nul_in_the_path_is_explained_as_a_bad_path_value(client, w):
    response = client.get("/api/v1/people/%00/vouchers", headers=auth(w.bureau_key))
    assert (response.status_code, error_code(response)) == (400, "BAD_REQUEST")
    message = response.get_json()["error"]["message"]
    assert "路径" in message and "JSON" not in message
    query = client.get("/api/v1/settlements?status=%00", headers=auth(w.bureau_key))
    assert "查询参数" in query.get_json()["error"]["message"]


def test_the_json_parse_error_keeps_its_own_words(client, w):
    response = client.post("/api/v1/templates", data="{", content_type="application/json", headers=auth(w.bureau_key))
    assert response.status_code == 400 and response.get_json()["error"]["message"] == "请求体不是有效的 JSON"
