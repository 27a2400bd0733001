"""Signing in: a staff member or a worker put in a test client's session, for any test; and for the
sign-in tests (test_auth_*.py) tickets, SMS codes, who is signed in."""
import base64
import hashlib
import hmac
import re
import time

from sqlalchemy import select

from h5app.auth.sso import mint_ticket
from h5app.auth.users import session_values
from h5app.extensions import db
from h5app.models import SmsCode

from . import factories as f

SECRET = "channel-secret-for-tests"
WECHAT_WIFI = ("Mozilla/5.0 (Linux; Android 10; HMA-AL00) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/107.0 "
               "Mobile Safari/537.36 MicroMessenger/8.0.40.2420(0x28002851) NetType/WIFI Language/zh_CN")
WECHAT_4G = WECHAT_WIFI.replace("NetType/WIFI", "NetType/4G")
CJK = re.compile(r"[\u4e00-\u9fff]")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(payload: bytes, secret: str = SECRET) -> str:
    """A ticket with a valid signature over arbitrary bytes (for malformed-content cases)."""
    return f"{b64(payload)}.{b64(hmac.new(secret.encode(), payload, hashlib.sha256).digest())}"


def ticket_for(id_number: str, name: str = "王建国", phone: str = "13912345678", *, nonce: str | None = None,
               ts: float | None = None, secret: str = SECRET) -> str:
    return mint_ticket(secret, id_number=id_number, name=name, phone=phone, ts=ts,
                       nonce=nonce or f"nonce-{time.monotonic_ns()}")


def sign_in(client, user):
    """Sign `user` (a person or a staff account) in on `client` by writing the session directly."""
    with client.session_transaction() as sess:
        sess.update(session_values(user.get_id()))


staff_sign_in = sign_in  # the name the staff-side tests use


def signed_in_staff(client, role: str, **values):
    """A staff account of `role` (factories.staff), committed and signed in on `client`."""
    user = f.staff(role, **values)
    db.session.commit()
    sign_in(client, user)
    return user


def signed_in_worker(client, **values):
    """A worker (factories.person), committed and signed in on `client`."""
    person = f.person(**values)
    db.session.commit()
    sign_in(client, person)
    return person


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


PHONE = "13805750099"


def request_code(client, phone=PHONE, **kwargs):
    return client.post("/sms", data={"phone": phone}, **kwargs)


def enter_code(client, code, **kwargs):
    return client.post("/sms/verify", data={"code": code}, **kwargs)


def _verify_new_phone(app, client):
    request_code(client)
    response = enter_code(client, sms_code(app, PHONE))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/bind")
    return response


def bind(client, name, id_number, **kwargs):
    return client.post("/bind", data={"name": name, "id_number": id_number}, **kwargs)


def _bad_check_digit_id() -> str:
    good = f.valid_id_number()
    return good[:17] + next(c for c in "0123456789X" if c != good[17])
