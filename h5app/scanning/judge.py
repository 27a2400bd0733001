"""Judging one scan from a scan gun: the same engine services as 扫码验券 and scan check-in, and
one ScanRecord per (device, idempotency key) holding the verdict.

Nothing twice: the record is inserted as 'pending' in the engine's own transaction, so a
successful verification or check-in and the record commit together; a refusal rolls both back and
the refusal is then written alone. A resend of the key finds the record and gets the stored
verdict; the unique (device, key) index decides between two concurrent deliveries."""
import hashlib
from dataclasses import dataclass
from datetime import UTC, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..identity import mask_id_number, mask_name
from ..models import ClassSession, ScanDevice, ScanRecord, TrainingClass
from ..models.scanning import RESULT_PENDING, RESULT_REFUSED
from ..timeutil import utcnow
from ..vouchers import checkin as checkin_service
from ..vouchers import verify as verify_service
from ..vouchers.errors import DomainError, _error
from .devices import MODE_CHECKIN, device_actor

CHECKED_IN, ALREADY_CHECKED_IN = "checked_in", "already_checked_in"
# A pending record older than this belongs to a request that died after the engine committed.
PENDING_GRACE = timedelta(seconds=30)

DeviceNotReady = _error("DeviceNotReady", "DEVICE_NOT_CONFIGURED", "请先在扫码台页面为该扫码枪选择班期或课次")
IdempotencyKeyReused = _error("IdempotencyKeyReused", "IDEMPOTENCY_KEY_REUSED",
                              "同一个幂等键已用于另一次扫码", 422)
ScanInProgress = _error("ScanInProgress", "SCAN_IN_PROGRESS", "这次扫码正在处理中，请稍后重试")

# result → (tone, title) for the scan station; refusals use the mode's own title.
PRESENTATION = {
    verify_service.VERIFIED: ("ok", "验券成功"),
    verify_service.ALREADY_VERIFIED: ("again", "已在本班验过"),
    CHECKED_IN: ("ok", "签到成功"),
    ALREADY_CHECKED_IN: ("again", "本次课已签到"),
    RESULT_PENDING: ("again", "处理中"),
}
REFUSAL_TITLES = {"verify": "不能验券", "checkin": "不能签到"}


@dataclass
class Verdict:
    result: str
    message: str = ""
    error_code: str | None = None
    person: object | None = None


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def present(record: ScanRecord) -> dict:
    """The record as the bridge and the scan station see it (trainee already masked)."""
    tone, title = PRESENTATION.get(record.result, ("no", REFUSAL_TITLES.get(record.mode, "扫码失败")))
    trainee = ({"name": record.trainee_name, "id_number": record.trainee_id_number}
               if record.trainee_name or record.trainee_id_number else None)
    return {
        "id": record.id, "key": record.idempotency_key, "mode": record.mode, "result": record.result,
        "ok": record.result not in (RESULT_REFUSED, RESULT_PENDING), "tone": tone, "title": title,
        "code": record.error_code, "message": record.message, "trainee": trainee,
        "read_at": record.read_at.replace(tzinfo=UTC).isoformat(),
    }


def _find(session, device_id: int, key: str) -> ScanRecord | None:
    return session.scalar(select(ScanRecord).where(ScanRecord.device_id == device_id,
                                                   ScanRecord.idempotency_key == key)
                          .execution_options(populate_existing=True))


def _run_engine(session, device: ScanDevice, code: str, read_at, qr_secret: bytes) -> Verdict:
    """Call the engine service of the device's mode; it commits on success, rolls back on refusal."""
    actor = device_actor(device)
    read_ts = read_at.replace(tzinfo=UTC).timestamp()
    if device.mode == MODE_CHECKIN:
        class_session = session.get(ClassSession, device.session_id) if device.session_id else None
        if class_session is None:
            raise DeviceNotReady("请先在扫码台页面为该扫码枪选择签到的课次")
        record, person = checkin_service.scan_check_in(session, class_session, code, actor, qr_secret,
                                                       now=read_at, now_ts=read_ts)
        fresh = record.created_at == read_at
        label = class_session.title or class_session.training_class.course_name
        return Verdict(CHECKED_IN if fresh else ALREADY_CHECKED_IN, label, person=person)
    training_class = session.get(TrainingClass, device.class_id) if device.class_id else None
    if training_class is None:
        raise DeviceNotReady("请先在扫码台页面为该扫码枪选择验券的班期")
    outcome = verify_service.verify(session, qr=code, training_class=training_class, actor=actor,
                                    qr_secret=qr_secret, now=read_at, now_ts=read_ts)
    voucher = outcome.voucher
    return Verdict(outcome.result, f"{voucher.template.name}（券码尾号{voucher.code[-4:]}）", person=voucher.person)


