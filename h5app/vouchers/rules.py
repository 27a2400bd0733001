"""Pure voucher rules: no session, no request. Each returns a reason in plain Chinese, or None."""
from datetime import datetime, timedelta

from ..models import PRIORITY_GROUPS, region_covers
from ..models.vouchers import CREDENTIAL, FACE_VALUE, GENERAL, PROJECT_TYPES
from ..timeutil import end_of_local_day, local_today, to_local


def _fmt_date(value) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


def claim_window_problem(template, now: datetime) -> str | None:
    today = local_today(now)
    if today < template.claim_starts_on:
        return f"该券自{_fmt_date(template.claim_starts_on)}起开放领取"
    if today > template.claim_ends_on:
        return f"该券的领取时间已于{_fmt_date(template.claim_ends_on)}结束"
    if template.valid_until is not None and today > template.valid_until:
        return f"该券的使用期限已于{_fmt_date(template.valid_until)}截止"
    return None


def required_insurance_months(template) -> int:
    required = template.min_insurance_months or 0
    if template.distribution_mode == GENERAL and template.policy.min_insurance_months_general:
        required = max(required, template.policy.min_insurance_months_general)
    return required


def eligibility_problems(person, template, region_names=None, check_region: bool = True) -> list[str]:
    """Every reason `person` may not hold a voucher of `template`, each saying what would qualify.
    `region_names` is any mapping-like object with .get(code, default)."""
    names = region_names or {}
    problems = []
    if not person.is_real_name:
        problems.append("领券前需完成实名认证（姓名和身份证号）")
    if check_region and not region_covers(template.region_code, person.region_code):
        where = names.get(template.region_code, template.region_code)
        mine = names.get(person.region_code or "", person.region_code or "未登记")
        problems.append(f"该券限{where}的劳动者领取，您登记的所在地区为{mine}")
    groups = template.eligible_groups or []
    if groups and not set(groups) & set(person.groups or []):
        wanted = "、".join(PRIORITY_GROUPS.get(g, g) for g in groups)
        mine = "、".join(person.group_labels) or "未登记重点群体身份"
        problems.append(f"该券面向{wanted}，您登记的身份为{mine}")
    required = required_insurance_months(template)
    if required and (person.insurance_months or 0) < required:
        problems.append(f"需在本地缴纳失业保险满{required}个月，您目前为{person.insurance_months or 0}个月")
    return problems


def claim_deadline(template, claimed_at: datetime) -> datetime | None:
    """The use deadline of a voucher claimed at `claimed_at` (naive UTC)."""
    deadlines = []
    if template.valid_until is not None:
        deadlines.append(end_of_local_day(template.valid_until))
    if template.valid_days:
        deadlines.append(end_of_local_day(local_today(claimed_at) + timedelta(days=template.valid_days)))
    if template.policy.activation_days:
        # Shaoxing: activate (verify) within 90 days of claim, or the voucher lapses.
        deadlines.append(end_of_local_day(local_today(claimed_at) + timedelta(days=template.policy.activation_days)))
    return min(deadlines) if deadlines else None


def offer_deadline(template) -> datetime:
    """An offer that nobody claimed lapses when the claim window closes."""
    deadline = end_of_local_day(template.claim_ends_on)
    if template.valid_until is not None:
        deadline = min(deadline, end_of_local_day(template.valid_until))
    return deadline


def applicability_problem(template, training_class, institution) -> str | None:
    """Does a voucher of `template` fit this class? (region of the institution, project type,
    occupation and level when the template sets them)"""
    if not region_covers(template.region_code, institution.region_code):
        return "该培训券不能在本地区的培训机构使用"
    if template.project_types and training_class.project_type not in template.project_types:
        allowed = "、".join(PROJECT_TYPES.get(p, p) for p in template.project_types)
        have = PROJECT_TYPES.get(training_class.project_type, training_class.project_type)
        return f"该培训券仅适用于{allowed}，本班期为{have}"
    if template.occupation and template.occupation != training_class.occupation:
        return f"该培训券仅适用于{template.occupation}工种，本班期为{training_class.occupation}"
    if template.level and template.level != training_class.level:
        return f"该培训券仅适用于{template.level}等级，本班期为{training_class.level or '未设等级'}"
    return None


def subsidy_amount(template, fee_fen: int | None = None) -> tuple[int, str | None]:
    """(the line's maximum in fen, note): the face value (face-value vouchers) or the catalogue
    standard (credential), capped by the standard where one is set and by the fee the class
    actually charged — a subsidy never exceeds the fee. A class with no fee on record (0) is not
    capped by it."""
    if template.function_mode == FACE_VALUE:
        amount, note = template.face_value_fen or 0, None
        if template.standard_fen is not None and template.standard_fen < amount:
            amount, note = template.standard_fen, "按补贴标准封顶"
    elif template.function_mode == CREDENTIAL:
        if template.standard_fen is None:
            return 0, "抵用券未设置补贴标准"
        amount, note = template.standard_fen, None
    else:
        return 0, "未知的券功能模式"
    if fee_fen and fee_fen < amount:
        amount, note = fee_fen, "按实际培训费封顶"
    return amount, note


def local_year(value: datetime) -> int:
    return to_local(value).year
