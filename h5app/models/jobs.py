"""Jobs on offer (就业岗位), recommended to workers who consented."""
from datetime import date

from sqlalchemy import Boolean, Date, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db


class Job(db.Model):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    employer: Mapped[str] = mapped_column(String(120))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    occupation: Mapped[str | None] = mapped_column(String(64), index=True)
    level: Mapped[str | None] = mapped_column(String(16))
    salary_min_fen: Mapped[int | None] = mapped_column(Integer)
    salary_max_fen: Mapped[int | None] = mapped_column(Integer)
    address: Mapped[str | None] = mapped_column(String(200))
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text)
    posted_on: Mapped[date] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
