"""培训报名 and 培训评价: a worker enrols in an open class (offering a voucher they hold for it),
and rates a class once after it completes."""
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ..models import ClassRating, Enrolment, TrainingClass, Voucher
from ..models.classes import (
    CLASS_CANCELLED, CLASS_COMPLETED, CLASS_ENDED, CLASS_OPEN, CLASS_PENDING_REVIEW, CLASS_RUNNING, ENROLLED,
)
from ..models.vouchers import CLAIMED, EXPIRED, REVOKED, SETTLED, USED
from ..timeutil import utcnow
from . import audit, rules
from .errors import (
    AlreadyEnrolled, AlreadyRated, ClassCancelled, ClassFull, ClassNotOpen, ClassPendingReview, DomainError,
    InstitutionSuspended, NotApplicable, NotEnrolled, ValidationFailed, YearlyLimitReached,
)
from .transactions import lock_person, service
from .verify import has_yearly_limits, yearly_limit_problem


@dataclass(frozen=True)
class VoucherChoice:
    """The person's claimed vouchers that fit a class: those they may enrol with (`usable`), and
    those they may not (`blocked`), each with the refusal that says why."""

    usable: list[Voucher]
    blocked: list[tuple[Voucher, DomainError]]


def voucher_choice(session, person_id: int, training_class: TrainingClass, now) -> VoucherChoice:
    """Claimed vouchers of a kind this class accepts (region, project type, occupation, level, a
    directed voucher's own class), sorted by whether the person may enrol with them: not one whose
    deadline the class ends after (where the policy says so), not one already chosen for their
    enrolment in another class that has not ended, and not one the policy's yearly limits refuse
    (the front desk's counting, verify.yearly_limit_problem)."""
    held = session.scalars(select(Voucher).where(Voucher.person_id == person_id, Voucher.status == CLAIMED))
    fitting, blocked = [], []
    for v in held:
        if v.effective_status(now) != CLAIMED or v.bound_class_id not in (None, training_class.id):
            continue
        if rules.fit_problem(v.template, training_class, training_class.institution) is not None:
            continue  # a voucher of another kind: not one to offer here
        late = rules.deadline_problem(v.template, training_class, v)
        if late is None:
            fitting.append(v)
        else:  # of the right kind, but the class ends after its deadline: say so
            blocked.append((v, NotApplicable(f"“{v.template.name}”不能用于本班期：{late}")))
    elsewhere = _chosen_elsewhere(session, fitting, training_class)
    usable = []
    for voucher in fitting:
        refusal = _refusal(session, voucher, training_class, elsewhere.get(voucher.id), now)
        if refusal is None:
            usable.append(voucher)
        else:
            blocked.append((voucher, refusal))
    return VoucherChoice(usable, blocked)


def usable_vouchers(session, person_id: int, training_class: TrainingClass, now) -> list[Voucher]:
    """The person's claimed vouchers they may use for this class (voucher_choice)."""
    return voucher_choice(session, person_id, training_class, now).usable


def _chosen_elsewhere(session, vouchers: list[Voucher], training_class: TrainingClass) -> dict[int, str]:
    """voucher id → the course of another class not yet ended whose enrolment chose it."""
    if not vouchers:
        return {}
    return dict(session.execute(
        select(Enrolment.voucher_id, TrainingClass.course_name)
        .join(TrainingClass, TrainingClass.id == Enrolment.class_id)
        .where(Enrolment.voucher_id.in_([v.id for v in vouchers]), Enrolment.status == ENROLLED,
               Enrolment.class_id != training_class.id, TrainingClass.status.not_in(CLASS_ENDED))
    ).all())


def places_left(session, classes) -> dict[int, int]:
    """class id → places still free, for those of `classes` that have a capacity (one statement):
    a full class says so on the list and its page, before the worker taps 报名."""
    limited = [c for c in classes if c.capacity is not None]
    if not limited:
        return {}
    taken = dict(session.execute(
        select(Enrolment.class_id, func.count(Enrolment.id))
        .where(Enrolment.class_id.in_([c.id for c in limited]), Enrolment.status == ENROLLED)
        .group_by(Enrolment.class_id)).all())
    return {c.id: max(c.capacity - taken.get(c.id, 0), 0) for c in limited}


