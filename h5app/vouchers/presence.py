"""Time present at a lesson, 签到 to 签退, and the hours it counts for the attendance rate (打卡率).

Where the policy of the class's region says so (Policy.attendance_by_time_present; Shaoxing 003
§三(六) counts 课时 attended), a lesson attended in person counts its hours in the proportion of the
lesson's length the trainee was there: from check-in (not before the lesson starts) to check-out
(not after it ends). Without a check-out that time is unknown and the lesson counts nothing yet.
Elsewhere a check-in counts the whole lesson. Attendance not recorded in person (an approved 补签,
an online platform's study minutes) counts as it does everywhere: the lesson, or the minutes."""
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from ..models import CheckIn, ClassSession, TrainingClass
from .class_review import governing_policy
from .transactions import in_chunks

IN_PERSON = ("location", "scan", "session_qr")  # check-in methods that a check-out closes


def counts_time_present(session, training_class: TrainingClass) -> bool:
    """Whether the policy of the class's region counts the time present (the institution's district,
    else its city, else its province)."""
    policy = governing_policy(session, training_class.institution.region_code)
    return bool(policy is not None and policy.attendance_by_time_present)


def present_span(checked_in_at: datetime, checked_out_at: datetime | None, starts_at: datetime,
                 ends_at: datetime) -> timedelta | None:
    """The part of the lesson between check-in and check-out; None without a check-out."""
    if checked_out_at is None:
        return None
    return max(min(checked_out_at, ends_at) - max(checked_in_at, starts_at), timedelta(0))


def _hours(value) -> Decimal:
    return Decimal(str(value or 0))


def credited(check_in: CheckIn, lesson: ClassSession, by_time: bool) -> Decimal:
    """The hours one attendance record counts toward the class's total."""
    hours = _hours(lesson.hours)
    if check_in.study_minutes is not None:  # an online platform's report: its minutes, up to the lesson
        return min(Decimal(check_in.study_minutes) / 60, hours)
    if not by_time or check_in.method not in IN_PERSON:
        return hours
    span = present_span(check_in.created_at, check_in.checked_out_at, lesson.starts_at, lesson.ends_at)
    length = (lesson.ends_at - lesson.starts_at).total_seconds()
    if span is None or length <= 0:
        return Decimal(0)
    return hours * min(Decimal(span.total_seconds()) / Decimal(length), Decimal(1))


def hours_credited(session, class_id: int, person_ids: list[int], by_time: bool = True) -> dict[int, Decimal]:
    """Hours each person's attendance records of the class count: one query per thousand people."""
    totals: dict[int, Decimal] = {}
    for chunk in in_chunks(list(person_ids)):
        rows = session.execute(
            select(CheckIn, ClassSession).join(ClassSession, CheckIn.session_id == ClassSession.id)
            .where(ClassSession.class_id == class_id, CheckIn.person_id.in_(chunk))).all()
        for check_in, lesson in rows:
            hours = credited(check_in, lesson, by_time)
            totals[check_in.person_id] = totals.get(check_in.person_id, Decimal(0)) + hours
    return totals


@dataclass(frozen=True)
class Presence:
    """One trainee at one lesson, in words for the 签到表."""

    check_in: CheckIn | None
    lesson: ClassSession
    by_time: bool

    @property
    def span(self) -> timedelta | None:
        if self.check_in is None:
            return None
        return present_span(self.check_in.created_at, self.check_in.checked_out_at, self.lesson.starts_at,
                            self.lesson.ends_at)

    @property
    def hours(self) -> Decimal:
        return credited(self.check_in, self.lesson, self.by_time) if self.check_in is not None else Decimal(0)

    @property
    def needs_check_out(self) -> bool:
        """Checked in person, not yet out, where only the time present counts."""
        return (self.by_time and self.check_in is not None and self.check_in.method in IN_PERSON
                and self.check_in.checked_out_at is None)


def duration_words(span: timedelta | None) -> str:
    """3小时25分, 40分钟."""
    if span is None:
        return "—"
    minutes = int(span.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours}小时{minutes}分"
    return f"{hours}小时" if hours else f"{minutes}分钟"
