"""签退: a trainee leaves a lesson, by scan (the institution scans the trainee's QR, like scan
check-in), by the classroom's rotating 签退码 (the worker scans the screen, like the 签到码) or by
location (the worker's 打卡 page, inside a site's radius). It closes the check-in of
that lesson; where the region's policy counts time present, the lesson counts the part of it between
the two (presence.py). Checking out twice is not an error: the first check-out stands. The worker's
own 签退 within minutes of the 签到 (SOON) needs their explicit confirmation."""
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from ..models import CheckIn, ClassSession, Person
from ..models.classes import CLASS_CANCELLED
from ..timeutil import to_local, utcnow
from . import audit, presence, qrtoken
from .checkin import _enrolment, classroom_lesson, distance_to_site, person_from_qr, refuse_checked_out
from .errors import (
    CheckOutTooSoon, ClassCancelled, ClassNotOpen, NotCheckedIn, OutOfScope, OutsideSessionTime, ValidationFailed,
)
from .transactions import service

LATE = timedelta(hours=1)  # a trainee may check out until an hour after the lesson ends
# Less time present than this and the worker's own 签退 is most likely a slip (a second tap just after
# 签到): it closes the lesson for good, so the worker confirms it knowingly. The desk is not asked: it
# sees the trainee leave.
SOON = timedelta(minutes=10)
CHECKED_OUT, ALREADY_CHECKED_OUT = "checked_out", "already_checked_out"
CHECKOUT_UNDONE = "checkout_undone"
# How long the desk may take back its own 签退 scan: long enough to notice a slip (the gun left in
# 签退 mode, the wrong trainee's phone), too short to turn an early leaver's lesson into a full one.
UNDO_WITHIN = SOON


