"""Sign-in (PRODUCT.md §6): channel SSO tickets, phone + SMS code with real-name binding, staff
passwords with lockout, roles, CSRF, error pages, the demo ticket page and the admin commands."""
import base64
import hashlib
import hmac
import json
import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from h5app.auth import sms as sms_module
from h5app.auth.sso import mint_ticket
from h5app.cli import hash_api_key
from h5app.extensions import limiter, login_manager
from h5app.identity import mask_id_number
from h5app.models import ApiKey, AuditEvent, Channel, Person, Region, SmsCode, SsoNonce, StaffUser
from h5app.timeutil import utcnow

from . import factories as f

SECRET = "channel-secret-for-tests"
WECHAT_WIFI = ("Mozilla/5.0 (Linux; Android 10; HMA-AL00) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/107.0 "
               "Mobile Safari/537.36 MicroMessenger/8.0.40.2420(0x28002851) NetType/WIFI Language/zh_CN")
WECHAT_4G = WECHAT_WIFI.replace("NetType/WIFI", "NetType/4G")
CJK = re.compile(r"[\u4e00-\u9fff]")


# --- helpers ---------------------------------------------------------------------------------

def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(payload: bytes, secret: str = SECRET) -> str:
    """A ticket with a valid signature over arbitrary bytes (for malformed-content cases)."""
    return f"{b64(payload)}.{b64(hmac.new(secret.encode(), payload, hashlib.sha256).digest())}"


def ticket_for(id_number: str, name: str = "王建国", phone: str = "13912345678", *, nonce: str | None = None,
               ts: float | None = None, secret: str = SECRET) -> str:
    return mint_ticket(secret, id_number=id_number, name=name, phone=phone, ts=ts,
                       nonce=nonce or f"nonce-{time.monotonic_ns()}")


def text_of(response) -> str:
    return response.get_data(as_text=True)


def signed_in_user_id(client):
    with client.session_transaction() as sess:
        return sess.get("_user_id")


def assert_nobody_signed_in(client):
    assert signed_in_user_id(client) is None
    assert client.get("/worker/").status_code == 302


def sms_code(app, phone: str) -> str:
    """The last code the console SMS backend 'sent' to `phone`."""
    texts = [text for to, text in app.extensions.get("sms_outbox", []) if to == phone]
    assert texts, f"no SMS was sent to {phone}"
    return re.search(r"\d{6}", texts[-1]).group()


def latest_sms_row(session, phone: str) -> SmsCode:
    return session.scalar(select(SmsCode).where(SmsCode.phone == phone).order_by(SmsCode.id.desc()).limit(1))


def staff_login(client, username: str, password: str = f.PASSWORD, **kwargs):
    return client.post("/login", data={"username": username, "password": password}, **kwargs)


@pytest.fixture
def new_client(app):
    return app.test_client


@pytest.fixture
def client(new_client):
    return new_client()


@pytest.fixture(autouse=True)
def empty_outbox(app):
    app.extensions["sms_outbox"] = []


@pytest.fixture
def channel(session):
    row = f.channel()
    session.commit()
    return row


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


def _bad_check_digit_id() -> str:
    good = f.valid_id_number()
    return good[:17] + next(c for c in "0123456789X" if c != good[17])


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


# --- phone + SMS code --------------------------------------------------------------------------

PHONE = "13805750099"


def request_code(client, phone=PHONE, **kwargs):
    return client.post("/sms", data={"phone": phone}, **kwargs)


def enter_code(client, code, **kwargs):
    return client.post("/sms/verify", data={"code": code}, **kwargs)


def test_sms_sends_a_code_and_the_code_is_stored_hashed(app, client, session):
    response = request_code(client)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sms/verify")
    code = sms_code(app, PHONE)
    row = latest_sms_row(session, PHONE)
    assert code not in row.code_hash
    assert row.expires_at - row.created_at == timedelta(minutes=5)
    page = client.get("/sms/verify")
    assert "138****0099" in text_of(page)


def test_phone_is_normalised_before_sending(app, client):
    assert request_code(client, "+86 138-0575-0099").status_code == 302
    assert sms_code(app, PHONE)


@pytest.mark.parametrize("phone", ["", "12345", "23805750099", "1380575009", "138057500999", "abcdefghijk"])
def test_invalid_phone_is_refused_and_nothing_sent(app, client, session, phone):
    response = request_code(client, phone)
    assert response.status_code == 400  # the form page again, with the field's error
    assert "手机号" in text_of(response)
    assert app.extensions["sms_outbox"] == []
    assert session.scalar(select(func.count(SmsCode.id))) == 0


