"""Judging scans from a scan gun: the same engine services as 扫码验券, scan check-in and scan
check-out (签退), and one ScanRecord per (device, idempotency key) holding the verdict.

Scans are judged in chunks, each in one database transaction (`chunk_session`): every scan's
engine call runs in a savepoint — the engine's commit releases it, its rollback undoes that scan
alone — and the chunk's records are written beside the engine's changes, so one real commit makes
both durable before any verdict is answered. Nothing twice: a key already stored is answered from
its record without judging again; the unique (device, key) index turns a concurrent second
delivery into a rolled-back chunk that the bridge simply resends (and then finds stored)."""
import hashlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, joinedload

from ..desk_outcomes import LOOKS, REFUSAL_TITLES, check_in_result, checkout_message, session_label, verified_message
from ..identity import mask_id_number, mask_name
from ..models import ClassSession, Person, ScanDevice, ScanRecord, TrainingClass
from ..models.scanning import RESULT_REFUSED
from ..timeutil import to_local, utcnow
from ..vouchers import checkin as checkin_service
from ..vouchers import checkout as checkout_service
from ..vouchers import verify as verify_service
from ..vouchers.errors import DomainError
from .devices import LESSON_MODES, MODE_CHECKIN, MODE_CHECKOUT, MODES, device_actor


class DeviceNotReady(DomainError):
    code, status = "DEVICE_NOT_CONFIGURED", 409
    default_message = "请先在扫码台页面为该扫码枪选择班期或课次"


class IdempotencyKeyReused(DomainError):
    code, status = "IDEMPOTENCY_KEY_REUSED", 422
    default_message = "同一个幂等键已用于另一次扫码"


@dataclass(frozen=True)
class Device:
    """What judging needs of a scan device, read once per request (a batch is judged with the
    settings it arrived under)."""
    id: int
    institution_id: int
    name: str
    mode: str
    class_id: int | None
    session_id: int | None
    last_seen_at: datetime | None
    configured_at: datetime | None = None

    @classmethod
    def of(cls, row: ScanDevice) -> "Device":
        return cls(row.id, row.institution_id, row.name, row.mode, row.class_id, row.session_id, row.last_seen_at,
                   row.configured_at)


# A scan read within this long before the desk switched the gun is taken as read after it: the two
# happened together, and the bridge's measure of a scan's age is only that fine. What the rule is
# for is a scan queued through an outage, seconds to minutes old.
SWITCH_TOLERANCE = timedelta(seconds=2)


class ReadBeforeSwitch(DomainError):
    """A scan read under the gun's earlier use (queued while the bridge was offline), delivered after
    the desk switched it: judged under the new use it would verify where a 签退 was meant, or close a
    lesson where a verification was. Refused: the trainee scans again."""
    code, status = "DEVICE_MODE_CHANGED", 409
    default_message = "扫码后扫码枪已切换用途，这次扫码未处理，请重新扫码"


@dataclass(frozen=True)
class Scan:
    key: str
    code: str
    age_seconds: float


@dataclass
class Verdict:
    result: str
    message: str = ""
    error_code: str | None = None
    person_id: int | None = None  # whose voucher or QR it was; masked into the record

    def columns(self, trainee: tuple[str, str] | None, now) -> dict:
        name, id_number = trainee or (None, None)
        return dict(result=self.result, error_code=self.error_code, message=self.message[:300],
                    trainee_name=name, trainee_id_number=id_number, judged_at=now)


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def present(record: ScanRecord) -> dict:
    """The record as the bridge and the scan station see it (trainee already masked)."""
    tone, title = LOOKS.get(record.result, ("no", REFUSAL_TITLES.get(record.mode, "扫码失败")))
    trainee = ({"name": record.trainee_name, "id_number": record.trainee_id_number}
               if record.trainee_name or record.trainee_id_number else None)
    return {
        "id": record.id, "key": record.idempotency_key, "mode": record.mode, "result": record.result,
        "ok": record.result != RESULT_REFUSED, "tone": tone, "title": title,
        "code": record.error_code, "message": record.message, "trainee": trainee,
        "read_at": record.read_at.replace(tzinfo=UTC).isoformat(),
    }


@contextmanager
def chunk_session(engine):
    """A session whose commits are savepoints inside one outer transaction, committed at the end:
    one durable commit (one fsync on PostgreSQL) for a chunk of scans. Objects are not expired at
    each savepoint: the class and institution are read once per chunk, as a page request reads
    them once per request."""
    with engine.connect() as connection:
        outer = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield session
            session.close()
            outer.commit()
        except BaseException:
            session.close()
            outer.rollback()
            raise


def _training_class(session, class_id: int | None) -> TrainingClass | None:
    if class_id is None:
        return None
    cache = session.info.setdefault("classes", {})
    if class_id not in cache:
        cache[class_id] = session.get(TrainingClass, class_id, options=[joinedload(TrainingClass.institution)],
                                      populate_existing=True)
    return cache[class_id]