def _judge(session, device: ScanDevice, code: str, read_at, qr_secret: bytes) -> Verdict:
    try:
        return _run_engine(session, device, code, read_at, qr_secret)
    except DomainError as refusal:
        session.rollback()
        return Verdict(RESULT_REFUSED, refusal.message, refusal.code)


def _store(session, device_id: int, key: str, values: dict, verdict: Verdict) -> ScanRecord:
    """Write the verdict onto the record (committed as pending with the engine's change) or, after
    a refusal, insert the record anew."""
    now = utcnow()
    person = verdict.person
    filled = dict(result=verdict.result, error_code=verdict.error_code, message=verdict.message[:300],
                  trainee_name=mask_name(person.name) if person else None,
                  trainee_id_number=mask_id_number(person.id_number) if person else None, judged_at=now)
    record = _find(session, device_id, key)
    if record is None:
        record = ScanRecord(**values)
        session.add(record)
    for name, value in filled.items():
        setattr(record, name, value)
    session.execute(update(ScanDevice).where(ScanDevice.id == device_id).values(last_seen_at=now))
    try:
        session.commit()
    except IntegrityError:  # a concurrent delivery of the same key stored its verdict first
        session.rollback()
        return _find(session, device_id, key)
    return record


def _replay(session, device: ScanDevice, record: ScanRecord | None, digest: str, code: str, qr_secret: bytes):
    if record is None:  # the concurrent delivery that held the key rolled back: let the bridge resend
        session.rollback()
        raise ScanInProgress()
    if record.code_hash != digest:
        session.rollback()
        raise IdempotencyKeyReused()
    if record.result != RESULT_PENDING:
        record.attempts += 1
        session.commit()
        return record
    if utcnow() - record.created_at < PENDING_GRACE:
        session.rollback()
        raise ScanInProgress()
    # The first request committed the engine's change and died before writing the verdict: the
    # engine answers again without a second effect (already verified / already checked in).
    key, values = record.idempotency_key, {}
    verdict = _judge(session, device, code, record.read_at, qr_secret)
    return _store(session, device.id, key, values, verdict)


def judge_scan(session, device: ScanDevice, *, key: str, code: str, age_seconds: float, qr_secret: bytes,
               max_age_seconds: float) -> tuple[ScanRecord, bool]:
    """(record, replayed). `age_seconds` is how long ago the gun read it, by the bridge's clock, so
    a scan that waited in the bridge's queue is judged (QR freshness, session time) as of the
    read — up to `max_age_seconds`, beyond which it counts as read `max_age_seconds` ago."""
    device_id = device.id
    digest = code_hash(code)
    existing = _find(session, device_id, key)
    if existing is not None:
        return _replay(session, device, existing, digest, code, qr_secret), True
    now = utcnow()
    read_at = now - timedelta(seconds=min(max(age_seconds, 0.0), max_age_seconds))
    values = dict(device_id=device_id, idempotency_key=key, code_hash=digest, mode=device.mode,
                  class_id=device.class_id, session_id=device.session_id if device.mode == MODE_CHECKIN else None,
                  result=RESULT_PENDING, message="", read_at=read_at, created_at=now)
    session.add(ScanRecord(**values))
    try:
        session.flush()
    except IntegrityError:  # the same key is being delivered concurrently
        session.rollback()
        existing = _find(session, device_id, key)
        return _replay(session, device, existing, digest, code, qr_secret), True
    verdict = _judge(session, device, code, read_at, qr_secret)
    return _store(session, device_id, key, values, verdict), False