def test_resend_within_60_seconds_is_refused(app, client, new_client, session):
    request_code(client)
    response = request_code(new_client())
    assert response.status_code == 400
    assert "秒后再试" in text_of(response)
    assert len(app.extensions["sms_outbox"]) == 1
    assert session.scalar(select(func.count(SmsCode.id))) == 1


def test_asking_again_too_soon_goes_back_to_the_code_already_sent(app, client, session):
    request_code(client)
    response = request_code(client)
    assert response.status_code == 302 and "/sms/verify" in response.headers["Location"]
    assert "请输入短信中的6位验证码" in text_of(client.get(response.headers["Location"]))
    assert len(app.extensions["sms_outbox"]) == 1


def test_a_dead_code_shows_only_the_way_to_a_new_one(app, client, session):
    request_code(client)
    good = sms_code(app, PHONE)
    wrong = f"{(int(good) + 1) % 10**6:06d}"
    for _ in range(5):
        response = enter_code(client, wrong)
    page = text_of(response)
    assert "重新获取验证码" in page and "5分钟内有效" not in page and 'name="code"' not in page


def test_resend_after_60_seconds_is_allowed(app, client, session):
    request_code(client)
    row = latest_sms_row(session, PHONE)
    row.created_at -= timedelta(seconds=61)
    session.commit()
    assert request_code(client).status_code == 302
    assert len(app.extensions["sms_outbox"]) == 2


def test_verify_without_requesting_a_code_goes_back_to_the_phone_page(client):
    response = enter_code(client, "123456")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sms")


def test_wrong_code_counts_attempts(app, client, session):
    request_code(client)
    good = sms_code(app, PHONE)
    wrong = f"{(int(good) + 1) % 10**6:06d}"
    response = enter_code(client, wrong)
    assert response.status_code == 400
    assert "还可尝试4次" in text_of(response)
    assert latest_sms_row(session, PHONE).attempts == 1
    assert_nobody_signed_in(client)


def test_five_wrong_attempts_kill_the_code(app, client, session):
    request_code(client)
    good = sms_code(app, PHONE)
    wrong = f"{(int(good) + 1) % 10**6:06d}"
    for _ in range(5):
        assert enter_code(client, wrong).status_code == 400
    response = enter_code(client, good)
    assert response.status_code == 400
    assert "输错次数过多" in text_of(response)
    assert_nobody_signed_in(client)
    with client.session_transaction() as sess:
        assert "bind_code_id" not in sess


def test_expired_code_is_refused(app, client, session):
    request_code(client)
    row = latest_sms_row(session, PHONE)
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    response = enter_code(client, sms_code(app, PHONE))
    assert response.status_code == 400
    assert "已过期" in text_of(response)
    assert_nobody_signed_in(client)


def test_used_code_cannot_be_used_twice(app, client, session):
    f.person(phone=PHONE)
    session.commit()
    request_code(client)
    code = sms_code(app, PHONE)
    assert enter_code(client, code).headers["Location"] == "/worker/"
    client.post("/logout")
    with client.session_transaction() as sess:  # replay: the browser presents the spent code again
        sess["sms_code_id"] = latest_sms_row(session, PHONE).id
    response = enter_code(client, code)
    assert response.status_code == 400
    assert signed_in_user_id(client) is None


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", ""])
def test_malformed_code_is_refused_without_counting(app, client, session, code):
    request_code(client)
    response = enter_code(client, code)
    assert response.status_code == 400
    assert "验证码" in text_of(response)
    assert latest_sms_row(session, PHONE).attempts == 0


def _verify_new_phone(app, client):
    request_code(client)
    response = enter_code(client, sms_code(app, PHONE))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/bind")
    return response


def bind(client, name, id_number, **kwargs):
    return client.post("/bind", data={"name": name, "id_number": id_number}, **kwargs)


