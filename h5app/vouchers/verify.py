"""验券: an institution verifies a worker's dynamic QR for one class; the voucher is now used.

The checks run in the order of PRODUCT.md §4, each failing with its own error. The final move is
a guarded UPDATE, so under any concurrency a voucher is used at most once.

Verification is the busiest write of the system (front desks at 8 a.m., partner platforms, scan
guns): what it reads is one statement (verification_read.py); it writes the guarded UPDATE, its audit row and
the enrolment, and commits once.
"""
from dataclasses import dataclass

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..codes import is_voucher_code, normalize_code
from ..identity import normalize_id_number
from ..models import Enrolment, TrainingClass, Voucher, VoucherTemplate
from ..models.classes import CLASS_CANCELLED, CLASS_CLOSED, CLASS_OPEN, CLASS_PENDING_REVIEW, ENROLLED
from ..models.vouchers import CLAIMED, EXPIRED, OFFERED, REVOKED, SETTLED, USED
from ..timeutil import local_today, local_year_bounds, utcnow
from . import audit, qrtoken, rules, states
from .errors import (
    AlreadyInClass, ClassCancelled, ClassNotFound, ClassNotOpen, ClassPendingReview, DomainError, InstitutionSuspended,
    NotApplicable, PersonMismatch, QrExpired, QrInvalid, VoucherAlreadyUsed, VoucherExpired, VoucherNotClaimed, VoucherNotFound,
    VoucherRevoked, VoucherSettled, YearlyLimitReached,
)
from .transactions import lock_person, service
from .verification_read import read

VERIFIED, ALREADY_VERIFIED = "verified", "already_verified"


@dataclass
class VerifyResult:
    result: str  # 'verified' | 'already_verified'
    voucher: Voucher


def read_qr(qr: str, secret: bytes, now_ts: float | None = None, *, shown_in: str = "“我的卡券”") -> tuple[str, str]:
    """(kind, code) of a genuine, fresh QR token, or the domain error for a forged or old one.
    `shown_in`: where the worker finds the QR the desk should scan, for the refusal's words."""
    try:
        return qrtoken.verify(secret, qr, now_ts)
    except qrtoken.QrExpired:
        raise QrExpired() from None
    except qrtoken.QrInvalid:
        if is_voucher_code(qr):  # the code printed under the QR, typed in when the camera failed
            raise QrInvalid(f"这是培训券的券码，不能代替二维码：请让学员打开{shown_in}，扫描实时刷新的二维码"
                            "（券码和截图都不能使用）") from None
        raise QrInvalid(f"二维码无效，请让学员打开{shown_in}重新出示") from None


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


def has_yearly_limits(policy) -> bool:
    return bool(policy.uses_per_year or policy.uses_per_occupation_per_year)


def check_yearly_limits(session, voucher, training_class, now) -> None:
    """Two vouchers of one person must not both pass: the person is locked before counting (PostgreSQL row lock; SQLite's
    BEGIN IMMEDIATE has already serialised all writers)."""
    if not has_yearly_limits(voucher.template.policy):
        return
    lock_person(session, voucher.person_id)
    problem = yearly_limit_problem(session, voucher, training_class, now)
    if problem:
        raise YearlyLimitReached(problem)


def yearly_limit_problem(session, voucher, training_class, now, *, after=None) -> str | None:
    """Why the person's yearly limits stop `voucher` being used for `training_class`, or None: the
    counting alone, read-only and unlocked (报名 shows it before the front desk does). `after`: a
    class another voucher of the same policy would be used for first (what that use would leave)."""
    policy = voucher.template.policy
    if not has_yearly_limits(policy):
        return None
    extra = 1 if after is not None else 0
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
    if policy.uses_per_year and session.scalar(uses) + extra >= policy.uses_per_year:
        return f"按本地政策，每人每年最多使用{policy.uses_per_year}次培训券，本年度次数已用完"
    if policy.uses_per_occupation_per_year:
        same_occupation = uses.join(TrainingClass, Voucher.class_id == TrainingClass.id).where(
            TrainingClass.occupation == training_class.occupation
        )
        extra_here = extra if after is not None and after.occupation == training_class.occupation else 0
        if session.scalar(same_occupation) + extra_here >= policy.uses_per_occupation_per_year:
            return (f"按本地政策，每人每年同一职业（工种）只能持券参加一次培训，"
                    f"您本年度已持券参加过{training_class.occupation}培训")
    return None


@service
def verify(session, *, qr: str, class_id: int, actor: audit.Actor, qr_secret: bytes,
           id_number: str | None = None, now=None, now_ts: float | None = None) -> VerifyResult:
    """Verify the voucher behind `qr` for the class `class_id`; commit and return the result, or
    roll back and raise the DomainError of the first failed check. Another institution's class is
    ClassNotFound: its existence is not the caller's to learn."""
    now = now or utcnow()
    try:
        code, refusal = normalize_code(voucher_code_from_qr(qr, qr_secret, now_ts)), None  # 1. signature, freshness
    except DomainError as error:
        code, refusal = "", error
    reading = read(session, class_id, code)
    if reading is None or not actor.for_institution(reading.training_class.institution_id):
        raise ClassNotFound()
    if refusal is not None:
        raise refusal
    return judge(session, reading, actor, now, id_number=id_number)