def _run_engine(session, device: Device, code: str, read_at, qr_secret: bytes) -> Verdict:
    """Call the engine service of the device's mode; it commits (releases its savepoint) on success
    and rolls back on refusal."""
    actor = device_actor(device)
    read_ts = read_at.replace(tzinfo=UTC).timestamp()
    if device.mode in LESSON_MODES:
        class_session = session.get(ClassSession, device.session_id) if device.session_id else None
        if class_session is None:
            raise DeviceNotReady("请先在扫码台页面为该扫码枪选择" + ("签到" if device.mode == MODE_CHECKIN else "签退")
                                 + "的课次")
        if device.mode == MODE_CHECKOUT:
            done = checkout_service.scan_check_out(session, class_session, code, actor, qr_secret,
                                                   now=read_at, now_ts=read_ts)
            return Verdict(done.result, checkout_message(done), person_id=done.person.id)
        record, person = checkin_service.scan_check_in(session, class_session, code, actor, qr_secret,
                                                       now=read_at, now_ts=read_ts)
        return Verdict(check_in_result(record, read_at), session_label(class_session), person_id=person.id)
    training_class = _training_class(session, device.class_id)
    if training_class is None:
        raise DeviceNotReady("请先在扫码台页面为该扫码枪选择验券的班期")
    outcome = verify_service.verify(session, qr=code, class_id=training_class.id, actor=actor,
                                    qr_secret=qr_secret, now=read_at, now_ts=read_ts)
    voucher = outcome.voucher
    return Verdict(outcome.result, verified_message(voucher), person_id=voucher.person_id)


def _judge(session, device: Device, code: str, read_at, qr_secret: bytes) -> Verdict:
    try:
        if device.configured_at is not None and read_at < device.configured_at - SWITCH_TOLERANCE:
            raise ReadBeforeSwitch(
                f"这次扫码读于{to_local(read_at):%H:%M:%S}，之后扫码枪已于{to_local(device.configured_at):%H:%M:%S}"
                f"切换为“{MODES[device.mode]}”，未按新用途处理：请学员重新扫码")
        return _run_engine(session, device, code, read_at, qr_secret)
    except DomainError as refusal:
        session.rollback()
        return Verdict(RESULT_REFUSED, refusal.message, refusal.code)
    finally:
        if session.in_transaction():
            session.commit()  # nothing of this scan may stay in an open savepoint


def judge_chunk(session, device: Device, scans: list[Scan], *, qr_secret: bytes,
                max_age_seconds: float) -> list:
    """Judge `scans` in order inside a `chunk_session`. One answer per scan, in order:
    (record, replayed) or the DomainError that refuses the delivery itself (key reused).

    `age_seconds` is how long ago the gun read a scan, by the bridge's clock, so a scan that
    waited in the bridge's queue is judged (QR freshness, session time) as of its read — up to
    `max_age_seconds`, beyond which it counts as read `max_age_seconds` ago."""
    outer = session.bind  # the chunk's connection: reads and writes here are outside any savepoint
    stored = {row.idempotency_key: row for row in outer.execute(
        select(ScanRecord).where(ScanRecord.device_id == device.id,
                                 ScanRecord.idempotency_key.in_({s.key for s in scans})))}
    answers: list = []
    fresh: list[tuple[int, dict, Verdict]] = []
    seen: dict[str, str] = {}
    for scan in scans:
        digest = code_hash(scan.code)
        earlier = stored.get(scan.key)
        if earlier is not None or scan.key in seen:
            if (earlier.code_hash if earlier is not None else seen[scan.key]) != digest:
                answers.append(IdempotencyKeyReused())
            elif earlier is None:  # the same scan twice in one request: judged once, answered twice
                answers.append(("same-as", scan.key))
            else:
                answers.append((earlier, True))
            continue
        seen[scan.key] = digest
        now = utcnow()
        read_at = now - timedelta(seconds=min(max(scan.age_seconds, 0.0), max_age_seconds))
        verdict = _judge(session, device, scan.code, read_at, qr_secret)
        values = dict(device_id=device.id, idempotency_key=scan.key, code_hash=digest, mode=device.mode,
                      class_id=device.class_id, session_id=device.session_id if device.mode in LESSON_MODES else None,
                      read_at=read_at, created_at=now, attempts=1)
        fresh.append((len(answers), values, verdict))
        answers.append(None)
    replayed = [a[0].id for a in answers if isinstance(a, tuple) and a[1] is True]
    if replayed:
        outer.execute(update(ScanRecord).where(ScanRecord.id.in_(replayed))
                      .values(attempts=ScanRecord.attempts + 1))
    if fresh:
        person_ids = {v.person_id for _, _, v in fresh if v.person_id is not None}
        trainees = {pid: (mask_name(name), mask_id_number(id_number)) for pid, name, id_number in outer.execute(
            select(Person.id, Person.name, Person.id_number).where(Person.id.in_(person_ids)))} if person_ids else {}
        now = utcnow()
        rows = [{**values, **verdict.columns(trainees.get(verdict.person_id), now)} for _, values, verdict in fresh]
        ids = outer.execute(insert(ScanRecord).returning(ScanRecord.id, sort_by_parameter_order=True), rows).scalars()
        by_key = {}
        for (position, _values, _verdict), row, record_id in zip(fresh, rows, ids):
            record = ScanRecord(**row)
            record.id = record_id
            answers[position] = (record, False)
            by_key[row["idempotency_key"]] = record
        answers = [(by_key[a[1]], True) if isinstance(a, tuple) and a[0] == "same-as" else a for a in answers]
    return answers


def touch(session, device: Device) -> None:
    """Last seen, for the device list: written at most every 10 s, not once per scan."""
    now = utcnow()
    if device.last_seen_at is None or now - device.last_seen_at > timedelta(seconds=10):
        session.execute(update(ScanDevice).where(ScanDevice.id == device.id).values(last_seen_at=now))
        session.commit()