def test_first_login_of_a_new_phone_goes_to_binding_then_worker_home(app, client, session):
    _verify_new_phone(app, client)
    assert signed_in_user_id(client) is None  # not signed in before the real-name binding
    page = client.get("/bind")
    assert page.status_code == 200 and "138****0099" in text_of(page)
    id_number = f.valid_id_number()
    response = bind(client, "  陈小燕 ", id_number.lower() if id_number.endswith("X") else id_number)
    assert response.status_code == 302
    assert response.headers["Location"] == "/worker/"
    person = session.scalar(select(Person).where(Person.phone == PHONE))
    assert (person.name, person.id_number, person.verified_via) == ("陈小燕", id_number, "sms")
    assert signed_in_user_id(client) == f"p:{person.id}"
    home = client.get("/worker/")
    assert home.status_code == 200
    assert "实名绑定成功" in text_of(home)
    assert mask_id_number(id_number) in text_of(home)
    assert session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "person.bind_phone")) == 1


def test_bind_without_a_verified_phone_goes_to_the_phone_page(client, session):
    response = bind(client, "陈小燕", f.valid_id_number())
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sms")
    assert session.scalar(select(func.count(Person.id))) == 0


def test_bind_refuses_an_invalid_id_check_digit(app, client, session):
    _verify_new_phone(app, client)
    response = bind(client, "陈小燕", _bad_check_digit_id())
    assert response.status_code == 400
    assert "校验位不正确" in text_of(response)
    assert session.scalar(select(func.count(Person.id))) == 0
    assert signed_in_user_id(client) is None


def test_bind_refuses_a_name_that_does_not_match_the_id(app, client, session):
    person = f.person(name="王建国", phone=None)
    session.commit()
    _verify_new_phone(app, client)
    response = bind(client, "王建华", person.id_number)
    assert response.status_code == 400
    assert "姓名与身份证号不匹配" in text_of(response)
    session.refresh(person)
    assert person.phone is None
    assert signed_in_user_id(client) is None


def test_bind_refuses_an_id_bound_to_another_phone(app, client, session):
    person = f.person(name="王建国", phone="13900000001")
    session.commit()
    _verify_new_phone(app, client)
    response = bind(client, "王建国", person.id_number)
    assert response.status_code == 400
    assert "已绑定其他手机号" in text_of(response)
    session.refresh(person)
    assert person.phone == "13900000001"
    assert signed_in_user_id(client) is None


def test_bind_attaches_the_phone_to_a_roster_person_without_a_phone(app, client, session):
    person = f.person(name="王建国", phone=None, verified_via="roster")
    session.commit()
    _verify_new_phone(app, client)
    assert bind(client, "王建国", person.id_number).status_code == 302
    session.refresh(person)
    assert (person.phone, person.verified_via) == (PHONE, "sms")
    assert signed_in_user_id(client) == f"p:{person.id}"
    assert session.scalar(select(func.count(Person.id))) == 1


def test_bind_cannot_take_over_an_identity_a_channel_verified(app, client, session):
    person = f.person(name="王建国", phone=None, verified_via="sso:zhrs")
    session.commit()
    _verify_new_phone(app, client)
    response = bind(client, "王建国", person.id_number)
    assert response.status_code == 400 and "姓名与身份证号不匹配" in text_of(response)
    session.refresh(person)
    assert person.phone is None
    assert signed_in_user_id(client) is None


def test_five_failed_bindings_end_the_binding_step(app, client, session):
    person = f.person(name="王建国", phone=None, verified_via="roster")
    session.commit()
    _verify_new_phone(app, client)
    for _ in range(4):
        assert bind(client, "李四", person.id_number).status_code == 400
    response = bind(client, "李四", person.id_number)
    assert response.status_code == 302 and response.headers["Location"].endswith("/sms")
    assert bind(client, "王建国", person.id_number).status_code == 302  # back to the start, not bound
    session.refresh(person)
    assert person.phone is None


def test_second_login_of_the_same_phone_signs_straight_in(app, client, session):
    _verify_new_phone(app, client)
    bind(client, "陈小燕", f.valid_id_number())
    person = session.scalar(select(Person).where(Person.phone == PHONE))
    client.post("/logout")
    assert signed_in_user_id(client) is None
    latest_sms_row(session, PHONE).created_at -= timedelta(seconds=61)
    session.commit()
    request_code(client)
    response = enter_code(client, sms_code(app, PHONE))
    assert response.status_code == 302
    assert response.headers["Location"] == "/worker/"
    assert signed_in_user_id(client) == f"p:{person.id}"


