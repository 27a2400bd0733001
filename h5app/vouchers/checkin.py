"""打卡签到: a trainee's attendance of one session, by location (browser geolocation inside a
site's radius) or by scan (the institution scans the trainee's QR). Attendance feeds the
subsidy (打卡率), so each refusal says exactly what was wrong."""
import math
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..models import CheckIn, ClassSession, Enrolment, Person, Voucher
from ..models.classes import CLASS_CANCELLED, ENROLLED
from ..timeutil import to_local, utcnow
from . import audit, presence, qrtoken
from .errors import (
    AlreadyCheckedOut, ClassCancelled, ClassIsOnline, ClassNotOpen, NotEnrolled, OutOfScope, OutsideSessionTime,
    OutsideSite, QrExpired, QrInvalid,
)
from .transactions import service
from .verify import read_qr

EARLY = timedelta(minutes=30)  # the door opens half an hour before the lesson
EARTH_RADIUS_M = 6_371_000


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def _check_session_open(class_session: ClassSession, now) -> None:
    training_class = class_session.training_class
    if training_class.status == CLASS_CANCELLED:
        raise ClassCancelled(f"班期“{training_class.course_name}”已取消，不能签到")
    if not training_class.is_running:
        raise ClassNotOpen(f"班期“{training_class.course_name}”{training_class.status_label}，不能签到")
    if training_class.is_online:
        raise ClassIsOnline()
    if not class_session.starts_at - EARLY <= now <= class_session.ends_at:
        start, end = to_local(class_session.starts_at), to_local(class_session.ends_at)
        raise OutsideSessionTime(
            f"本次课签到时间为{start:%m月%d日 %H:%M}（可提前30分钟）至{end:%H:%M}，现在不在签到时间内"
        )


def _enrolment(session, class_session: ClassSession, person_id: int, doing: str = "签到") -> Enrolment:
    """The person's enrolment in the lesson's class, share-locked (PostgreSQL) until the commit: a
    退班 or a cancellation ending it either waits for this record or has ended it already."""
    enrolment = session.scalar(select(Enrolment).where(
        Enrolment.class_id == class_session.class_id, Enrolment.person_id == person_id,
        Enrolment.status == ENROLLED,
    ).with_for_update(read=True).execution_options(populate_existing=True))
    if enrolment is None:
        training_class = class_session.training_class
        if training_class.status == CLASS_CANCELLED:  # its enrolments ended with it: say why
            raise ClassCancelled(f"班期“{training_class.course_name}”已取消，不能{doing}")
        raise NotEnrolled(f"未报名该班期，不能{doing}")
    return enrolment


def _record(session, lesson_id: int, person_id: int) -> CheckIn | None:
    return session.scalar(select(CheckIn).where(CheckIn.session_id == lesson_id, CheckIn.person_id == person_id))


def refuse_checked_out(check_in: CheckIn | None, lesson: ClassSession, then: str = "不能再签到") -> None:
    """AlreadyCheckedOut when the person has already checked out of the lesson: checking in again
    would change nothing, so saying 签到成功 would be untrue."""
    if check_in is None or check_in.checked_out_at is None:
        return
    span = presence.present_span(check_in.created_at, check_in.checked_out_at, lesson.starts_at, lesson.ends_at)
    raise AlreadyCheckedOut(f"本次课已于{to_local(check_in.checked_out_at):%H:%M}签退"
                            f"（在场{presence.duration_words(span)}），{then}")


def _save(session, check_in: CheckIn, actor: audit.Actor, *, refuse_closed: bool = False) -> CheckIn:
    """`refuse_closed`: the worker's own check-in, refused (AlreadyCheckedOut) after their 签退."""
    existing = _record(session, check_in.session_id, check_in.person_id)
    if existing is not None:
        if refuse_closed:
            refuse_checked_out(existing, session.get(ClassSession, existing.session_id))
        session.rollback()
        return existing  # checking in twice is not an error: the first record stands
    session.add(check_in)
    try:
        session.flush()
        training_class = session.get(ClassSession, check_in.session_id).training_class
        audit.record(session, actor, f"checkin.{check_in.method}", person_id=check_in.person_id,
                     institution_id=training_class.institution_id, at=check_in.created_at,
                     details={"class_id": training_class.id, "session_id": check_in.session_id})
        session.commit()
    except IntegrityError:  # a concurrent check-in of the same person won
        session.rollback()
        return _record(session, check_in.session_id, check_in.person_id)
    return check_in


