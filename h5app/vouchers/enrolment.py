"""培训报名 and 培训评价: a worker enrols in an open class (offering a voucher they hold for it),
and rates a class once after it completes."""
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ..models import ClassRating, Enrolment, TrainingClass, Voucher
from ..models.classes import CLASS_CANCELLED, CLASS_COMPLETED, CLASS_OPEN, CLASS_PENDING_REVIEW, ENROLLED
from ..models.vouchers import CLAIMED
from ..timeutil import utcnow
from . import audit, rules
from .errors import (
    AlreadyEnrolled, AlreadyRated, ClassCancelled, ClassFull, ClassNotOpen, ClassPendingReview, NotApplicable,
    NotEnrolled, ValidationFailed,
)
from .transactions import service


def usable_vouchers(session, person_id: int, training_class: TrainingClass, now) -> list[Voucher]:
    """The person's claimed vouchers that this class accepts (region, project type, occupation,
    level, a directed voucher's own class)."""
    held = session.scalars(select(Voucher).where(Voucher.person_id == person_id, Voucher.status == CLAIMED))
    return [
        v for v in held
        if v.effective_status(now) == CLAIMED
        and v.bound_class_id in (None, training_class.id)
        and rules.applicability_problem(v.template, training_class, training_class.institution) is None
    ]


@service
def enrol(session, person, training_class: TrainingClass, *, voucher_code: str | None = None, now=None) -> Enrolment:
    now = now or utcnow()
    # Read afresh under a KEY SHARE lock: a cancellation (FOR UPDATE) either waits for this
    # enrolment, and ends it, or has already cancelled the class (PostgreSQL; SQLite serialises).
    session.execute(select(TrainingClass).where(TrainingClass.id == training_class.id)
                    .with_for_update(read=True, key_share=True, of=TrainingClass)
                    .execution_options(populate_existing=True))
    if training_class.status == CLASS_CANCELLED:
        raise ClassCancelled(f"班期“{training_class.course_name}”已取消，不能报名")
    if training_class.status == CLASS_PENDING_REVIEW:
        raise ClassPendingReview(f"班期“{training_class.course_name}”正在等待开班审核，审核通过后才能报名")
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
    voucher = None
    if voucher_code:
        voucher = next((v for v in usable_vouchers(session, person.id, training_class, now) if v.code == voucher_code),
                       None)
        if voucher is None:
            raise NotApplicable("所选培训券不能用于该班期")
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
