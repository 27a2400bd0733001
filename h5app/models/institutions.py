"""Training institutions (培训机构), their sites, and the strikes recorded against them."""
from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import created_at_column

INSTITUTION_TYPES = {
    "higher_vocational": "高职院校",
    "secondary_vocational": "中职院校",
    "technical_school": "技工院校",
    "industry": "行业培训机构",
    "enterprise": "企业培训中心",
    "private_school": "民办职业培训学校",
    "other": "其他类培训机构",
}

ACTIVE, SUSPENDED = "active", "suspended"
INSTITUTION_STATUSES = (ACTIVE, SUSPENDED)


class InstitutionStatus:
    """Whether the institution may verify."""

    @property
    def is_suspended(self) -> bool:
        return self.status == SUSPENDED


class Institution(InstitutionStatus, db.Model):
    __tablename__ = "institutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    type: Mapped[str] = mapped_column(String(32), default="other")
    address: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    suspended_reason: Mapped[str | None] = mapped_column(Text)
    suspended_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = created_at_column()

    sites: Mapped[list["Site"]] = relationship(back_populates="institution", order_by="Site.id")
    strikes: Mapped[list["Strike"]] = relationship(back_populates="institution", order_by="Strike.id")

    @property
    def type_label(self) -> str:
        return INSTITUTION_TYPES.get(self.type, self.type)


class Site(db.Model):
    """A training location with the radius inside which location check-in is accepted."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    address: Mapped[str | None] = mapped_column(String(200))
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    radius_m: Mapped[int] = mapped_column(Integer, default=300)

    institution: Mapped[Institution] = relationship(back_populates="sites")


class Strike(db.Model):
    """A recorded failing: lax eligibility checks or a quality problem (seed 003 §四(四))."""

    __tablename__ = "strikes"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # 'eligibility' | 'quality'
    reason: Mapped[str] = mapped_column(Text)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = created_at_column()

    institution: Mapped[Institution] = relationship(back_populates="strikes")
