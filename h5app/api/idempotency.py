"""Idempotency-Key on POSTs (API.md): the first answer for a key, per API key, is stored and
replayed for 24 h; the same key with another body is refused. The key is claimed by inserting
its row first — the unique (owner, key) index lets exactly one of two concurrent requests in,
so one key never has two effects."""
import hashlib
import json
from datetime import timedelta

from flask import Response, request
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import IdempotencyRecord
from ..timeutil import utcnow
from .errors import ApiError

REPLAY_FOR = timedelta(hours=24)
HEADER = "Idempotency-Key"


def _fingerprint() -> str:
    body = request.get_data(cache=True) or b""
    return hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\n" + body).hexdigest()


def _replay(record: IdempotencyRecord) -> Response:
    response = Response(record.response_body or b"", status=record.status_code, mimetype="application/json")
    for name, value in json.loads(record.response_headers or "{}").items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _claim(owner: str, key: str, fingerprint: str) -> IdempotencyRecord | None:
    """None when this request now owns the key; else the record someone else holds."""
    now = utcnow()
    db.session.execute(delete(IdempotencyRecord).where(
        IdempotencyRecord.owner == owner, IdempotencyRecord.key == key,
        IdempotencyRecord.created_at < now - REPLAY_FOR))
    try:
        db.session.add(IdempotencyRecord(owner=owner, key=key, request_hash=fingerprint, created_at=now))
        db.session.commit()
        return None
    except IntegrityError:
        db.session.rollback()
    return db.session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.owner == owner, IdempotencyRecord.key == key))


def run(owner: str, respond) -> Response:
    """Answer through `respond()` once per (owner, key); replay that answer afterwards."""
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return respond()
    if len(key) > 128:
        raise ApiError(422, "VALIDATION_FAILED", "Idempotency-Key 最长128个字符", fields={HEADER: "最长128个字符"})
    fingerprint = _fingerprint()
    held = _claim(owner, key, fingerprint)
    if held is not None:
        if held.request_hash != fingerprint:
            raise ApiError(422, "IDEMPOTENCY_KEY_REUSED", "该 Idempotency-Key 已用于另一个请求")
        if held.status_code is None:
            raise ApiError(409, "IDEMPOTENCY_IN_PROGRESS", "使用该 Idempotency-Key 的请求正在处理，请稍后重试")
        return _replay(held)
    try:
        response = respond()
    except BaseException:
        _release(owner, key)
        raise
    if response.status_code >= 500:
        _release(owner, key)
        return response
    headers = {name: value for name, value in response.headers.items() if name in ("Location",)}
    db.session.rollback()  # whatever the handler left open; its own work is committed
    db.session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.owner == owner, IdempotencyRecord.key == key)
        .values(status_code=response.status_code, response_body=response.get_data(),
                response_headers=json.dumps(headers))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return response


def _release(owner: str, key: str) -> None:
    """A request that failed unexpectedly leaves the key free for a retry."""
    db.session.rollback()
    db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.owner == owner, IdempotencyRecord.key == key))
    db.session.commit()