def crowded_out(session, person_id: int, voucher: Voucher, training_class: TrainingClass, now) -> list[str]:
    """The courses of the person's other enrolments whose chosen voucher could still be used now,
    but not once `voucher` is used for `training_class` (the policy's yearly limits count that use):
    what the worker is told before using it."""
    if not has_yearly_limits(voucher.template.policy):
        return []
    others = session.execute(
        select(Voucher, TrainingClass).join(Enrolment, Enrolment.voucher_id == Voucher.id)
        .join(TrainingClass, TrainingClass.id == Enrolment.class_id)
        .where(Enrolment.person_id == person_id, Enrolment.status == ENROLLED, Enrolment.class_id != training_class.id,
               TrainingClass.status.not_in(CLASS_ENDED), Voucher.status == CLAIMED, Voucher.id != voucher.id)
    ).all()
    return [other_class.course_name for other, other_class in others
            if other.template.policy_id == voucher.template.policy_id
            and yearly_limit_problem(session, other, other_class, now) is None
            and yearly_limit_problem(session, other, other_class, now, after=training_class) is not None]


SUSPENDED_INSTITUTION = "该培训机构已被暂停验券资格，整改恢复前不能用培训券参加其培训"


def _refusal(session, voucher: Voucher, training_class: TrainingClass, chosen_for: str | None, now):
    if training_class.institution.is_suspended:  # the front desk could not verify it (verify.judge)
        return InstitutionSuspended(f"“{voucher.template.name}”暂不能用于本班期：{SUSPENDED_INSTITUTION}")
    if chosen_for is not None:
        return NotApplicable(f"“{voucher.template.name}”已在报名“{chosen_for}”班期时选用，"
                             f"一张培训券只能用于一个班期")
    problem = yearly_limit_problem(session, voucher, training_class, now)
    if problem:
        return YearlyLimitReached(f"“{voucher.template.name}”本年度不能用于本班期：{problem}")
    return None


def chosen_voucher_problem(session, voucher: Voucher, training_class: TrainingClass, now) -> str | None:
    """Why the voucher an enrolment chose can no longer pay for its class (used for another class,
    expired, revoked, refused by the yearly limits), or None while it still can or was used here."""
    status = voucher.effective_status(now)
    if status in (USED, SETTLED):
        if voucher.class_id == training_class.id:
            return None
        return "您报名时选用的培训券已在其他班期使用，不能再用于本班期"
    if status == EXPIRED:
        return "您报名时选用的培训券已过有效期，不能再使用"
    if status == REVOKED:
        return "您报名时选用的培训券已被人社部门作废，不能再使用"
    if status != CLAIMED or voucher.bound_class_id not in (None, training_class.id):
        return "您报名时选用的培训券不能用于本班期"
    problem = rules.applicability_problem(voucher.template, training_class, training_class.institution, voucher)
    if problem:
        return f"您报名时选用的培训券不能用于本班期：{problem}"
    if training_class.institution.is_suspended:
        return f"您报名时选用的培训券暂不能使用：{SUSPENDED_INSTITUTION}"
    problem = yearly_limit_problem(session, voucher, training_class, now)
    return f"您报名时选用的培训券本年度不能用于本班期：{problem}" if problem else None


def _chosen(session, person, training_class: TrainingClass, voucher_code: str | None, now) -> Voucher | None:
    """The voucher the worker picked for this class, if they picked one and may use it; else the
    refusal that says why not. The person is locked first: two enrolments at once (two tabs)
    cannot both take one voucher."""
    if not voucher_code:
        return None
    lock_person(session, person.id)
    choice = voucher_choice(session, person.id, training_class, now)
    voucher = next((v for v in choice.usable if v.code == voucher_code), None)
    if voucher is None:
        raise next((refusal for v, refusal in choice.blocked if v.code == voucher_code),
                   NotApplicable("所选培训券不能用于该班期"))
    return voucher


def _lock_class(session, training_class: TrainingClass) -> None:
    # Read afresh under a KEY SHARE lock: a cancellation (FOR UPDATE) either waits for this
    # enrolment, and ends it, or has already cancelled the class (PostgreSQL; SQLite serialises).
    # The row is read (.one()), not only locked: the ORM refreshes the loaded class as it reads it.
    session.scalars(select(TrainingClass).where(TrainingClass.id == training_class.id)
                    .with_for_update(read=True, key_share=True, of=TrainingClass)
                    .execution_options(populate_existing=True)).one()
    if training_class.status == CLASS_CANCELLED:
        raise ClassCancelled(f"班期“{training_class.course_name}”已取消，不能报名")
    if training_class.status == CLASS_PENDING_REVIEW:
        raise ClassPendingReview(f"班期“{training_class.course_name}”正在等待开班审核，审核通过后才能报名")


