"""Lists of settlements for the bureau's 结算审核, the institution's own list and the API: one
query per page with the lines loaded in one more, and the totals of everything that matches."""
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..models import Policy, Settlement, SettlementLine, TrainingClass, Voucher, VoucherTemplate, under_prefix
from ..models.classes import CLASS_COMPLETED
from ..models.vouchers import GENERAL, USED
from ..models.settlement import LINE_REJECTED, S_PAID, S_REJECTED, S_REVIEWED, S_SUBMITTED
from ..timeutil import end_of_local_day, start_of_local_day

# What a list may ask for: the stored statuses, plus 'open' (待处理: submitted or reviewed).
STATUS_FILTERS = {"open": (S_SUBMITTED, S_REVIEWED), S_SUBMITTED: (S_SUBMITTED,), S_REVIEWED: (S_REVIEWED,),
                  S_PAID: (S_PAID,), S_REJECTED: (S_REJECTED,), "draft": ("draft",)}
PAYEE_FILTERS = ("institution", "worker")


@dataclass
class Filters:
    status: str | None = None
    payee_kind: str | None = None
    region_prefix: str | None = None  # the caller's own region, or a narrower one inside it
    institution_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None


@dataclass
class Page:
    rows: list = field(default_factory=list)
    count: int = 0
    approved_total_fen: int = 0
    paid_total_fen: int = 0
    page: int = 1
    pages: int = 1


def _where(filters: Filters) -> list:
    where = []
    if filters.status:
        where.append(Settlement.status.in_(STATUS_FILTERS[filters.status]))
    if filters.payee_kind == "worker":
        where.append(Settlement.person_id.is_not(None))
    elif filters.payee_kind == "institution":
        where.append(Settlement.person_id.is_(None))
    if filters.region_prefix is not None:
        where.append(under_prefix(Settlement.region_code, filters.region_prefix))
    if filters.institution_id is not None:
        where.append(Settlement.institution_id == filters.institution_id)
    if filters.date_from is not None:
        where.append(Settlement.submitted_at >= start_of_local_day(filters.date_from))
    if filters.date_to is not None:
        where.append(Settlement.submitted_at <= end_of_local_day(filters.date_to))
    return where


def list_settlements(session, filters: Filters, *, page: int = 1, per_page: int = 50, clamp: bool = True) -> Page:
    """A page of settlements, newest first, with the totals of all of them. `clamp`: a page past
    the last shows the last (a page's stale link); else it is empty (an API client paging until
    it gets nothing must get nothing)."""
    where = _where(filters)
    # The totals come from each settlement's own sums (kept by review and payment): a province's
    # paid list sums thousands of settlements, not their hundreds of thousands of lines.
    count, approved, paid = session.execute(
        select(func.count(Settlement.id), func.coalesce(func.sum(Settlement.approved_total_fen), 0),
               func.coalesce(func.sum(Settlement.paid_total_fen), 0)).where(*where)
    ).one()
    pages = max(1, -(-count // per_page))
    page = min(max(page, 1), pages) if clamp else max(page, 1)
    rows = session.scalars(
        select(Settlement).where(*where).order_by(Settlement.id.desc()).limit(per_page).offset((page - 1) * per_page)
        .options(selectinload(Settlement.lines), selectinload(Settlement.institution),
                 selectinload(Settlement.training_class))
    ).all()
    return Page(rows, count, int(approved), int(paid), page, pages)


def class_applications(session, training_class: TrainingClass) -> list[Settlement]:
    """The settlement applications made for a class, oldest first (the class's 结算申请 page)."""
    return session.scalars(
        select(Settlement).where(Settlement.class_id == training_class.id,
                                 Settlement.institution_id == training_class.institution_id)
        .order_by(Settlement.id).options(selectinload(Settlement.lines))).all()


def earlier_rejections(session, settlement: Settlement) -> dict[int, tuple[int, str | None]]:
    """voucher id → (application id, reason) of the latest earlier application that rejected the
    voucher, for the lines of `settlement`: a voucher applied for again is reviewed knowing why it
    was turned down (one query)."""
    voucher_ids = [line.voucher_id for line in settlement.lines]
    if not voucher_ids:
        return {}
    rows = session.execute(
        select(SettlementLine.voucher_id, SettlementLine.settlement_id, SettlementLine.decision_reason)
        .where(SettlementLine.voucher_id.in_(voucher_ids), SettlementLine.settlement_id != settlement.id,
               SettlementLine.decision == LINE_REJECTED)
        .order_by(SettlementLine.settlement_id)).all()
    return {voucher_id: (settlement_id, reason) for voucher_id, settlement_id, reason in rows}


def overdue_reviews(session, now, *, region_prefix: str | None = None,
                    institution_id: int | None = None) -> list[tuple[Settlement, int]]:
    """Applications waiting longer than their vouchers' policy gives the bureau to review them,
    with the days allowed: a bureau's (region) or an institution's own."""
    rows = session.execute(
        select(Settlement, func.min(Policy.review_within_days))
        .join(SettlementLine, SettlementLine.settlement_id == Settlement.id)
        .join(Voucher, Voucher.id == SettlementLine.voucher_id)
        .join(VoucherTemplate, VoucherTemplate.id == Voucher.template_id)
        .join(Policy, Policy.id == VoucherTemplate.policy_id)
        .where(Settlement.status == S_SUBMITTED, Policy.review_within_days.is_not(None),
               under_prefix(Settlement.region_code, region_prefix) if region_prefix is not None
               else Settlement.institution_id == institution_id)
        .group_by(Settlement.id).order_by(Settlement.id)
    ).all()
    return [(s, days) for s, days in rows if s.submitted_at and s.submitted_at + timedelta(days=days) < now]


def overdue_applications(session, institution_id: int, now) -> list[tuple[TrainingClass, int, int]]:
    """Completed classes of an institution with used vouchers not yet applied for, past the days
    their policy allows after 结业: (class, days allowed, vouchers waiting)."""
    open_line = select(SettlementLine.id).where(SettlementLine.voucher_id == Voucher.id,
                                                SettlementLine.decision != "rejected").exists()
    rows = session.execute(
        select(TrainingClass, func.min(Policy.apply_within_days), func.count(Voucher.id))
        .join(Voucher, Voucher.class_id == TrainingClass.id)
        .join(VoucherTemplate, VoucherTemplate.id == Voucher.template_id)
        .join(Policy, Policy.id == VoucherTemplate.policy_id)
        .where(TrainingClass.institution_id == institution_id, TrainingClass.status == CLASS_COMPLETED,
               Voucher.status == USED, Policy.apply_within_days.is_not(None), ~open_line,
               ~(Policy.pays_worker_for_general_certificate.is_(True)
                 & (VoucherTemplate.distribution_mode == GENERAL) & (TrainingClass.project_type == "certificate")))
        .group_by(TrainingClass.id).order_by(TrainingClass.id)
    ).all()
    return [(c, days, n) for c, days, n in rows
            if c.completed_at and c.completed_at + timedelta(days=days) < now]
