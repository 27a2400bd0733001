"""Hostile input never answers 5xx: an id beyond any database integer in a page URL is a 404 on
every route that takes one (walked from the URL map, as each role), and JSON nested deeper than
the parser goes is a 400 on the API and refused on the scan-gun endpoint."""
import re

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import TrainingClass

from . import factories as f
from .api_support import auth, error_code, key_for
from .auth_support import sign_in as worker_sign_in
from .auth_support import staff_sign_in
from .page_support import form_data
from .scanner_support import bearer, scan_gun

HUGE = "99999999999999999999"  # past 64 bits: SQLite raises OverflowError, PostgreSQL an error
DEEP = "[" * 100_000 + "]" * 100_000


def int_routes(app):
    """Every rule with an <int:…> part, its ints filled with HUGE and its other parts with 'x'."""
    for rule in app.url_map.iter_rules():
        if "<int:" not in rule.rule:
            continue
        path = re.sub(r"<int:\w+>", HUGE, rule.rule)
        path = re.sub(r"<(?:\w+:)?\w+>", "x", path)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, path


@pytest.fixture
def signed_in_as(app, client):
    institution = f.institution()
    people = {
        "bureau": f.staff("bureau"),
        "officer": f.staff("officer", institution_id=institution.id, region_code=None),
        "worker": f.person(),
    }
    db.session.commit()

    def sign_in(role):
        if role == "worker":
            worker_sign_in(client, people[role])
        else:
            staff_sign_in(client, people[role])
        return client

    return sign_in


@pytest.mark.parametrize("role", ["bureau", "officer", "worker"])
def test_an_id_past_any_database_integer_is_never_a_server_error(app, signed_in_as, role):
    client = signed_in_as(role)
    routes = list(int_routes(app))
    assert len(routes) > 20  # the walk found the app's routes
    failures = []
    for method, path in routes:
        status = client.open(path, method=method).status_code
        if status >= 500:
            failures.append((method, path, status))
    assert failures == []


UNICODE_DIGITS = ["²", "٣", "１２"]  # str.isdigit() takes them all; int() refuses the first two
NUMBER_PARAMETERS = ("page", "before", "after", "year", "template_id", "class_id")


def get_routes(app):
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and "<" not in rule.rule and rule.endpoint != "static":
            yield rule.rule


@pytest.mark.parametrize("role", ["bureau", "officer", "worker"])
def test_unicode_digits_in_a_number_parameter_are_never_a_server_error(app, signed_in_as, role):
    client = signed_in_as(role)
    failures = []
    for value in UNICODE_DIGITS:
        query = "&".join(f"{name}={value}" for name in NUMBER_PARAMETERS)
        for path in get_routes(app):
            status = client.get(f"{path}?{query}").status_code
            if status >= 500:
                failures.append((path, value, status))
    assert failures == []


def test_unicode_digits_in_the_apis_page_number_are_a_validation_error(client):
    response = client.get("/api/v1/settlements?page=²", headers=auth(key_for("bureau", "330600")))
    assert response.status_code == 422 and error_code(response) == "VALIDATION_FAILED"


def test_a_page_with_an_id_past_any_integer_is_not_found(signed_in_as):
    client = signed_in_as("officer")
    assert client.get(f"/institution/classes/{HUGE}").status_code == 404


def test_json_nested_deeper_than_the_parser_goes_is_a_bad_request_on_the_api(client):
    institution = f.institution()
    db.session.commit()
    response = client.post("/api/v1/verifications", data=DEEP, content_type="application/json",
                           headers=auth(key_for("institution", institution.code)))
    assert response.status_code == 400 and error_code(response) == "BAD_REQUEST"


def test_json_nested_deeper_than_the_parser_goes_is_refused_by_the_scan_gun_endpoint(client):
    institution = f.institution()
    _device, token = scan_gun(institution)
    db.session.commit()
    response = client.post("/scanner/v1/scans", data=DEEP, content_type="application/json", headers=bearer(token))
    assert 400 <= response.status_code < 500


LATIN_SENTENCE = re.compile(r"[A-Za-z]{2,}[ ,.]+[A-Za-z]{2,}")


@pytest.mark.parametrize("body", [
    {"name": "x" * 200, "region_code": "33060", "function_mode": "money", "distribution_mode": 1,
     "face_value_fen": -1, "claim_starts_on": "2026-13-01", "stock": 1.5, "eligible_groups": "all"},
    {"region_code": 330600, "valid_days": 0, "claim_ends_on": "tomorrow", "audience": None},
    {},
])
def test_api_field_errors_are_in_chinese(client, body):
    response = client.post("/api/v1/templates", json=body, headers=auth(key_for("bureau", "330600")))
    fields = response.get_json()["error"]["fields"]
    assert response.status_code == 422 and len(fields) >= 3
    english = {name: message for name, message in fields.items() if LATIN_SENTENCE.search(message)}
    assert english == {}


def test_form_errors_from_wtforms_itself_are_in_chinese(client):
    """Messages of WTForms' own validators and fields (no message of ours given) reach the page in
    Chinese, from WTForms' bundled catalogue."""
    institution = f.institution()
    officer = f.staff("officer", institution_id=institution.id, region_code=None)
    db.session.commit()
    staff_sign_in(client, officer)

    page = client.post("/institution/classes/new", data=form_data(officer, price="1000000", capacity="0")).get_data(
        as_text=True)

    assert "数值大小必须介于" in page and "Number must be" not in page and "Not a valid" not in page  # 名额
    assert "金额应在0至100,000元之间" in page  # the fee's own words (forms.YuanField)


def test_a_number_past_a_floats_range_and_a_foreign_choice_get_chinese_messages(client):
    """Found by the page fuzz test: WTForms' NumberRange overflowed on a 400-digit integer (500),
    and its "not a valid choice" message is missing from WTForms' zh catalogue."""
    institution = f.institution()
    officer = f.staff("officer", institution_id=institution.id, region_code=None)
    db.session.commit()
    staff_sign_in(client, officer)

    response = client.post("/institution/classes/new", data=form_data(
        officer, capacity="9" * 400, sites=["99999999999999999999"]))

    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "数值过大" in page and "不是可选的值" in page
    assert "valid choice" not in page


@pytest.mark.parametrize("price, words", [("12.345", "金额最多到分"), ("一千", "请填写金额（元）"), ("NaN", "金额最多到分")])
def test_a_fee_is_taken_to_the_fen_or_refused_in_words(client, price, words):
    institution = f.institution()
    officer = f.staff("officer", institution_id=institution.id, region_code=None)
    db.session.commit()
    staff_sign_in(client, officer)
    before = db.session.scalar(select(func.count(TrainingClass.id)))

    page = client.post("/institution/classes/new", data=form_data(officer, price=price)).get_data(as_text=True)

    assert words in page
    assert db.session.scalar(select(func.count(TrainingClass.id))) == before
