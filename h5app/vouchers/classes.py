"""Creating and editing a class (班期) with its sessions as services: one set of rules for the
institution's class pages and the partner API. Also opening and closing its enrolment (开放报名,
截止报名)."""
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import or_, select

from ..models import CheckIn, ClassSession, ClassTeacher, Institution, Site, TrainingClass, Voucher
from ..models.classes import CLASS_CLOSED, CLASS_OPEN, CLASS_RUNNING, DELIVERIES, DELIVERY_OFFLINE, DELIVERY_ONLINE
from ..models.vouchers import PROJECT_TYPES, SETTLED, USED
from ..timeutil import local_today, to_local, utcnow
from . import audit, class_review
from .errors import (
    ClassCancelled, ClassCompleted, ClassPendingReview, InvalidTransition, OutOfScope, ValidationFailed,
)
from .transactions import service


def desk_classes(session, institution_id: int) -> list[TrainingClass]:
    """The institution's classes its front desk may verify for today (TrainingClass.takes_verification),
    newest first: what 扫码验券 and the scan-gun station offer."""
    return session.scalars(
        select(TrainingClass).where(TrainingClass.institution_id == institution_id,
                                    TrainingClass.status.in_(CLASS_RUNNING),
                                    or_(TrainingClass.ends_on.is_(None), TrainingClass.ends_on >= local_today()))
        .order_by(TrainingClass.starts_on.desc(), TrainingClass.id.desc())).all()


# The most lessons one class may have: a long course (400 hours in 2-hour lessons) fits; thousands
# of copied lines, which would multiply the class's hours, do not.
MAX_LESSONS = 200


def class_problems(values: dict, sessions: list[tuple[datetime, datetime, float]], *, now: datetime | None = None,
                   kept: frozenset = frozenset()) -> dict:
    """Field → message for a class that cannot work as given. `sessions`: (starts_at, ends_at,
    hours) in naive UTC; dates left out are not compared (the form reports them missing itself).
    With `now`, nothing may be planned in the past — a class no one could have attended would
    still be verified and paid — except what an edited class already had (`kept`: its start date
    and its lessons' (starts_at, ends_at)). A lesson counts no more hours than it lasts, lessons do
    not overlap, and a class has at most MAX_LESSONS: the hours are what attendance and the
    subsidy are measured against."""
    problems = {}
    if values.get("project_type") not in PROJECT_TYPES:
        problems["project_type"] = "培训项目类型应为：" + "、".join(PROJECT_TYPES)
    if values.get("delivery", DELIVERY_OFFLINE) not in DELIVERIES:
        problems["delivery"] = "培训方式应为线下培训（offline）或线上培训（online）"
    starts, ends = values.get("starts_on"), values.get("ends_on")
    if starts and ends and ends < starts:
        problems["ends_on"] = "结业日期不能早于开班日期"
    if now is not None and starts and starts < local_today(now) and starts not in kept:
        problems["starts_on"] = "开班日期不能早于今天"
    if len(sessions) > MAX_LESSONS:
        problems["sessions"] = f"一个班期最多{MAX_LESSONS}次课，现填写了{len(sessions)}次"
        return problems  # each of thousands of lessons is not judged one by one
    for n, (start, end, hours) in enumerate(sessions):
        if end <= start:
            problems[f"sessions.{n}.ends_at"] = "课次结束时间须晚于开始时间"
        elif starts and ends and not starts <= local_today(start) <= ends:
            problems[f"sessions.{n}.starts_at"] = f"课次日期 {local_today(start)} 不在开班至结业日期之内"
        elif now is not None and start < now and (start, end) not in kept:
            problems[f"sessions.{n}.starts_at"] = (f"课次开始时间 {to_local(start):%Y-%m-%d %H:%M} 已过，"
                                                   "不能登记已经过去的课次")
        elif float(hours) > lesson_length(start, end) + 1e-9:
            problems[f"sessions.{n}.hours"] = (f"第{n + 1}次课的课时{hours_text(hours)}小时超过上课时长"
                                               f"{hours_text(lesson_length(start, end))}小时")
    for n, message in _overlaps(sessions).items():
        problems.setdefault(f"sessions.{n}.starts_at", message)
    if not sessions and not values.get("hours"):
        problems["hours"] = "请填写总课时或课次"
    return problems


def lesson_length(start, end) -> float:
    """A lesson's clock time in hours: the most hours it may count (学时 never exceed it)."""
    return (end - start).total_seconds() / 3600


