"""作废 and 失效: revoking claimed vouchers, and sweeping expired ones into their recorded state.

Expiry is already right without the sweep (Voucher.effective_status); the sweep writes it down
so lists, statistics and the audit log agree, and warns workers a week before."""
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..codes import normalize_code
from ..models import Voucher
from ..models.vouchers import CLAIMED, EXPIRED, OFFERED, REVOKED, SETTLED, USED
from ..timeutil import days_left, utcnow
from . import audit, reasons, states
from .errors import ValidationFailed
from .notify import notify, notify_many
from .transactions import in_chunks, service


# 批量作废: the most codes one request may name, on the page and in the API (its OpenAPI maxItems).
MAX_REVOKE_CODES = 10_000


@dataclass
class BatchReport:
    done: list = field(default_factory=list)  # codes
    rejected: list = field(default_factory=list)  # {"code", "error", "message"}


# Why a voucher cannot be revoked, in API.md's domain codes (the rejected row's `code`).
REFUSALS = {USED: "VOUCHER_ALREADY_USED", SETTLED: "VOUCHER_SETTLED", REVOKED: "VOUCHER_REVOKED",
            EXPIRED: "VOUCHER_EXPIRED"}


@service
def revoke(session, codes: list[str], reason: str, actor: audit.Actor, *, now=None) -> BatchReport:
    """Revoke claimed (or still offered) vouchers of the actor's region, each reported; at most
    MAX_REVOKE_CODES codes at once. Set-based, as a payment is: the vouchers are read and locked a
    thousand codes a statement, then moved, audited and their holders told in a few statements, so
    10,000 codes fit in one request."""
    now = now or utcnow()
    if len(codes) > MAX_REVOKE_CODES:
        message = f"一次最多作废{MAX_REVOKE_CODES}张，请分批处理"
        raise ValidationFailed(message, fields={"codes": message})
    reason = reasons.clean(reason, "作废原因")
    wanted = list(dict.fromkeys(code for code in map(normalize_code, codes) if code))
    found = {}
    for chunk in in_chunks(wanted):
        # Locked until the commit (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers):
        # no use or claim can move one of them between this read and the guarded move below.
        found.update((v.code, v) for v in session.scalars(
            select(Voucher).options(selectinload(Voucher.template)).where(Voucher.code.in_(chunk))
            .with_for_update()))
    report, moving = BatchReport(), {CLAIMED: [], OFFERED: []}
    for code in wanted:
        voucher = found.get(code)
        if voucher is None or not actor.in_region(voucher.template.region_code):
            report.rejected.append({"code": code, "error": "VOUCHER_NOT_FOUND", "message": "未找到该培训券"})
            continue
        status = voucher.effective_status(now)
        if status not in moving:
            label = {EXPIRED: "已失效"}.get(status, voucher.status_label)
            report.rejected.append({"code": code, "error": REFUSALS.get(status, "INVALID_STATE"),
                                    "message": f"培训券状态为“{label}”，只能作废已领取或待领取的培训券"})
            continue
        moving[status].append(voucher)
        report.done.append(code)
    for vouchers in moving.values():
        states.move_many(session, vouchers, REVOKED, actor, at=now, reason=reason, revoked_at=now,
                         revoke_reason=reason)
    notify_many(session, [
        {"person_id": v.person_id, "kind": "revoked", "title": "您的一张培训券已作废", "voucher_id": v.id,
         "body": f"“{v.template.name}”已被人社部门作废，原因：{reason}"}
        for vouchers in moving.values() for v in vouchers])
    session.commit()
    return report


@service
def expire_overdue(session, *, now=None, batch_size: int = 500) -> int:
    """Record `expired` for every offered or claimed voucher past its deadline. Idempotent."""
    now = now or utcnow()
    actor = audit.Actor.system("系统到期失效")
    total = 0
    while True:
        overdue = list(session.scalars(
            select(Voucher).where(Voucher.status.in_((OFFERED, CLAIMED)), Voucher.expires_at < now)
            .order_by(Voucher.id).limit(batch_size)
        ))
        if not overdue:
            return total
        for voucher in overdue:
            try:
                states.move(session, voucher, EXPIRED, actor, reason="超过有效期未使用", at=now)
                total += 1
            except states.StaleState:
                continue
        session.commit()


@service
def notify_expiring(session, *, now=None, within_days: int = 7) -> int:
    """A notice to each worker whose claimed voucher lapses within `within_days`, once per voucher."""
    now = now or utcnow()
    soon = list(session.scalars(
        select(Voucher).where(Voucher.status == CLAIMED, Voucher.expires_at >= now,
                              Voucher.expires_at < now + timedelta(days=within_days))
    ))
    sent = 0
    for voucher in soon:
        left = days_left(voucher.expires_at, now)
        if notify(session, voucher.person_id, "expiring", "培训券即将过期",
                  f"您的“{voucher.template.name}”还有{left}天到期，请尽快报名培训并使用。",
                  voucher_id=voucher.id):
            sent += 1
    session.commit()
    return sent
