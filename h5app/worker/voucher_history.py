"""A voucher's history as its holder reads it on the voucher page (券的记录): each state move from the
audit log in plain words — issued, claimed, used where, given back (class cancelled or 退班) with its
new deadline, settled, lapsed, revoked."""
from sqlalchemy import select

from ..extensions import db
from ..models import AuditEvent, Institution, Settlement


def _returned(event: AuditEvent) -> str:
    details = event.details or {}
    why = "班期取消" if details.get("cause") == "class_cancelled" else "退班"
    text = f"{why}，“{details.get('course_name', '')}”退回，恢复可使用"
    if details.get("held_days") and details.get("expires_at"):
        text += f"；有效期延长{details['held_days']}天，至{details['expires_at'][:10]}"
    return text


def _settled(details: dict, to_worker: set[int]) -> str:
    amount = details.get("amount_fen")
    if not isinstance(amount, int):
        return "培训补贴已结算，唯一码核销"
    whom = "拨付给您本人" if details.get("settlement_id") in to_worker else "拨付给培训机构"
    return f"培训补贴{amount / 100:,.2f}元已{whom}，唯一码核销"


def _line(event: AuditEvent, institutions: dict[int, str], to_worker: set[int]) -> str | None:
    details = event.details or {}
    where = institutions.get(event.institution_id, "")
    return {
        "voucher.offer": lambda: "发放到卡券中心",
        "voucher.claim": lambda: "定向发放，已自动领取" if event.actor_type == "system" else "领取",
        "voucher.verify": lambda: f"在{where}验券使用" if where else "验券使用",
        "voucher.return": lambda: _returned(event),
        "voucher.unbind": lambda: f"“{details.get('course_name', '')}”班期取消，本券可报名其他适用班期",
        "voucher.settle": lambda: _settled(details, to_worker),
        "voucher.expire": lambda: "超过有效期，已失效",
        "voucher.revoke": lambda: "人社部门作废",
        "voucher.auto_use_refused": lambda: "结业时未能自动使用",
    }.get(event.action, lambda: None)()


def history(voucher) -> list[dict]:
    """Oldest first: {"at", "text", "reason"} for each move of the voucher."""
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.voucher_id == voucher.id)
                                .order_by(AuditEvent.at, AuditEvent.id)).all()
    ids = {e.institution_id for e in events if e.institution_id}
    names = dict(db.session.execute(select(Institution.id, Institution.name).where(Institution.id.in_(ids))).all()) \
        if ids else {}
    settled_by = {e.details.get("settlement_id") for e in events
                  if e.action == "voucher.settle" and isinstance(e.details, dict)} - {None}
    # The settlements that paid the worker (证书类培训补贴), not the institution: one query at most.
    to_worker = set(db.session.scalars(select(Settlement.id).where(
        Settlement.id.in_(settled_by), Settlement.person_id.is_not(None)))) if settled_by else set()
    lines = []
    for event in events:
        text = _line(event, names, to_worker)
        if text:
            lines.append({"at": event.at, "text": text, "reason": event.reason})
    return lines