def test_phone_on_an_institution_roster_still_needs_real_name_binding(app, client, session):
    """A roster row's phone was typed by an institution, not proven by its owner: whoever holds the
    phone must still confirm name + ID before they see that person's vouchers."""
    person = f.person(name="孙丽", phone=PHONE, verified_via="roster")
    session.commit()
    _verify_new_phone(app, client)
    assert signed_in_user_id(client) is None
    assert bind(client, "孙丽", person.id_number).status_code == 302
    session.refresh(person)
    assert person.verified_via == "sms"
    assert signed_in_user_id(client) == f"p:{person.id}"


def test_binding_takes_a_phone_back_from_an_unproven_roster_row(app, client, session):
    """The institution typed someone else's number: the phone's owner, proven by the SMS code,
    binds their own identity and the roster row loses the number."""
    listed = f.person(name="孙丽", phone=PHONE, verified_via="roster")
    session.commit()
    _verify_new_phone(app, client)
    id_number = f.valid_id_number()
    response = bind(client, "陈小燕", id_number)
    assert response.status_code == 302 and response.headers["Location"] == "/worker/"
    owner = session.scalar(select(Person).where(Person.id_number == id_number))
    session.refresh(listed)
    assert (owner.phone, listed.phone, listed.verified_via) == (PHONE, None, "roster")
    assert signed_in_user_id(client) == f"p:{owner.id}"


def test_sms_login_follows_a_local_next_only(app, client, session):
    f.person(phone=PHONE)
    session.commit()
    request_code(client, query_string={"next": "https://evil.com"})
    response = enter_code(client, sms_code(app, PHONE), query_string={"next": "https://evil.com"})
    assert response.headers["Location"] == "/worker/"
    client.post("/logout")
    latest_sms_row(session, PHONE).created_at -= timedelta(seconds=61)
    session.commit()
    response = request_code(client, query_string={"next": "/worker/?tab=1"})
    assert "next=" in response.headers["Location"]
    response = enter_code(client, sms_code(app, PHONE), query_string={"next": "/worker/?tab=1"})
    assert response.headers["Location"] == "/worker/?tab=1"


def test_console_backend_logs_a_masked_phone(app, caplog):
    with app.test_request_context():
        sms_module.console_backend(PHONE, "验证码123456")
    assert PHONE not in caplog.text
    assert "138****0099" in caplog.text


# --- staff username + password -----------------------------------------------------------------

@pytest.mark.parametrize("role, home", [
    ("bureau", "/bureau/"), ("officer", "/institution/"), ("verifier", "/institution/"),
])
def test_staff_login_lands_on_the_role_home(client, session, role, home):
    user = f.staff(role)
    session.commit()
    response = staff_login(client, user.username)
    assert response.status_code == 302
    assert response.headers["Location"] == home
    assert signed_in_user_id(client) == f"s:{user.id}"
    assert client.get(home).status_code == 200
    session.refresh(user)
    assert user.last_login_at is not None and user.failed_logins == 0


def test_worker_home_is_the_worker_page(client, session, channel):
    client.get("/sso/zhrs", query_string={"ticket": ticket_for(f.valid_id_number())})
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/worker/"


def test_signed_in_staff_visiting_login_goes_home(client, session):
    user = f.staff("bureau")
    session.commit()
    staff_login(client, user.username)
    response = client.get("/login")
    assert response.status_code == 302 and response.headers["Location"] == "/bureau/"


def test_staff_login_follows_a_local_next_only(client, session):
    user = f.staff("bureau")
    session.commit()
    response = staff_login(client, user.username, query_string={"next": "//evil.com/bureau/"})
    assert response.headers["Location"] == "/bureau/"
    client.post("/logout")
    response = staff_login(client, user.username, query_string={"next": "/bureau/?x=1"})
    assert response.headers["Location"] == "/bureau/?x=1"


def test_wrong_password_and_unknown_user_get_the_same_message(client, session):
    user = f.staff("officer")
    session.commit()
    wrong = staff_login(client, user.username, "Wrong-password-1")
    unknown = staff_login(client, "nobody-here", "Wrong-password-1")
    assert wrong.status_code == unknown.status_code == 400
    message = re.compile(r'<p class="notice notice-error" role="alert">(.*?)</p>')
    assert "用户名或密码错误" in message.search(text_of(wrong)).group(1)
    assert message.search(text_of(wrong)).group(1) == message.search(text_of(unknown)).group(1)
    assert signed_in_user_id(client) is None
    session.refresh(user)
    assert user.failed_logins == 1


