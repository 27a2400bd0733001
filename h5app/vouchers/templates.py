"""制券 as a service: a bureau creates a voucher template for its region (a draft until the first
issuance puts it into force)."""
from sqlalchemy import select

from ..models import Policy, Region, VoucherTemplate
from ..models.people import PRIORITY_GROUPS
from ..models.vouchers import FACE_VALUE, PROJECT_TYPES, TEMPLATE_DRAFT
from . import audit
from .errors import OutOfScope, ValidationFailed
from .unit import service


def template_problems(values: dict) -> dict:
    """Field → message for a template that cannot work as given."""
    problems = {}
    if values["function_mode"] == FACE_VALUE and not values.get("face_value_fen"):
        problems["face_value_fen"] = "面值券须填写面值（分）"
    if values["claim_ends_on"] < values["claim_starts_on"]:
        problems["claim_ends_on"] = "领取截止日期不能早于开始日期"
    if bool(values.get("valid_until")) == bool(values.get("valid_days")):
        problems["valid_until"] = "有效期须二选一：固定截止日期（valid_until）或领取后天数（valid_days）"
    elif values.get("valid_until") and values["valid_until"] < values["claim_starts_on"]:
        problems["valid_until"] = "使用截止日期不能早于领取开始日期"
    unknown = [g for g in values.get("eligible_groups") or [] if g not in PRIORITY_GROUPS]
    if unknown:
        problems["eligible_groups"] = "未知的重点群体：" + "、".join(unknown)
    unknown = [p for p in values.get("project_types") or [] if p not in PROJECT_TYPES]
    if unknown:
        problems["project_types"] = "未知的培训项目类型：" + "、".join(unknown)
    return problems


@service
def create_template(session, values: dict, actor: audit.Actor, *, created_by_id: int | None = None) -> VoucherTemplate:
    """A draft template for a region the actor's bureau covers; its policy is the region's."""
    if not actor.in_region(values["region_code"]):
        raise OutOfScope("只能为本地区制券")
    region = session.scalar(select(Region).where(Region.code == values["region_code"]))
    problems = template_problems(values)
    if region is None:
        problems["region_code"] = "行政区划编码不存在"
    if problems:
        raise ValidationFailed("券模板有误", fields=problems)
    policy_id = region.policy_id or session.scalar(select(Policy.id).where(Policy.code == "default"))
    if policy_id is None:
        raise ValidationFailed("该地区尚未配置培训券政策", fields={"region_code": "该地区尚未配置培训券政策"})
    template = VoucherTemplate(**values, policy_id=policy_id, status=TEMPLATE_DRAFT, created_by_id=created_by_id)
    template.voucher_type = values.get("voucher_type") or values["name"]
    session.add(template)
    session.flush()
    audit.record(session, actor, "template.create", region_code=template.region_code,
                 details={"template_id": template.id})
    session.commit()
    return template
