"""Sign-in hardening: channel eligibility fields, NUL bytes, sign-out ends copied cookies, one form of an ID
number, names, signed-in users skip sign-in pages, security headers."""
import time

import pytest
from sqlalchemy import func, select

from h5app.auth.sso import mint_ticket
from h5app.models import AuditEvent, Person

from . import factories as f
from .auth_support import (
    SECRET, ticket_for, text_of, staff_login, PHONE, _verify_new_phone, bind,
)


# --- eligibility data from the channel, NUL bytes, sign-out ends copied cookies ----------------------

def test_channel_may_send_the_persons_region_groups_and_insurance_months(client, session, channel):
    id_number = f.valid_id_number()
    ticket = mint_ticket(SECRET, id_number=id_number, name="李秀英", phone="", nonce="extra-fields-1",
                         region_code="330603", groups=["unemployed", "graduate"], insurance_months=40)
    assert client.get("/sso/zhrs", query_string={"ticket": ticket}).status_code == 302
    person = session.scalar(select(Person).where(Person.id_number == id_number))
    assert (person.region_code, person.groups, person.insurance_months) == ("330603", ["unemployed", "graduate"], 40)
    [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "person.sso_login")).all()
    assert event.person_id == person.id and event.details == {"channel": "zhrs", "created": True}


@pytest.mark.parametrize("extra", [
    {"region_code": "33060"}, {"region_code": "３３０６０３"}, {"groups": ["no_such_group"]},
    {"groups": "unemployed"}, {"insurance_months": -1}, {"insurance_months": "40"}, {"insurance_months": True},
])
def test_malformed_optional_fields_are_ignored_not_trusted(client, session, channel, extra):
    id_number = f.valid_id_number()
    ticket = mint_ticket(SECRET, id_number=id_number, name="李秀英", phone="", nonce=f"n-{time.monotonic_ns()}",
                         **extra)
    assert client.get("/sso/zhrs", query_string={"ticket": ticket}).status_code == 302
    person = session.scalar(select(Person).where(Person.id_number == id_number))
    assert (person.region_code, person.groups, person.insurance_months) == (None, [], 0)


@pytest.mark.parametrize("method,url,data", [
    ("get", "/sso/zh%00rs", None),
    ("get", "/login?next=%00", None),
    ("get", "/login?x%00y=1", None),
    ("post", "/login", {"username": "admin\x00", "password": "x"}),
    ("post", "/sms", {"phone": "138\x0000000000"}),
])
def test_nul_bytes_are_refused_with_400(client, method, url, data):
    response = getattr(client, method)(url, data=data)
    assert response.status_code == 400 and "请求有误" in text_of(response)


def test_signing_out_ends_a_copied_session_cookie(client, new_client, session):
    user = f.staff("bureau")
    session.commit()
    staff_login(client, user.username)
    copied = client.get_cookie("session").value
    client.post("/logout")

    thief = new_client()
    thief.set_cookie("session", copied)
    assert thief.get("/bureau/").status_code == 302  # sent to sign in: the cookie no longer counts


FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


@pytest.mark.parametrize("typed", [
    lambda n: n.translate(FULL_WIDTH),
    lambda n: f"{n[:6]} {n[6:14]} {n[14:]}",
    lambda n: n.lower(),
])
def test_an_id_number_typed_another_way_finds_the_same_person(app, client, session, typed):
    person = f.person(name="王建国", phone=None, verified_via="roster", id_number=f.valid_id_number(born="19800101"))
    session.commit()
    _verify_new_phone(app, client)
    assert bind(client, "王建国", typed(person.id_number)).status_code == 302
    assert session.scalar(select(func.count(Person.id))) == 1
    session.refresh(person)
    assert person.phone == PHONE


@pytest.mark.parametrize("name", ["<b>x</b>", "张 三", "张3", "王"])
def test_binding_refuses_what_is_not_a_name(app, client, session, name):
    _verify_new_phone(app, client)
    response = bind(client, name, f.valid_id_number())
    assert response.status_code == 400 and "姓名格式不正确" in text_of(response)
    assert session.scalar(select(func.count(Person.id))) == 0


@pytest.mark.parametrize("url", ["/sms", "/sms/verify", "/bind", "/login"])
def test_a_signed_in_worker_is_sent_home_from_sign_in_pages(client, session, channel, url):
    client.get("/sso/zhrs", query_string={"ticket": ticket_for(f.valid_id_number())})
    response = client.get(url)
    assert response.status_code == 302 and response.headers["Location"] == "/worker/"


def test_pages_carry_security_headers(client):
    headers = client.get("/").headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_a_workers_pages_are_not_kept_by_the_browser_for_the_back_button(client, session, channel):
    """After 确认领取 or 退出, going back must ask the server again, not show the card with its
    领取 button and old stock (or a voucher, on a shared phone) from the browser's cache."""
    client.get("/sso/zhrs", query_string={"ticket": ticket_for(f.valid_id_number())})
    for url in ("/worker/", "/worker/cards", "/worker/vouchers"):
        assert client.get(url).headers["Cache-Control"] == "no-store"


def test_a_view_that_sets_a_security_header_keeps_its_own(make_app):
    app = make_app()

    @app.route("/framed")
    def framed():
        return "ok", {"x-frame-options": "SAMEORIGIN"}

    headers = app.test_client().get("/framed").headers
    assert headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert headers["X-Content-Type-Options"] == "nosniff"