def hours_text(value) -> str:
    """Hours as a clerk writes them: 3, 2.5, 0.33."""
    return f"{float(value):.2f}".rstrip("0").rstrip(".")


def overlapping(spans: list[tuple]) -> dict[int, int]:
    """Index → index of another lesson it overlaps, for each (starts_at, ends_at, …) that begins
    before an earlier one has ended (the same times twice included), keyed by the later of the two
    as given: one class's trainees sit one lesson at a time, and a lesson typed twice would count
    its hours twice."""
    found = {}
    order = sorted((n for n, (start, end, *_rest) in enumerate(spans) if start < end), key=lambda n: (spans[n][0], n))
    last = None  # of the lessons looked at, the one that ends last
    for n in order:
        start, end = spans[n][:2]
        if last is not None and start < spans[last][1]:
            first, then = sorted((last, n))
            found[then] = first
        if last is None or end > spans[last][1]:
            last = n
    return found


def overlap_words(spans: list[tuple], n: int, other: int) -> str:
    """How two lessons of `overlapping` collide: typed twice, or one while the other goes on."""
    return "重复" if spans[n][:2] == spans[other][:2] else "的上课时间重叠"


def _overlaps(sessions: list[tuple]) -> dict[int, str]:
    return {n: f"第{n + 1}次课与第{other + 1}次课{overlap_words(sessions, n, other)}"
            for n, other in overlapping(sessions).items()}


@service
def create_class(session, institution: Institution, values: dict, sessions: list[tuple[datetime, datetime, float]],
                 actor: audit.Actor, *, site_ids: list[int] | None = None,
                 teachers: list[dict] | None = None) -> TrainingClass:
    """`sessions` are (starts_at, ends_at, hours) in naive UTC; the class's hours are the sessions'
    when it has any. Without `site_ids` the class is held at the institution's first site; its
    lessons at the first site given. Where the district's policy requires 开班审核 the class is the
    开班申请 (teaching plan and teachers required) and waits for the bureau (class_review.py)."""
    if not actor.for_institution(institution.id):
        raise OutOfScope("只能为本机构创建班期")
    problems = class_problems(values, sessions, now=utcnow())
    review_required = class_review.review_required(session, institution)
    problems.update(class_review.submission_problems(values, teachers, review_required))
    sites = _sites(session, institution.id, values, site_ids, problems)
    if problems:
        raise ValidationFailed("班期信息有误", fields=problems)
    training_class = TrainingClass(institution_id=institution.id)
    _fill(training_class, values, sessions, sites, teachers)
    session.add(training_class)
    session.flush()
    audit.record(session, actor, "class.create", institution_id=institution.id, region_code=institution.region_code,
                 details={"class_id": training_class.id})
    if review_required:
        class_review.record_submission(session, training_class, actor)
    session.commit()
    return training_class


def _sites(session, institution_id: int, values: dict, site_ids: list[int] | None, problems: dict) -> list[Site]:
    """Where the class is held: the sites given (the institution's own, the lessons at the first),
    none for an online class, else the institution's first site. A problem goes into `problems`."""
    if values.get("delivery") == DELIVERY_ONLINE:
        if site_ids:
            problems["site_id"] = "线上班期没有培训地点，请不要选择培训地点"
        return []  # 线上培训: no site, no geofence
    if not site_ids:
        return list(session.scalars(select(Site).where(Site.institution_id == institution_id).order_by(Site.id)
                                    .limit(1)))
    sites = list(session.scalars(select(Site).where(Site.id.in_(site_ids), Site.institution_id == institution_id)))
    if len(sites) != len(set(site_ids)):
        problems["site_id"] = "不是本机构的培训地点"
    sites.sort(key=lambda site: site_ids.index(site.id))  # the lessons are held at the first one given
    return sites


def _fill(training_class: TrainingClass, values: dict, sessions: list[tuple[datetime, datetime, float]],
          sites: list[Site], teachers: list[dict] | None, *, lessons: bool = True) -> None:
    """Set the class's columns, sites, lessons (numbered afresh; left as they are with `lessons`
    false) and teachers from what was checked."""
    for name, value in values.items():
        setattr(training_class, name, value)
    training_class.teaching_plan = (values.get("teaching_plan") or "").strip() or None
    training_class.teachers = [ClassTeacher(**teacher) for teacher in class_review.clean_teachers(teachers)[0]]
    if sessions:
        training_class.hours = sum(hours for *_, hours in sessions)
    training_class.sites = sites
    if not lessons:
        return
    training_class.sessions = [
        ClassSession(title=f"第{n}次课", starts_at=start, ends_at=end, hours=hours,
                     site_id=sites[0].id if sites else None)
        for n, (start, end, hours) in enumerate(sessions, start=1)
    ]


