"""地区政策 as a provincial administrator keeps it (PRODUCT.md §10): the yearly limits, the subsidy
conditions, 开班审核 and how attendance counts are rows of `policies`, changed on a page and audited,
never in code. A province changes only a policy no region outside it follows: a row shared with
another province is that province's rules too."""
from decimal import Decimal

from sqlalchemy import select

from .. import policies
from ..models import Policy, Region, VoucherTemplate, region_covers, region_prefix, under_prefix
from ..models.people import RECORD_REGION_FIELDS
from . import audit, claim
from .errors import OutOfScope, ValidationFailed
from .transactions import service

# The settings of a policy a province may change, in the order the page shows them.
COUNTS = ("uses_per_occupation_per_year", "uses_per_year", "claims_per_type_per_year")
DAYS = ("activation_days", "valid_days_after_activation", "apply_within_days", "review_within_days")
SWITCHES = ("exam_required", "class_review_required", "attendance_by_time_present", "training_by_valid_until",
            "face_value_is_reference", "pays_worker_for_general_certificate", "auto_settle_directed_credential")
EDITABLE = (*COUNTS, *DAYS, "min_insurance_months_general", "attendance_threshold", *SWITCHES,
            "eligibility_region_fields")

LABELS = {
    "uses_per_occupation_per_year": "每人每年同一职业（工种）用券次数上限",
    "uses_per_year": "每人每年用券（激活）次数上限",
    "claims_per_type_per_year": "同一类型培训券每人每年限领次数",
    "activation_days": "领券后须在几天内验券激活",
    "valid_days_after_activation": "激活后须在几天内完成培训",
    "apply_within_days": "结业后几天内申请补贴（用于提醒）",
    "review_within_days": "申请提交后几天内完成审核（用于提醒）",
    "min_insurance_months_general": "通用券：失业保险累计缴费月数不少于",
    "attendance_threshold": "补贴所需打卡率（%）",
    "exam_required": "须考核合格方可补贴",
    "class_review_required": "开班须经人社部门审核（开班审核）",
    "attendance_by_time_present": "打卡率按在场时长计算（签到至签退）",
    "training_by_valid_until": "培训须在券的使用截止日期前结业",
    "face_value_is_reference": "券面值仅作参考，按人社部门审核金额补贴",
    "pays_worker_for_general_certificate": "通用券参加证书类培训，凭证书比对补贴个人",
    "auto_settle_directed_credential": "定向抵用券随结业自动申请结算",
    "eligibility_region_fields": "判断本地人员时看的登记信息（不选则任一项在本地即可）",
}

MAX_COUNT, MAX_DAYS, MAX_MONTHS = 100, 3650, 600


def is_province_admin(user) -> bool:
    """A supervisor (主管) of a province's bureau: the one who keeps its regions' policies."""
    return bool(getattr(user, "is_supervisor", False) and user.region_code
                and len(region_prefix(user.region_code)) == 2)


def regions_following(session, policy_id: int) -> list[Region]:
    return session.scalars(select(Region).where(Region.policy_id == policy_id).order_by(Region.code)).all()


def split_regions(session, policy: Policy, province_code: str) -> tuple[list[Region], list[Region]]:
    """The regions following `policy`: (those in the province, those outside it). Only a policy with
    none outside may be changed by the province."""
    everywhere = regions_following(session, policy.id)
    return ([r for r in everywhere if region_covers(province_code, r.code)],
            [r for r in everywhere if not region_covers(province_code, r.code)])


def province_policies(session, province_code: str) -> list[tuple[Policy, list[Region], list[Region]]]:
    """Each policy a region of the province follows: (policy, *split_regions)."""
    policy_ids = session.scalars(
        select(Region.policy_id).where(under_prefix(Region.code, region_prefix(province_code)),
                                       Region.policy_id.is_not(None)).distinct()).all()
    policies = session.scalars(select(Policy).where(Policy.id.in_(policy_ids)).order_by(Policy.id)).all()
    return [(policy, *split_regions(session, policy, province_code)) for policy in policies]


