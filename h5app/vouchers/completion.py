"""结业 and what it sets off, told before it is done (issue 19): a class completes only when every
lesson is over — not while today's is still running — and the officer confirms on a page that says
what will follow (the trainees' 培训评价 opens; where the policy says so, Wuxi's credential directed
vouchers are used and applied for automatically). settlement.complete_class does it."""
from dataclasses import dataclass

from sqlalchemy import func, select

from ..models import Enrolment, ExamResult, Policy, TrainingClass, Voucher, VoucherTemplate
from ..models.classes import CLASS_CANCELLED, CLASS_COMPLETED, CLASS_PENDING_REVIEW, ENROLLED
from ..models.vouchers import CLAIMED, CREDENTIAL, DIRECTED, USED
from ..timeutil import local_today, to_local, utcnow


def _when(lesson) -> str:
    return f"{to_local(lesson.starts_at):%m-%d %H:%M}–{to_local(lesson.ends_at):%H:%M}"


def unfinished(training_class: TrainingClass, now) -> str | None:
    """Why the class cannot complete yet, in words; None when it may."""
    if training_class.status == CLASS_COMPLETED:
        return "该班期已结业"
    if training_class.status == CLASS_CANCELLED:
        return "该班期已取消，不能结业"
    if training_class.status == CLASS_PENDING_REVIEW:
        return "班期正在等待开班审核，未开班不能结业"
    if training_class.is_unapproved:
        return "班期未通过开班审核，未开班不能结业"
    for number, lesson in enumerate(training_class.sessions, start=1):
        if lesson.ends_at <= now:
            continue
        title = lesson.title or f"第{number}次课"
        if lesson.starts_at <= now:
            return f"{title}（{_when(lesson)}）正在上课，下课后才能结业"
        return f"{title}（{_when(lesson)}）还没有上，全部课次结束后才能结业"
    if not training_class.sessions and local_today(now) < training_class.ends_on:
        return f"班期结业日期为 {training_class.ends_on:%Y-%m-%d}，到期后才能结业"
    return None


def auto_settled_vouchers(session, training_class: TrainingClass) -> list[Voucher]:
    """Wuxi (seed 000 §三): the roster's credential directed vouchers the policy settles with the
    class, used and applied for at 结业 without an application. None for a suspended institution."""
    if training_class.institution.is_suspended:
        return []
    return list(session.scalars(
        select(Voucher).join(VoucherTemplate, Voucher.template_id == VoucherTemplate.id)
        .join(Policy, VoucherTemplate.policy_id == Policy.id)
        .where(Voucher.bound_class_id == training_class.id, VoucherTemplate.distribution_mode == DIRECTED,
               VoucherTemplate.function_mode == CREDENTIAL, Policy.auto_settle_directed_credential.is_(True))
        .order_by(Voucher.id)
    ))


@dataclass
class CompletionPreview:
    training_class: TrainingClass
    blocker: str | None  # why it cannot complete now
    trainees: int  # enrolled
    results: int  # of them, with an exam result recorded
    automatic: int  # vouchers that will be used and applied for by themselves (Wuxi)
    suspended: bool  # the institution is suspended: nothing is used automatically
    used: int  # vouchers already used for the class: the institution applies for them itself
    apply_within_days: int | None  # the policy's deadline for that application, after 结业


def preview(session, training_class: TrainingClass, *, now=None) -> CompletionPreview:
    now = now or utcnow()
    trainees = session.scalar(select(func.count(Enrolment.id)).where(
        Enrolment.class_id == training_class.id, Enrolment.status == ENROLLED))
    results = session.scalar(select(func.count(ExamResult.id)).join(
        Enrolment, (Enrolment.class_id == ExamResult.class_id) & (Enrolment.person_id == ExamResult.person_id))
        .where(ExamResult.class_id == training_class.id, Enrolment.status == ENROLLED))
    automatic = [v for v in auto_settled_vouchers(session, training_class) if v.effective_status(now) == CLAIMED]
    used, days = session.execute(
        select(func.count(Voucher.id), func.min(Policy.apply_within_days))
        .join(VoucherTemplate, Voucher.template_id == VoucherTemplate.id)
        .join(Policy, VoucherTemplate.policy_id == Policy.id)
        .where(Voucher.class_id == training_class.id, Voucher.status == USED)
    ).one()
    return CompletionPreview(training_class, unfinished(training_class, now), trainees, results, len(automatic),
                             training_class.institution.is_suspended, used, days)
