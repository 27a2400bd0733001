"""Channel SSO sign-in (PRODUCT.md §6): the exact ticket format, 300 s, single-use nonces, safe `next`."""
import base64
import json
import time

import pytest
from sqlalchemy import func, select

from h5app.identity import mask_id_number
from h5app.models import Person, SsoNonce

from . import factories as f
from .auth_support import (
    CJK, b64, signed, ticket_for, text_of, signed_in_user_id, assert_nobody_signed_in, staff_login, _bad_check_digit_id,
)


# --- channel SSO -----------------------------------------------------------------------------

def test_good_ticket_signs_in_and_creates_the_person(client, session, channel):
    id_number = f.valid_id_number()
    response = client.get("/sso/zhrs", query_string={"ticket": ticket_for(id_number, "李秀英", "13805751234")})
    assert response.status_code == 302
    assert response.headers["Location"] == "/worker/"
    person = session.scalar(select(Person).where(Person.id_number == id_number))
    assert (person.name, person.phone, person.verified_via, person.channel_code) == (
        "李秀英", "13805751234", "sso:zhrs", "zhrs")
    assert signed_in_user_id(client) == f"p:{person.id}"
    home = client.get("/worker/")
    assert home.status_code == 200
    assert mask_id_number(id_number) in text_of(home) and id_number not in text_of(home)


def test_good_ticket_signs_in_an_existing_person_without_duplicating(client, session, channel):
    person = f.person(name="赵敏", verified_via="roster")
    session.commit()
    response = client.get("/sso/zhrs", query_string={"ticket": ticket_for(person.id_number, "赵敏", person.phone)})
    assert response.status_code == 302
    assert signed_in_user_id(client) == f"p:{person.id}"
    assert session.scalar(select(func.count(Person.id))) == 1
    session.refresh(person)
    assert person.verified_via == "sso:zhrs"


def test_replayed_nonce_is_refused(client, new_client, session, channel):
    ticket = ticket_for(f.valid_id_number(), nonce="same-nonce-123")
    assert client.get("/sso/zhrs", query_string={"ticket": ticket}).status_code == 302
    other = new_client()
    response = other.get("/sso/zhrs", query_string={"ticket": ticket})
    assert response.status_code == 400
    assert "已使用过" in text_of(response)
    assert_nobody_signed_in(other)
    assert session.scalar(select(func.count(SsoNonce.id))) == 1


def test_same_nonce_on_another_channel_is_its_own(client, new_client, session, channel):
    other = f.channel(code="wechat", secret="wechat-secret")
    session.commit()
    assert client.get("/sso/zhrs", query_string={"ticket": ticket_for(f.valid_id_number(), nonce="n-12345678")}
                      ).status_code == 302
    response = new_client().get(
        "/sso/wechat", query_string={"ticket": ticket_for(f.valid_id_number(), nonce="n-12345678",
                                                          secret=other.secret)})
    assert response.status_code == 302


def test_ticket_within_300_seconds_is_accepted(client, channel):
    ticket = ticket_for(f.valid_id_number(), ts=time.time() - 290)
    assert client.get("/sso/zhrs", query_string={"ticket": ticket}).status_code == 302


def test_ticket_older_than_300_seconds_is_refused(client, session, channel):
    ticket = ticket_for(f.valid_id_number(), ts=time.time() - 301)
    response = client.get("/sso/zhrs", query_string={"ticket": ticket})
    assert response.status_code == 400
    assert "已过期" in text_of(response)
    assert_nobody_signed_in(client)
    assert session.scalar(select(func.count(Person.id))) == 0


def test_ticket_slightly_ahead_of_our_clock_is_accepted(client, channel):
    ticket = ticket_for(f.valid_id_number(), ts=time.time() + 10)
    assert client.get("/sso/zhrs", query_string={"ticket": ticket}).status_code == 302


def test_ticket_from_the_future_beyond_skew_is_refused(client, channel):
    ticket = ticket_for(f.valid_id_number(), ts=time.time() + 120)
    response = client.get("/sso/zhrs", query_string={"ticket": ticket})
    assert response.status_code == 400
    assert "已过期" in text_of(response)
    assert_nobody_signed_in(client)


@pytest.mark.parametrize("secret", ["another-channels-secret", ""])
def test_ticket_signed_with_another_secret_is_refused(client, session, channel, secret):
    response = client.get("/sso/zhrs", query_string={"ticket": ticket_for(f.valid_id_number(), secret=secret)})
    assert response.status_code == 400
    assert "校验失败" in text_of(response)
    assert_nobody_signed_in(client)
    assert session.scalar(select(func.count(SsoNonce.id))) == 0


def test_ticket_of_another_channel_is_refused(client, session, channel):
    other = f.channel(code="wechat", secret="wechat-secret")
    session.commit()
    response = client.get("/sso/zhrs", query_string={"ticket": ticket_for(f.valid_id_number(), secret=other.secret)})
    assert response.status_code == 400
    assert_nobody_signed_in(client)


def test_tampered_payload_is_refused(client, channel):
    ticket = ticket_for(f.valid_id_number(), name="王建国")
    payload, signature = ticket.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["name"] = "李四"
    forged = b64(json.dumps(data, ensure_ascii=False).encode()) + "." + signature
    response = client.get("/sso/zhrs", query_string={"ticket": forged})
    assert response.status_code == 400
    assert_nobody_signed_in(client)


_MISSING = object()


def _fields(**changes):
    data = {"id_number": f.valid_id_number(), "name": "王建国", "phone": "13912345678", "ts": int(time.time()),
            "nonce": "abcdefgh12345678"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not _MISSING}


