"""Vocational certificates (证书查询): issued after a class, imported, or looked up by the worker."""
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import created_at_column


class Certificate(db.Model):
    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    occupation: Mapped[str] = mapped_column(String(64))
    level: Mapped[str | None] = mapped_column(String(16))
    issued_on: Mapped[date] = mapped_column(Date)
    issuer: Mapped[str] = mapped_column(String(120))
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id"))
    created_at: Mapped[datetime] = created_at_column()