# What an edit may change. The status moves only through its own services (开放/截止报名 here, 开班审核
# in class_review.py, 结业, 取消班期), never as a column an edit sets.
EDITABLE = frozenset({"course_name", "occupation", "level", "project_type", "hours", "starts_on", "ends_on",
                      "price_fen", "capacity", "description", "teaching_plan", "delivery"})


# Once a voucher has been used for a class, what decided that it fits the class
# (rules.applicability_problem) and what its subsidy is measured by (subsidy.py: the fee caps it,
# the training must end within the policy's days of activation, attendance is a share of the
# class's hours, counted as the delivery records it) stay as they were when it was verified:
# field → (its name on the page, why).
LOCKED_ONCE_USED = {
    "project_type": ("培训项目", "培训券是否适用于本班期按培训项目核定"),
    "occupation": ("职业（工种）", "培训券是否适用于本班期按职业（工种）核定"),
    "level": ("等级", "培训券是否适用于本班期按等级核定"),
    "price_fen": ("培训费", "补贴按实际培训费封顶"),
    "ends_on": ("结业日期", "补贴要求培训在培训券激活后规定天数内结业"),
    "hours": ("总课时", "打卡率按总课时计算，可以调整课次时间，但总课时须保持不变"),
    "delivery": ("培训方式", "出勤按培训方式计入打卡率（线下签到或线上学习时长）"),
}
LESSONS_ATTENDED = ("已有学员签到，课次（日期、时间、课时和上课地点）不能再修改，其他内容可以修改；"
                    "如需调整课次请联系人社部门")


@dataclass(frozen=True)
class Edited:
    changes: list[str]  # what the bureau is told changed after its approval (class_review.record_changes)
    resubmitted: bool  # a returned 开班申请, sent to the bureau again


def vouchers_used(session, training_class: TrainingClass) -> bool:
    """Whether a voucher has been used (verified) for the class, settled ones included."""
    return session.scalar(select(Voucher.id).where(Voucher.class_id == training_class.id,
                                                   Voucher.status.in_((USED, SETTLED))).limit(1)) is not None


def attended(session, training_class: TrainingClass) -> bool:
    """Whether anyone has checked in to a lesson of the class."""
    return session.scalar(select(CheckIn.id).join(ClassSession, CheckIn.session_id == ClassSession.id)
                          .where(ClassSession.class_id == training_class.id).limit(1)) is not None


def _total_hours(training_class: TrainingClass) -> float:
    """The class's hours as subsidy.class_hours reads them: its lessons', else its own."""
    return float(sum(lesson.hours for lesson in training_class.sessions) or training_class.hours or 0)


def _same(value, other) -> bool:
    if isinstance(value, int | float | Decimal) and isinstance(other, int | float | Decimal):
        return round(float(value), 1) == round(float(other), 1)
    return (value or None) == (other or None)  # a level left blank is no level


def locked_problems(training_class: TrainingClass, values: dict,
                    sessions: list[tuple[datetime, datetime, float]]) -> dict:
    """Field → message for each field of LOCKED_ONCE_USED the edit would change."""
    wanted = {**values, "hours": (sum(hours for *_, hours in sessions) if sessions
                                  else values.get("hours", training_class.hours))}
    current = {name: getattr(training_class, name) for name in LOCKED_ONCE_USED}
    current["hours"] = _total_hours(training_class)
    return {name: f"已有学员持培训券参加本班期，{label}不能再修改：{why}"
            for name, (label, why) in LOCKED_ONCE_USED.items()
            if name in wanted and not _same(wanted[name], current[name])}


def _lessons_kept(training_class: TrainingClass, sessions: list[tuple[datetime, datetime, float]],
                  sites: list[Site]) -> bool:
    """Whether the edit leaves the lessons as they are: the same times and hours (in any order),
    each still at a site of the class."""
    def times(start, end, hours):
        return start, end, round(float(hours), 1)

    site_ids = {site.id for site in sites}
    return (sorted(times(*lesson) for lesson in sessions)
            == sorted(times(s.starts_at, s.ends_at, s.hours) for s in training_class.sessions)
            and all(s.site_id is None or s.site_id in site_ids for s in training_class.sessions))


