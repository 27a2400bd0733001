"""制券 as a service: a bureau creates a voucher template for its region (a draft until the first
issuance, or an activation through the API, puts it into force) and may edit it until then, and
closes it (停止发放). One set of rules for the 制券 page and the partner API."""
from datetime import date

from sqlalchemy import func, or_, select

from .. import policies
from ..models import Policy, Region, Voucher, VoucherTemplate, enclosing_codes, region_prefix, under_prefix
from ..models.people import PRIORITY_GROUPS
from ..models.vouchers import CREDENTIAL, FACE_VALUE, PROJECT_TYPES, TEMPLATE_CLOSED, TEMPLATE_DRAFT
from ..timeutil import local_today
from . import audit
from .class_review import governing_policy
from .errors import OutOfScope, ValidationFailed
from .transactions import service


def template_problems(values: dict, today: date | None = None) -> dict:
    """Field → message for a template that cannot work as given (dates left out are not compared:
    the form reports them missing itself). With `today`, a claim period already over is refused."""
    problems = {}
    if values["function_mode"] == FACE_VALUE and not values.get("face_value_fen"):
        problems["face_value_fen"] = "面值券须填写面值（大于0元）"
    if values["function_mode"] == CREDENTIAL and values.get("standard_fen") is None:
        problems["standard_fen"] = "抵用券须填写补贴标准（结算时按此金额补贴）"
    if values["function_mode"] == CREDENTIAL and values.get("face_value_fen"):
        # Workers read 不设面值 on a 抵用券; the list would show the stray amount as its 面值.
        problems["face_value_fen"] = "抵用券不设面值，请清空面值（结算按补贴标准补贴）"
    starts, ends = values.get("claim_starts_on"), values.get("claim_ends_on")
    if starts and ends and ends < starts:
        problems["claim_ends_on"] = "领取截止不能早于领取开始"
    elif today is not None and ends and ends < today:
        problems["claim_ends_on"] = "领取截止日期已过，无人能够领取"
    if not values.get("valid_until") and not values.get("valid_days"):
        # Both may be set: the earlier deadline applies (rules.claim_deadline).
        problems["valid_until"] = "请设置使用期限：截止日期或领取后天数（至少一项）"
    elif values.get("valid_until") and starts and values["valid_until"] < starts:
        problems["valid_until"] = "使用截止日期不能早于领取开始"
    elif values.get("valid_until") and ends and values["valid_until"] < ends:
        problems["valid_until"] = "使用截止日期不能早于领取截止：否则临近截止领取的券到手即已过期"
    unknown = [g for g in values.get("eligible_groups") or [] if g not in PRIORITY_GROUPS]
    if unknown:
        problems["eligible_groups"] = "未知的重点群体：" + "、".join(unknown)
    unknown = [p for p in values.get("project_types") or [] if p not in PROJECT_TYPES]
    if unknown:
        problems["project_types"] = "未知的培训项目类型：" + "、".join(unknown)
    return problems


def applicable_policies(session, region_code: str) -> list[Policy]:
    """The policies a template of `region_code` may follow: the region's own, those of the regions
    above it and of those under it — a bureau's template never follows another province's rules.
    Where none of them has a policy, the default one."""
    ids = select(Region.policy_id).where(
        or_(under_prefix(Region.code, region_prefix(region_code)), Region.code.in_(enclosing_codes(region_code))),
        Region.policy_id.is_not(None))
    return (session.scalars(select(Policy).where(Policy.id.in_(ids)).order_by(Policy.id)).all()
            or session.scalars(select(Policy).where(Policy.code == policies.DEFAULT)).all())


def regional_policy_id(session, region_code: str) -> int | None:
    """The policy in force in a region: its own, else the nearest region's above it, else the default."""
    nearest = governing_policy(session, region_code)
    return nearest.id if nearest is not None else session.scalar(
        select(Policy.id).where(Policy.code == policies.DEFAULT))


