"""验券: an institution verifies a worker's dynamic QR for one class; the voucher is now used.

The checks run in the order of PRODUCT.md §4, each failing with its own error. The final move is
a guarded UPDATE, so under any concurrency a voucher is used at most once.

Verification is the busiest write of the system (front desks at 8 a.m., partner platforms, scan
guns): what it reads costs one statement (reading.py); on PostgreSQL what it writes costs one more.
"""
from dataclasses import dataclass
from functools import cache

from sqlalchemy import bindparam, func, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import scoped_session

from ..codes import normalize_code
from ..database import prepared
from ..identity import normalize_id_number
from ..models import AuditEvent, Enrolment, TrainingClass, Voucher, VoucherTemplate
from ..models.classes import CLASS_CLOSED, CLASS_OPEN
from ..models.vouchers import CLAIMED, EXPIRED, OFFERED, REVOKED, SETTLED, USED
from ..timeutil import local_year_bounds, utcnow
from . import audit, qrtoken, rules, states
from .errors import (
    AlreadyInClass, ClassNotFound, ClassNotOpen, DomainError, InstitutionSuspended, NotApplicable, PersonMismatch,
    QrExpired, QrInvalid, VoucherAlreadyUsed, VoucherExpired, VoucherNotClaimed, VoucherNotFound, VoucherRevoked,
    VoucherSettled, YearlyLimitReached,
)
from .reading import ClassRow, VoucherRow, read, reads_in_autocommit
from .unit import lock_person, service

VERIFIED, ALREADY_VERIFIED = "verified", "already_verified"


@dataclass
class VerifyResult:
    result: str  # 'verified' | 'already_verified'
    voucher: VoucherRow


def read_qr(qr: str, secret: bytes, now_ts: float | None = None) -> tuple[str, str]:
    """(kind, code) of a genuine, fresh QR token, or the domain error for a forged or old one."""
    try:
        return qrtoken.verify(secret, qr, now_ts)
    except qrtoken.QrExpired:
        raise QrExpired() from None
    except qrtoken.QrInvalid:
        raise QrInvalid() from None


def voucher_code_from_qr(qr: str, secret: bytes, now_ts: float | None = None) -> str:
    kind, code = read_qr(qr, secret, now_ts)
    if kind != qrtoken.KIND_VOUCHER:
        raise QrInvalid("这不是培训券二维码，请让学员打开“我的卡券”中的培训券")
    return code


def _refuse_state(voucher: VoucherRow, training_class: ClassRow, now) -> str | None:
    """None when the voucher may be used; ALREADY_VERIFIED for a repeat at the same class."""
    status = voucher.effective_status(now)
    if status == USED:
        if voucher.class_id == training_class.id:
            return ALREADY_VERIFIED
        raise VoucherAlreadyUsed("该培训券已在其他班期使用，一张券只能使用一次")
    if status == SETTLED:
        raise VoucherSettled("该培训券已结算核销，唯一码已失效")
    if status == REVOKED:
        raise VoucherRevoked("该培训券已被人社部门作废")
    if status == OFFERED:
        raise VoucherNotClaimed()
    if status == EXPIRED:
        raise VoucherExpired("该培训券已过有效期，不能使用")
    assert status == CLAIMED
    return None


def _already_in_class(session, voucher: VoucherRow, training_class: ClassRow) -> AlreadyInClass:
    """A person joins a class with one voucher (a second one would be paid for twice). The
    (class, person) unique index enforces it; this only words the refusal."""
    other = session.scalar(select(Voucher.code).where(
        Voucher.class_id == training_class.id, Voucher.person_id == voucher.person_id, Voucher.id != voucher.id))
    tail = f"（尾号{other[-4:]}）" if other else ""
    return AlreadyInClass(f"该学员已用另一张培训券{tail}参加本班期，无需再验券")


def has_yearly_limits(policy) -> bool:
    return bool(policy.uses_per_year or policy.uses_per_occupation_per_year)


