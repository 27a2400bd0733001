"""Workers (劳动者): the people who claim and use vouchers."""
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..codes import random_code
from ..extensions import db
from .base import created_at_column

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


def new_qr_code() -> str:
    """A person's own code, signed into a QR for scan check-in when no voucher is involved."""
    return random_code("P")


class Person(UserMixin, db.Model):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    groups: Mapped[list] = mapped_column(JSON, default=list)
    region_code: Mapped[str | None] = mapped_column(String(6), index=True)
    insurance_months: Mapped[int] = mapped_column(Integer, default=0)
    job_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    job_consent_at: Mapped[datetime | None] = mapped_column(DateTime)
    qr_code: Mapped[str] = mapped_column(String(16), unique=True, default=new_qr_code)
    # How the identity was established: 'sso:<channel>', 'sms', 'roster', 'import', 'api'.
    verified_via: Mapped[str | None] = mapped_column(String(40))
    channel_code: Mapped[str | None] = mapped_column(String(32), index=True)
    # Bumped at sign-out: every session cookie issued before then stops working.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at_column()

    role = "worker"

    def get_id(self) -> str:
        return f"p:{self.id}"

    @property
    def is_real_name(self) -> bool:
        return bool(self.name and self.id_number and self.verified_via)

    @property
    def group_labels(self) -> list[str]:
        return [PRIORITY_GROUPS.get(g, g) for g in (self.groups or [])]
