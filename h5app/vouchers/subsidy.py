"""Who is owed a subsidy for a used voucher, and how much (PRODUCT.md §4)."""
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from ..models import CheckIn, ClassSession, ExamResult, TrainingClass, Voucher
from ..models.vouchers import USED
from ..timeutil import end_of_local_day
from . import rules


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


def attendance_rate(session, training_class: TrainingClass, person_id: int) -> Decimal:
    """打卡率 = checked-in hours ÷ total hours of the class, 0–1 with four decimals."""
    total = class_hours(session, training_class)
    if not total:
        return Decimal(0)
    attended = session.scalar(
        select(func.coalesce(func.sum(ClassSession.hours), 0))
        .join(CheckIn, CheckIn.session_id == ClassSession.id)
        .where(ClassSession.class_id == training_class.id, CheckIn.person_id == person_id)
    )
    return min(Decimal(attended or 0) / total, Decimal(1)).quantize(Decimal("0.0001"))


def assess(session, voucher: Voucher, training_class: TrainingClass) -> Eligibility:
    policy = voucher.template.policy
    reasons = []
    if voucher.status != USED:
        reasons.append(f"培训券状态为“{voucher.status_label}”，不是已使用")
    if voucher.class_id != training_class.id:
        reasons.append("该培训券未在本班期使用")
    rate = attendance_rate(session, training_class, voucher.person_id)
    threshold = Decimal(str(policy.attendance_threshold or 0))
    if rate < threshold:
        reasons.append(f"打卡率{rate * 100:.1f}%，低于{threshold * 100:.0f}%")
    result = session.scalar(
        select(ExamResult).where(ExamResult.class_id == training_class.id, ExamResult.person_id == voucher.person_id)
    )
    exam_passed = None if result is None else result.passed
    if policy.exam_required and not exam_passed:
        reasons.append("考核未通过" if result is not None else "尚无考核结果")
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