def check_yearly_limits(session, voucher, training_class, now) -> None:
    """`voucher` and `training_class`: the models or verification's plain rows. Two vouchers of one
    person must not both pass: the person is locked before counting (PostgreSQL row lock; SQLite's
    BEGIN IMMEDIATE has already serialised all writers)."""
    policy = voucher.template.policy
    if not has_yearly_limits(policy):
        return
    lock_person(session, voucher.person_id)
    start, end = local_year_bounds(rules.local_year(now))
    uses = (
        select(func.count(Voucher.id))
        .join(VoucherTemplate, Voucher.template_id == VoucherTemplate.id)
        .where(
            Voucher.person_id == voucher.person_id,
            Voucher.id != voucher.id,
            Voucher.status.in_((USED, SETTLED)),
            VoucherTemplate.policy_id == policy.id,
            Voucher.used_at >= start,
            Voucher.used_at < end,
        )
    )
    if policy.uses_per_year and session.scalar(uses) >= policy.uses_per_year:
        raise YearlyLimitReached(f"按本地政策，每人每年最多使用{policy.uses_per_year}次培训券，本年度次数已用完")
    if policy.uses_per_occupation_per_year:
        same_occupation = uses.join(TrainingClass, Voucher.class_id == TrainingClass.id).where(
            TrainingClass.occupation == training_class.occupation
        )
        if session.scalar(same_occupation) >= policy.uses_per_occupation_per_year:
            raise YearlyLimitReached(
                f"按本地政策，每人每年同一职业（工种）只能持券参加一次培训，"
                f"您本年度已持券参加过{training_class.occupation}培训"
            )


@service
def verify(session, *, qr: str, class_id: int, actor: audit.Actor, qr_secret: bytes,
           id_number: str | None = None, now=None, now_ts: float | None = None) -> VerifyResult:
    """Verify the voucher behind `qr` for the class `class_id`; commit and return the result, or
    roll back and raise the DomainError of the first failed check. Another institution's class is
    ClassNotFound: its existence is not the caller's to learn."""
    if isinstance(session, scoped_session):
        session = session()  # looked up once: the busiest write asks it for its connection often
    now = now or utcnow()
    try:
        code, refusal = normalize_code(voucher_code_from_qr(qr, qr_secret, now_ts)), None  # 1. signature, freshness
    except DomainError as error:
        code, refusal = "", error
    session.flush()  # the caller's pending work: a Core statement does not autoflush it
    autocommit = reads_in_autocommit(session)
    reading = read(session, class_id, code, autocommit=autocommit)
    if reading is None or not actor.for_institution(reading.training_class.institution_id):
        raise ClassNotFound()
    if refusal is not None:
        raise refusal
    voucher = reading.voucher
    if voucher is None:  # 2. exists
        raise VoucherNotFound()
    if id_number is not None and normalize_id_number(id_number) != voucher.person.id_number:
        raise PersonMismatch()  # 3. belongs to the presented person
    training_class, institution = reading.training_class, reading.institution
    if _refuse_state(voucher, training_class, now) == ALREADY_VERIFIED:  # 4. state, 5. expiry
        session.commit()
        return VerifyResult(ALREADY_VERIFIED, voucher)
    problem = rules.applicability_problem(voucher.template, training_class, institution)
    if problem is None and voucher.bound_class_id not in (None, training_class.id):
        problem = "该定向券只能在发券时指定的班期使用"
    if problem:  # 6. template applies to this class
        raise NotApplicable(problem)
    # Enrolment closed: those already enrolled are still verified at their first lesson.
    if training_class.status != CLASS_OPEN and not (
            training_class.status == CLASS_CLOSED and reading.enrolment_status == "enrolled"):
        raise ClassNotOpen(f"班期“{training_class.course_name}”{training_class.status_label}，不能验券")
    if institution.is_suspended:  # 7. institution not suspended
        raise InstitutionSuspended(f"本机构已被暂停验券资格：{institution.suspended_reason or '请联系人社部门'}")
    return _use(session, voucher, training_class, actor, now, autocommit)


def _use(session, voucher: VoucherRow, training_class: ClassRow, actor: audit.Actor, now,
         autocommit: bool = False) -> VerifyResult:
    """The writes: the person's yearly limits (8.), the guarded move, the enrolment; one commit."""
    if autocommit and has_yearly_limits(voucher.template.policy):
        session.commit()  # ends the read's autocommit: the lock, the count and the writes share a transaction
    check_yearly_limits(session, voucher, training_class, now)
    try:
        _write(session, voucher, training_class, actor, now)
    except states.StaleState:
        # Another transaction moved it between our read and our write: answer as if we had read
        # after it (already verified here, used elsewhere, revoked …).
        session.rollback()
        reading = read(session, training_class.id, voucher.code)
        if _refuse_state(reading.voucher, training_class, now) == ALREADY_VERIFIED:
            session.commit()
            return VerifyResult(ALREADY_VERIFIED, reading.voucher)
        raise VoucherAlreadyUsed() from None
    except IntegrityError:  # the (class, person) index: this person is in the class with another voucher
        session.rollback()
        raise _already_in_class(session, voucher, training_class) from None
    session.commit()
    return VerifyResult(VERIFIED, voucher)


