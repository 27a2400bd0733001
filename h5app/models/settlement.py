"""Settlement applications (结算申请) and their lines, one per voucher; the payees' bank accounts and
the payment batches that pay the lines."""
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import created_at_column
from .institutions import Institution
from .people import Person
from .vouchers import Voucher

if TYPE_CHECKING:
    from .classes import TrainingClass

S_DRAFT, S_SUBMITTED, S_REVIEWED, S_PAID = "draft", "submitted", "reviewed", "paid"
# Every line rejected: nothing to pay, the application is closed without a payment (no 资金拨付表).
S_REJECTED = "rejected"
SETTLEMENT_STATUSES = {S_DRAFT: "草稿", S_SUBMITTED: "待审核", S_REVIEWED: "已审核待拨付", S_PAID: "已拨付",
                       S_REJECTED: "已驳回"}
LINE_PENDING, LINE_APPROVED, LINE_REJECTED = "pending", "approved", "rejected"
LINE_DECISIONS = {LINE_PENDING: "待审核", LINE_APPROVED: "通过", LINE_REJECTED: "驳回"}
PAYEE_INSTITUTION, PAYEE_WORKER = "institution", "worker"
PAYEE_KINDS = {PAYEE_INSTITUTION: "培训机构", PAYEE_WORKER: "劳动者本人"}
# A payee account: entered by the institution → pending until the bureau confirms; the bureau's own
# entry (onboarding, API) and a worker's own card are active at once; the one before is replaced.
ACCOUNT_PENDING, ACCOUNT_ACTIVE, ACCOUNT_REPLACED, ACCOUNT_DECLINED = "pending", "active", "replaced", "declined"
ACCOUNT_STATUSES = (ACCOUNT_PENDING, ACCOUNT_ACTIVE, ACCOUNT_REPLACED, ACCOUNT_DECLINED)


class PayeeAccount(db.Model):
    """收款账户 of an institution or a worker. Rows are never edited: a change is a new row, so a
    paid line keeps pointing at the account it was paid to."""

    __tablename__ = "payee_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    account_name: Mapped[str] = mapped_column(String(100))  # 户名
    bank_name: Mapped[str] = mapped_column(String(100))  # 开户行
    account_number: Mapped[str] = mapped_column(String(40))  # 账号, digits only
    status: Mapped[str] = mapped_column(String(16), default=ACCOUNT_PENDING)
    entered_by: Mapped[str] = mapped_column(String(80))  # the actor's label
    entered_by_id: Mapped[int | None] = mapped_column(Integer)  # the staff member's id, when staff entered it
    created_at: Mapped[datetime] = created_at_column()
    confirmed_by: Mapped[str | None] = mapped_column(String(80))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)

    institution: Mapped[Institution | None] = relationship()
    person: Mapped[Person | None] = relationship()

    @property
    def masked_number(self) -> str:
        from ..identity import mask_account_number

        return mask_account_number(self.account_number)

    @property
    def masked(self) -> dict:
        return {"account_name": self.account_name, "bank_name": self.bank_name,
                "account_number": self.masked_number}


