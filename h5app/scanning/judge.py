"""Judging one scan from a scan gun: the same engine services as 扫码验券 and scan check-in, and
one ScanRecord per (device, idempotency key) holding the verdict.

Nothing twice: the record is inserted in the engine's own transaction, before the engine runs, so
a successful verification or check-in and its record commit together; a refusal rolls both back
and the refusal is then written alone. A resend of the key finds the record and gets the stored
verdict; the unique (device, key) index decides between two concurrent deliveries.

The endpoint runs a whole batch in one database transaction (see `batch_session`): each scan's
"transactions" are savepoints in it — the engine's commit releases one, its rollback undoes only
that scan — and the batch is made durable by one real commit before any verdict is answered."""
import hashlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from ..identity import mask_id_number, mask_name
from ..models import ClassSession, Person, ScanDevice, ScanRecord, TrainingClass
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


@dataclass(frozen=True)
class Device:
    """What judging needs of a scan device, read once per request (a batch is judged with the
    settings it arrived under, not re-read after every scan's commit)."""
    id: int
    institution_id: int
    name: str
    mode: str
    class_id: int | None
    session_id: int | None
    last_seen_at: datetime | None

    @classmethod
    def of(cls, row: ScanDevice) -> "Device":
        return cls(row.id, row.institution_id, row.name, row.mode, row.class_id, row.session_id, row.last_seen_at)


@dataclass
class Verdict:
    result: str
    message: str = ""
    error_code: str | None = None
    trainee: tuple[str, str] | None = None  # masked name, masked ID number

    def columns(self, now) -> dict:
        name, id_number = self.trainee or (None, None)
        return dict(result=self.result, error_code=self.error_code, message=self.message[:300],
                    trainee_name=name, trainee_id_number=id_number, judged_at=now)


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


def _masked(person: Person) -> tuple[str, str]:
    return mask_name(person.name), mask_id_number(person.id_number)


def _find(session, device_id: int, key: str) -> ScanRecord | None:
    return session.scalar(select(ScanRecord).where(ScanRecord.device_id == device_id,
                                                   ScanRecord.idempotency_key == key)
                          .execution_options(populate_existing=True))


def _training_class(session, class_id: int | None) -> TrainingClass | None:
    """The device's class with its institution, read once per batch: the batch session does not
    expire it at each scan's savepoint (a page request, likewise, reads it once)."""
    if class_id is None:
        return None
    cache = session.info.setdefault("classes", {})
    if class_id not in cache:
        cache[class_id] = session.get(TrainingClass, class_id, options=[joinedload(TrainingClass.institution)],
                                      populate_existing=True)
    return cache[class_id]


def _trainee(session, person_id: int) -> tuple[str, str]:
    """Masked name and ID of the voucher's owner: one read, outside any savepoint in a batch."""
    connection = session.info.get("outer_connection") or session.connection()
    name, id_number = connection.execute(select(Person.name, Person.id_number).where(Person.id == person_id)).one()
    return mask_name(name), mask_id_number(id_number)


def _run_engine(session, device: Device, code: str, read_at, qr_secret: bytes) -> Verdict:
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
        return Verdict(CHECKED_IN if fresh else ALREADY_CHECKED_IN, label, trainee=_masked(person))
    training_class = _training_class(session, device.class_id)
    if training_class is None:
        raise DeviceNotReady("请先在扫码台页面为该扫码枪选择验券的班期")
    outcome = verify_service.verify(session, qr=code, training_class=training_class, actor=actor,
                                    qr_secret=qr_secret, now=read_at, now_ts=read_ts)
    voucher = outcome.voucher
    return Verdict(outcome.result, f"{voucher.template.name}（券码尾号{voucher.code[-4:]}）",
                   trainee=_trainee(session, voucher.person_id))


def _judge(session, device: Device, code: str, read_at, qr_secret: bytes) -> Verdict:
    try:
        return _run_engine(session, device, code, read_at, qr_secret)
    except DomainError as refusal:
        session.rollback()
        return Verdict(RESULT_REFUSED, refusal.message, refusal.code)


