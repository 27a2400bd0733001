"""A worker's permanent session cookie slides with their visits, but is signed and sent again at most
once a day (h5app/auth/cookies.py), not on every page."""
from datetime import timedelta

from h5app.auth import cookies
from h5app.timeutil import local_today

from . import factories as f
from .auth_support import signed_in_user_id, ticket_for


def sign_in(client):
    response = client.get("/sso/zhrs", query_string={"ticket": ticket_for(f.valid_id_number(), "李秀英", "13805751234")})
    assert response.status_code == 302
    assert "session=" in response.headers.get("Set-Cookie", "")


def test_pages_on_the_day_of_sign_in_send_no_new_cookie(client, channel):
    sign_in(client)
    client.get("/worker/")  # the first page with a form stores its CSRF secret in the session
    page = client.get("/worker/")
    assert page.status_code == 200
    assert "Set-Cookie" not in page.headers
    assert signed_in_user_id(client) is not None


def test_first_page_of_a_new_day_sends_the_cookie_again_with_a_later_expiry(client, channel, monkeypatch):
    sign_in(client)
    client.get("/worker/")
    tomorrow = local_today() + timedelta(days=1)
    monkeypatch.setattr(cookies, "local_today", lambda: tomorrow)
    first = client.get("/worker/")
    assert "session=" in first.headers.get("Set-Cookie", "") and "Expires=" in first.headers["Set-Cookie"]
    second = client.get("/worker/")
    assert "Set-Cookie" not in second.headers
    assert signed_in_user_id(client) is not None


def test_a_changed_session_is_always_sent(client, channel):
    sign_in(client)
    out = client.post("/logout")
    assert out.status_code in (302, 303)
    assert signed_in_user_id(client) is None