@pytest.mark.parametrize("data", [{}, {"username": "someone"}, {"password": "x"}])
def test_empty_login_fields_are_refused_with_a_message(client, data):
    response = client.post("/login", data=data)
    assert response.status_code == 400
    assert "请输入" in text_of(response)
    assert signed_in_user_id(client) is None


def test_lockout_after_max_failed_logins(app, client, session):
    user = f.staff("officer")
    session.commit()
    limit = app.config["STAFF_MAX_FAILED_LOGINS"]
    for _ in range(limit):
        assert staff_login(client, user.username, "Wrong-password-1").status_code == 400
    session.refresh(user)
    assert user.locked_until is not None and user.locked_until > utcnow()
    response = staff_login(client, user.username)  # even the right password
    assert response.status_code == 400
    assert "锁定" in text_of(response)
    assert signed_in_user_id(client) is None
    assert session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "staff.lockout")) == 1


def test_locked_account_unlocks_after_the_lockout_time(app, client, session):
    user = f.staff("officer")
    session.commit()
    for _ in range(app.config["STAFF_MAX_FAILED_LOGINS"]):
        staff_login(client, user.username, "Wrong-password-1")
    session.refresh(user)
    user.locked_until = utcnow() - timedelta(seconds=1)
    session.commit()
    response = staff_login(client, user.username)
    assert response.status_code == 302
    assert signed_in_user_id(client) == f"s:{user.id}"
    session.refresh(user)
    assert user.locked_until is None and user.failed_logins == 0


def test_lockout_limit_comes_from_config(make_app, session):
    user = f.staff("officer")
    username = user.username
    session.commit()  # and no open transaction: the other app's requests use their own session
    client = make_app(STAFF_MAX_FAILED_LOGINS=2).test_client()
    staff_login(client, username, "Wrong-password-1")
    assert "锁定" in text_of(staff_login(client, username, "Wrong-password-1"))
    session.refresh(user)
    assert user.locked_until is not None


def test_successful_login_resets_the_failure_count(app, client, session):
    user = f.staff("officer")
    session.commit()
    for _ in range(app.config["STAFF_MAX_FAILED_LOGINS"] - 1):
        staff_login(client, user.username, "Wrong-password-1")
    assert staff_login(client, user.username).status_code == 302
    session.refresh(user)
    assert user.failed_logins == 0 and user.locked_until is None


def test_disabled_account_is_refused(client, session):
    user = f.staff("verifier", active=False)
    session.commit()
    response = staff_login(client, user.username)
    assert response.status_code == 400
    assert "停用" in text_of(response)
    assert signed_in_user_id(client) is None


def test_account_disabled_after_sign_in_loses_its_session(client, session):
    user = f.staff("verifier")
    session.commit()
    staff_login(client, user.username)
    assert client.get("/institution/").status_code == 200
    user.active = False
    session.commit()
    assert client.get("/institution/").status_code == 302


def test_password_is_stored_hashed_with_scrypt(session):
    user = f.staff("officer")
    session.commit()
    assert user.password_hash.startswith("scrypt:")
    assert f.PASSWORD not in user.password_hash
    assert user.check_password(f.PASSWORD) and not user.check_password(f.PASSWORD.upper())


def test_session_is_rotated_at_login(client, session):
    user = f.staff("bureau")
    session.commit()
    with client.session_transaction() as sess:
        sess["planted"] = "attacker-value"
        sess["_user_id"] = "s:999999"
    staff_login(client, user.username)
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["_user_id"] == f"s:{user.id}"
        assert not sess.permanent  # staff sessions end with the browser (shared front-desk devices)


def test_session_is_rotated_at_sso_login(client, channel):
    with client.session_transaction() as sess:
        sess["planted"] = "attacker-value"
    client.get("/sso/zhrs", query_string={"ticket": ticket_for(f.valid_id_number())})
    with client.session_transaction() as sess:
        assert "planted" not in sess


def test_session_protection_is_basic(app):
    assert login_manager.session_protection == "basic"
    assert app.config.get("SESSION_PROTECTION", "basic") == "basic"


def test_wechat_network_change_does_not_sign_a_worker_out(client, channel):
    client.get("/sso/zhrs", query_string={"ticket": ticket_for(f.valid_id_number())},
               headers={"User-Agent": WECHAT_WIFI})
    assert client.get("/worker/", headers={"User-Agent": WECHAT_WIFI}).status_code == 200
    response = client.get("/worker/", headers={"User-Agent": WECHAT_4G})
    assert response.status_code == 200
    assert signed_in_user_id(client) is not None


