"""Phone + SMS code sign-in. Codes are stored hashed, live 5 minutes, allow 5 tries, and a new
one cannot be asked for within 60 s. Development uses a console backend that logs the code."""
import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from ..identity import mask_phone
from ..models import SmsCode
from ..timeutil import utcnow

CODE_TTL = timedelta(minutes=5)
RESEND_AFTER = timedelta(seconds=60)
MAX_ATTEMPTS = 5

log = logging.getLogger("h5app.sms")


class SmsError(Exception):
    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def _hash(phone: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def console_backend(phone: str, text: str) -> None:
    # The phone is masked even here: logs must never hold a full number. The code is shown
    # because the console backend exists for development, where nobody receives a real SMS.
    log.warning("短信（开发环境，未真实发送）→ %s：%s", mask_phone(phone), text)
    current_app.extensions.setdefault("sms_outbox", []).append((phone, text))


BACKENDS = {"console": console_backend}


def send_code(session, phone: str, now=None) -> None:
    now = now or utcnow()
    latest = session.scalar(select(SmsCode).where(SmsCode.phone == phone).order_by(SmsCode.id.desc()).limit(1))
    if latest is not None and now - latest.created_at < RESEND_AFTER:
        wait = int((RESEND_AFTER - (now - latest.created_at)).total_seconds()) + 1
        raise SmsError(f"验证码已发送，请{wait}秒后再试")
    code = f"{secrets.randbelow(10**6):06d}"
    session.add(SmsCode(phone=phone, code_hash=_hash(phone, code), expires_at=now + CODE_TTL, created_at=now))
    session.commit()
    backend = BACKENDS[current_app.config["SMS_BACKEND"]]
    backend(phone, f"您的职业培训券登录验证码为{code}，5分钟内有效。请勿告诉他人。")


def check_code(session, phone: str, code: str, now=None) -> None:
    """Consume a correct code or raise SmsError; a wrong code counts an attempt."""
    now = now or utcnow()
    latest = session.scalar(
        select(SmsCode).where(SmsCode.phone == phone, SmsCode.used_at.is_(None))
        .order_by(SmsCode.id.desc()).limit(1)
    )
    if latest is None or latest.expires_at < now:
        raise SmsError("验证码已过期，请重新获取")
    if latest.attempts >= MAX_ATTEMPTS:
        raise SmsError("验证码输错次数过多，请重新获取")
    if not hmac.compare_digest(latest.code_hash, _hash(phone, (code or "").strip())):
        latest.attempts += 1
        session.commit()
        left = MAX_ATTEMPTS - latest.attempts
        raise SmsError(f"验证码不正确，还可尝试{left}次" if left else "验证码输错次数过多，请重新获取")
    latest.used_at = now
    session.commit()