def _policy_id(session, values: dict, region) -> int | None:
    """The policy the clerk chose, else the region's (what the 制券 page preselects)."""
    if values.get("policy_id") is not None:
        return session.scalar(select(Policy.id).where(Policy.id == values["policy_id"]))
    return regional_policy_id(session, region.code)


def _checked(session, values: dict, actor: audit.Actor) -> dict:
    """`values` with the policy settled, or OutOfScope / ValidationFailed with every problem. The
    policy is chosen by id (the page) or by its code (the API's `policy_code`)."""
    if not actor.in_region(values["region_code"]):
        raise OutOfScope("只能为本地区制券")
    values = dict(values)
    policy_code = values.pop("policy_code", None)
    region = session.scalar(select(Region).where(Region.code == values["region_code"]))
    problems = template_problems(values, local_today())
    if policy_code is not None:
        values["policy_id"] = session.scalar(select(Policy.id).where(Policy.code == policy_code))
        if values["policy_id"] is None:
            known = (applicable_policies(session, region.code) if region is not None
                     else session.scalars(select(Policy).order_by(Policy.id)))
            problems["policy_code"] = f"地区政策“{policy_code}”不存在，应为：" + "、".join(p.code for p in known)
    if region is None:
        problems["region_code"] = "行政区划编码不存在"
    elif (policy_id := _policy_id(session, values, region)) is None:
        if values.get("policy_id") is None:  # none chosen, and the region's own policy is missing
            problems["region_code"] = "该地区尚未配置培训券政策"
        else:
            problems["policy_id"] = "地区政策不存在"
    else:
        applicable = applicable_policies(session, region.code)
        if policy_id not in {p.id for p in applicable}:
            field = "policy_code" if policy_code is not None else "policy_id"
            problems[field] = f"{region.name}适用的地区政策为：" + "、".join(
                f"{p.name}（{p.code}）" for p in applicable)
    if problems:
        raise ValidationFailed("券模板有误", fields=problems)
    return {**values, "policy_id": policy_id, "voucher_type": values.get("voucher_type") or values["name"]}


@service
def create_template(session, values: dict, actor: audit.Actor, *, created_by_id: int | None = None) -> VoucherTemplate:
    """A draft template for a region the actor's bureau covers; its policy is the one given (by id
    or code) or the region's."""
    template = VoucherTemplate(**_checked(session, values, actor), status=TEMPLATE_DRAFT, created_by_id=created_by_id)
    session.add(template)
    session.flush()
    audit.record(session, actor, "template.create", region_code=template.region_code,
                 details={"template_id": template.id})
    session.commit()
    return template


def issued_count(session, template: VoucherTemplate) -> int:
    """Vouchers issued from the template so far."""
    return session.scalar(select(func.count(Voucher.id)).where(Voucher.template_id == template.id))


def editable(template: VoucherTemplate, issued: int) -> bool:
    """Only a draft nothing has been issued from (`issued`: issued_count) may be edited: after that
    its terms are what the holders were given."""
    return template.is_draft and issued == 0


@service
def update_template(session, template: VoucherTemplate, values: dict, actor: audit.Actor) -> VoucherTemplate:
    """Edit a draft nothing has been issued from (the caller checks `editable`); same rules as creating."""
    if not actor.in_region(template.region_code):
        raise OutOfScope("只能修改本地区的券模板")
    for name, value in _checked(session, values, actor).items():
        setattr(template, name, value)
    audit.record(session, actor, "template.edit", region_code=template.region_code,
                 details={"template_id": template.id})
    session.commit()
    return template


@service
def close_template(session, template: VoucherTemplate, actor: audit.Actor) -> VoucherTemplate:
    """停止发放: nothing more is issued or claimed from it; vouchers already claimed stay usable."""
    if not actor.in_region(template.region_code):
        raise OutOfScope("只能关闭本地区的券模板")
    template.status = TEMPLATE_CLOSED
    audit.record(session, actor, "template.close", region_code=template.region_code,
                 details={"template_id": template.id})
    session.commit()
    return template
