"""Behind a reverse proxy (PROXY_FIX_X_FOR, PROXY_FIX_X_PROTO): limits count the client nginx saw,
not nginx; without the setting the X-Forwarded-* headers are ignored, since anyone can send them."""
import pytest
from flask import request

from h5app.config import ConfigError

BEHIND_NGINX = {"PROXY_FIX_X_FOR": 1, "PROXY_FIX_X_PROTO": 1}


def _from(address: str) -> dict:
    return {"X-Forwarded-For": address}


def test_behind_a_proxy_each_client_has_its_own_sign_in_limit(make_app, restore_limiter):
    client = make_app(RATELIMIT_ENABLED=True, **BEHIND_NGINX).test_client()
    for _ in range(60):  # the SSO sign-in limit: 60 a minute per address
        client.get("/sso/nosuchchannel", headers=_from("203.0.113.7"))
    assert client.get("/sso/nosuchchannel", headers=_from("203.0.113.7")).status_code == 429
    assert client.get("/sso/nosuchchannel", headers=_from("203.0.113.8")).status_code == 404


def test_behind_a_proxy_callers_without_a_key_are_counted_per_client(make_app, restore_limiter):
    client = make_app(RATELIMIT_ENABLED=True, API_RATE_LIMIT="1 per minute", **BEHIND_NGINX).test_client()
    answers = [client.get("/api/v1/openapi.json", headers=_from(address)).status_code
               for address in ("203.0.113.7", "203.0.113.8", "203.0.113.7")]
    assert answers == [200, 200, 429]


def test_only_the_address_the_trusted_proxy_added_counts(make_app, restore_limiter):
    """nginx appends the address it saw; whatever the client wrote before it is not trusted."""
    client = make_app(RATELIMIT_ENABLED=True, API_RATE_LIMIT="1 per minute", **BEHIND_NGINX).test_client()
    answers = [client.get("/api/v1/openapi.json", headers=_from(f"{forged}, 203.0.113.7")).status_code
               for forged in ("198.51.100.1", "198.51.100.2")]
    assert answers == [200, 429]


def test_without_a_proxy_a_forged_header_cannot_dodge_a_limit(make_app, restore_limiter):
    client = make_app(RATELIMIT_ENABLED=True, API_RATE_LIMIT="1 per minute").test_client()
    answers = [client.get("/api/v1/openapi.json", headers=_from(address)).status_code
               for address in ("203.0.113.7", "203.0.113.8")]
    assert answers == [200, 429]


@pytest.mark.parametrize(("settings", "scheme"), [(BEHIND_NGINX, "https"), ({}, "http")])
def test_the_scheme_is_taken_from_the_proxy_only_when_configured(make_app, settings, scheme):
    app = make_app(**settings)
    app.add_url_rule("/scheme-seen", "scheme_seen", lambda: request.scheme)
    response = app.test_client().get("/scheme-seen", headers={"X-Forwarded-Proto": "https"})
    assert response.get_data(as_text=True) == scheme


def test_the_proxy_count_is_read_from_the_environment_and_cannot_be_negative(make_app, monkeypatch):
    monkeypatch.setenv("PROXY_FIX_X_FOR", "2")
    assert make_app().config["PROXY_FIX_X_FOR"] == 2
    monkeypatch.setenv("PROXY_FIX_X_FOR", "-1")
    with pytest.raises(ConfigError):
        make_app()
