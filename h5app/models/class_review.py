"""开班申请 and 开班审核 (issue 19): a class's teachers, the history of its review (submitted, returned
with a reason, approved), and the changes an institution made to an approved class's lessons."""
from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import created_at_column

REVIEW_SUBMIT, REVIEW_RESUBMIT, REVIEW_APPROVE, REVIEW_RETURN = "submit", "resubmit", "approve", "return"
REVIEW_ACTIONS = {REVIEW_SUBMIT: "提交开班申请", REVIEW_RESUBMIT: "重新提交", REVIEW_APPROVE: "审核通过",
                  REVIEW_RETURN: "退回修改"}


class ClassTeacher(db.Model):
    """授课教师 of a class, with the number of the certificate that qualifies them to teach it."""

    __tablename__ = "class_teachers"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    name: Mapped[str] = mapped_column(String(30))
    certificate_number: Mapped[str] = mapped_column(String(40))


class ClassReview(db.Model):
    """One step of a class's 开班审核, oldest first: what the bureau saw and said, and when."""

    __tablename__ = "class_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # submit | resubmit | approve | return
    reason: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    actor_label: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = created_at_column()

    @property
    def action_label(self) -> str:
        return REVIEW_ACTIONS.get(self.action, self.action)


class ClassChange(db.Model):
    """A change to an approved class's lessons, sites or teachers, shown to the bureau until a clerk
    marks it read. `lines` are the change in words (第2次课 12-08 09:00–12:00 → 12-09 …)."""

    __tablename__ = "class_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    lines: Mapped[list] = mapped_column(JSON, default=list)
    actor_label: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = created_at_column()
    read_at: Mapped[datetime | None] = mapped_column(DateTime)
    read_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
