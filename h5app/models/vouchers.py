"""Voucher templates (券模板), issuances (发券批次) and vouchers (职业培训券)."""
from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import created_at_column
from .regions import Policy

FACE_VALUE, CREDENTIAL = "face_value", "credential"
GENERAL, DIRECTED = "general", "directed"
FUNCTION_MODES = {FACE_VALUE: "面值券", CREDENTIAL: "抵用券"}
DISTRIBUTION_MODES = {GENERAL: "通用券", DIRECTED: "定向券"}

PROJECT_TYPES = {
    "employment_skills": "就业技能培训",
    "entrepreneurship": "创业培训",
    "enterprise_staff": "企业职工培训",
    "work_for_training": "以工代训",
    "apprenticeship": "企业新型学徒制培训",
    "pre_job": "岗前培训",
    "project": "项目制培训",
    "special_ability": "专项职业能力培训",
    "certificate": "证书类培训",
    "domestic_service": "家政服务人员培训",
}

# Voucher states (PRODUCT.md §4).
OFFERED, CLAIMED, USED, SETTLED, EXPIRED, REVOKED = (
    "offered", "claimed", "used", "settled", "expired", "revoked",
)
VOUCHER_STATUSES = {
    OFFERED: "待领取", CLAIMED: "可使用", USED: "已使用", SETTLED: "已核销",
    EXPIRED: "已失效", REVOKED: "已作废",
}

TEMPLATE_DRAFT, TEMPLATE_ACTIVE, TEMPLATE_CLOSED = "draft", "active", "closed"
TEMPLATE_STATUSES = {TEMPLATE_DRAFT: "草稿", TEMPLATE_ACTIVE: "发放中", TEMPLATE_CLOSED: "已关闭"}


class VoucherTemplate(db.Model):
    __tablename__ = "voucher_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # "同一类型职业培训券每人限领一次" (Chongqing): the type a yearly claim limit counts by.
    voucher_type: Mapped[str] = mapped_column(String(64))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    function_mode: Mapped[str] = mapped_column(String(16))
    distribution_mode: Mapped[str] = mapped_column(String(16))
    face_value_fen: Mapped[int | None] = mapped_column(Integer)
    # Catalogue standard (补贴标准): caps a face value, is the amount of a credential voucher.
    standard_fen: Mapped[int | None] = mapped_column(Integer)
    eligible_groups: Mapped[list] = mapped_column(JSON, default=list)
    min_insurance_months: Mapped[int | None] = mapped_column(Integer)
    occupation: Mapped[str | None] = mapped_column(String(64))
    level: Mapped[str | None] = mapped_column(String(16))
    project_types: Mapped[list] = mapped_column(JSON, default=list)
    claim_starts_on: Mapped[date] = mapped_column(Date)
    claim_ends_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)  # fixed use deadline ...
    valid_days: Mapped[int | None] = mapped_column(Integer)  # ... or N days after claim
    # 'open': anyone eligible may claim from 卡券中心 until stock runs out;
    # 'targeted': only the people a general issuance offered it to.
    audience: Mapped[str] = mapped_column(String(16), default="open")
    stock: Mapped[int | None] = mapped_column(Integer)  # NULL: no limit
    claimed_count: Mapped[int] = mapped_column(Integer, default=0)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    status: Mapped[str] = mapped_column(String(16), default=TEMPLATE_DRAFT)
    description: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = created_at_column()

    policy: Mapped[Policy] = relationship()

    @property
    def is_general(self) -> bool:
        return self.distribution_mode == GENERAL

    @property
    def status_label(self) -> str:
        """As the bureau's lists say it: an active template whose claim period is over, not yet
        begun, or whose stock is all claimed is not 发放中, though nothing has closed it."""
        if self.status == TEMPLATE_ACTIVE:
            from ..timeutil import local_today

            today = local_today()
            if self.claim_ends_on is not None and self.claim_ends_on < today:
                return "领取已截止"
            if self.claim_starts_on is not None and self.claim_starts_on > today:
                return "未到领取时间"
            if self.remaining_stock == 0:
                return "已领完"
        return TEMPLATE_STATUSES.get(self.status, self.status)

    @property
    def choice_label(self) -> str:
        """How a list to choose a template from names it: two drafts may share a name."""
        left = "不限量" if self.stock is None else f"剩余{self.remaining_stock}张"
        return f"{self.name}（{self.status_label}，{left}，编号{self.id}）"

    @property
    def is_draft(self) -> bool:
        """Not yet in force: the first issuance (or an activation) puts it in force."""
        return self.status == TEMPLATE_DRAFT

    @property
    def is_closed(self) -> bool:
        """停止发放: no more issuing or claiming; claimed vouchers stay usable."""
        return self.status == TEMPLATE_CLOSED

    @property
    def remaining_stock(self) -> int | None:
        return None if self.stock is None else max(self.stock - self.claimed_count, 0)

    @property
    def function_label(self) -> str:
        return FUNCTION_MODES[self.function_mode]

    @property
    def distribution_label(self) -> str:
        return DISTRIBUTION_MODES[self.distribution_mode]


