"""The endpoint the scanner bridge posts to (`/scanner/v1`): bearer device token, JSON in and out,
errors as {"error": {"code", "message"}} like the partner API, no cookies and so no CSRF.

A judged scan is a success of this endpoint whatever the verdict: 201 with the verdict when it is
new, 200 with `Idempotent-Replayed: true` when the key was seen before. Error statuses are kept
for what the bridge must act on: 401 (token refused: keep the queue), 400/422 (this scan can never
be accepted: drop it), 503 SCAN_CONFLICT and other 5xx (try again later)."""
import re

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from sqlalchemy.exc import IntegrityError

from ..extensions import csrf, db
from ..vouchers import app_qr_secret
from ..vouchers.errors import DomainError
from . import devices, judge

PREFIX = "/scanner/v1"
bp = Blueprint("scanner_api", __name__, url_prefix=PREFIX)


class ScanConflict(DomainError):
    code, status = "SCAN_CONFLICT", 503
    default_message = "同一扫码正在另一请求中处理，请稍后重发"
csrf.exempt(bp)

KEY_SHAPE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# What a scan gun may send: printable ASCII, no spaces; our QR tokens are 40 upper-case characters.
CODE_SHAPE = re.compile(r"^[\x21-\x7e]{1,128}$")
MAX_BATCH = 200
MAX_AGE_SECONDS = 900.0
# Scans judged per database transaction. Each scan's engine call is a savepoint (a subtransaction);
# PostgreSQL slows down sharply once a transaction holds more than 64 of them, so a batch is split.
SCANS_PER_TRANSACTION = 50


def error(status: int, code: str, message: str, **extra):
    response = jsonify({"error": {"code": code, "message": message, **extra}})
    response.status_code = status
    return response


@bp.before_request
def authenticate_device():
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    device = devices.authenticate(db.session, token)
    if device is None:
        return error(401, "UNAUTHORIZED", "扫码枪令牌无效或已吊销，请在机构后台重新登记扫码枪")
    g.scan_device = judge.Device.of(device)
    db.session.rollback()  # the row itself is not needed again: judging opens its own transactions


@bp.errorhandler(ScanConflict)
def conflict(exc):
    return error(exc.status, exc.code, exc.message)


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    messages = {400: "请求格式有误", 404: "接口不存在", 405: "不支持的请求方法", 413: "请求内容过大"}
    return error(exc.code or 500, "BAD_REQUEST" if exc.code == 400 else f"HTTP_{exc.code}",
                 messages.get(exc.code, "请求有误"))


def _scan_fields(item, key) -> tuple[str, str, float] | dict:
    """(key, code, age_seconds), or the per-field errors."""
    problems = {}
    if not isinstance(key, str) or not KEY_SHAPE.match(key):
        problems["key"] = "幂等键须为8到64位字母、数字、-或_"
    code = item.get("code")
    if not isinstance(code, str) or not CODE_SHAPE.match(code):
        problems["code"] = "扫码内容须为1到128个可见ASCII字符"
    age_ms = item.get("age_ms", 0)
    if isinstance(age_ms, bool) or not isinstance(age_ms, int | float) or not 0 <= age_ms < 10**12:
        problems["age_ms"] = "age_ms 须为非负毫秒数"
    if problems:
        return problems
    return key, code, float(age_ms) / 1000.0


def _judge_all(items: list) -> list:
    """Judge scans in order, one durable transaction per chunk. Each item is (key, code, age) or an
    answer already made (a validation error); returns a verdict dict or {"key", "error", …} each."""
    qr_secret = app_qr_secret()
    max_age = current_app.config.get("SCANNER_MAX_QUEUED_SECONDS", MAX_AGE_SECONDS)
    answers: list = list(items)
    pending = [(i, judge.Scan(*item)) for i, item in enumerate(items) if not isinstance(item, dict)]
    for start in range(0, len(pending), SCANS_PER_TRANSACTION):
        chunk = pending[start:start + SCANS_PER_TRANSACTION]
        try:
            with judge.chunk_session(db.engine) as session:
                results = judge.judge_chunk(session, g.scan_device, [scan for _, scan in chunk],
                                            qr_secret=qr_secret, max_age_seconds=max_age)
        except IntegrityError:
            # The same key delivered concurrently by another request: this chunk is rolled back
            # whole, and the bridge's resend will find the other delivery's verdict.
            raise ScanConflict() from None
        for (position, scan), result in zip(chunk, results):
            if isinstance(result, DomainError):
                answers[position] = {"key": scan.key, "error": result.to_dict(), "retry": False,
                                     "status": result.status}
            else:
                record, replayed = result
                answers[position] = {**judge.present(record), "replayed": replayed}
    return answers


def _json_object():
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the parser goes: not a scan, whatever it is
        return None
    return body if isinstance(body, dict) else None


@bp.after_request
def seen(response):
    if "scan_device" in g and response.status_code < 500:
        judge.touch(db.session, g.scan_device)
    return response


@bp.post("/scans")
def post_scan():
    """One scan: {"code", "age_ms"} with the Idempotency-Key header."""
    body = _json_object()
    if body is None:
        return error(400, "BAD_JSON", "请求体须为 JSON 对象")
    fields = _scan_fields(body, request.headers.get("Idempotency-Key") or body.get("key"))
    if isinstance(fields, dict):
        return error(422, "VALIDATION_FAILED", "扫码数据有误", fields=fields)
    [answer] = _judge_all([fields])
    if "error" in answer:
        return error(answer["status"], answer["error"]["code"], answer["error"]["message"])
    replayed = answer["replayed"]
    response = jsonify(answer)
    response.status_code = 200 if replayed else 201
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.post("/scans/batch")
def post_batch():
    """Queued scans in read order: {"scans": [{"key", "code", "age_ms"}, …]} judged one after another
    in one round trip. Answers per scan: the verdict, or {"key", "error"} for a scan that can never be
    accepted (the bridge drops it)."""
    body = _json_object()
    scans = body.get("scans") if body else None
    if not isinstance(scans, list) or not scans or not all(isinstance(item, dict) for item in scans):
        return error(400, "BAD_JSON", "请求体须为 {\"scans\": [扫码, …]}")
    if len(scans) > MAX_BATCH:
        return error(422, "BATCH_TOO_LARGE", f"每批最多{MAX_BATCH}条扫码")
    items = []
    for item in scans:
        fields = _scan_fields(item, item.get("key"))
        if isinstance(fields, dict):
            fields = {"key": item.get("key") if isinstance(item.get("key"), str) else None,
                      "error": {"code": "VALIDATION_FAILED", "message": "扫码数据有误", "fields": fields}}
        items.append(fields)
    results = _judge_all(items)
    for answer in results:
        answer.pop("status", None)
    return jsonify({"results": results})


@bp.get("/device")
def who_am_i():
    """What the bridge logs at start: which device it is and what it is set to."""
    device = g.scan_device
    return jsonify({"id": device.id, "name": device.name, "mode": device.mode,
                    "class_id": device.class_id, "session_id": device.session_id})