# --- roles -------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/bureau/", "/institution/"])
def test_worker_cannot_open_staff_areas(client, channel, path):
    client.get("/sso/zhrs", query_string={"ticket": ticket_for(f.valid_id_number())})
    response = client.get(path)
    assert response.status_code == 403
    assert "没有权限" in text_of(response)


@pytest.mark.parametrize("role, path", [
    ("officer", "/bureau/"), ("verifier", "/bureau/"), ("bureau", "/institution/"), ("bureau", "/worker/"),
    ("officer", "/worker/"),
])
def test_staff_cannot_open_another_roles_area(client, session, role, path):
    user = f.staff(role)
    session.commit()
    staff_login(client, user.username)
    assert client.get(path).status_code == 403


@pytest.mark.parametrize("path", ["/bureau/", "/institution/"])
def test_anonymous_is_sent_to_staff_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_anonymous_worker_page_is_sent_to_a_worker_sign_in(client):
    """The staff password page is no use to a worker whose session ran out."""
    response = client.get("/worker/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sms?next=")
    follow = client.get(response.headers["Location"])
    assert follow.status_code == 200 and "手机号" in text_of(follow)


def test_logout_is_post_only(client, session):
    user = f.staff("bureau")
    session.commit()
    staff_login(client, user.username)
    response = client.get("/logout")
    assert response.status_code == 405
    assert signed_in_user_id(client) == f"s:{user.id}"
    response = client.post("/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert signed_in_user_id(client) is None
    assert client.get("/bureau/").status_code == 302


# --- CSRF and error pages ----------------------------------------------------------------------

def _csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"',
                     html).group(1)


def test_login_post_without_csrf_token_is_refused(make_app, session):
    user = f.staff("bureau")
    username = user.username
    session.commit()  # and no open transaction: the other app's requests use their own session
    client = make_app(WTF_CSRF_ENABLED=True).test_client()
    client.get("/login")
    response = staff_login(client, username)
    assert response.status_code == 400
    assert "页面已过期" in text_of(response)
    assert signed_in_user_id(client) is None


