"""Creating and editing a class (班期) with its sessions as services: one set of rules for the
institution's class pages and the partner API. Also opening and closing its enrolment (开放报名,
截止报名)."""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from ..models import CheckIn, ClassSession, ClassTeacher, Institution, Site, TrainingClass
from ..models.classes import CLASS_CLOSED, CLASS_OPEN, DELIVERIES, DELIVERY_OFFLINE, DELIVERY_ONLINE
from ..models.vouchers import PROJECT_TYPES
from ..timeutil import local_today, to_local, utcnow
from . import audit, class_review
from .errors import ClassCancelled, ClassCompleted, ClassPendingReview, OutOfScope, ValidationFailed
from .transactions import service


def class_problems(values: dict, sessions: list[tuple[datetime, datetime, float]], *, now: datetime | None = None,
                   kept: frozenset = frozenset()) -> dict:
    """Field → message for a class that cannot work as given. `sessions`: (starts_at, ends_at,
    hours) in naive UTC; dates left out are not compared (the form reports them missing itself).
    With `now`, nothing may be planned in the past — a class no one could have attended would
    still be verified and paid — except what an edited class already had (`kept`: its start date
    and its lessons' (starts_at, ends_at))."""
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
    for n, (start, end, _hours) in enumerate(sessions):
        if end <= start:
            problems[f"sessions.{n}.ends_at"] = "课次结束时间须晚于开始时间"
        elif starts and ends and not starts <= local_today(start) <= ends:
            problems[f"sessions.{n}.starts_at"] = f"课次日期 {local_today(start)} 不在开班至结业日期之内"
        elif now is not None and start < now and (start, end) not in kept:
            problems[f"sessions.{n}.starts_at"] = (f"课次开始时间 {to_local(start):%Y-%m-%d %H:%M} 已过，"
                                                   "不能登记已经过去的课次")
    if not sessions and not values.get("hours"):
        problems["hours"] = "请填写总课时或课次"
    return problems


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
          sites: list[Site], teachers: list[dict] | None) -> None:
    """Set the class's columns, sites, lessons (numbered afresh) and teachers from what was checked."""
    for name, value in values.items():
        setattr(training_class, name, value)
    training_class.teaching_plan = (values.get("teaching_plan") or "").strip() or None
    training_class.teachers = [ClassTeacher(**teacher) for teacher in class_review.clean_teachers(teachers)[0]]
    if sessions:
        training_class.hours = sum(hours for *_, hours in sessions)
    training_class.sites = sites
    training_class.sessions = [
        ClassSession(title=f"第{n}次课", starts_at=start, ends_at=end, hours=hours,
                     site_id=sites[0].id if sites else None)
        for n, (start, end, hours) in enumerate(sessions, start=1)
    ]


# What an edit may change. The status moves only through its own services (开放/截止报名 here, 开班审核
# in class_review.py, 结业, 取消班期), never as a column an edit sets.
EDITABLE = frozenset({"course_name", "occupation", "level", "project_type", "hours", "starts_on", "ends_on",
                      "price_fen", "capacity", "description", "teaching_plan", "delivery"})


@dataclass(frozen=True)
class Edited:
    changes: list[str]  # what the bureau is told changed after its approval (class_review.record_changes)
    resubmitted: bool  # a returned 开班申请, sent to the bureau again


@service
def update_class(session, training_class: TrainingClass, values: dict,
                 sessions: list[tuple[datetime, datetime, float]], actor: audit.Actor, *,
                 site_ids: list[int] | None = None, teachers: list[dict] | None = None) -> Edited:
    """Edit a class with the rules of `create_class`; its lessons are replaced. Refused for a class
    completed or cancelled, and once a trainee has checked in (the lessons are what attendance was
    counted against). A class approved by 开班审核 stays approved and the bureau is shown what
    changed; a returned 开班申请 goes back to the bureau (class_review.resubmit)."""
    if not values.keys() <= EDITABLE:
        raise ValueError(f"not editable: {sorted(values.keys() - EDITABLE)}")
    if not actor.for_institution(training_class.institution_id):
        raise OutOfScope("只能修改本机构的班期")
    if training_class.is_cancelled:
        raise ClassCancelled("班期已取消，不能修改")
    if training_class.is_completed:
        raise ClassCompleted("班期已结业，不能修改")
    attended = session.scalar(select(CheckIn.id).join(ClassSession, CheckIn.session_id == ClassSession.id)
                              .where(ClassSession.class_id == training_class.id).limit(1))
    if attended is not None:
        raise ValidationFailed("已有学员签到，不能再修改课次；如需调整请联系人社部门")
    kept = frozenset({training_class.starts_on, *((s.starts_at, s.ends_at) for s in training_class.sessions)})
    problems = class_problems(values, sessions, now=utcnow(), kept=kept)
    review_required = training_class.is_unapproved or training_class.approved_at is not None
    problems.update(class_review.submission_problems(values, teachers, review_required))
    sites = _sites(session, training_class.institution_id, values, site_ids, problems)
    if problems:
        raise ValidationFailed("班期信息有误", fields=problems)
    approved = class_review.snapshot(training_class)
    with session.no_autoflush:  # no flush of a half-edited class while its sites and lessons load
        for old in list(training_class.sessions):
            session.delete(old)
        _fill(training_class, values, sessions, sites, teachers)
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
    opens it when it approves)."""
    if not actor.for_institution(training_class.institution_id):
        raise OutOfScope("只能为本机构的班期开放或截止报名")
    if training_class.is_completed:
        raise ClassCompleted()
    if training_class.is_unapproved:
        raise ClassPendingReview("班期尚未通过开班审核，审核通过后自动开放报名")
    if training_class.is_cancelled:
        raise ClassCancelled("班期已取消，不能再开放或截止报名")
    wanted = CLASS_OPEN if open_enrolment else CLASS_CLOSED
    training_class.status = wanted
    audit.record(session, actor, f"class.{wanted}", institution_id=training_class.institution_id,
                 details={"class_id": training_class.id})
    session.commit()