def not_changeable(session, policy: Policy, actor: audit.Actor, outside: list[Region]) -> str | None:
    """Why the actor's province may not change the policy, or None: the default is every region's
    fallback nationwide, and a policy a region (`outside`: split_regions) or a template outside the
    province follows is that province's rules too."""
    if policy.code == policies.DEFAULT:
        return "通用规则是全国未配置政策地区的默认规则，不能在此修改；请为本省地区配置自己的政策"
    if outside:
        return f"该政策也适用于本省以外的地区（{'、'.join(r.name for r in outside)}），不能在此修改"
    elsewhere = session.scalar(select(VoucherTemplate.region_code).where(
        VoucherTemplate.policy_id == policy.id,
        ~under_prefix(VoucherTemplate.region_code, region_prefix(actor.region_code))).limit(1))
    if elsewhere is not None:
        return "本省以外地区的券模板也按该政策执行，不能在此修改"
    return None


def problems(values: dict) -> dict:
    """Field → message for settings that cannot be kept as given."""
    found = {}
    for name in COUNTS:
        if values.get(name) is not None and not 1 <= values[name] <= MAX_COUNT:
            found[name] = f"次数应在1至{MAX_COUNT}之间，不限则留空"
    for name in DAYS:
        if values.get(name) is not None and not 1 <= values[name] <= MAX_DAYS:
            found[name] = f"天数应在1至{MAX_DAYS}之间，不限则留空"
    months = values.get("min_insurance_months_general")
    if months is not None and not 0 <= months <= MAX_MONTHS:
        found["min_insurance_months_general"] = f"月数应在0至{MAX_MONTHS}之间，不限则留空"
    threshold = values.get("attendance_threshold")
    if threshold is None or not Decimal(0) <= threshold <= Decimal(1):
        found["attendance_threshold"] = "打卡率应在0%至100%之间"
    return found


def setting_words(name: str, value) -> str:
    """One setting as a clerk reads it: 1次, 90天, 36个月, 60%, 是/否, 参保地、就业地; 不限 for none."""
    if name in SWITCHES:
        return "是" if value else "否"
    if name == "attendance_threshold":
        return f"{(Decimal(str(value)) * 100).quantize(Decimal('0.1')).normalize():f}%"
    if name == "eligibility_region_fields":
        return "、".join(RECORD_REGION_FIELDS.get(f, f) for f in value) if value else "任一登记地区"
    if value is None:
        return "不限"
    unit = "次" if name in COUNTS else "天" if name in DAYS else "个月"
    return f"{value}{unit}"


def describe(policy: Policy) -> list[tuple[str, str]]:
    """(label, words) of each rule the policy sets: a limit it has, a switch that is on, the threshold."""
    return [(LABELS[name], setting_words(name, getattr(policy, name))) for name in EDITABLE
            if name == "attendance_threshold" or (getattr(policy, name) not in (None, False, []))]


def _plain(value):
    """A setting as the audit row's JSON keeps it."""
    return str(value) if isinstance(value, Decimal) else value


@service
def update_policy(session, policy: Policy, values: dict, actor: audit.Actor) -> dict:
    """Change the policy's settings to `values` (EDITABLE names; an empty eligibility_region_fields
    means any region of the record). Returns the changes, name → (before, after), and records them;
    nothing changed records nothing. OutOfScope when a region outside the actor's province
    follows the policy, ValidationFailed with every problem."""
    refusal = not_changeable(session, policy, actor, split_regions(session, policy, actor.region_code)[1])
    if refusal:
        raise OutOfScope(refusal)
    found = problems(values)
    if found:
        raise ValidationFailed("地区政策有误", fields=found)
    values = {**values, "eligibility_region_fields": list(values.get("eligibility_region_fields") or []) or None}
    changes = {}
    for name in EDITABLE:
        before, after = getattr(policy, name), values.get(name)
        if name == "attendance_threshold":
            before = Decimal(before).quantize(Decimal("0.001"))
            after = Decimal(after).quantize(Decimal("0.001"))
        if before != after:
            changes[name] = (before, after)
            setattr(policy, name, after)
    if changes:
        audit.record(session, actor, "policy.update", region_code=actor.region_code, details={
            "policy": policy.code, "changes": {name: [_plain(a), _plain(b)] for name, (a, b) in changes.items()}})
        session.commit()
        claim.forget_terms()  # this process at once; the others within claim.TERMS_MAX_AGE
    return changes