def test_login_post_with_csrf_token_works(make_app, session):
    user = f.staff("bureau")
    username = user.username
    session.commit()  # and no open transaction: the other app's requests use their own session
    client = make_app(WTF_CSRF_ENABLED=True).test_client()
    token = _csrf_token(text_of(client.get("/login")))
    response = client.post("/login", data={"username": username, "password": f.PASSWORD, "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/bureau/"


def test_logout_without_csrf_token_is_refused(make_app, session):
    user = f.staff("bureau")
    username, user_id = user.username, user.id
    session.commit()  # and no open transaction: the other app's requests use their own session
    client = make_app(WTF_CSRF_ENABLED=True).test_client()
    token = _csrf_token(text_of(client.get("/login")))
    client.post("/login", data={"username": username, "password": f.PASSWORD, "csrf_token": token})
    assert client.post("/logout").status_code == 400
    assert signed_in_user_id(client) == f"s:{user_id}"


def test_404_renders_the_chinese_error_page(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    body = text_of(response)
    assert "页面不存在" in body and 'lang="zh-CN"' in body and "返回首页" in body


def test_405_renders_the_chinese_error_page(client):
    response = client.put("/login")
    assert response.status_code == 405
    assert "不支持的操作" in text_of(response)


def test_500_renders_the_chinese_error_page(make_app):
    app = make_app(TESTING=False)

    @app.route("/boom")
    def boom():
        raise RuntimeError("boom")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert "系统繁忙" in text_of(response) and "boom" not in text_of(response)


def test_too_many_code_requests_get_the_chinese_429_page(make_app):
    client = make_app(RATELIMIT_ENABLED=True).test_client()
    try:
        for _ in range(10):
            assert request_code(client, "12345").status_code == 400
        response = request_code(client, "12345")
        assert response.status_code == 429
        assert "操作太频繁" in text_of(response)
    finally:
        # The limiter is one object shared by every app built in this run: switch it back off.
        limiter.reset()
        limiter.enabled = False


# --- demo ticket page --------------------------------------------------------------------------

def test_demo_ticket_page_signs_in_as_the_chosen_person(client, session, channel):
    first = f.person(name="王建国")
    chosen = f.person(name="李秀英")
    session.commit()
    page = client.get("/demo/tickets")
    assert page.status_code == 200 and "李秀英" in text_of(page)
    response = client.post("/demo/tickets", data={"channel": "zhrs", "person": str(chosen.id)})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sso/zhrs?ticket=")
    landed = client.get(response.headers["Location"])
    assert landed.headers["Location"] == "/worker/"
    assert signed_in_user_id(client) == f"p:{chosen.id}" != f"p:{first.id}"


def test_demo_ticket_page_without_data_says_how_to_seed(client):
    response = client.get("/demo/tickets")
    assert response.status_code == 200
    assert "flask --app wsgi demo" in text_of(response)


def test_demo_ticket_page_refuses_an_unknown_person(client, session, channel):
    f.person()
    session.commit()
    response = client.post("/demo/tickets", data={"channel": "zhrs", "person": "999999"})
    assert response.status_code == 200  # not a valid choice: the form again
    assert signed_in_user_id(client) is None


def test_demo_blueprint_is_absent_without_demo_mode(make_app, session, channel):
    f.person()
    session.commit()
    client = make_app(DEMO_MODE=False).test_client()
    assert client.get("/demo/tickets").status_code == 404
    assert client.post("/demo/tickets", data={"channel": "zhrs", "person": "1"}).status_code == 404
    assert "/demo/tickets" not in text_of(client.get("/"))


# --- CLI ---------------------------------------------------------------------------------------

def test_flask_demo_seeds_and_prints_sign_in_help(app, session):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "演示数据已生成" in result.output
    assert "/login" in result.output and "/demo/tickets" in result.output and "bureau_admin" in result.output
    counts = (session.scalar(select(func.count(Person.id))), session.scalar(select(func.count(StaffUser.id))),
              session.scalar(select(func.count(Region.id))), session.scalar(select(func.count(Channel.id))))
    assert all(counts)
    again = runner.invoke(args=["demo"])
    assert again.exit_code == 0, again.output
    assert "已存在" in again.output and "/demo/tickets" in again.output
    assert counts == (session.scalar(select(func.count(Person.id))), session.scalar(select(func.count(StaffUser.id))),
                      session.scalar(select(func.count(Region.id))), session.scalar(select(func.count(Channel.id))))


def test_flask_demo_accounts_can_sign_in(app, client, session):
    result = app.test_cli_runner().invoke(args=["demo"])
    password = re.search(r"密码均为 (\S+?)）", result.output).group(1)
    assert staff_login(client, "bureau_admin", password).headers["Location"] == "/bureau/"
    client.post("/logout")
    assert staff_login(client, "verifier1", password).headers["Location"] == "/institution/"


def test_users_create_bureau_needs_a_region(app, session):
    result = app.test_cli_runner().invoke(args=["users", "create", "--username", "clerk", "--name", "何经办",
                                                "--role", "bureau", "--password", "Long-enough-123"])
    assert result.exit_code != 0
    assert "--region" in result.output
    assert session.scalar(select(func.count(StaffUser.id))) == 0


def test_users_create_bureau_refuses_an_unknown_region(app, session):
    result = app.test_cli_runner().invoke(args=["users", "create", "--username", "clerk", "--name", "何经办",
                                                "--role", "bureau", "--region", "999999",
                                                "--password", "Long-enough-123"])
    assert result.exit_code != 0
    assert session.scalar(select(func.count(StaffUser.id))) == 0


@pytest.mark.parametrize("password, message", [
    ("Short-1", "至少10位"), ("1234567890123", "字母和数字"), ("onlyletterspassword", "字母和数字"),
])
def test_users_create_refuses_weak_passwords(app, session, password, message):
    f.region("330600")
    session.commit()
    result = app.test_cli_runner().invoke(args=["users", "create", "--username", "clerk", "--name", "何经办",
                                                "--role", "bureau", "--region", "330600", "--password", password])
    assert result.exit_code != 0
    assert message in result.output
    assert session.scalar(select(func.count(StaffUser.id))) == 0


def test_users_create_with_a_password(app, client, session):
    f.region("330600")
    session.commit()
    result = app.test_cli_runner().invoke(args=["users", "create", "--username", "clerk", "--name", "何经办",
                                                "--role", "bureau", "--region", "330600",
                                                "--password", "Long-enough-123"])
    assert result.exit_code == 0, result.output
    assert "Long-enough-123" not in result.output
    user = session.scalar(select(StaffUser).where(StaffUser.username == "clerk"))
    assert (user.role, user.region_code, user.must_change_password) == ("bureau", "330600", False)
    assert user.password_hash.startswith("scrypt:")
    assert staff_login(client, "clerk", "Long-enough-123").headers["Location"] == "/bureau/"


def test_users_create_prints_a_generated_password_once(app, client, session):
    inst = f.institution(code="3306009")
    session.commit()
    result = app.test_cli_runner().invoke(args=["users", "create", "--username", "desk1", "--name", "前台",
                                                "--role", "verifier", "--institution", inst.code])
    assert result.exit_code == 0, result.output
    assert result.output.count("只显示这一次") == 1
    password = re.search(r"初始密码（只显示这一次）：(\S+)", result.output).group(1)
    user = session.scalar(select(StaffUser).where(StaffUser.username == "desk1"))
    assert user.institution_id == inst.id and user.must_change_password
    assert password not in user.password_hash
    assert staff_login(client, "desk1", password).headers["Location"] == "/institution/"


def test_users_create_institution_account_needs_an_institution(app, session):
    result = app.test_cli_runner().invoke(args=["users", "create", "--username", "desk1", "--name", "前台",
                                                "--role", "officer", "--institution", "nope"])
    assert result.exit_code != 0
    assert "--institution" in result.output


def test_users_create_refuses_a_taken_username(app, session):
    user = f.staff("bureau")
    session.commit()
    result = app.test_cli_runner().invoke(args=["users", "create", "--username", user.username, "--name", "x",
                                                "--role", "bureau", "--region", "330600"])
    assert result.exit_code != 0
    assert "已存在" in result.output


def test_apikeys_create_prints_the_key_once_and_stores_only_its_hash(app, session):
    f.region("330600")
    session.commit()
    result = app.test_cli_runner().invoke(args=["apikeys", "create", "--name", "省就业平台", "--scope", "bureau",
                                                "--code", "330600"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("vk_") and result.output.count(key) == 1
    row = session.scalar(select(ApiKey))
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest() == hash_api_key(key)
    assert key.startswith(row.prefix + ".")
    assert key not in (row.name, row.prefix, row.key_hash, row.scope_code)
    assert (row.scope_type, row.scope_code, row.revoked_at) == ("bureau", "330600", None)
    listing = app.test_cli_runner().invoke(args=["apikeys", "list"])
    assert row.prefix in listing.output and key not in listing.output


def test_apikeys_create_refuses_an_unknown_scope_object(app, session):
    result = app.test_cli_runner().invoke(args=["apikeys", "create", "--name", "x", "--scope", "institution",
                                                "--code", "nope"])
    assert result.exit_code != 0
    assert session.scalar(select(func.count(ApiKey.id))) == 0


def test_apikeys_revoke(app, session):
    f.channel()
    session.commit()
    runner = app.test_cli_runner()
    runner.invoke(args=["apikeys", "create", "--name", "渠道", "--scope", "channel", "--code", "zhrs"])
    row = session.scalar(select(ApiKey))
    result = runner.invoke(args=["apikeys", "revoke", row.prefix])
    assert result.exit_code == 0, result.output
    session.refresh(row)
    assert row.revoked_at is not None
    assert "已吊销" in runner.invoke(args=["apikeys", "list"]).output
    unknown = runner.invoke(args=["apikeys", "revoke", "vk_nope"])
    assert unknown.exit_code != 0 and "找不到" in unknown.output


def test_channels_create_prints_the_secret(app, client, session):
    result = app.test_cli_runner().invoke(args=["channels", "create", "--code", "ykb", "--name", "渝快办"])
    assert result.exit_code == 0, result.output
    secret = re.search(r"签名密钥（交给渠道方）：(\S+)", result.output).group(1)
    row = session.scalar(select(Channel).where(Channel.code == "ykb"))
    assert row.secret == secret and len(secret) >= 32
    assert "/sso/ykb" in result.output
    response = client.get("/sso/ykb", query_string={"ticket": ticket_for(f.valid_id_number(), secret=secret)})
    assert response.status_code == 302 and response.headers["Location"] == "/worker/"
    again = app.test_cli_runner().invoke(args=["channels", "create", "--code", "ykb", "--name", "渝快办"])
    assert again.exit_code != 0 and "已存在" in again.output


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
