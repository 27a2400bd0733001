"""Idempotency-Key on POSTs (API.md): the first answer for a key, per API key, is stored and
replayed for 24 h; the same key with another body is refused.

A key's first use — nearly every keyed request — costs one INSERT: the view runs, and the answer's
row is inserted and committed with its effect, in one transaction. The request runs in a transaction
of our own on its own connection; the view's session joins it (SQLAlchemy's "joining a Session into
an external transaction", rollback_only): a service's commit leaves it open, so after the view the
answer is inserted and everything commits at once; a service's rollback (a refusal) ends it, and the
refusal is then kept in a transaction of its own — there is no effect to keep with it.

A key already held is found by that INSERT: the unique (owner, key) index refuses it, the effect
this request made goes with the rollback, and the held answer is replayed — or, for an answer past
REPLAY_FOR, forgotten and the request run once more. Two requests with one key at the same moment:
on SQLite BEGIN IMMEDIATE runs them one after the other; on PostgreSQL the second's INSERT waits on
the first's row and is refused once it commits. Either way one effect, one answer."""
import hashlib
import json
from datetime import timedelta

from flask import Response, request
from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import IdempotencyRecord
from ..timeutil import utcnow
from .errors import ApiError

REPLAY_FOR = timedelta(hours=24)
HEADER = "Idempotency-Key"


def _digest(body: bytes) -> str:
    return hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\n" + body).hexdigest()


def _fingerprints() -> tuple[str, str]:
    """(what is stored, what else matches) for this request. A retry is the same request when it
    says the same thing: a JSON body is compared as data (the partner's library may re-serialise it
    with other spacing or key order), anything else byte for byte. The raw body's digest still
    matches what was stored before answers were fingerprinted as data."""
    body = request.get_data(cache=True) or b""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser (the view says 400)
        raw = _digest(body)
        return raw, raw
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return _digest(canonical), _digest(body)


def _replay(record: IdempotencyRecord) -> Response:
    response = Response(record.response_body or b"", status=record.status_code, mimetype="application/json")
    for name, value in json.loads(record.response_headers or "{}").items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


# Built once: statements with bound parameters, not rebuilt for every request.
FIND = select(IdempotencyRecord.__table__).where(
    IdempotencyRecord.owner == bindparam("owner"), IdempotencyRecord.key == bindparam("key"))
FORGET = delete(IdempotencyRecord).where(IdempotencyRecord.id == bindparam("record_id"))
KEEP = insert(IdempotencyRecord.__table__)  # the values come with each execution


def _find(connection, owner: str, key: str):
    """The answer held for the key, if still replayable, in a transaction of its own. An expired
    one is deleted, so that the key can be used again."""
    with connection.begin():
        held = connection.execute(FIND, {"owner": owner, "key": key}).first()
        if held is not None and held.created_at < utcnow() - REPLAY_FOR:
            connection.execute(FORGET, {"record_id": held.id})
            return None
    return held


def _answer_held(held, fingerprints: tuple[str, str]) -> Response:
    if held.request_hash not in fingerprints:
        raise ApiError(422, "IDEMPOTENCY_KEY_REUSED", "该 Idempotency-Key 已用于另一个请求")
    if held.status_code is None:  # a claim row of the earlier three-transaction scheme, still running
        raise ApiError(409, "IDEMPOTENCY_IN_PROGRESS", "使用该 Idempotency-Key 的请求正在处理，请稍后重试")
    return _replay(held)


def run(owner: str, respond) -> Response:
    """Answer through `respond()` once per (owner, key); replay that answer afterwards."""
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return respond()
    if len(key) > 128:
        raise ApiError(422, "VALIDATION_FAILED", "Idempotency-Key 最长128个字符", fields={HEADER: "最长128个字符"})
    fingerprints = _fingerprints()
    db.session.commit()  # what the request wrote so far (the key's last use) ends before ours begins
    with db.engine.connect() as connection:
        for _ in range(2):  # once more only after an expired answer was forgotten
            response = _answer_and_keep(connection, owner, key, fingerprints, respond)
            if response is not None:
                return response
            held = _find(connection, owner, key)
            if held is not None:
                return _answer_held(held, fingerprints)
    # Forgotten as expired, then held again at once: another request with the key is running.
    raise ApiError(409, "IDEMPOTENCY_IN_PROGRESS", "使用该 Idempotency-Key 的请求正在处理，请稍后重试")


def _answer_and_keep(connection, owner: str, key: str, fingerprints: tuple[str, str], respond) -> Response | None:
    """The view's answer, committed with its effect and kept for the key; None when the key turned
    out to be held already (nothing of this request is left: its effect was rolled back)."""
    outer = connection.begin()
    try:
        response = _respond_inside(connection, respond)
    except IntegrityError:
        # On PostgreSQL the same key's first request can collide with ours on another unique
        # index (the same new person, say) before ours reaches the answer's insert.
        _end(outer)
        if _find(connection, owner, key) is None:
            raise
        return None
    if response.status_code >= 500:
        _end(outer)
        return response
    if not outer.is_active:  # the view rolled back (a refusal, a lost race): its answer is kept on its own
        outer = connection.get_transaction() or connection.begin()
    headers = {name: value for name, value in response.headers.items() if name in ("Location",)}
    try:
        connection.execute(KEEP, {
            "owner": owner, "key": key, "request_hash": fingerprints[0], "status_code": response.status_code,
            "response_body": response.get_data(), "response_headers": json.dumps(headers), "created_at": utcnow()})
        outer.commit()
    except IntegrityError:
        outer.rollback()  # the key is held: our effect goes with the rollback
        return None
    return response


def _end(transaction) -> None:
    """Roll back `transaction` unless the view's session already did."""
    if transaction.is_active:
        transaction.rollback()


def _respond_inside(connection, respond) -> Response:
    """Run the view with `db.session` joined to the connection's transaction: the services' commits
    leave it open for the answer's insert; their rollbacks end it (SQLAlchemy's "rollback_only")."""
    joined = Session(bind=connection, join_transaction_mode="rollback_only", expire_on_commit=False)
    registry = db.session.registry
    own = registry()
    registry.set(joined)
    try:
        return respond()
    finally:
        joined.close()
        registry.set(own)
