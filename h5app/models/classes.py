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
# 开班申请 → 开班审核 (issue 19), where the region's policy requires it: a class waits for the bureau,
# and one it returned waits for the institution to mend and resubmit it. Neither enrols nor verifies.
CLASS_PENDING_REVIEW, CLASS_RETURNED = "pending_review", "returned"
CLASS_STATUSES.update({CLASS_PENDING_REVIEW: "待开班审核", CLASS_RETURNED: "开班审核退回"})
CLASS_UNAPPROVED = (CLASS_PENDING_REVIEW, CLASS_RETURNED)
# 取消班期 (issue 19): the vouchers used for it went back to their holders; nothing more happens in it.
CLASS_CANCELLED = "cancelled"
CLASS_STATUSES[CLASS_CANCELLED] = "已取消"
# Approved and not ended, enrolment open or closed: lessons are held, the enrolled check in and out
# and have their vouchers verified.
CLASS_RUNNING = (CLASS_OPEN, CLASS_CLOSED)
# Nothing more happens in a completed or cancelled class: it is neither edited nor cancelled.
CLASS_ENDED = (CLASS_COMPLETED, CLASS_CANCELLED)
# An enrolment ends when its class is cancelled or the trainee withdraws (退班) before attending.
ENROLLED, ENROLMENT_CANCELLED, WITHDRAWN = "enrolled", "cancelled", "withdrawn"
ENROLMENT_STATUSES = (ENROLLED, ENROLMENT_CANCELLED, WITHDRAWN)

DELIVERY_OFFLINE, DELIVERY_ONLINE = "offline", "online"
DELIVERIES = {DELIVERY_OFFLINE: "线下培训", DELIVERY_ONLINE: "线上培训"}

class_sites = Table(
    "class_sites",
    db.metadata,
    Column("class_id", ForeignKey("classes.id"), primary_key=True),
    Column("site_id", ForeignKey("sites.id"), primary_key=True),
)


class ClassStatus:
    """A class's status in words, and what it allows: the one place pages, templates and services
    ask it."""

    @property
    def status_label(self) -> str:
        return CLASS_STATUSES.get(self.status, self.status)

    @property
    def is_open(self) -> bool:
        """报名中: workers may enrol, and the institution verifies vouchers for it."""
        return self.status == CLASS_OPEN

    @property
    def not_ended(self) -> bool:
        """Its end date is today or still to come (or it has none)."""
        from ..timeutil import local_today

        return self.ends_on is None or self.ends_on >= local_today()

    @property
    def takes_verification(self) -> bool:
        """The front desk verifies for it today: 报名中 or 已截止报名 (those enrolled are still
        verified at their first lesson), and not past its end date. verify.judge has the whole rule;
        this decides whether the class page offers 扫码验券 (vouchers.classes.desk_classes is its query)."""
        return self.status in CLASS_RUNNING and self.not_ended

    @property
    def is_pending_review(self) -> bool:
        return self.status == CLASS_PENDING_REVIEW

    @property
    def is_returned(self) -> bool:
        """开班审核退回: the institution mends it and resubmits."""
        return self.status == CLASS_RETURNED

    @property
    def is_unapproved(self) -> bool:
        """Waiting for 开班审核, or returned by it: no enrolment, verification or directed voucher."""
        return self.status in CLASS_UNAPPROVED

    @property
    def is_running(self) -> bool:
        """Enrolment open or closed: lessons are held, check-in and verification of the enrolled go on."""
        return self.status in CLASS_RUNNING

    @property
    def is_completed(self) -> bool:
        return self.status == CLASS_COMPLETED

    @property
    def is_cancelled(self) -> bool:
        return self.status == CLASS_CANCELLED

    @property
    def is_ended(self) -> bool:
        """Completed or cancelled: nothing more happens in it."""
        return self.status in CLASS_ENDED

    @property
    def is_editable(self) -> bool:
        """A completed or cancelled class is not edited (a returned one is, to be resubmitted)."""
        return not self.is_ended

    @property
    def can_open_enrolment(self) -> bool:
        """开放报名: from a draft, or after enrolment was closed; not once the class has ended."""
        return self.status in (CLASS_DRAFT, CLASS_CLOSED) and self.not_ended

    @property
    def can_close_enrolment(self) -> bool:
        return self.status == CLASS_OPEN

    @property
    def can_complete(self) -> bool:
        """班期结业 is offered for an approved class that has not ended."""
        return not (self.is_ended or self.is_unapproved)


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
    # 取消班期: when and why (who is in the audit log).
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    # 线上培训 (issue 19): an online class has no site and no geofence; the worker confirms the use
    # of a voucher with their identity, and the platform reports study minutes as attendance.
    delivery: Mapped[str] = mapped_column(String(16), default=DELIVERY_OFFLINE, server_default=DELIVERY_OFFLINE)
    # 开班申请 (issue 19): the teaching plan the bureau reviews, and when it approved the class (NULL
    # where no review was required); session changes after that are shown to the bureau.
    teaching_plan: Mapped[str | None] = mapped_column(Text)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime)
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
    teachers: Mapped[list["ClassTeacher"]] = relationship(  # noqa: F821  (models/class_review.py)
        order_by="ClassTeacher.id", cascade="all, delete-orphan"
    )

    @property
    def is_online(self) -> bool:
        """线上培训: no site, no geofence; attendance is the study time the platform reports."""
        return self.delivery == DELIVERY_ONLINE

    @property
    def delivery_label(self) -> str:
        return DELIVERIES.get(self.delivery, self.delivery)


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
    status: Mapped[str] = mapped_column(String(16), default=ENROLLED)  # ENROLMENT_STATUSES
    # When and why an enrolment ended (its class cancelled, or 退班).
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    end_reason: Mapped[str | None] = mapped_column(Text)
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
    # method "online": the minutes of study the online platform reported for the lesson (they count
    # up to the lesson's hours); NULL for attendance in person, which counts the whole lesson.
    study_minutes: Mapped[int | None] = mapped_column(Integer)
    # 签退: when the trainee left, and how it was recorded (location | scan); where the region's
    # policy counts time present, the lesson counts the part of it between check-in and check-out.
    checked_out_at: Mapped[datetime | None] = mapped_column(DateTime)
    checkout_method: Mapped[str | None] = mapped_column(String(16))
    checkout_distance_m: Mapped[float | None] = mapped_column(Float)
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
