"""What connects the system to the outside: channels (SSO), API keys, idempotency records,
scan devices, and the one-time secrets of sign-in (SSO nonces, SMS codes)."""
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import created_at_column

SCOPE_BUREAU, SCOPE_INSTITUTION, SCOPE_CHANNEL = "bureau", "institution", "channel"


class Channel(db.Model):
    """渠道: an app carrying the e-SSC that signs workers in with an HMAC ticket."""

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    # Kept in the clear by necessity: the ticket HMAC is verified with it.
    secret: Mapped[str] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = created_at_column()


class SsoNonce(db.Model):
    __tablename__ = "sso_nonces"
    __table_args__ = (UniqueConstraint("channel_id", "nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    nonce: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime] = created_at_column()


class SmsCode(db.Model):
    __tablename__ = "sms_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    code_hash: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = created_at_column()


class ApiKey(db.Model):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # shown in lists, not secret
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the whole key
    scope_type: Mapped[str] = mapped_column(String(16))
    scope_code: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = created_at_column()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)


class IdempotencyRecord(db.Model):
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("owner", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(40))  # 'key:<api key id>' or 'device:<id>'
    key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)  # NULL while the first request runs
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    response_headers: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()


class ScanDevice(db.Model):
    """A front-desk scan gun behind a scanner bridge, acting for one institution."""

    __tablename__ = "scan_devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    mode: Mapped[str] = mapped_column(String(16), default="verify")  # verify | checkin | checkout
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id"))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("class_sessions.id"))
    created_at: Mapped[datetime] = created_at_column()
    # When the use (mode, class, lesson) was last set: a scan read before it is not judged under it.
    configured_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime)
