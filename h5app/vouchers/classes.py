"""Creating a class (班期) with its sessions as a service, for the API (the page builds the same
rows from its form)."""
from datetime import datetime

from sqlalchemy import select

from ..models import ClassSession, Institution, Site, TrainingClass
from ..models.vouchers import PROJECT_TYPES
from . import audit
from .errors import OutOfScope, ValidationFailed
from .unit import service


@service
def create_class(session, institution: Institution, values: dict, sessions: list[tuple[datetime, datetime, float]],
                 actor: audit.Actor, *, site_id: int | None = None) -> TrainingClass:
    """`sessions` are (starts_at, ends_at, hours) in naive UTC. The class's hours are the
    sessions' when it has any."""
    if not actor.for_institution(institution.id):
        raise OutOfScope("只能为本机构创建班期")
    problems = {}
    if values["project_type"] not in PROJECT_TYPES:
        problems["project_type"] = "培训项目类型应为：" + "、".join(PROJECT_TYPES)
    if values["ends_on"] < values["starts_on"]:
        problems["ends_on"] = "结束日期不能早于开始日期"
    for n, (start, end, _hours) in enumerate(sessions):
        if end <= start:
            problems[f"sessions.{n}.ends_at"] = "课次结束时间须晚于开始时间"
    if not sessions and not values.get("hours"):
        problems["hours"] = "请填写总课时或课次"
    site = None
    if site_id is not None:
        site = session.scalar(select(Site).where(Site.id == site_id, Site.institution_id == institution.id))
        if site is None:
            problems["site_id"] = "不是本机构的培训地点"
    else:
        site = session.scalar(select(Site).where(Site.institution_id == institution.id).order_by(Site.id).limit(1))
    if problems:
        raise ValidationFailed("班期信息有误", fields=problems)
    training_class = TrainingClass(institution_id=institution.id, **values)
    if sessions:
        training_class.hours = sum(hours for *_, hours in sessions)
    training_class.sites = [site] if site is not None else []
    training_class.sessions = [
        ClassSession(title=f"第{n}次课", starts_at=start, ends_at=end, hours=hours,
                     site_id=site.id if site is not None else None)
        for n, (start, end, hours) in enumerate(sessions, start=1)
    ]
    session.add(training_class)
    session.flush()
    audit.record(session, actor, "class.create", institution_id=institution.id, region_code=institution.region_code,
                 details={"class_id": training_class.id})
    session.commit()
    return training_class
