"""Who is owed a subsidy for a used voucher, and how much (PRODUCT.md §4)."""
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import case, func, literal_column, select

from ..models import CheckIn, ClassSession, ExamResult, TrainingClass, Voucher
from ..models.vouchers import USED
from ..timeutil import end_of_local_day
from . import presence, rules
from .transactions import in_chunks


@dataclass
class Eligibility:
    eligible: bool
    attendance_rate: Decimal
    exam_passed: bool | None
    amount_fen: int
    reasons: list[str]
    reference_fen: int | None = None

    @property
    def reason(self) -> str | None:
        return "；".join(self.reasons) or None


def class_hours(session, training_class: TrainingClass) -> Decimal:
    total = session.scalar(
        select(func.coalesce(func.sum(ClassSession.hours), 0)).where(ClassSession.class_id == training_class.id)
    )
    return Decimal(total or 0) or Decimal(training_class.hours or 0)


def credited_hours():
    """The hours one attendance record counts: the whole lesson for a check-in in person (or an
    approved 补签), the minutes an online platform reported, up to the lesson's hours."""
    minutes = CheckIn.study_minutes
    return case((minutes.is_(None), ClassSession.hours), (minutes >= ClassSession.hours * 60, ClassSession.hours),
                else_=minutes / literal_column("60.0"))


def attendance_rates(session, training_class: TrainingClass, person_ids) -> dict[int, Decimal]:
    """打卡率 = checked-in hours ÷ total hours of the class, 0–1 with four decimals, for each person:
    one query per thousand people. Where the region's policy counts the time present (签到 to 签退),
    a lesson attended in person counts that part of it (presence.py)."""
    person_ids = list(dict.fromkeys(person_ids))
    total = class_hours(session, training_class)
    attended = {}
    if total and presence.counts_time_present(session, training_class):
        attended = presence.hours_credited(session, training_class.id, person_ids)
    elif total:
        for chunk in in_chunks(person_ids):
            attended.update(session.execute(
                select(CheckIn.person_id, func.coalesce(func.sum(credited_hours()), 0))
                .join(ClassSession, CheckIn.session_id == ClassSession.id)
                .where(ClassSession.class_id == training_class.id, CheckIn.person_id.in_(chunk))
                .group_by(CheckIn.person_id)
            ).all())
    return {pid: (min(Decimal(str(attended.get(pid) or 0)) / total, Decimal(1)).quantize(Decimal("0.0001"))
                  if total else Decimal(0)) for pid in person_ids}


def attendance_rate(session, training_class: TrainingClass, person_id: int) -> Decimal:
    return attendance_rates(session, training_class, [person_id])[person_id]


def assess_many(session, vouchers: list[Voucher], training_class: TrainingClass) -> dict[int, Eligibility]:
    """Each voucher's eligibility for a subsidy at `training_class`, by voucher id: the class's
    hours once, attendance and exam results in one query per thousand trainees."""
    person_ids = [v.person_id for v in vouchers]
    rates = attendance_rates(session, training_class, person_ids)
    results = {}
    for chunk in in_chunks(list(dict.fromkeys(person_ids))):
        results.update(session.execute(
            select(ExamResult.person_id, ExamResult.passed)
            .where(ExamResult.class_id == training_class.id, ExamResult.person_id.in_(chunk))
        ).all())
    return {v.id: _judge(v, training_class, rates[v.person_id], v.person_id in results, results.get(v.person_id))
            for v in vouchers}


def assess(session, voucher: Voucher, training_class: TrainingClass) -> Eligibility:
    return assess_many(session, [voucher], training_class)[voucher.id]


def _judge(voucher: Voucher, training_class: TrainingClass, rate: Decimal, has_result: bool,
           exam_passed: bool | None) -> Eligibility:
    policy = voucher.template.policy
    reasons = []
    if voucher.status != USED:
        reasons.append(f"培训券状态为“{voucher.status_label}”，不是已使用")
    if voucher.class_id != training_class.id:
        reasons.append("该培训券未在本班期使用")
    threshold = Decimal(str(policy.attendance_threshold or 0))
    if rate < threshold:
        reasons.append(f"打卡率{rate * 100:.1f}%，低于{threshold * 100:.0f}%")
    exam_passed = exam_passed if has_result else None
    if policy.exam_required and not exam_passed:
        reasons.append("考核未通过" if has_result else "尚无考核结果")
    if policy.valid_days_after_activation and voucher.used_at is not None:
        limit = voucher.used_at + timedelta(days=policy.valid_days_after_activation)
        if end_of_local_day(training_class.ends_on) > limit:
            reasons.append(f"培训未在激活后{policy.valid_days_after_activation}天有效期内完成")
    amount, note = rules.subsidy_amount(voucher.template, training_class.price_fen)
    if note and amount == 0:
        reasons.append(note)
    eligible = not reasons
    return Eligibility(eligible, rate, exam_passed, amount if eligible else 0, reasons,
                       reference_fen(voucher.template))


def reference_fen(template) -> int | None:
    """参考金额: where the face value is only a reference (Chongqing), it is shown beside the
    amount the district bureau approves."""
    return template.face_value_fen if template.policy.face_value_is_reference else None