@dataclass
class CheckOut:
    result: str  # checked_out | already_checked_out
    check_in: CheckIn
    person: Person
    lesson: ClassSession

    @property
    def minutes_present(self) -> int:
        span = presence.present_span(self.check_in.created_at, self.check_in.checked_out_at,
                                     self.lesson.starts_at, self.lesson.ends_at)
        return int(span.total_seconds() // 60) if span is not None else 0


def _check_lesson(lesson: ClassSession, now) -> None:
    training_class = lesson.training_class
    if training_class.status == CLASS_CANCELLED:
        raise ClassCancelled(f"班期“{training_class.course_name}”已取消，不能签退")
    if not training_class.is_running:
        raise ClassNotOpen(f"班期“{training_class.course_name}”{training_class.status_label}，不能签退")


def _open_check_in(session, lesson: ClassSession, person: Person, now) -> CheckIn:
    """The person's in-person check-in of the lesson, closed or not, or why there is none to close."""
    _enrolment(session, lesson, person.id, "签退")
    _check_lesson(lesson, now)
    check_in = session.scalar(select(CheckIn).where(CheckIn.session_id == lesson.id, CheckIn.person_id == person.id)
                              .execution_options(populate_existing=True))
    if check_in is None:
        raise NotCheckedIn(f"{lesson.title or '本次课'}还没有签到，请先签到；签到后离开时再签退")
    if check_in.method not in presence.IN_PERSON:
        raise NotCheckedIn("本次课的出勤为补签或线上学习记录，无需签退")
    return check_in


def _check_deadline(lesson: ClassSession, now, *, before_start_ok: bool = True) -> None:
    """签退 is open until LATE after the lesson's end. The desk's scan is refused before the start too:
    it would close the lesson of a trainee who is arriving (a gun left in 签退 mode as the class
    comes in). A worker who checked in early and leaves before the start may say so themselves."""
    if not before_start_ok and now < lesson.starts_at:
        raise OutsideSessionTime(f"本次课{to_local(lesson.starts_at):%m月%d日 %H:%M}才开始上课，上课后才能扫码签退")
    if now > lesson.ends_at + LATE:
        end = to_local(lesson.ends_at + LATE)
        raise OutsideSessionTime(f"本次课签退截止到{end:%m月%d日 %H:%M}（下课后1小时内），现在已过签退时间；"
                                 f"如确有出勤，请培训机构申请补签")


@dataclass
class Leaving:
    """What a 签退 now would close: for the worker's confirm page, and the SOON rule."""

    check_in: CheckIn
    lesson: ClassSession
    so_far: timedelta  # the time present a 签退 now would record

    @classmethod
    def at(cls, check_in: CheckIn, lesson: ClassSession, now) -> "Leaving":
        return cls(check_in, lesson, presence.present_span(check_in.created_at, now, lesson.starts_at, lesson.ends_at))

    @property
    def too_soon(self) -> bool:
        return self.so_far < SOON

    @property
    def so_far_words(self) -> str:
        return presence.duration_words(self.so_far)

    @property
    def since_words(self) -> str:
        """When the time present counts from, as the worker reads it: the check-in, or the lesson's
        start for one who came early ("03:29签到，到现在在场0分钟" read as a fault)."""
        checked_in = f"您{to_local(self.check_in.created_at):%H:%M}签到"
        if self.check_in.created_at < self.lesson.starts_at:
            return f"{checked_in}，在场时间从{to_local(self.lesson.starts_at):%H:%M}开课算起"
        return checked_in


def _check_not_too_soon(leaving: Leaving) -> None:
    if leaving.too_soon:
        raise CheckOutTooSoon(
            f"{leaving.since_words}，到现在只在场{leaving.so_far_words}，"
            f"签退后本次课不能再签到。确实要提前离开，请在签退页勾选“我确认提前签退”后再签退")


def check_out_outlook(session, lesson: ClassSession, person: Person, *, now=None) -> Leaving:
    """For the confirm page, nothing written: the check-in a 签退 now would close, or the refusal it
    would meet (AlreadyCheckedOut once it is closed)."""
    now = now or utcnow()
    check_in = _open_check_in(session, lesson, person, now)
    refuse_checked_out(check_in, lesson, "无需再签退")
    _check_deadline(lesson, now)
    return Leaving.at(check_in, lesson, now)


def _close(session, lesson: ClassSession, person: Person, actor: audit.Actor, now, method: str,
           where=None, *, early_ok: bool, before_start_ok: bool = True) -> CheckOut:
    """`where()`: the distance from the site, or OutsideSite (a check-out by location). `early_ok`:
    the 签退 may come less than SOON after the lesson's presence began (else CheckOutTooSoon).
    `before_start_ok`: it may come before the lesson starts (_check_deadline)."""
    check_in = _open_check_in(session, lesson, person, now)
    if check_in.checked_out_at is not None:
        session.rollback()
        return CheckOut(ALREADY_CHECKED_OUT, check_in, person, lesson)
    _check_deadline(lesson, now, before_start_ok=before_start_ok)
    if not early_ok:
        _check_not_too_soon(Leaving.at(check_in, lesson, now))
    distance = round(where(), 1) if where is not None else None
    # Guarded: of two check-outs at the same moment (a scan and the worker's own), the first stands.
    written = session.execute(
        update(CheckIn).where(CheckIn.id == check_in.id, CheckIn.checked_out_at.is_(None))
        .values(checked_out_at=now, checkout_method=method, checkout_distance_m=distance)
        .execution_options(synchronize_session=False)).rowcount
    if written != 1:
        session.rollback()
        return CheckOut(ALREADY_CHECKED_OUT, session.get(CheckIn, check_in.id, populate_existing=True), person, lesson)
    session.refresh(check_in)
    done = CheckOut(CHECKED_OUT, check_in, person, lesson)
    training_class = lesson.training_class
    audit.record(session, actor, f"checkout.{method}", person_id=person.id,
                 institution_id=training_class.institution_id, at=now,
                 details={"class_id": training_class.id, "session_id": lesson.id,
                          "minutes_present": done.minutes_present})
    session.commit()
    return done


@service
def scan_check_out(session, lesson: ClassSession, qr: str, actor: audit.Actor, secret: bytes, *, now=None,
                   now_ts: float | None = None) -> CheckOut:
    """The institution scans the trainee's voucher or person QR as they leave."""
    now = now or utcnow()
    if not actor.for_institution(lesson.training_class.institution_id):
        raise OutOfScope("只能为本机构的班期签退")
    person = person_from_qr(session, qr, secret, now_ts)
    return _close(session, lesson, person, actor, now, "scan", early_ok=True, before_start_ok=False)


def session_qr_lesson(session, token: str, secret: bytes, now_ts: float | None = None) -> ClassSession:
    """The lesson of a scanned 签退码, or the refusal in the worker's words."""
    return classroom_lesson(session, token, secret, qrtoken.KIND_SESSION_OUT, now_ts)


@service
def session_qr_check_out(session, person: Person, token: str, secret: bytes, *, now=None,
                         now_ts: float | None = None, early_ok: bool = False) -> CheckOut:
    """The trainee scanned the rotating 签退码 shown in the classroom as the lesson ends."""
    now = now or utcnow()
    lesson = session_qr_lesson(session, token, secret, now_ts)
    return _close(session, lesson, person, audit.Actor.for_person(person), now, "session_qr", early_ok=early_ok)


@service
def location_check_out(session, person: Person, lesson: ClassSession, lat: float, lng: float, *, now=None,
                       early_ok: bool = False) -> CheckOut:
    """The worker checks out on their phone, inside the site's radius."""
    now = now or utcnow()
    return _close(session, lesson, person, audit.Actor.for_person(person), now, "location",
                  lambda: distance_to_site(lesson, lat, lng, "签退"), early_ok=early_ok)


@service
def undo_scan_check_out(session, lesson: ClassSession, check_in_id: int, actor: audit.Actor, *, now=None) -> CheckOut:
    """撤销签退: the desk takes back a 签退 it scanned by mistake, within UNDO_WITHIN of it; the trainee
    may then check out again. Only the desk's own scan: a worker's 签退 is theirs. Audited."""
    now = now or utcnow()
    training_class = lesson.training_class
    if not actor.for_institution(training_class.institution_id):
        raise OutOfScope("只能为本机构的班期撤销签退")
    check_in = session.scalar(select(CheckIn).where(CheckIn.id == check_in_id, CheckIn.session_id == lesson.id)
                              .execution_options(populate_existing=True))
    if check_in is None or check_in.checked_out_at is None:
        raise NotCheckedIn("该学员本次课没有签退记录，无需撤销")
    if check_in.checkout_method != "scan":
        raise ValidationFailed("学员本人的签退不能由机构撤销")
    _check_lesson(lesson, now)  # a class completed or cancelled keeps its record as it is
    if now > lesson.ends_at + LATE:  # the trainee could not check out again
        raise OutsideSessionTime("本次课的签退时间已过，不能撤销签退")
    if now - check_in.checked_out_at > UNDO_WITHIN:
        raise ValidationFailed(f"签退已超过{int(UNDO_WITHIN.total_seconds() // 60)}分钟，不能撤销；"
                               "如学员确实仍在上课，请在签到表备注并向人社部门说明")
    checked_out_at = check_in.checked_out_at
    written = session.execute(
        update(CheckIn).where(CheckIn.id == check_in.id, CheckIn.checked_out_at == checked_out_at)
        .values(checked_out_at=None, checkout_method=None, checkout_distance_m=None)
        .execution_options(synchronize_session=False)).rowcount
    if written != 1:
        session.rollback()
        raise NotCheckedIn("该签退刚刚已被撤销，请刷新签到表")
    session.refresh(check_in)
    person = session.get(Person, check_in.person_id)
    audit.record(session, actor, "checkout.undo", person_id=person.id, institution_id=training_class.institution_id,
                 at=now, details={"class_id": training_class.id, "session_id": lesson.id,
                                  "checked_out_at": checked_out_at.isoformat()})
    session.commit()
    return CheckOut(CHECKOUT_UNDONE, check_in, person, lesson)
