"""Classes (班期) with their sessions (课次), enrolments, check-ins, exam results and ratings."""
from datetime import date, datetime

from sqlalchemy import (
    Boolean, Column, Date, DateTime, Float, ForeignKey, Integer, Numeric, SmallInteger, String, Table, Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from ..codes import random_code
from ..extensions import db
from .base import created_at_column
from .institutions import Institution, Site
from .people import Person

CLASS_DRAFT, CLASS_OPEN, CLASS_CLOSED, CLASS_COMPLETED = "draft", "open", "closed", "completed"
CLASS_STATUSES = {CLASS_DRAFT: "未开放", CLASS_OPEN: "报名中", CLASS_CLOSED: "已截止报名", CLASS_COMPLETED: "已结业"}

class_sites = Table(
    "class_sites",
    db.metadata,
    Column("class_id", ForeignKey("classes.id"), primary_key=True),
    Column("site_id", ForeignKey("sites.id"), primary_key=True),
)


class ClassStatus:
    """A class's status in words."""

    @property
    def status_label(self) -> str:
        return CLASS_STATUSES.get(self.status, self.status)


class TrainingClass(ClassStatus, db.Model):
    __tablename__ = "classes"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    course_name: Mapped[str] = mapped_column(String(120))
    occupation: Mapped[str] = mapped_column(String(64), index=True)
    level: Mapped[str | None] = mapped_column(String(16))
    project_type: Mapped[str] = mapped_column(String(32))
    price_fen: Mapped[int] = mapped_column(Integer, default=0)
    hours: Mapped[float] = mapped_column(Numeric(6, 1))
    capacity: Mapped[int | None] = mapped_column(Integer)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=CLASS_DRAFT)
    description: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # For 培训评价完成率 without counting enrolments and ratings on every dashboard view: the
    # trainees enrolled when the class completed, and the ratings given since.
    trainees_completed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ratings_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = created_at_column()

    institution: Mapped[Institution] = relationship()
    sites: Mapped[list[Site]] = relationship(secondary=class_sites)
    sessions: Mapped[list["ClassSession"]] = relationship(
        back_populates="training_class", order_by="ClassSession.starts_at"
    )


class ClassSession(db.Model):
    __tablename__ = "class_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    title: Mapped[str | None] = mapped_column(String(120))
    starts_at: Mapped[datetime] = mapped_column(DateTime)
    ends_at: Mapped[datetime] = mapped_column(DateTime)
    hours: Mapped[float] = mapped_column(Numeric(5, 1))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    # Signed into the rotating QR shown in the classroom for trainees to scan.
    qr_code: Mapped[str] = mapped_column(String(16), unique=True, default=lambda: random_code("S"))

    training_class: Mapped[TrainingClass] = relationship(back_populates="sessions")
    site: Mapped[Site | None] = relationship()


class Enrolment(db.Model):
    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("class_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    voucher_id: Mapped[int | None] = mapped_column(ForeignKey("vouchers.id"))
    source: Mapped[str] = mapped_column(String(16), default="self")  # self | roster | api
    status: Mapped[str] = mapped_column(String(16), default="enrolled")  # enrolled | cancelled
    created_at: Mapped[datetime] = created_at_column()

    training_class: Mapped[TrainingClass] = relationship()
    person: Mapped[Person] = relationship()


class CheckIn(db.Model):
    __tablename__ = "check_ins"
    __table_args__ = (UniqueConstraint("session_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("class_sessions.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    method: Mapped[str] = mapped_column(String(16))  # location | scan
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    distance_m: Mapped[float | None] = mapped_column(Float)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = created_at_column()

    session: Mapped[ClassSession] = relationship()


class ExamResult(db.Model):
    __tablename__ = "exam_results"
    __table_args__ = (UniqueConstraint("class_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    passed: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[float | None] = mapped_column(Numeric(5, 1))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = created_at_column()


class RatingColumns:
    """What a rating is, in either direction: one per person and class, 1–5 stars and a comment."""

    @declared_attr.directive
    def __table_args__(cls):
        return (UniqueConstraint("class_id", "person_id"),)  # a fresh constraint for each table

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    stars: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()


class ClassRating(RatingColumns, db.Model):
    """培训评价: a worker rates a class once, after it completes."""

    __tablename__ = "class_ratings"


class TraineeRating(RatingColumns, db.Model):
    """The other direction: the institution rates a trainee of a class."""

    __tablename__ = "trainee_ratings"

    rated_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
