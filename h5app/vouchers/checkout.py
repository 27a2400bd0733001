"""签退: a trainee leaves a lesson, by scan (the institution scans the trainee's QR, like scan
check-in), by the classroom's rotating 签退码 (the worker scans the screen, like the 签到码) or by
location (the worker's 打卡 page, inside a site's radius). It closes the check-in of
that lesson; where the region's policy counts time present, the lesson counts the part of it between
the two (presence.py). Checking out twice is not an error: the first check-out stands."""
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from ..models import CheckIn, ClassSession, Person
from ..models.classes import CLASS_CANCELLED
from ..timeutil import to_local, utcnow
from . import audit, presence, qrtoken
from .checkin import _enrolment, distance_to_site, person_from_qr
from .errors import ClassCancelled, ClassNotOpen, NotCheckedIn, OutOfScope, OutsideSessionTime, QrInvalid
from .transactions import service
from .verify import read_qr

LATE = timedelta(hours=1)  # a trainee may check out until an hour after the lesson ends
CHECKED_OUT, ALREADY_CHECKED_OUT = "checked_out", "already_checked_out"


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


def _close(session, lesson: ClassSession, person: Person, actor: audit.Actor, now, method: str,
           where=None) -> CheckOut:
    """`where()`: the distance from the site, or OutsideSite (a check-out by location)."""
    _enrolment(session, lesson, person.id, "签退")
    _check_lesson(lesson, now)
    check_in = session.scalar(select(CheckIn).where(CheckIn.session_id == lesson.id, CheckIn.person_id == person.id)
                              .execution_options(populate_existing=True))
    if check_in is None:
        raise NotCheckedIn(f"{lesson.title or '本次课'}还没有签到，请先签到；签到后离开时再签退")
    if check_in.method not in presence.IN_PERSON:
        raise NotCheckedIn("本次课的出勤为补签或线上学习记录，无需签退")
    if check_in.checked_out_at is not None:
        session.rollback()
        return CheckOut(ALREADY_CHECKED_OUT, check_in, person, lesson)
    if now > lesson.ends_at + LATE:
        end = to_local(lesson.ends_at + LATE)
        raise OutsideSessionTime(f"本次课签退截止到{end:%m月%d日 %H:%M}（下课后1小时内），现在已过签退时间；"
                                 f"如确有出勤，请培训机构申请补签")
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
    return _close(session, lesson, person, actor, now, "scan")


@service
def session_qr_check_out(session, person: Person, token: str, secret: bytes, *, now=None,
                         now_ts: float | None = None) -> CheckOut:
    """The trainee scanned the rotating 签退码 shown in the classroom as the lesson ends."""
    now = now or utcnow()
    kind, code = read_qr(token, secret, now_ts)
    lesson = session.scalar(select(ClassSession).where(ClassSession.qr_code == code)) \
        if kind == qrtoken.KIND_SESSION_OUT else None
    if lesson is None:
        raise QrInvalid("这不是签退二维码，请扫描教室里屏幕上的签退码")
    return _close(session, lesson, person, audit.Actor.for_person(person), now, "session_qr")


@service
def location_check_out(session, person: Person, lesson: ClassSession, lat: float, lng: float, *, now=None) -> CheckOut:
    """The worker checks out on their phone, inside the site's radius."""
    now = now or utcnow()
    return _close(session, lesson, person, audit.Actor.for_person(person), now, "location",
                  lambda: distance_to_site(lesson, lat, lng, "签退"))