class Issuance(db.Model):
    """One act of 发券: a general offer to a population, or a directed batch for a class roster."""

    __tablename__ = "issuances"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("voucher_templates.id"), index=True)
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id"), index=True)
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    count: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = created_at_column()

    template: Mapped[VoucherTemplate] = relationship()


class VoucherStatus:
    """What a voucher's state means as of a moment."""

    def effective_status(self, now: datetime) -> str:
        """The state as of `now`, right even when no expiry job has run."""
        if self.status in (OFFERED, CLAIMED) and self.expires_at is not None and now > self.expires_at:
            return EXPIRED
        return self.status

    @property
    def status_label(self) -> str:
        return VOUCHER_STATUSES[self.status]

    @property
    def is_used(self) -> bool:
        """Verified for a class and not yet settled: 退班 or 取消班期 gives it back to its holder."""
        return self.status == USED

    def may_be_revoked(self, now: datetime) -> bool:
        """作废 takes a voucher offered or claimed and still in force (vouchers/lifecycle.py)."""
        return self.effective_status(now) in (OFFERED, CLAIMED)


class Voucher(VoucherStatus, db.Model):
    __tablename__ = "vouchers"
    __table_args__ = (
        # A person holds at most one voucher of a template: the database enforces "claimed once".
        UniqueConstraint("template_id", "person_id"),
        # One voucher per person per class (NULL until used, and NULLs never collide).
        UniqueConstraint("class_id", "person_id"),
        Index("ix_vouchers_person_status", "person_id", "status"),
        Index("ix_vouchers_status_expires", "status", "expires_at"),
        # 查询统计 counts today's events of its own region's templates, and the roll-up each finished
        # day's of every template: each event's time behind the template, so a region reads its own
        # short ranges however busy the country is. Partial indexes hold only the vouchers that
        # reached the state, so issuing and claiming pay for none of them.
        Index("ix_vouchers_template_created_at", "template_id", "created_at"),
        Index("ix_vouchers_template_claimed_at", "template_id", "claimed_at",
              sqlite_where=text("claimed_at IS NOT NULL"), postgresql_where=text("claimed_at IS NOT NULL")),
        Index("ix_vouchers_template_used_at", "template_id", "used_at",
              sqlite_where=text("used_at IS NOT NULL"), postgresql_where=text("used_at IS NOT NULL")),
        Index("ix_vouchers_template_settled_at", "template_id", "settled_at",
              sqlite_where=text("settled_at IS NOT NULL"), postgresql_where=text("settled_at IS NOT NULL")),
        # 查询统计 counts an open template's offered vouchers by (template_id, status): partial, only
        # offered ones are indexed, so claiming, verifying and settling write no entry. The status
        # column is kept in it for SQLite's planner, which without statistics takes the equality on
        # ix_vouchers_status_expires over a one-column index (and then reads every offered voucher).
        Index("ix_vouchers_template_status_offered", "template_id", "status",
              sqlite_where=text("status = 'offered'"), postgresql_where=text("status = 'offered'")),
        # Where vouchers were used: only used (and settled) ones have an institution, so issuing
        # writes no entry and a verification adds one without removing a NULL one.
        Index("ix_vouchers_institution_id", "institution_id", sqlite_where=text("institution_id IS NOT NULL"),
              postgresql_where=text("institution_id IS NOT NULL")),
        # A class's trainee list and settlement find its directed vouchers; only those are indexed.
        Index("ix_vouchers_bound_class_id", "bound_class_id", sqlite_where=text("bound_class_id IS NOT NULL"),
              postgresql_where=text("bound_class_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # 唯一码
    template_id: Mapped[int] = mapped_column(ForeignKey("voucher_templates.id"))
    issuance_id: Mapped[int | None] = mapped_column(ForeignKey("issuances.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    status: Mapped[str] = mapped_column(String(16), default=OFFERED)
    # Directed vouchers are bound to the class whose roster they were issued for.
    bound_class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id"))
    offered_at: Mapped[datetime | None] = mapped_column(DateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    used_at: Mapped[datetime | None] = mapped_column(DateTime)
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id"))  # indexed first in (class_id, person_id)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))  # partial index above
    settled_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()

    template: Mapped[VoucherTemplate] = relationship()
    person: Mapped["Person"] = relationship()  # noqa: F821
    training_class: Mapped["TrainingClass | None"] = relationship(foreign_keys=[class_id])  # noqa: F821
    institution: Mapped["Institution | None"] = relationship()  # noqa: F821
