"""查询统计: the roll-up of voucher events that keeps the dashboard fast at a million vouchers,
and the yearly targets (the seeds' annex tables) the indicators are measured against."""
from datetime import date, datetime

from sqlalchemy import Date, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import created_at_column


class VoucherMonthlyStat(db.Model):
    """How many vouchers of one template were issued, claimed, used and settled in one local month,
    by the person's region, over the days rolled up so far. A finished day never changes again, so
    each day is added once; a year of a city is then a few thousand rows at most."""

    __tablename__ = "voucher_monthly_stats"
    __table_args__ = (
        UniqueConstraint("month", "template_id", "region_code"),
        # A region's dashboard reads its own templates' months of a year, not the whole country's year.
        Index("ix_voucher_monthly_stats_template_month", "template_id", "month"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date)  # the first day of the month
    template_id: Mapped[int] = mapped_column(Integer)  # no FK: statistics block no deletion
    region_code: Mapped[str] = mapped_column(String(6))  # the person's region; '' when unknown
    issued: Mapped[int] = mapped_column(Integer, default=0)
    claimed: Mapped[int] = mapped_column(Integer, default=0)
    used: Mapped[int] = mapped_column(Integer, default=0)
    settled: Mapped[int] = mapped_column(Integer, default=0)


class StatsRollup(db.Model):
    """One row: the roll-up covers every local day before `through_day`."""

    __tablename__ = "stats_rollups"

    id: Mapped[int] = mapped_column(primary_key=True)
    through_day: Mapped[date] = mapped_column(Date)
    rolled_at: Mapped[datetime] = created_at_column()


class RegionTarget(db.Model):
    """A region's yearly task (任务分解表): people to train, vouchers to issue, vouchers to use."""

    __tablename__ = "region_targets"
    __table_args__ = (UniqueConstraint("year", "scope_code", "province", "region_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    province: Mapped[str] = mapped_column(String(32))
    region_name: Mapped[str] = mapped_column(String(64))
    # Matched to a region of ours by code or name at import; NULL while no region matches.
    region_code: Mapped[str | None] = mapped_column(String(6), index=True)
    training_people: Mapped[int | None] = mapped_column(Integer)
    issue_target: Mapped[int | None] = mapped_column(Integer)
    use_target: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(120))
    scope_code: Mapped[str] = mapped_column(String(6))  # the importing bureau's region
    imported_at: Mapped[datetime] = created_at_column()


class KpiTarget(db.Model):
    """A supervision indicator's threshold for the third and fourth quarter (seed 001 annex 3)."""

    __tablename__ = "kpi_targets"
    __table_args__ = (UniqueConstraint("year", "scope_code", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    definition: Mapped[str | None] = mapped_column(String(200))
    q3_target: Mapped[float | None] = mapped_column(Numeric(5, 4))
    q4_target: Mapped[float | None] = mapped_column(Numeric(5, 4))
    source: Mapped[str | None] = mapped_column(String(120))
    # The importing bureau's region: its thresholds apply to every region it covers.
    scope_code: Mapped[str] = mapped_column(String(6))
    imported_at: Mapped[datetime] = created_at_column()
