"""Creating a class (班期) with its sessions as a service: one set of rules for the institution's
new-class page and the partner API. Also opening and closing its enrolment (开放报名, 截止报名)."""
from datetime import datetime

from sqlalchemy import select

from ..models import ClassSession, ClassTeacher, Institution, Site, TrainingClass
from ..models.classes import CLASS_CLOSED, CLASS_OPEN, DELIVERIES, DELIVERY_OFFLINE, DELIVERY_ONLINE
from ..models.vouchers import PROJECT_TYPES
from ..timeutil import local_today
from . import audit, class_review
from .errors import ClassCancelled, ClassCompleted, ClassPendingReview, OutOfScope, ValidationFailed
from .transactions import service


def class_problems(values: dict, sessions: list[tuple[datetime, datetime, float]]) -> dict:
    """Field → message for a class that cannot work as given. `sessions`: (starts_at, ends_at,
    hours) in naive UTC; dates left out are not compared (the form reports them missing itself)."""
    problems = {}
    if values.get("project_type") not in PROJECT_TYPES:
        problems["project_type"] = "培训项目类型应为：" + "、".join(PROJECT_TYPES)
    if values.get("delivery", DELIVERY_OFFLINE) not in DELIVERIES:
        problems["delivery"] = "培训方式应为线下培训（offline）或线上培训（online）"
    starts, ends = values.get("starts_on"), values.get("ends_on")
    if starts and ends and ends < starts:
        problems["ends_on"] = "结业日期不能早于开班日期"
    for n, (start, end, _hours) in enumerate(sessions):
        if end <= start:
            problems[f"sessions.{n}.ends_at"] = "课次结束时间须晚于开始时间"
        elif starts and ends and not starts <= local_today(start) <= ends:
            problems[f"sessions.{n}.starts_at"] = f"课次日期 {local_today(start)} 不在开班至结业日期之内"
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
    problems = class_problems(values, sessions)
    review_required = class_review.review_required(session, institution)
    problems.update(class_review.submission_problems(values, teachers, review_required))
    if values.get("delivery") == DELIVERY_ONLINE:
        sites = []  # 线上培训: no site, no geofence
        if site_ids:
            problems["site_id"] = "线上班期没有培训地点，请不要选择培训地点"
    elif site_ids:
        sites = list(session.scalars(select(Site).where(Site.id.in_(site_ids), Site.institution_id == institution.id)))
        if len(sites) != len(set(site_ids)):
            problems["site_id"] = "不是本机构的培训地点"
        sites.sort(key=lambda site: site_ids.index(site.id))  # the lessons are held at the first one given
    else:
        sites = list(session.scalars(select(Site).where(Site.institution_id == institution.id).order_by(Site.id)
                                     .limit(1)))
    if problems:
        raise ValidationFailed("班期信息有误", fields=problems)
    training_class = TrainingClass(institution_id=institution.id, **values)
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
    session.add(training_class)
    session.flush()
    audit.record(session, actor, "class.create", institution_id=institution.id, region_code=institution.region_code,
                 details={"class_id": training_class.id})
    if review_required:
        class_review.record_submission(session, training_class, actor)
    session.commit()
    return training_class


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