def _json(data) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


MALFORMED_TICKETS = {
    "empty": lambda: "",
    "garbage": lambda: "this is not a ticket",
    "missing dot": lambda: b64(_json(_fields())),
    "three parts": lambda: signed(_json(_fields())) + ".extra",
    "empty signature": lambda: b64(_json(_fields())) + ".",
    "bad base64 padding": lambda: "abcde.fghij",
    "non-ascii base64": lambda: "中文凭证.签名",
    "signed non-utf8 payload": lambda: signed(b"\xff\xfe\xfa"),
    "signed non-json payload": lambda: signed(b"id_number=1"),
    "json list": lambda: signed(b"[1, 2, 3]"),
    "json string": lambda: signed(b'"ticket"'),
    "json null": lambda: signed(b"null"),
    "missing ts": lambda: signed(_json(_fields(ts=_MISSING))),
    "ts as text": lambda: signed(_json(_fields(ts=str(int(time.time()))))),
    "ts as float": lambda: signed(_json(_fields(ts=time.time()))),
    "ts as bool": lambda: signed(_json(_fields(ts=True))),
    "missing nonce": lambda: signed(_json(_fields(nonce=_MISSING))),
    "short nonce": lambda: signed(_json(_fields(nonce="abc"))),
    "nonce as number": lambda: signed(_json(_fields(nonce=12345678901))),
    "over-long nonce": lambda: signed(_json(_fields(nonce="n" * 65))),
    "missing id_number": lambda: signed(_json(_fields(id_number=_MISSING))),
    "invalid ID check digit": lambda: signed(_json(_fields(id_number=_bad_check_digit_id()))),
    "ID too short": lambda: signed(_json(_fields(id_number="33060219850101"))),
    "ID as list": lambda: signed(_json(_fields(id_number=["330602198501010011"]))),
    "missing name": lambda: signed(_json(_fields(name=_MISSING))),
    "blank name": lambda: signed(_json(_fields(name="   "))),
    "over-long name": lambda: signed(_json(_fields(name="王" * 31))),
}



@pytest.mark.parametrize("case", list(MALFORMED_TICKETS))
def test_malformed_ticket_is_refused_with_400_never_500(client, session, channel, case):
    response = client.get("/sso/zhrs", query_string={"ticket": MALFORMED_TICKETS[case]()})
    assert response.status_code == 400
    assert CJK.search(text_of(response))
    assert_nobody_signed_in(client)
    assert session.scalar(select(func.count(Person.id))) == 0
    assert session.scalar(select(func.count(SsoNonce.id))) == 0


def test_missing_ticket_parameter_is_refused(client, channel):
    response = client.get("/sso/zhrs")
    assert response.status_code == 400
    assert "格式不正确" in text_of(response)


def test_invalid_id_check_digit_names_the_problem(client, channel):
    response = client.get("/sso/zhrs", query_string={"ticket": signed(_json(_fields(id_number=_bad_check_digit_id())))})
    assert response.status_code == 400
    assert "校验位" in text_of(response)


def test_unknown_channel_is_404(client, channel):
    response = client.get("/sso/nosuch", query_string={"ticket": ticket_for(f.valid_id_number())})
    assert response.status_code == 404
    assert_nobody_signed_in(client)


def test_disabled_channel_is_404(client, session, channel):
    channel.active = False
    session.commit()
    response = client.get("/sso/zhrs", query_string={"ticket": ticket_for(f.valid_id_number())})
    assert response.status_code == 404


def test_name_mismatch_with_existing_person_is_refused(client, session, channel):
    person = f.person(name="王建国")
    session.commit()
    response = client.get("/sso/zhrs", query_string={"ticket": ticket_for(person.id_number, name="王建华")})
    assert response.status_code == 400
    assert "姓名" in text_of(response) and "不一致" in text_of(response)
    assert_nobody_signed_in(client)
    session.refresh(person)
    assert person.name == "王建国"


def test_ticket_phone_already_used_by_another_person_is_not_copied(client, session, channel):
    holder = f.person(phone="13812340000")
    session.commit()
    id_number = f.valid_id_number()
    assert client.get("/sso/zhrs", query_string={"ticket": ticket_for(id_number, phone="13812340000")}
                      ).status_code == 302
    newcomer = session.scalar(select(Person).where(Person.id_number == id_number))
    assert newcomer.phone is None
    session.refresh(holder)
    assert holder.phone == "13812340000"


def test_sso_follows_next_when_it_is_a_local_path(client, channel):
    response = client.get("/sso/zhrs", query_string={"ticket": ticket_for(f.valid_id_number()), "next": "/worker/"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/worker/"


@pytest.mark.parametrize("target", [
    "https://evil.com", "//evil.com", "/\\evil.com", "\\\\evil.com", "/\t/evil.com", "javascript:alert(1)",
    "http:/evil.com", "evil.com", " //evil.com",
])
def test_sso_ignores_next_that_leaves_the_site(client, channel, target):
    response = client.get("/sso/zhrs", query_string={"ticket": ticket_for(f.valid_id_number()), "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/worker/"


def test_sso_sign_in_replaces_a_previous_session(client, session, channel):
    user = f.staff("officer")
    session.commit()
    staff_login(client, user.username)
    assert signed_in_user_id(client) == f"s:{user.id}"
    client.get("/sso/zhrs", query_string={"ticket": ticket_for(f.valid_id_number())})
    assert signed_in_user_id(client).startswith("p:")
