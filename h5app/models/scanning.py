"""What a front-desk scan gun sent through its scanner bridge, and the verdict it got.

The device itself (ScanDevice) lives with the other integration credentials; this is the
per-scan record: one row per (device, idempotency key), so a resend after a lost answer finds the
first verdict instead of judging again."""
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import created_at_column

RESULT_REFUSED = "refused"


class ScanRecord(db.Model):
    __tablename__ = "scan_records"
    __table_args__ = (UniqueConstraint("device_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("scan_devices.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    # SHA-256 of the scanned text: a resend with the same key must carry the same scan. The text
    # itself (a QR token, a credential for a minute) is not kept.
    code_hash: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(16))  # verify | checkin | checkout, as the device was set
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id"))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("class_sessions.id"))
    # verified | already_verified | checked_in | already_checked_in | refused
    result: Mapped[str] = mapped_column(String(24))
    error_code: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(String(300), default="")
    # Masked when written: the full ID number never reaches this table.
    trainee_name: Mapped[str | None] = mapped_column(String(40))
    trainee_id_number: Mapped[str | None] = mapped_column(String(24))
    read_at: Mapped[datetime] = mapped_column(DateTime)  # when the gun read it (server clock)
    created_at: Mapped[datetime] = created_at_column()
    judged_at: Mapped[datetime | None] = mapped_column(DateTime)  # when the verdict was stored
    attempts: Mapped[int] = mapped_column(Integer, default=1)  # deliveries of this key seen

    device = relationship("ScanDevice")
