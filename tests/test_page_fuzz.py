"""Hostile input never answers 5xx, on any route of the app: every rule of the URL map (pages, the
API, the scan-gun endpoint, discovered, not listed by hand) is called as each role — nobody, a
worker, a verifier, an officer, a bureau clerk — with hostile values in its path parameters, in
every query parameter the views read and in every field of every form the app declares. Values are
drawn by Hypothesis from a fixed set of the shapes that broke pages before (huge and negative
numbers, dates past the calendar, long strings, NUL and broken UTF-8, markup, nested JSON), within
a bounded number of examples, so the run stays short on both databases. What a user reads of each
answer — the API's message and fields, a page's notices, flashes and field errors — must not be a
Latin sentence (an English message of a library reaching a Chinese user)."""
import html
import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from h5app.auth.users import session_values
from h5app.extensions import db
from h5app.forms import Form

from . import factories as f

HOSTILE = [
    "99999999999999999999", "-1", "0", "9" * 400, "-99999999999999999999", "1e309", "NaN",
    "2026-13-45", "9999-12-31", "0000-00-00", "99999-01-01", "x" * 10_000, "%FF%FE", "\u202e\u0000",
    "'; DROP TABLE vouchers;--", "<script>alert(1)</script>", "１２３", "²", "null", "[[[[[[[[]]]]]]]]", "{}",
    "../../etc/passwd", " ", "",
]
# Every query parameter a view reads (request.args) and a few a client might invent.
QUERY_NAMES = ["page", "status", "tab", "q", "code", "id_number", "person", "institution", "actor", "from", "to",
               "year", "district", "template_id", "class_id", "before", "after", "payee", "all", "next", "kind",
               "region_code", "payee_kind", "groups", "saved", "ticket", "voucher", "starts_after", "occupation"]


def _form_field_names() -> list[str]:
    """Every field name of every form the app declares, with the prefixes the pages use."""
    names, todo = set(), list(Form.__subclasses__())
    while todo:
        form_class = todo.pop()
        todo.extend(form_class.__subclasses__())
        names.update(name for name, value in vars(form_class).items() if hasattr(value, "field_class"))
    names.update(f"payee-{n}" for n in ("account_name", "bank_name", "account_number", "submit"))
    names.update(f"contact-{n}" for n in ("phone", "address", "submit"))
    names.update(["action", "back", "codes", "give", "groups", "kind", "reason", "qr", "status", "voucher"])
    return sorted(names)


FORM_NAMES = _form_field_names()
ROLES = ["nobody", "worker", "verifier", "officer", "bureau"]


def _routes(app) -> list[tuple[str, str]]:
    """(method, rule) of every route but the static files."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, rule.rule))
    return found


def _path(rule: str, value: str) -> str:
    """Hostile path parameters; an <int:…> one takes the value when it is a number, else 1 (the
    first row of its table, so the view goes on to read the query and the form)."""
    rule = re.sub(r"<int:\w+>", value if value.isdigit() else "1", rule)
    return re.sub(r"<(?:[\w(),= ]+:)?(\w+)>", lambda m: quote(value, safe="") or "x", rule)


@pytest.fixture
def people(app):
    institution = f.institution()
    made = {
        "worker": f.person(),
        "verifier": f.staff("verifier", institution_id=institution.id, region_code=None),
        "officer": f.staff("officer", institution_id=institution.id, region_code=None),
        "bureau": f.staff("bureau"),
    }
    f.training_class(institution)
    db.session.commit()
    return made


LATIN = re.compile(r"[A-Za-z]{2,}[ ,.']+[A-Za-z]{2,}[ ,.']+[A-Za-z]{2,}")  # three Latin words: a sentence
NOTICE = re.compile(r'class="(?:notice[^"]*|field-error|flash[^"]*)"[^>]*>(.*?)</', re.S)


def _messages(response) -> list[str]:
    """What a user reads of an answer's refusal: the API's message and fields, a page's notices,
    flashes and field errors."""
    if response.is_json:
        error = (response.get_json(silent=True) or {}).get("error") or {}
        return [str(error.get("message", "")), *map(str, (error.get("fields") or {}).values())]
    if response.mimetype == "text/html":
        return [re.sub(r"<[^>]+>", " ", m) for m in NOTICE.findall(response.get_data(as_text=True))]
    return []


def _sign_in(client, people, role) -> None:
    """Before every request: a route that signs out (退出 bumps the user's session epoch) must not
    turn the rest of the walk into sign-in redirects."""
    if role == "nobody":
        return
    user = people[role]
    epoch = db.session.scalar(select(type(user).session_epoch).where(type(user).id == user.id))
    with client.session_transaction() as session:
        session.update(session_values(user.get_id(), epoch or 0))


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(value=st.sampled_from(HOSTILE), role=st.sampled_from(ROLES))
def test_no_route_answers_a_server_error_to_hostile_input(app, people, value, role):
    client = app.test_client()
    routes = _routes(app)
    assert len(routes) > 80  # the walk found the whole app
    failures, english = [], []
    query = "&".join(f"{name}={quote(value, safe='%') if value != '%FF%FE' else value}" for name in QUERY_NAMES)
    for method, rule in routes:
        path = _path(rule, value if value else "x")
        _sign_in(client, people, role)
        if method == "GET":
            response = client.get(f"{path}?{query}")
        elif rule.startswith(("/api/", "/scanner/")):
            response = client.open(path, method=method, data=value or "{}", content_type="application/json",
                                   headers={"Authorization": "Bearer " + (value[:200] or "x")})
        else:
            response = client.open(path, method=method, data={name: value for name in FORM_NAMES})
        if response.status_code >= 500:
            failures.append((role, method, rule, value[:30], response.status_code))
        for message in _messages(response):
            # What the user typed may come back in their own words (a scan gun's name): only the
            # page's own sentences must be Chinese.
            if LATIN.search(html.unescape(message).replace(value, "") if value else message):
                english.append((role, method, rule, message[:80]))
        db.session.rollback()
    assert failures == []
    assert sorted(set(english)) == []
