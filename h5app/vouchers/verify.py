"""验券: an institution verifies a worker's dynamic QR for one class; the voucher is now used.

The checks run in the order of PRODUCT.md §4, each failing with its own error. The final move is
a guarded UPDATE, so under any concurrency a voucher is used at most once.
"""
from dataclasses import dataclass
from functools import cache

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, joinedload

from ..codes import normalize_code
from ..identity import normalize_id_number
from ..models import Enrolment, Person, TrainingClass, Voucher, VoucherTemplate
from ..models.classes import CLASS_CLOSED, CLASS_OPEN
from ..models.vouchers import CLAIMED, EXPIRED, OFFERED, REVOKED, SETTLED, USED
from ..timeutil import local_year_bounds, utcnow
from . import audit, qrtoken, rules, states
from .unit import service
from .errors import (
    AlreadyInClass, ClassNotOpen, InstitutionSuspended, NotApplicable, OutOfScope, PersonMismatch, QrExpired,
    QrInvalid,
    VoucherAlreadyUsed, VoucherExpired, VoucherNotClaimed, VoucherNotFound, VoucherRevoked,
    VoucherSettled, YearlyLimitReached,
)

VERIFIED, ALREADY_VERIFIED = "verified", "already_verified"


@dataclass
class VerifyResult:
    result: str  # 'verified' | 'already_verified'
    voucher: Voucher


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


def _refuse_state(voucher: Voucher, training_class: TrainingClass, now) -> str | None:
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


def _already_in_class(session, voucher: Voucher, training_class: TrainingClass) -> AlreadyInClass:
    """A person joins a class with one voucher (a second one would be paid for twice). The
    (class, person) unique index enforces it; this only words the refusal."""
    other = session.scalar(select(Voucher.code).where(
        Voucher.class_id == training_class.id, Voucher.person_id == voucher.person_id, Voucher.id != voucher.id))
    tail = f"（尾号{other[-4:]}）" if other else ""
    return AlreadyInClass(f"该学员已用另一张培训券{tail}参加本班期，无需再验券")


def check_yearly_limits(session, voucher: Voucher, training_class: TrainingClass, now) -> None:
    policy = voucher.template.policy
    if not (policy.uses_per_year or policy.uses_per_occupation_per_year):
        return
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
def verify(session, *, qr: str, training_class: TrainingClass, actor: audit.Actor, qr_secret: bytes,
           id_number: str | None = None, now=None, now_ts: float | None = None) -> VerifyResult:
    """Verify the voucher behind `qr` for `training_class`; commit and return the result, or roll
    back and raise the DomainError of the first failed check."""
    now = now or utcnow()
    if not actor.for_institution(training_class.institution_id):
        raise OutOfScope("只能为本机构的班期验券")
    code = voucher_code_from_qr(qr, qr_secret, now_ts)  # 1. signature and freshness
    return _verify_code(session, code, training_class, actor, id_number, now)


@cache
def _voucher_query(lock: bool):
    query = (
        select(Voucher)
        .options(joinedload(Voucher.template).joinedload(VoucherTemplate.policy))
        .where(Voucher.code == bindparam("code"))
        .execution_options(populate_existing=True)  # never decide on a stale copy in the session
    )
    # The owner comes in the same round trip: the answer shows them (masked) to the front desk.
    query = query.join(Person, Voucher.person_id == Person.id).options(contains_eager(Voucher.person))
    if not lock:
        return query
    # PostgreSQL: lock the voucher and its owner in one round trip. Concurrent verifications of
    # the voucher queue here and each sees the winner's commit; two vouchers of one person cannot
    # both pass the yearly limits. (SQLite's BEGIN IMMEDIATE has already serialised every writer.)
    return query.with_for_update(of=(Voucher, Person))


@cache
def _enrolment_upsert(dialect: str):
    insert = {"postgresql": pg_insert, "sqlite": sqlite_insert}[dialect]
    statement = insert(Enrolment).values(
        class_id=bindparam("class_id"), person_id=bindparam("person_id"), voucher_id=bindparam("voucher_id"),
        source="verify", status="enrolled", created_at=bindparam("created_at"),
    )
    return statement.on_conflict_do_update(
        index_elements=["class_id", "person_id"],
        # A trainee who had withdrawn and now pays with a voucher is enrolled again.
        set_={"voucher_id": func.coalesce(Enrolment.voucher_id, statement.excluded.voucher_id),
              "status": "enrolled"},
    )


def _verify_code(session, code, training_class, actor, id_number, now) -> VerifyResult:
    dialect = session.get_bind().dialect.name
    voucher = session.scalar(_voucher_query(dialect == "postgresql"), {"code": normalize_code(code)})
    if voucher is None:  # 2. exists
        raise VoucherNotFound()
    if id_number is not None and normalize_id_number(id_number) != voucher.person.id_number:
        raise PersonMismatch()  # 3. belongs to the presented person
    if _refuse_state(voucher, training_class, now) == ALREADY_VERIFIED:  # 4. state, 5. expiry
        session.commit()
        return VerifyResult(ALREADY_VERIFIED, voucher)
    template = voucher.template
    institution = training_class.institution
    problem = rules.applicability_problem(template, training_class, institution)
    if problem is None and voucher.bound_class_id not in (None, training_class.id):
        problem = "该定向券只能在发券时指定的班期使用"
    if problem:  # 6. template applies to this class
        raise NotApplicable(problem)
    if training_class.status != CLASS_OPEN and not (
            # Enrolment closed: those already enrolled are still verified at their first lesson.
            training_class.status == CLASS_CLOSED and session.scalar(select(Enrolment.id).where(
                Enrolment.class_id == training_class.id, Enrolment.person_id == voucher.person_id,
                Enrolment.status == "enrolled"))):
        raise ClassNotOpen(f"班期“{training_class.course_name}”{training_class.status_label}，不能验券")
    if institution.is_suspended:  # 7. institution not suspended
        raise InstitutionSuspended(f"本机构已被暂停验券资格：{institution.suspended_reason or '请联系人社部门'}")
    check_yearly_limits(session, voucher, training_class, now)  # 8. the person's yearly limits
    try:
        states.move(session, voucher, USED, actor, at=now, used_at=now, class_id=training_class.id,
                    institution_id=institution.id)
    except states.StaleState:
        # Another transaction moved it between our read and our write: answer as if we had read
        # after it (already verified here, used elsewhere, revoked …).
        session.rollback()
        voucher = session.scalar(_voucher_query(False), {"code": voucher.code})
        if _refuse_state(voucher, training_class, now) == ALREADY_VERIFIED:
            return VerifyResult(ALREADY_VERIFIED, voucher)
        raise VoucherAlreadyUsed() from None
    except IntegrityError:  # the (class, person) index: this person is in the class with another voucher
        session.rollback()
        raise _already_in_class(session, voucher, training_class) from None
    record_enrolment(session, dialect, training_class.id, voucher.person_id, voucher.id)
    session.commit()
    return VerifyResult(VERIFIED, voucher)


def record_enrolment(session, dialect: str, class_id: int, person_id: int, voucher_id: int) -> None:
    """The verified voucher pays for the person's place in the class: enrol them if they were not
    (a walk-in at the front desk), or attach the voucher to their enrolment. One statement."""
    session.connection().execute(_enrolment_upsert(dialect), {"class_id": class_id, "person_id": person_id,
                                                 "voucher_id": voucher_id, "created_at": utcnow()})
