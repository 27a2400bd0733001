"""What each row of 审计日志 acted on, in words: the template a 制券 or 生效 row made or changed, the
class, the settlement and its amount, the institution, the year and rows of a target import. The
names are read for the whole page at once — three queries at most, whatever the page holds."""
from sqlalchemy import select

from ..extensions import db
from ..models import AuditEvent, Institution, TrainingClass, VoucherTemplate

TARGET_KINDS = {"region": "地区任务", "kpi": "调度指标目标"}


def _names(model, column, ids: set) -> dict:
    if not ids:
        return {}
    return dict(db.session.execute(select(model.id, column).where(model.id.in_(ids))).all())


def _ids(events, key: str) -> set[int]:
    return {e.details[key] for e in events if isinstance(e.details, dict) and isinstance(e.details.get(key), int)}


def _yuan(fen) -> str:
    return f"{fen / 100:,.2f}元"


def subjects(events: list[AuditEvent]) -> dict[int, str]:
    """event id → what it acted on ("" when the row's own columns say it all)."""
    templates = _names(VoucherTemplate, VoucherTemplate.name, _ids(events, "template_id"))
    classes = _names(TrainingClass, TrainingClass.course_name, _ids(events, "class_id"))
    institutions = _names(Institution, Institution.name, {e.institution_id for e in events if e.institution_id})
    found = {}
    for event in events:
        details = event.details if isinstance(event.details, dict) else {}
        parts = []
        if details.get("template_id") in templates:
            parts.append(f"券模板“{templates[details['template_id']]}”")
        if details.get("class_id") in classes:
            parts.append(f"班期“{classes[details['class_id']]}”")
        elif event.institution_id in institutions and not event.voucher_id:
            parts.append(institutions[event.institution_id])
        if isinstance(details.get("settlement_id"), int):
            parts.append(f"结算申请 {details['settlement_id']}")
        if isinstance(details.get("count"), int):
            parts.append(f"{details['count']}张")
        for key in ("amount_fen", "paid_total_fen", "total_fen"):
            if isinstance(details.get(key), int):
                parts.append(_yuan(details[key]))
                break
        if details.get("reference"):
            parts.append(f"回单号 {details['reference']}")
        if event.action == "targets.import":
            parts.append(f"{details.get('year', '')}年{TARGET_KINDS.get(details.get('kind'), '')}{details.get('rows', '')}行")
        if event.action == "policy.update" and isinstance(details.get("changes"), dict):
            parts.append(f"政策 {details.get('policy', '')}，改了{len(details['changes'])}项")
        found[event.id] = "；".join(parts)
    return found
