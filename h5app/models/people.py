"""Workers (劳动者): the people who claim and use vouchers."""
from datetime import date, datetime

from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..codes import random_code
from ..extensions import db
from .base import created_at_column
from .staff import WORKER

# 重点群体 — stored as codes, shown with these labels.
PRIORITY_GROUPS = {
    "unemployed": "失业人员",
    "graduate": "高校毕业生",
    "rural_migrant": "农村转移就业劳动者",
    "enterprise_employee": "企业职工",
    "poverty_alleviated": "脱贫人口",
    "retired_fisher": "退捕渔民",
    "veteran": "退役军人",
    "disabled": "残疾人",
    "school_leaver": "未继续升学初高中毕业生",
    "low_income": "低收入农户家庭劳动力",
}


# What a person's record (人员信息, 大数据比对) holds besides name and phone, in the order pages show it.
# Each is read by the policies; the record's `as_of` and source say how fresh it is.
RECORD_REGION_FIELDS = {
    "hukou_region_code": "户籍地",
    "residence_region_code": "常住地",
    "employment_region_code": "就业地",
    "insurance_region_code": "参保地",
    "unemployment_registered_region_code": "失业登记地",
}
RECORD_FIELDS = (*RECORD_REGION_FIELDS, "insurance_months", "groups")

# Where a record came from (PersonRecordChange.source, Person.record_source).
RECORD_SOURCES = {"import": "人员信息导入", "api": "接口同步", "sso": "渠道实名信息", "demo": "演示数据"}

# 所在地区 (Person.region_code, what pages show and the bureau's scope reads) is the first region the
# record has, in this order: where the person lives, else where insured, employed, of hukou, registered
# unemployed.
REGION_CODE_ORDER = ("residence_region_code", "insurance_region_code", "employment_region_code",
                     "hukou_region_code", "unemployment_registered_region_code")

# How an identity was established (Person.verified_via). Without its owner proving it: listed by an
# institution's roster, a bureau's import or a partner's API. Whoever proves the phone by SMS still
# binds name + ID once ("sms"); a channel's SSO ("sso:<channel>") or that binding replaces these.
VIA_ROSTER, VIA_IMPORT, VIA_API, VIA_SMS = "roster", "import", "api", "sms"
VIA_SSO_PREFIX = "sso:"
UNPROVEN_IDENTITY = frozenset({VIA_ROSTER, VIA_IMPORT, VIA_API})


def via_sso(channel_code: str) -> str:
    """verified_via of an identity a channel's SSO established."""
    return VIA_SSO_PREFIX + channel_code


def new_qr_code() -> str:
    """A person's own code, signed into a QR for scan check-in when no voucher is involved."""
    return random_code("P")


class PersonFacts:
    """What is known of a person from their row alone: shared by the Person model and by the
    signed-in worker that pages read (h5app/auth/users.py), so each rule is written once."""

    role = WORKER

    def get_id(self) -> str:
        return f"p:{self.id}"

    @property
    def is_real_name(self) -> bool:
        return bool(self.name and self.id_number and self.verified_via)

    @property
    def identity_proven(self) -> bool:
        """Signed in by its owner (a channel's SSO, or SMS with the real-name binding)."""
        return bool(self.verified_via) and self.verified_via not in UNPROVEN_IDENTITY

    @property
    def verified_by_channel(self) -> bool:
        """Established by a channel's SSO: reached through the channel, not by knowing a name and an
        ID number."""
        return (self.verified_via or "").startswith(VIA_SSO_PREFIX)

    @property
    def has_record(self) -> bool:
        """Whether a dated record (import, API, channel ticket) is on file."""
        return self.record_as_of is not None

    @property
    def group_labels(self) -> list[str]:
        return [PRIORITY_GROUPS.get(g, g) for g in (self.groups or [])]


class Person(PersonFacts, UserMixin, db.Model):
    __tablename__ = "people"
    # 查询统计 counts today's events by the holder's region: one look-up per event, read from the
    # index alone (bench/national.py: a city's page 109 → 66 ms at 20M vouchers).
    __table_args__ = (Index("ix_people_id_region_code", "id", "region_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    groups: Mapped[list] = mapped_column(JSON, default=list)
    region_code: Mapped[str | None] = mapped_column(String(6), index=True)
    insurance_months: Mapped[int] = mapped_column(Integer, default=0)
    # The record (issue 18): regions each policy may read, and how fresh the record is.
    hukou_region_code: Mapped[str | None] = mapped_column(String(6))
    residence_region_code: Mapped[str | None] = mapped_column(String(6))
    employment_region_code: Mapped[str | None] = mapped_column(String(6))
    insurance_region_code: Mapped[str | None] = mapped_column(String(6), index=True)
    unemployment_registered_region_code: Mapped[str | None] = mapped_column(String(6))
    record_as_of: Mapped[date | None] = mapped_column(Date)
    record_source: Mapped[str | None] = mapped_column(String(40))
    # The as_of of each record field's current value ({"insurance_months": "2026-12-01", …}): a
    # field is never overwritten by an older record (h5app/people/records.py states the rule).
    record_dates: Mapped[dict | None] = mapped_column(JSON)
    job_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    job_consent_at: Mapped[datetime | None] = mapped_column(DateTime)
    qr_code: Mapped[str] = mapped_column(String(16), unique=True, default=new_qr_code)
    # How the identity was established: via_sso(channel), VIA_SMS, or one of UNPROVEN_IDENTITY.
    verified_via: Mapped[str | None] = mapped_column(String(40))
    channel_code: Mapped[str | None] = mapped_column(String(32), index=True)
    # Bumped at sign-out: every session cookie issued before then stops working.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at_column()

    def prove_identity(self, via: str) -> None:
        """Its owner has just proven who they are (`via`: VIA_SMS or via_sso(channel)). An unproven
        identity (a roster's, an import's, the API's) takes `via`; a proven one keeps how it was
        first proven."""
        if not self.identity_proven:
            self.verified_via = via


class PersonRecordChange(db.Model):
    """One accepted update of a person's record: what changed (field → [old, new]), from which source
    and as of which day. Never edited; the history shown on the bureau's person page."""
    __tablename__ = "person_record_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    source: Mapped[str] = mapped_column(String(40))
    as_of: Mapped[date] = mapped_column(Date)
    changes: Mapped[dict] = mapped_column(JSON, default=dict)
    # Who sent it: an import file's task id, an API key's name, a channel code.
    origin: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = created_at_column()
