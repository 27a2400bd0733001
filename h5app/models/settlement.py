"""Settlement applications (结算申请) and their lines, one per voucher."""
from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import created_at_column
from .institutions import Institution
from .vouchers import Voucher

S_DRAFT, S_SUBMITTED, S_REVIEWED, S_PAID = "draft", "submitted", "reviewed", "paid"
SETTLEMENT_STATUSES = {S_DRAFT: "草稿", S_SUBMITTED: "待审核", S_REVIEWED: "已审核待拨付", S_PAID: "已拨付"}
LINE_PENDING, LINE_APPROVED, LINE_REJECTED = "pending", "approved", "rejected"


class Settlement(db.Model):
    __tablename__ = "settlements"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Payee: an institution (directed vouchers, applications) or a person (Shaoxing general
    # vouchers on certificate training, found by matching records).
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)  # the issuing bureau pays
    status: Mapped[str] = mapped_column(String(16), default=S_DRAFT)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime)
    paid_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = created_at_column()

    institution: Mapped[Institution | None] = relationship()
    lines: Mapped[list["SettlementLine"]] = relationship(back_populates="settlement", order_by="SettlementLine.id")

    @property
    def status_label(self) -> str:
        return SETTLEMENT_STATUSES.get(self.status, self.status)

    @property
    def approved_total_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines if line.decision == LINE_APPROVED)


class SettlementLine(db.Model):
    __tablename__ = "settlement_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlements.id"), index=True)
    voucher_id: Mapped[int] = mapped_column(ForeignKey("vouchers.id"), index=True)
    eligible: Mapped[bool] = mapped_column(Boolean)
    attendance_rate: Mapped[float] = mapped_column(Numeric(5, 4))
    exam_passed: Mapped[bool | None] = mapped_column(Boolean)
    amount_fen: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    decision: Mapped[str] = mapped_column(String(16), default=LINE_PENDING)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    # Who decided this line ('staff:3', 'api_key:5'): whoever decided any line may not pay.
    decided_by: Mapped[str | None] = mapped_column(String(40))

    settlement: Mapped[Settlement] = relationship(back_populates="lines")
    voucher: Mapped[Voucher] = relationship()
