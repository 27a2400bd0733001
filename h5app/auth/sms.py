"""Phone + SMS code sign-in. Codes are stored hashed, live 5 minutes, allow 5 tries, and a new
one cannot be asked for within 60 s. Development uses a console backend that logs the code;
production an SMS gateway (sms_gateways.py: Alibaba Cloud or Tencent Cloud, SMS_BACKEND).

A backend is `send(phone, text, code=…, minutes=…)`: the console shows the text, a gateway fills
the template its provider approved with the code; either raises to refuse, and then no code is
stored."""
import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from ..identity import mask_phone
from . import sms_gateways
from ..models import SmsCode
from ..timeutil import utcnow

CODE_TTL = timedelta(minutes=5)
RESEND_AFTER = timedelta(seconds=60)
MAX_ATTEMPTS = 5

log = logging.getLogger("h5app.sms")


class SmsError(Exception):
    def __init__(self, message: str, final: bool = False):
        self.message = message
        self.final = final  # the code cannot be used any more: only a new one helps
        super().__init__(message)


def _hash(phone: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def console_backend(phone: str, text: str, code: str | None = None, minutes: int | None = None) -> None:
    # The phone is masked even here: logs must never hold a full number. The code is shown
    # because the console backend exists for development, where nobody receives a real SMS.
    log.warning("短信（开发环境，未真实发送）→ %s：%s", mask_phone(phone), text)
    current_app.extensions.setdefault("sms_outbox", []).append((phone, text))


def disabled_backend(phone: str, text: str, code: str | None = None, minutes: int | None = None) -> None:
    raise SmsError("短信验证码登录暂未开通，请从“智慧人社”等渠道进入")


BACKENDS = {"console": console_backend, "none": disabled_backend, **sms_gateways.BACKENDS}


LOGIN_TEXT = "您的职业培训券登录验证码为{code}，5分钟内有效。请勿告诉他人。"


def send_code(session, phone: str, now=None, text: str = LOGIN_TEXT) -> int:
    """Send a new code to `phone` in `text` (its {code}: what it is for, e.g. confirming the use
    of a voucher); return its row id (kept in the browser session instead of the phone number)."""
    now = now or utcnow()
    latest = session.scalar(select(SmsCode).where(SmsCode.phone == phone).order_by(SmsCode.id.desc()).limit(1))
    if latest is not None and now - latest.created_at < RESEND_AFTER:
        wait = int((RESEND_AFTER - (now - latest.created_at)).total_seconds()) + 1
        raise SmsError(f"验证码已发送，请{wait}秒后再试")
    code = f"{secrets.randbelow(10**6):06d}"
    row = SmsCode(phone=phone, code_hash=_hash(phone, code), expires_at=now + CODE_TTL, created_at=now)
    minutes = int(CODE_TTL.total_seconds() // 60)
    session.commit()  # no transaction (on SQLite: no write lock) held while a gateway answers
    try:
        BACKENDS[current_app.config["SMS_BACKEND"]](phone, text.format(code=code), code=code, minutes=minutes)
    except sms_gateways.GatewayError:  # logged (masked) by the gateway; nothing stored, so no wait
        raise SmsError("短信发送失败，请稍后重新获取验证码") from None
    session.add(row)
    session.commit()
    return row.id


def check_code(session, code_id: int, code: str, now=None) -> str:
    """Consume a correct code and return the phone it proves; a wrong code counts an attempt."""
    now = now or utcnow()
    row = session.get(SmsCode, code_id) if isinstance(code_id, int) else None
    if row is None or row.used_at is not None or row.expires_at < now:
        raise SmsError("验证码已过期，请重新获取", final=True)
    if row.attempts >= MAX_ATTEMPTS:
        raise SmsError("验证码输错次数过多，请重新获取", final=True)
    if not hmac.compare_digest(row.code_hash, _hash(row.phone, (code or "").strip())):
        # Counted in SQL: parallel guesses cannot all write the same count.
        attempts = session.execute(
            update(SmsCode).where(SmsCode.id == row.id).values(attempts=SmsCode.attempts + 1)
            .returning(SmsCode.attempts)
        ).scalar_one()
        session.commit()
        left = MAX_ATTEMPTS - attempts
        if left > 0:
            raise SmsError(f"验证码不正确，还可尝试{left}次")
        raise SmsError("验证码输错次数过多，请重新获取", final=True)
    # Guarded: of two requests with the right code, one consumes it.
    consumed = session.execute(
        update(SmsCode).where(SmsCode.id == row.id, SmsCode.used_at.is_(None), SmsCode.attempts < MAX_ATTEMPTS)
        .values(used_at=now).execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    if consumed != 1:
        raise SmsError("验证码已过期，请重新获取", final=True)
    return row.phone


def usable(row: SmsCode | None, now=None) -> bool:
    now = now or utcnow()
    return row is not None and row.used_at is None and row.expires_at >= now and row.attempts < MAX_ATTEMPTS


def proven_phone(session, code_id, now=None, within=timedelta(minutes=15)) -> str | None:
    """The phone a recently consumed code proved (for the real-name binding step), or None."""
    now = now or utcnow()
    row = session.get(SmsCode, code_id) if isinstance(code_id, int) else None
    if row is None or row.used_at is None or now - row.used_at > within:
        return None
    return row.phone
