"""Institution strikes and suspension: 3 strikes of one kind in a calendar year — lax eligibility
checks, or quality problems (seed 003 §四(四): 资格审核把关不严3次（含）以上的，或年度出现质量问题3次
（含）以上的) — suspend an institution from verifying until reinstated. Strikes of the two kinds are
not added together."""
from sqlalchemy import func, select

from ..models import Institution, Strike
from ..models.institutions import ACTIVE, SUSPENDED
from ..timeutil import local_year_bounds, utcnow
from . import audit, reasons, rules
from .errors import OutOfScope, ValidationFailed
from .transactions import service

STRIKE_KINDS = {"eligibility": "资格审核把关不严", "quality": "培训质量问题"}
STRIKES_TO_SUSPEND = 3


def _check_scope(actor: audit.Actor, institution: Institution) -> None:
    if not actor.in_region(institution.region_code):
        raise OutOfScope("只能管理本地区的培训机构")


def strikes_this_year(session, institution: Institution, now) -> dict[str, int]:
    """Kind → the institution's strikes of that kind in the local calendar year of `now`."""
    start, end = local_year_bounds(rules.local_year(now))
    counts = dict(session.execute(
        select(Strike.kind, func.count(Strike.id)).where(
            Strike.institution_id == institution.id, Strike.created_at >= start, Strike.created_at < end
        ).group_by(Strike.kind)
    ).all())
    return {kind: counts.get(kind, 0) for kind in STRIKE_KINDS}


@service
def record_strike(session, institution: Institution, kind: str, reason: str, actor: audit.Actor, *, now=None) -> Strike:
    now = now or utcnow()
    _check_scope(actor, institution)
    reason = (reason or "").strip()
    errors = {}
    if kind not in STRIKE_KINDS:
        errors["kind"] = "请选择问题类型"
    wrong_reason = reasons.problem(reason, "具体原因")
    if wrong_reason:
        errors["reason"] = wrong_reason
    if errors:
        raise ValidationFailed("记录失败：" + "；".join(errors.values()), fields=errors)
    strike = Strike(institution_id=institution.id, kind=kind, reason=reason, created_at=now,
                    recorded_by_id=actor.id if actor.type == "staff" else None)
    session.add(strike)
    session.flush()
    audit.record(session, actor, "institution.strike", institution_id=institution.id,
                 region_code=institution.region_code, reason=reason, at=now, details={"kind": kind})
    count = strikes_this_year(session, institution, now)[kind]
    if count >= STRIKES_TO_SUSPEND and institution.status != SUSPENDED:
        institution.status, institution.suspended_at = SUSPENDED, now
        institution.suspended_reason = f"本年度{STRIKE_KINDS[kind]}累计{count}次，暂停验券资格，整改到位后由人社部门恢复"
        audit.record(session, audit.Actor.system("系统自动暂停"), "institution.suspend",
                     institution_id=institution.id, region_code=institution.region_code,
                     reason=institution.suspended_reason, at=now)
    session.commit()
    return strike


@service
def reinstate(session, institution: Institution, reason: str, actor: audit.Actor, *, now=None) -> None:
    now = now or utcnow()
    _check_scope(actor, institution)
    reason = reasons.clean(reason, "恢复原因")
    if institution.status != SUSPENDED:
        raise ValidationFailed("该机构未被暂停", fields={})
    institution.status, institution.suspended_reason, institution.suspended_at = ACTIVE, None, None
    audit.record(session, actor, "institution.reinstate", institution_id=institution.id,
                 region_code=institution.region_code, reason=reason, at=now)
    session.commit()