@service
def enrol(session, person, training_class: TrainingClass, *, voucher_code: str | None = None, now=None) -> Enrolment:
    now = now or utcnow()
    _lock_class(session, training_class)
    if training_class.status != CLASS_OPEN:
        raise ClassNotOpen(f"班期“{training_class.course_name}”{training_class.status_label}，不能报名")
    existing = session.scalar(select(Enrolment).where(
        Enrolment.class_id == training_class.id, Enrolment.person_id == person.id))
    if existing is not None and existing.status == ENROLLED:
        raise AlreadyEnrolled("您已报名该班期，请按时参加培训")
    if training_class.capacity is not None:
        taken = session.scalar(select(func.count(Enrolment.id)).where(
            Enrolment.class_id == training_class.id, Enrolment.status == ENROLLED))
        if taken >= training_class.capacity:
            raise ClassFull(f"该班期{training_class.capacity}个名额已满，请选择其他班期")
    voucher = _chosen(session, person, training_class, voucher_code, now)
    if existing is None:
        existing = Enrolment(class_id=training_class.id, person_id=person.id, source="self")
        session.add(existing)
    existing.status, existing.voucher_id = ENROLLED, voucher.id if voucher else existing.voucher_id
    try:
        session.flush()
    except IntegrityError:  # the same worker tapped twice
        raise AlreadyEnrolled("您已报名该班期，请按时参加培训") from None
    audit.record(session, audit.Actor.for_person(person), "class.enrol", person_id=person.id,
                 institution_id=training_class.institution_id, at=now,
                 details={"class_id": training_class.id, "voucher": voucher.code if voucher else None})
    session.commit()
    return existing


@service
def change_voucher(session, person, training_class: TrainingClass, *, voucher_code: str | None = None,
                   now=None) -> Enrolment:
    """An enrolled worker whose chosen voucher can no longer pay for the class (chosen_voucher_problem)
    picks another they may use, or goes on without one. Recorded as an enrolment, with the voucher
    replaced."""
    now = now or utcnow()
    _lock_class(session, training_class)
    if training_class.status not in CLASS_RUNNING:
        raise ClassNotOpen(f"班期“{training_class.course_name}”{training_class.status_label}，不能更换培训券")
    lock_person(session, person.id)  # before the enrolment, in the order verification takes them
    enrolment = session.scalar(select(Enrolment).where(
        Enrolment.class_id == training_class.id, Enrolment.person_id == person.id, Enrolment.status == ENROLLED)
        .with_for_update())
    if enrolment is None:
        raise NotEnrolled("您尚未报名该班期")
    old = session.get(Voucher, enrolment.voucher_id) if enrolment.voucher_id else None
    if old is None or chosen_voucher_problem(session, old, training_class, now) is None:
        raise AlreadyEnrolled("您已报名该班期，所选培训券仍可使用，无需更换")
    voucher = _chosen(session, person, training_class, voucher_code, now)
    enrolment.voucher_id = voucher.id if voucher else None
    session.flush()
    audit.record(session, audit.Actor.for_person(person), "class.enrol", person_id=person.id,
                 institution_id=training_class.institution_id, at=now,
                 details={"class_id": training_class.id, "voucher": voucher.code if voucher else None,
                          "replaced": old.code})
    session.commit()
    return enrolment


@service
def rate_class(session, person, training_class: TrainingClass, stars: int, comment: str | None, *, now=None) -> ClassRating:
    """培训评价: once per class, after it completes, by someone who was enrolled."""
    now = now or utcnow()
    if not isinstance(stars, int) or not 1 <= stars <= 5:
        raise ValidationFailed("请选择1到5星", fields={"stars": "请选择1到5星"})
    comment = (comment or "").strip()
    if len(comment) > 500:
        raise ValidationFailed("评价内容请在500字以内", fields={"comment": "评价内容请在500字以内"})
    enrolled = session.scalar(select(Enrolment.id).where(
        Enrolment.class_id == training_class.id, Enrolment.person_id == person.id, Enrolment.status == ENROLLED))
    if enrolled is None:
        raise NotEnrolled("只有参加了该班期的学员才能评价")
    if training_class.status != CLASS_COMPLETED:
        raise ClassNotOpen("班期结业后才能评价")
    rating = ClassRating(class_id=training_class.id, person_id=person.id, stars=stars, comment=comment or None,
                         created_at=now)
    session.add(rating)
    try:
        session.flush()
    except IntegrityError:
        raise AlreadyRated() from None
    session.execute(update(TrainingClass).where(TrainingClass.id == training_class.id)
                    .values(ratings_count=TrainingClass.ratings_count + 1))
    session.commit()
    return rating