class PaymentBatch(db.Model):
    """One 拨付: the bank's reference and date, who marked it, and how many lines were paid or failed."""

    __tablename__ = "payment_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlements.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    reference: Mapped[str] = mapped_column(String(64))
    paid_on: Mapped[date] = mapped_column(Date)
    paid_by: Mapped[str] = mapped_column(String(80))
    paid_total_fen: Mapped[int] = mapped_column(Integer, default=0)
    paid_lines: Mapped[int] = mapped_column(Integer, default=0)
    failed_lines: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at_column()


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
    # The sums of its lines (审核通过 and 已拨付), kept on the row by review and payment
    # (refresh_totals) so that a list's totals over a province read settlements, not their lines.
    approved_total_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    paid_total_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = created_at_column()

    institution: Mapped[Institution | None] = relationship()
    person: Mapped[Person | None] = relationship()
    training_class: Mapped["TrainingClass | None"] = relationship()  # the class it is for: the pages name it
    lines: Mapped[list["SettlementLine"]] = relationship(back_populates="settlement", order_by="SettlementLine.id")
    batches: Mapped[list[PaymentBatch]] = relationship(order_by="PaymentBatch.id")

    @property
    def payee_kind(self) -> str:
        return PAYEE_WORKER if self.person_id is not None else PAYEE_INSTITUTION

    @property
    def payee_name(self) -> str:
        if self.institution is not None:
            return self.institution.name
        return "劳动者本人"

    @property
    def status_label(self) -> str:
        if self.status == S_REVIEWED and any(line.paid_at for line in self.lines):
            return "部分已拨付"
        return SETTLEMENT_STATUSES.get(self.status, self.status)

    @property
    def awaiting_review(self) -> bool:
        """Submitted: the bureau decides its lines."""
        return self.status == S_SUBMITTED

    @property
    def review_done(self) -> bool:
        """Reviewed with something approved (paid or not): its 资金拨付表 can be drawn. Not one whose
        every line was rejected (S_REJECTED): it pays nothing."""
        return self.status in (S_REVIEWED, S_PAID)

    @property
    def is_rejected(self) -> bool:
        """已驳回: every line rejected, nothing to pay."""
        return self.status == S_REJECTED

    @property
    def awaiting_payment(self) -> bool:
        """Reviewed, with approved lines not yet paid (failed ones included)."""
        return self.status == S_REVIEWED and bool(self.unpaid_lines)

    def refresh_totals(self) -> None:
        """Sum the lines into approved_total_fen and paid_total_fen: after every change of a line's
        decision, amount or payment (settlement.review and settlement.pay)."""
        self.approved_total_fen = sum(line.payable_fen for line in self.lines if line.decision == LINE_APPROVED)
        self.paid_total_fen = sum(line.paid_amount_fen or 0 for line in self.lines)

    @property
    def unpaid_lines(self) -> list["SettlementLine"]:
        """Approved and not yet paid (待拨付), failed ones included."""
        return [line for line in self.lines if line.decision == LINE_APPROVED and line.paid_at is None]


class SettlementLine(db.Model):
    __tablename__ = "settlement_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    settlement_id: Mapped[int] = mapped_column(ForeignKey("settlements.id"), index=True)
    voucher_id: Mapped[int] = mapped_column(ForeignKey("vouchers.id"), index=True)
    eligible: Mapped[bool] = mapped_column(Boolean)
    attendance_rate: Mapped[float] = mapped_column(Numeric(5, 4))
    exam_passed: Mapped[bool | None] = mapped_column(Boolean)
    # The computed maximum: face value or catalogue standard, capped by the standard and the fee.
    amount_fen: Mapped[int] = mapped_column(Integer)
    # 参考金额: the face value, shown beside the approved amount where it is only a reference.
    reference_fen: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    decision: Mapped[str] = mapped_column(String(16), default=LINE_PENDING)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    # What the reviewer approved (≤ amount_fen); what was paid, when, in which batch, to which account.
    approved_amount_fen: Mapped[int | None] = mapped_column(Integer)
    paid_amount_fen: Mapped[int | None] = mapped_column(Integer)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime)
    payment_batch_id: Mapped[int | None] = mapped_column(ForeignKey("payment_batches.id"), index=True)
    payee_account_id: Mapped[int | None] = mapped_column(ForeignKey("payee_accounts.id"))
    # The bank's refusal of the last payment (wrong account, account closed); the line is 待拨付 again.
    failure_reason: Mapped[str | None] = mapped_column(Text)
    # Who decided this line ('staff:3', 'api_key:5'): whoever decided any line may not pay.
    decided_by: Mapped[str | None] = mapped_column(String(40))

    settlement: Mapped[Settlement] = relationship(back_populates="lines")
    voucher: Mapped[Voucher] = relationship()
    payment_batch: Mapped[PaymentBatch | None] = relationship()
    payee_account: Mapped[PayeeAccount | None] = relationship()

    @property
    def payable_fen(self) -> int:
        """What an approved line pays: the reviewer's amount, else the computed one."""
        return self.approved_amount_fen if self.approved_amount_fen is not None else self.amount_fen

    @property
    def is_pending(self) -> bool:
        """Not decided yet."""
        return self.decision == LINE_PENDING

    @property
    def is_approved(self) -> bool:
        return self.decision == LINE_APPROVED

    @property
    def decision_label(self) -> str:
        if self.decision == LINE_APPROVED:
            return "已拨付" if self.paid_at else ("拨付失败，待重新拨付" if self.failure_reason else "通过，待拨付")
        return LINE_DECISIONS.get(self.decision, self.decision)