def distance_to_site(class_session: ClassSession, lat: float, lng: float, doing: str = "签到") -> float:
    """Metres from the lesson's nearest site, or OutsideSite when that is beyond the site's radius."""
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise OutsideSite("定位数据无效，请打开手机定位后重试")
    sites = [class_session.site] if class_session.site else list(class_session.training_class.sites)
    if not sites:
        raise OutsideSite(f"本班期未设置签到地点，请让培训机构扫码{doing}")
    nearest = min(sites, key=lambda s: distance_m(lat, lng, s.lat, s.lng))
    distance = distance_m(lat, lng, nearest.lat, nearest.lng)
    if distance > nearest.radius_m:
        raise OutsideSite(
            f"您距离培训地点“{nearest.name}”约{distance:,.0f}米，需在{nearest.radius_m}米范围内{doing}；"
            f"定位失败时可请培训机构扫码{doing}"
        )
    return distance


@service
def location_check_in(session, person: Person, class_session: ClassSession, lat: float, lng: float,
                      *, now=None) -> CheckIn:
    now = now or utcnow()
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise OutsideSite("定位数据无效，请打开手机定位后重试")
    _enrolment(session, class_session, person.id)
    _check_session_open(class_session, now)
    distance = distance_to_site(class_session, lat, lng)
    record = CheckIn(session_id=class_session.id, person_id=person.id, method="location", lat=lat, lng=lng,
                     distance_m=round(distance, 1), created_at=now)
    return _save(session, record, audit.Actor.for_person(person), refuse_closed=True)


def person_from_qr(session, qr: str, secret: bytes, now_ts: float | None = None) -> Person:
    """The trainee behind a scanned QR: their voucher QR or their own person QR."""
    kind, code = read_qr(qr, secret, now_ts, shown_in="培训券或“我的二维码”")
    if kind == qrtoken.KIND_VOUCHER:
        person = session.scalar(select(Person).join(Voucher, Voucher.person_id == Person.id).where(Voucher.code == code))
    elif kind == qrtoken.KIND_PERSON:
        person = session.scalar(select(Person).where(Person.qr_code == code))
    else:
        person = None
    if person is None:
        raise QrInvalid("二维码无效，请让学员打开培训券或“我的二维码”重新出示")
    return person


CLASSROOM_CODES = {qrtoken.KIND_SESSION: "签到", qrtoken.KIND_SESSION_OUT: "签退"}


def classroom_lesson(session, token: str, secret: bytes, kind: str, now_ts: float | None = None) -> ClassSession:
    """The lesson whose rotating classroom code (`kind`: 签到码 or 签退码) the worker scanned. The
    refusals speak to the worker, who scanned the screen, not to a desk that scanned them."""
    word = CLASSROOM_CODES[kind]
    try:
        found, code = read_qr(token, secret, now_ts)
    except QrExpired:
        raise QrExpired(f"课堂{word}码已过期，请扫描教室屏幕上最新的{word}码") from None
    except QrInvalid:
        raise QrInvalid(f"二维码无效，请扫描教室屏幕上的课堂{word}码") from None
    lesson = session.scalar(select(ClassSession).where(ClassSession.qr_code == code)) if found == kind else None
    if lesson is None:
        raise QrInvalid(f"这不是{word}二维码，请扫描教室里屏幕上的{word}码")
    return lesson


def session_qr_outlook(session, person: Person, token: str, secret: bytes, *, now=None,
                       now_ts: float | None = None) -> tuple[ClassSession, CheckIn | None]:
    """For the confirm page of a scanned 签到码, nothing written: the lesson and the person's record of
    it (None before the check-in), or the refusal a check-in would meet now."""
    now = now or utcnow()
    lesson = classroom_lesson(session, token, secret, qrtoken.KIND_SESSION, now_ts)
    _enrolment(session, lesson, person.id)
    existing = _record(session, lesson.id, person.id)
    refuse_checked_out(existing, lesson)
    if existing is None:
        _check_session_open(lesson, now)
    return lesson, existing


@service
def session_qr_check_in(session, person: Person, token: str, secret: bytes, *, now=None,
                        now_ts: float | None = None) -> tuple[CheckIn, ClassSession]:
    """The trainee scanned the rotating QR shown in the classroom: presence proved by the QR."""
    now = now or utcnow()
    class_session = classroom_lesson(session, token, secret, qrtoken.KIND_SESSION, now_ts)
    _enrolment(session, class_session, person.id)
    _check_session_open(class_session, now)
    record = CheckIn(session_id=class_session.id, person_id=person.id, method="session_qr", created_at=now)
    return _save(session, record, audit.Actor.for_person(person), refuse_closed=True), class_session


@service
def scan_check_in(session, class_session: ClassSession, qr: str, actor: audit.Actor, secret: bytes,
                  *, now=None, now_ts: float | None = None) -> tuple[CheckIn, Person]:
    now = now or utcnow()
    if not actor.for_institution(class_session.training_class.institution_id):
        raise OutOfScope("只能为本机构的班期签到")
    person = person_from_qr(session, qr, secret, now_ts)
    _enrolment(session, class_session, person.id)
    _check_session_open(class_session, now)
    record = CheckIn(session_id=class_session.id, person_id=person.id, method="scan", created_at=now,
                     recorded_by_id=actor.id if actor.type == "staff" else None)
    return _save(session, record, actor), person