def _store(session, device: Device, key: str, values: dict, verdict: Verdict) -> ScanRecord:
    """Write the verdict onto the record inserted with the engine's change or, after a refusal
    (which rolled the record back with it), insert the record anew."""
    filled = verdict.columns(utcnow())
    done = session.execute(update(ScanRecord).where(ScanRecord.device_id == device.id,
                                                    ScanRecord.idempotency_key == key).values(**filled))
    if done.rowcount == 0:
        session.execute(insert(ScanRecord).values(**{**values, **filled}))
    try:
        session.commit()
    except IntegrityError:  # a concurrent delivery of the same key stored its verdict first
        session.rollback()
    return _find(session, device.id, key)


def _store_in_batch(outer, record_id: int, key: str, values: dict, verdict: Verdict) -> ScanRecord:
    """The same inside a batch: straight into the outer transaction, without a savepoint of its
    own; the batch's one commit makes it durable together with the engine's change."""
    filled = verdict.columns(utcnow())
    done = outer.execute(update(ScanRecord).where(ScanRecord.id == record_id,
                                                  ScanRecord.idempotency_key == key).values(**filled))
    if done.rowcount == 0:  # the refusal rolled the pending row back
        record_id = outer.execute(insert(ScanRecord).values(**{**values, **filled})).inserted_primary_key[0]
    record = ScanRecord(**{**values, **filled})
    record.id = record_id
    return record


def _replay(session, device: Device, record: ScanRecord | None, digest: str, code: str, qr_secret: bytes):
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
    key, read_at = record.idempotency_key, record.read_at
    verdict = _judge(session, device, code, read_at, qr_secret)
    return _store(session, device, key, {}, verdict)


def judge_scan(session, device: Device, *, key: str, code: str, age_seconds: float, qr_secret: bytes,
               max_age_seconds: float) -> tuple[ScanRecord, bool]:
    """(record, replayed). `age_seconds` is how long ago the gun read it, by the bridge's clock, so
    a scan that waited in the bridge's queue is judged (QR freshness, session time) as of the
    read — up to `max_age_seconds`, beyond which it counts as read `max_age_seconds` ago."""
    digest = code_hash(code)
    now = utcnow()
    read_at = now - timedelta(seconds=min(max(age_seconds, 0.0), max_age_seconds))
    values = dict(device_id=device.id, idempotency_key=key, code_hash=digest, mode=device.mode,
                  class_id=device.class_id, session_id=device.session_id if device.mode == MODE_CHECKIN else None,
                  result=RESULT_PENDING, message="", read_at=read_at, created_at=now, attempts=1)
    try:
        pending_id = session.execute(insert(ScanRecord).values(**values)).inserted_primary_key[0]
    except IntegrityError:  # the key was delivered before (or is being delivered right now)
        session.rollback()
        return _replay(session, device, _find(session, device.id, key), digest, code, qr_secret), True
    verdict = _judge(session, device, code, read_at, qr_secret)
    outer = session.info.get("outer_connection")
    if outer is not None:
        if session.in_transaction():
            session.commit()  # release the savepoint the trainee's read opened, so our write is outside it
        return _store_in_batch(outer, pending_id, key, values, verdict), False
    return _store(session, device, key, values, verdict), False


@contextmanager
def batch_session(engine):
    """A session whose commits are savepoints inside one outer transaction, committed at the end:
    one durable commit (one fsync on PostgreSQL) for a whole batch of scans. Objects are not
    expired at each savepoint: the class and institution are read once per batch, as a page
    request reads them once."""
    with engine.connect() as connection:
        outer = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False,
                          info={"outer_connection": connection})
        try:
            yield session
            session.close()
            outer.commit()
        except BaseException:
            session.close()
            outer.rollback()
            raise


def touch(session, device: Device) -> None:
    """Last seen, for the device list: written at most every 10 s, not once per scan."""
    now = utcnow()
    if device.last_seen_at is None or now - device.last_seen_at > timedelta(seconds=10):
        session.execute(update(ScanDevice).where(ScanDevice.id == device.id).values(last_seen_at=now))
        session.commit()