@service
def update_class(session, training_class: TrainingClass, values: dict,
                 sessions: list[tuple[datetime, datetime, float]], actor: audit.Actor, *,
                 site_ids: list[int] | None = None, teachers: list[dict] | None = None) -> Edited:
    """Edit a class with the rules of `create_class`; its lessons are replaced. Refused for a class
    completed or cancelled. Once a trainee has checked in the lessons stay as they are (they are
    what attendance was counted against), and once a voucher has been used for the class so do
    the fields of LOCKED_ONCE_USED; the rest can still change. A class approved by 开班审核 stays
    approved and the bureau is shown what changed; a returned 开班申请 goes back to the bureau
    (class_review.resubmit)."""
    if not values.keys() <= EDITABLE:
        raise ValueError(f"not editable: {sorted(values.keys() - EDITABLE)}")
    if not actor.for_institution(training_class.institution_id):
        raise OutOfScope("只能修改本机构的班期")
    if training_class.is_cancelled:
        raise ClassCancelled("班期已取消，不能修改")
    if training_class.is_completed:
        raise ClassCompleted("班期已结业，不能修改")
    problems = {}
    sites = _sites(session, training_class.institution_id, values, site_ids, problems)
    keep_lessons = attended(session, training_class)
    if keep_lessons and not _lessons_kept(training_class, sessions, sites):
        raise ValidationFailed(LESSONS_ATTENDED, fields={"sessions": LESSONS_ATTENDED})
    kept = frozenset({training_class.starts_on, *((s.starts_at, s.ends_at) for s in training_class.sessions)})
    problems.update(class_problems(values, sessions, now=utcnow(), kept=kept))
    if not sessions and training_class.sessions and training_class.status in CLASS_RUNNING:
        # Its trainees check in to lessons: an open class left with none could take no attendance.
        problems["sessions"] = "班期已开放报名，至少要保留一次课；如不再开班，请取消班期"
    review_required = training_class.is_unapproved or training_class.approved_at is not None
    problems.update(class_review.submission_problems(values, teachers, review_required))
    if vouchers_used(session, training_class):
        problems.update(locked_problems(training_class, values, sessions))
    if problems:
        raise ValidationFailed("班期信息有误", fields=problems)
    approved = class_review.snapshot(training_class)
    with session.no_autoflush:  # no flush of a half-edited class while its sites and lessons load
        if not keep_lessons:
            for old in list(training_class.sessions):
                session.delete(old)
        _fill(training_class, values, sessions, sites, teachers, lessons=not keep_lessons)
    audit.record(session, actor, "class.edit", institution_id=training_class.institution_id,
                 details={"class_id": training_class.id})
    changes = class_review.record_changes(session, training_class, approved, actor)
    session.commit()
    if training_class.is_returned:
        class_review.resubmit(session, training_class, actor)
        return Edited(changes, True)
    return Edited(changes, False)


@service
def set_enrolment_open(session, training_class: TrainingClass, open_enrolment: bool, actor: audit.Actor) -> None:
    """开放报名 (from a draft, or again after closing) or 截止报名: those already enrolled still have
    their vouchers verified and check in. Not for a completed, cancelled or unapproved class (开班审核
    opens it when it approves); not opened once its 结业日期 has passed (no one could still take
    the course, yet vouchers would be verified for it)."""
    if not actor.for_institution(training_class.institution_id):
        raise OutOfScope("只能为本机构的班期开放或截止报名")
    if training_class.is_completed:
        raise ClassCompleted()
    if training_class.is_unapproved:
        raise ClassPendingReview("班期尚未通过开班审核，审核通过后自动开放报名")
    if training_class.is_cancelled:
        raise ClassCancelled("班期已取消，不能再开放或截止报名")
    if open_enrolment and training_class.ends_on < local_today():
        raise InvalidTransition(f"班期的结业日期（{training_class.ends_on:%Y-%m-%d}）已过，不能再开放报名；"
                                "如需继续招生请新建班期")
    wanted = CLASS_OPEN if open_enrolment else CLASS_CLOSED
    training_class.status = wanted
    audit.record(session, actor, f"class.{wanted}", institution_id=training_class.institution_id,
                 details={"class_id": training_class.id})
    session.commit()
