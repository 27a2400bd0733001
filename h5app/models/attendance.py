"""补签 (attendance corrections): an institution asks, with a reason and evidence, that a trainee be
counted present at a lesson the check-in missed; the bureau of the class's region decides."""
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import created_at_column
from .classes import CheckIn, ClassSession, TrainingClass
from .people import Person

CORRECTION_PENDING, CORRECTION_APPROVED, CORRECTION_REFUSED = "pending", "approved", "refused"
CORRECTION_STATUSES = {CORRECTION_PENDING: "待审核", CORRECTION_APPROVED: "已通过", CORRECTION_REFUSED: "未通过"}


class AttendanceCorrection(db.Model):
    __tablename__ = "attendance_corrections"
    __table_args__ = (
        # One request waiting per trainee and lesson; once decided, another may be asked.
        Index("ix_attendance_corrections_pending", "session_id", "person_id", unique=True,
              sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
        Index("ix_attendance_corrections_region_status", "region_code", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("class_sessions.id"))
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    # The institution's region when asked: the bureau that covers it reviews.
    region_code: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(Text)
    # A photo uploaded on the page: a random name in the instance folder (never a name the user
    # chose), served only to the institution and the bureau. Or a link a partner platform keeps.
    evidence_file: Mapped[str | None] = mapped_column(String(64))
    evidence_url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default=CORRECTION_PENDING)
    requested_by: Mapped[str] = mapped_column(String(64))
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    review_reason: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The attendance an approval recorded (method "correction").
    check_in_id: Mapped[int | None] = mapped_column(ForeignKey("check_ins.id"))
    created_at: Mapped[datetime] = created_at_column()

    class_session: Mapped[ClassSession] = relationship()
    training_class: Mapped[TrainingClass] = relationship()
    person: Mapped[Person] = relationship()
    check_in: Mapped[CheckIn | None] = relationship()

    @property
    def status_label(self) -> str:
        return CORRECTION_STATUSES.get(self.status, self.status)

    @property
    def is_pending(self) -> bool:
        return self.status == CORRECTION_PENDING