def _write(session, voucher: VoucherRow, training_class: ClassRow, actor: audit.Actor, now) -> None:
    """The guarded move to used with its audit row, and the enrolment. On PostgreSQL the three
    writes go as one statement (one round trip instead of three); on SQLite states.move and the
    enrolment upsert. Each statement a database.Prepared."""
    values = {"used_at": now, "class_id": training_class.id, "institution_id": training_class.institution_id}
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        states.move(session, voucher, USED, actor, at=now, **values)
        prepared(_enrolment_upsert()).execute(connection, {
            "class_id": training_class.id, "person_id": voucher.person_id, "voucher_id": voucher.id,
            "created_at": utcnow()})
        return
    states.check_move(voucher.status, USED)
    audit_values = audit.values(actor, states.ACTIONS[USED], voucher=voucher, from_status=voucher.status,
                                to_status=USED, institution_id=training_class.institution_id, at=now)
    moved = prepared(_writes_in_one_statement(tuple(sorted(values)))).execute(connection, {
        **states.guarded_update_params(voucher, USED, values),
        **{f"a_{name}": value for name, value in audit_values.items()},
        "e_class_id": training_class.id, "e_created_at": utcnow(),
    })
    if not moved.rows:
        raise states.StaleState
    states.mirror(voucher, USED, values)


def _enrolled_again(statement):
    """The enrolment insert becomes an upsert: a trainee who had withdrawn and now pays with a
    voucher is enrolled again; an enrolment without a voucher gets this one."""
    return statement.on_conflict_do_update(
        index_elements=["class_id", "person_id"],
        set_={"voucher_id": func.coalesce(Enrolment.voucher_id, statement.excluded.voucher_id),
              "status": "enrolled"},
    )


@cache
def _enrolment_upsert():
    """SQLite: the verified voucher pays for the person's place in the class — enrol them if they
    were not (a walk-in at the front desk), or attach the voucher to their enrolment."""
    return _enrolled_again(sqlite_insert(Enrolment).values(
        class_id=bindparam("class_id"), person_id=bindparam("person_id"), voucher_id=bindparam("voucher_id"),
        source="verify", status="enrolled", created_at=bindparam("created_at"),
    ))


@cache
def _writes_in_one_statement(columns: tuple[str, ...]):
    """PostgreSQL: states.move's guarded UPDATE (of `columns`), its audit row and the enrolment upsert as one
    data-modifying WITH. The inserts take their voucher and person from the UPDATE's RETURNING,
    so when the guard matches no row (someone moved the voucher first) nothing is written and
    the statement returns no row."""
    a, e = AuditEvent.__table__, Enrolment.__table__
    moved = (states.guarded_update(columns)
             .returning(Voucher.__table__.c.id, Voucher.__table__.c.person_id).cte("moved"))
    from_moved = {"voucher_id": moved.c.id, "person_id": moved.c.person_id}
    audit_columns = [c.name for c in a.columns if c.name != "id"]
    audited = a.insert().from_select(audit_columns, select(*[
        from_moved.get(name, bindparam(f"a_{name}", type_=a.c[name].type)) for name in audit_columns
    ]).select_from(moved)).returning(a.c.id).cte("audited")
    enrolled = _enrolled_again(pg_insert(e).from_select(
        ["class_id", "person_id", "voucher_id", "source", "status", "created_at"],
        select(bindparam("e_class_id", type_=e.c.class_id.type), moved.c.person_id, moved.c.id,
               literal("verify", e.c.source.type), literal("enrolled", e.c.status.type),
               bindparam("e_created_at", type_=e.c.created_at.type)).select_from(moved),
    )).returning(e.c.id).cte("enrolled")
    return select(moved.c.id).add_cte(audited, enrolled)