def judge(session, reading, actor: audit.Actor, now, *, id_number: str | None = None,
          details: dict | None = None) -> VerifyResult:
    """Checks 2–8 of the voucher `reading` found and, when they pass, the use: what a scan at the
    front desk and a worker's own confirmation of an online class (online.py) share. `details` go
    into the audit row of the move."""
    voucher = reading.voucher
    if voucher is None:  # 2. exists
        raise VoucherNotFound()
    if id_number is not None and normalize_id_number(id_number) != voucher.person.id_number:
        raise PersonMismatch()  # 3. belongs to the presented person
    training_class, institution = reading.training_class, reading.institution
    if _refuse_state(voucher, training_class, now) == ALREADY_VERIFIED:  # 4. state, 5. expiry
        _commit_keeping(session, voucher)
        return VerifyResult(ALREADY_VERIFIED, voucher)
    problem = rules.applicability_problem(voucher.template, training_class, institution, voucher)
    if problem is None and voucher.bound_class_id not in (None, training_class.id):
        problem = "该定向券只能在发券时指定的班期使用"
    if problem:  # 6. template applies to this class
        raise NotApplicable(problem)
    if training_class.status == CLASS_PENDING_REVIEW:  # 开班审核 (class_review.py): not yet approved
        raise ClassPendingReview(f"班期“{training_class.course_name}”正在等待人社部门开班审核，审核通过后才能验券")
    if training_class.status == CLASS_CANCELLED:  # 取消班期 (cancellation.py)
        raise ClassCancelled(f"班期“{training_class.course_name}”已取消，不能验券")
    # Enrolment closed: those already enrolled are still verified at their first lesson.
    if training_class.status != CLASS_OPEN and not (
            training_class.status == CLASS_CLOSED and reading.enrolment_status == ENROLLED):
        raise ClassNotOpen(f"班期“{training_class.course_name}”{training_class.status_label}，不能验券")
    if training_class.ends_on is not None and training_class.ends_on < local_today(now):
        raise ClassNotOpen(f"班期“{training_class.course_name}”已于{rules.chinese_date(training_class.ends_on)}结束，不能验券")
    if institution.is_suspended:  # 7. institution not suspended
        raise InstitutionSuspended(f"本机构已被暂停验券资格：{institution.suspended_reason or '请联系人社部门'}")
    return _use(session, reading, actor, now, details)


def _use(session, reading, actor: audit.Actor, now, details: dict | None = None) -> VerifyResult:
    """The writes: the person's yearly limits (8.), the guarded move, the enrolment; one commit."""
    voucher, training_class = reading.voucher, reading.training_class
    class_id, code = training_class.id, voucher.code
    check_yearly_limits(session, voucher, training_class, now)
    try:
        _write(session, reading, actor, now, details)
        session.flush()
    except states.StaleState:
        # Another transaction moved it between our read and our write: answer as if we had read
        # after it (already verified here, used elsewhere, revoked …).
        session.rollback()
        reading = read(session, class_id, code)
        training_class = reading.training_class
        if _refuse_state(reading.voucher, training_class, now) == ALREADY_VERIFIED:
            _commit_keeping(session, reading.voucher)
            return VerifyResult(ALREADY_VERIFIED, reading.voucher)
        raise VoucherAlreadyUsed() from None
    except IntegrityError:  # the (class, person) index: this person is in the class with another voucher
        session.rollback()
        raise _already_in_class(session, voucher, training_class) from None
    _commit_keeping(session, voucher)
    return VerifyResult(VERIFIED, voucher)


def _commit_keeping(session, voucher: Voucher) -> None:
    """Commit, keeping the voucher, its owner and its template as read: the answer (front-desk
    page, API, scan gun) is built from them, and a commit would expire them and cost a SELECT
    each to show what this transaction just wrote. They leave the session first, so the commit
    does not touch them."""
    session.flush()
    for loaded in (voucher, voucher.person, voucher.template):
        session.expunge(loaded)
    session.commit()


# Built once, with bound parameters.
ENROL = insert(Enrolment.__table__)
REENROL = (update(Enrolment.__table__).where(Enrolment.id == bindparam("enrolment_id"))
           .values(voucher_id=bindparam("voucher_id"), status=bindparam("status")))


def _write(session, reading, actor: audit.Actor, now, details: dict | None = None) -> None:
    """The guarded move to used with its audit row, and the enrolment: the verified voucher pays
    for the person's place in the class — enrol them if they were not (a walk-in at the front
    desk), attach the voucher to their enrolment, or enrol again one who had withdrawn."""
    voucher, training_class, enrolment = reading.voucher, reading.training_class, reading.enrolment
    states.move(session, voucher, USED, actor, at=now, used_at=now, class_id=training_class.id,
                institution_id=training_class.institution_id, details=details)
    # Plain statements, as the move's: nothing here is read back as an object, and the unit of
    # work's flush would cost more than the write.
    connection = session.connection()
    if enrolment is None:
        connection.execute(ENROL, {"class_id": training_class.id, "person_id": voucher.person_id,
                                   "voucher_id": voucher.id, "source": "verify", "status": ENROLLED})
    elif enrolment.voucher_id is None or enrolment.status != ENROLLED:
        connection.execute(REENROL, {"enrolment_id": enrolment.id, "voucher_id": enrolment.voucher_id or voucher.id,
                                     "status": ENROLLED})
