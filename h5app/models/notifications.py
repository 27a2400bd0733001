"""A worker's messages (消息): vouchers issued, expiring, settled, revoked; job recommendations."""
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import created_at_column


class Notification(db.Model):
    __tablename__ = "notifications"
    # One notice of a kind per voucher: the expiring-soon sweep can run any number of times.
    __table_args__ = (UniqueConstraint("kind", "voucher_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    # directed_issued | expiring | settled | recommendation | revoked
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(200))
    voucher_id: Mapped[int | None] = mapped_column(ForeignKey("vouchers.id"))
    read_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = created_at_column()
