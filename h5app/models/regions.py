"""Administrative regions (GB/T 2260 six-digit codes) and the region policies that govern them."""
from sqlalchemy import JSON, Boolean, ForeignKey, Integer, Numeric, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db


def region_prefix(code: str) -> str:
    """The significant prefix of a region code: 320200 → 3202, 500000 → 50, 320281 → 320281.
    A region covers every code that starts with its prefix."""
    prefix = code
    while prefix.endswith("00") and len(prefix) > 2:
        prefix = prefix[:-2]
    return prefix


def enclosing_codes(code: str) -> list[str]:
    """The region code, then its city's and its province's, nearest first (no repeats): 330602 →
    330602, 330600, 330000."""
    return list(dict.fromkeys((code, code[:4] + "00", code[:2] + "0000")))


def under_prefix(column, prefix: str):
    """SQL: `column` holds a region code under `prefix` (6-digit codes), as a range a B-tree index
    answers — `LIKE :prefix || '%'` uses no index on SQLite or PostgreSQL."""
    pad = 6 - len(prefix)
    return column.between(prefix + "0" * pad, prefix + "9" * pad)


def in_region(column, code: str):
    """SQL: `column` holds a region code the region `code` covers (see region_covers)."""
    return under_prefix(column, region_prefix(code))


def region_covers(outer: str, inner: str | None) -> bool:
    return bool(inner) and inner.startswith(region_prefix(outer))


class Policy(db.Model):
    """A region's voucher rules, as data. Every limit is optional: NULL means no such rule."""

    __tablename__ = "policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(200))
    # Wuxi: a person may train with a voucher once per occupation per year.
    uses_per_occupation_per_year: Mapped[int | None] = mapped_column(Integer)
    # Chongqing: at most N uses per person per year. Shaoxing: one activation per year.
    uses_per_year: Mapped[int | None] = mapped_column(Integer)
    # Chongqing: one claim per voucher type per year.
    claims_per_type_per_year: Mapped[int | None] = mapped_column(Integer)
    # Shaoxing: verify within N days of claim ...
    activation_days: Mapped[int | None] = mapped_column(Integer)
    # ... then the training must be done within M days of activation.
    valid_days_after_activation: Mapped[int | None] = mapped_column(Integer)
    # Shaoxing: general vouchers need ≥ 36 months of local unemployment insurance.
    min_insurance_months_general: Mapped[int | None] = mapped_column(Integer)
    # Subsidy: attendance rate threshold (Shaoxing 60%) and whether an exam pass is needed.
    attendance_threshold: Mapped[float] = mapped_column(Numeric(4, 3), default=0.6)
    exam_required: Mapped[bool] = mapped_column(Boolean, default=True)
    # Wuxi: credential directed vouchers are settled with the class, no application per line.
    auto_settle_directed_credential: Mapped[bool] = mapped_column(Boolean, default=False)
    # Shaoxing: a general voucher used on certificate training pays the worker, found by matching.
    pays_worker_for_general_certificate: Mapped[bool] = mapped_column(Boolean, default=False)
    # Chongqing: face value is a reference; the district bureau approves the amount paid.
    face_value_is_reference: Mapped[bool] = mapped_column(Boolean, default=False)
    # Deadlines a region may set (the notices are silent): an institution applies for its subsidy
    # within N days of 结业; the bureau reviews an application within M days of its submission.
    apply_within_days: Mapped[int | None] = mapped_column(Integer)
    review_within_days: Mapped[int | None] = mapped_column(Integer)
    # Which fields of a person's record place them in a general template's region (any one of
    # them): Shaoxing reads where the unemployment insurance is paid, Wuxi and Chongqing the hukou,
    # residence or employment. NULL: any region of the record (h5app/policies.py).
    eligibility_region_fields: Mapped[list | None] = mapped_column(JSON)
    # 开班审核 (Shandong 002 §三(三), Chongqing 004 §三(二)): a new class waits for the bureau of its
    # district before it enrols, verifies or receives directed vouchers.
    class_review_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # 签退 (issue 19): attendance counts the time present, check-in to check-out, against each
    # lesson's length, not the check-in alone (Shaoxing 003 §三(六): 打卡率 is hours attended ÷ hours).
    attendance_by_time_present: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Chongqing 004 §二(四): 有效期至…，领券后未启用或未按规定完成补贴性培训的，职业培训券失效 — the
    # training must be over by the template's use deadline, so a class ending later does not take it.
    training_by_valid_until: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Region(db.Model):
    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(6), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    parent_code: Mapped[str | None] = mapped_column(String(6), index=True)
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("policies.id"))

    policy: Mapped[Policy | None] = relationship()

    def covers(self, code: str | None) -> bool:
        return region_covers(self.code, code)
