"""API keys: high-entropy random tokens, stored as their SHA-256 digest (one indexed look-up; a
slow password hash would only cost throughput, there is nothing to brute-force). Each worker
keeps the keys it has seen for a few seconds, so a request costs no key query at all, and writes
last_used_at at most once a minute per key."""
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from flask import current_app, g, request
from sqlalchemy import select, update

from ..extensions import db
from ..models import ApiKey, Channel, Institution, Region
from ..models.integration import SCOPE_BUREAU, SCOPE_CHANNEL, SCOPE_INSTITUTION
from ..timeutil import utcnow
from ..vouchers import audit
from .errors import ApiError

SCOPES = (SCOPE_BUREAU, SCOPE_INSTITUTION, SCOPE_CHANNEL)
TOUCH_EVERY_SECONDS = 60


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    """Who is calling, as far as the API cares: the key and the object it belongs to."""

    key_id: int
    prefix: str
    scope: str  # bureau | institution | channel
    code: str  # region code | institution code | channel code
    institution_id: int | None = None

    @property
    def actor(self) -> audit.Actor:
        return audit.Actor("api_key", self.key_id, f"API {self.prefix}",
                           region_code=self.code if self.scope == SCOPE_BUREAU else None,
                           institution_id=self.institution_id)

    @property
    def owner(self) -> str:
        return f"key:{self.key_id}"


class _Cache:
    def __init__(self):
        self.lock = threading.Lock()
        self.entries: dict[str, tuple[Caller | None, float]] = {}
        self.touched: dict[int, float] = {}

    def clear(self):
        with self.lock:
            self.entries.clear()
            self.touched.clear()


_cache = _Cache()


def forget_cached_keys() -> None:
    """Revocation in this process takes effect at once; other workers within API_KEY_CACHE_SECONDS."""
    _cache.clear()


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        return None
    return token


def request_digest() -> str | None:
    """The digest of this request's key (cached on g: the rate limiter and auth both need it)."""
    if "api_key_digest" not in g:
        token = bearer_token()
        g.api_key_digest = digest(token) if token else None
    return g.api_key_digest


def _load(key_digest: str) -> Caller | None:
    row = db.session.execute(
        select(ApiKey.id, ApiKey.prefix, ApiKey.scope_type, ApiKey.scope_code)
        .where(ApiKey.key_hash == key_digest, ApiKey.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    institution_id = None
    if row.scope_type == SCOPE_INSTITUTION:
        institution_id = db.session.scalar(select(Institution.id).where(Institution.code == row.scope_code))
        if institution_id is None:
            return None
    return Caller(row.id, row.prefix, row.scope_type, row.scope_code, institution_id)


def authenticate() -> Caller:
    key_digest = request_digest()
    if key_digest is None:
        raise ApiError(401, "UNAUTHORIZED", "缺少 API 密钥：请在 Authorization 头中提供 Bearer 密钥")
    now = time.monotonic()
    ttl = current_app.config.get("API_KEY_CACHE_SECONDS", 5)
    cached = _cache.entries.get(key_digest)
    if cached is not None and now - cached[1] < ttl:
        caller = cached[0]
    else:
        caller = _load(key_digest)
        with _cache.lock:
            _cache.entries[key_digest] = (caller, now)
    if caller is None:
        raise ApiError(401, "UNAUTHORIZED", "API 密钥无效或已吊销")
    if now - _cache.touched.get(caller.key_id, -TOUCH_EVERY_SECONDS) >= TOUCH_EVERY_SECONDS:
        _touch(caller.key_id)
        _cache.touched[caller.key_id] = now
    return caller


def _touch(key_id: int) -> None:
    """last_used_at, in its own short transaction: at most once a minute per key and worker, and
    never a second time within the minute whichever worker wrote it."""
    moment = utcnow()
    from datetime import timedelta

    db.session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id,
               (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < moment - timedelta(seconds=TOUCH_EVERY_SECONDS)))
        .values(last_used_at=moment)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def create_key(session, name: str, scope: str, code: str) -> tuple[ApiKey, str]:
    """A new key for one bureau, institution or channel; the token is returned once, only its
    digest is kept."""
    exists = {
        SCOPE_BUREAU: lambda: session.scalar(select(Region.id).where(Region.code == code)),
        SCOPE_INSTITUTION: lambda: session.scalar(select(Institution.id).where(Institution.code == code)),
        SCOPE_CHANNEL: lambda: session.scalar(select(Channel.id).where(Channel.code == code)),
    }[scope]()
    if not exists:
        raise LookupError(f"找不到 {scope} {code}")
    prefix = "vk_" + secrets.token_hex(4)
    token = f"{prefix}.{secrets.token_urlsafe(32)}"
    key = ApiKey(name=name, prefix=prefix, key_hash=digest(token), scope_type=scope, scope_code=code)
    session.add(key)
    session.commit()
    return key, token


def revoke_key(session, prefix: str) -> ApiKey | None:
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None:
        return None
    key.revoked_at = key.revoked_at or utcnow()
    session.commit()
    forget_cached_keys()
    return key
