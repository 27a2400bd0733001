"""开班申请 → 开班审核 (issue 19). Where the policy of a class's district requires it (Shandong 002
§三(三), Chongqing 004 §三(二)), a new class waits for the bureau whose region covers that district:
approved, it opens for enrolment; returned with a reason, the institution mends and resubmits it.
Until approved it takes no enrolment, no verification and no directed voucher (enrolment.py,
verify.py, directed.py). Later changes to an approved class's lessons are kept for the bureau."""
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from ..identity import name_error, normalize_name
from ..models import ClassChange, ClassReview, Institution, Policy, Region, TrainingClass, enclosing_codes, in_region
from ..models.class_review import REVIEW_APPROVE, REVIEW_RESUBMIT, REVIEW_RETURN, REVIEW_SUBMIT
from ..models.classes import CLASS_OPEN, CLASS_PENDING_REVIEW, CLASS_RETURNED
from ..timeutil import to_local, utcnow
from . import audit, reasons
from .errors import InvalidTransition, OutOfScope, ValidationFailed
from .transactions import service

MAX_TEACHERS = 30
MAX_PLAN = 5000
CERTIFICATE = re.compile(r"[A-Za-z0-9-]{4,40}")


def governing_policy(session, region_code: str | None) -> Policy | None:
    """The policy of the most specific region on record that covers `region_code` (the district
    itself, else its city, else its province)."""
    if not region_code:
        return None
    candidates = enclosing_codes(region_code)
    rows = dict(session.execute(select(Region.code, Region.policy_id).where(
        Region.code.in_(candidates), Region.policy_id.is_not(None))).all())
    for code in candidates:
        if code in rows:
            return session.get(Policy, rows[code])
    return None


def review_required(session, institution: Institution) -> bool:
    policy = governing_policy(session, institution.region_code)
    return bool(policy is not None and policy.class_review_required)


def clean_teachers(rows: list[dict] | None) -> tuple[list[dict], dict]:
    """Teachers as {name, certificate_number}, trimmed; and field → message for the bad ones."""
    clean, problems = [], {}
    for index, row in enumerate(rows or []):
        name = normalize_name(str(row.get("name") or ""))
        number = str(row.get("certificate_number") or "").strip().upper()
        problem = name_error(name)
        if problem:
            problems[f"teachers.{index}.name"] = f"第{index + 1}位授课教师：{problem}"
        if not number:
            problems[f"teachers.{index}.certificate_number"] = f"第{index + 1}位授课教师：请填写证书编号"
        elif not CERTIFICATE.fullmatch(number):
            problems[f"teachers.{index}.certificate_number"] = (
                f"第{index + 1}位授课教师：证书编号应为4到40位字母、数字或“-”")
        clean.append({"name": name, "certificate_number": number})
    if len(clean) > MAX_TEACHERS:
        problems["teachers"] = f"授课教师最多{MAX_TEACHERS}位"
    return clean, problems


def submission_problems(values: dict, teachers: list[dict] | None, required: bool) -> dict:
    """What a 开班申请 lacks: the teaching plan and at least one teacher where the bureau reviews the
    class; their form wherever they are given."""
    problems = clean_teachers(teachers)[1]
    plan = (values.get("teaching_plan") or "").strip()
    if len(plan) > MAX_PLAN:
        problems["teaching_plan"] = f"教学计划请在{MAX_PLAN}字以内"
    if required and not plan:
        problems["teaching_plan"] = "本地区开班须经人社部门审核，请填写教学计划（培训内容、课时安排、考核方式）"
    if required and not teachers:
        problems["teachers"] = "本地区开班须经人社部门审核，请填写授课教师及其证书编号"
    return problems


def _step(session, training_class: TrainingClass, actor: audit.Actor, action: str, reason: str | None, now) -> None:
    session.add(ClassReview(class_id=training_class.id, action=action, reason=reason, created_at=now,
                            actor_id=actor.id if actor.type == "staff" else None, actor_label=actor.label))
    audit.record(session, actor, f"class.{action}", institution_id=training_class.institution_id,
                 region_code=training_class.institution.region_code, reason=reason, at=now,
                 details={"class_id": training_class.id})


def record_submission(session, training_class: TrainingClass, actor: audit.Actor, *, now=None) -> None:
    """The new class is the 开班申请: part of create_class's transaction."""
    training_class.status = CLASS_PENDING_REVIEW
    _step(session, training_class, actor, REVIEW_SUBMIT, None, now or utcnow())


def _move(session, training_class: TrainingClass, from_status: str, **values) -> bool:
    """A guarded UPDATE: of two clerks deciding at once, exactly one moves the class."""
    moved = session.execute(
        update(TrainingClass).where(TrainingClass.id == training_class.id, TrainingClass.status == from_status)
        .values(**values).execution_options(synchronize_session=False)
    ).rowcount == 1
    if moved:
        session.refresh(training_class)
    return moved


def _not_waiting(training_class: TrainingClass) -> str:
    if training_class.status == CLASS_RETURNED:
        return "该班期已退回培训机构修改，机构重新提交后才能审核"
    if training_class.approved_at is not None:
        return "该班期已审核通过，无需再次审核"
    return f"该班期当前为“{training_class.status_label}”，不在待审核状态"


@service
def review(session, training_class: TrainingClass, actor: audit.Actor, *, approve: bool, reason: str | None = None,
           now=None) -> TrainingClass:
    """开班审核 by the bureau whose region covers the class's district: approve (enrolment opens) or
    return with a reason the institution will read."""
    now = now or utcnow()
    if not actor.region_code or not actor.in_region(training_class.institution.region_code):
        raise OutOfScope("只能审核本地区培训机构的班期")
    reason = (reason or "").strip()
    if not approve and not reason:
        raise ValidationFailed("请填写退回原因", fields={"reason": "请填写退回原因，培训机构将按此修改"})
    if not approve:
        reason = reasons.clean(reason, "退回原因")
    elif len(reason) > reasons.MAX_LENGTH:  # approving may say something too
        too_long = f"审核意见请在{reasons.MAX_LENGTH}字以内"
        raise ValidationFailed(too_long, fields={"reason": too_long})
    if training_class.status != CLASS_PENDING_REVIEW:
        raise InvalidTransition(_not_waiting(training_class))
    values = dict(status=CLASS_OPEN, approved_at=now) if approve else dict(status=CLASS_RETURNED)
    if not _move(session, training_class, CLASS_PENDING_REVIEW, **values):
        session.rollback()
        raise InvalidTransition("该班期刚刚已由其他工作人员审核，请刷新后查看")
    _step(session, training_class, actor, REVIEW_APPROVE if approve else REVIEW_RETURN, reason or None, now)
    session.commit()
    return training_class


@service
def resubmit(session, training_class: TrainingClass, actor: audit.Actor, *, now=None) -> TrainingClass:
    """The institution sends a returned class back for review (after mending it)."""
    now = now or utcnow()
    if not actor.for_institution(training_class.institution_id):
        raise OutOfScope("只能提交本机构的班期")
    if training_class.status != CLASS_RETURNED:
        raise InvalidTransition("只有被退回的班期才能重新提交审核" if training_class.status != CLASS_PENDING_REVIEW
                                else "该班期已提交，正在等待人社部门审核")
    problems = submission_problems({"teaching_plan": training_class.teaching_plan},
                                   [{"name": t.name, "certificate_number": t.certificate_number}
                                    for t in training_class.teachers], required=True)
    if problems:
        raise ValidationFailed("开班申请还不完整：" + next(iter(problems.values())), fields=problems)
    if not _move(session, training_class, CLASS_RETURNED, status=CLASS_PENDING_REVIEW):
        session.rollback()
        raise InvalidTransition("该班期已提交，正在等待人社部门审核")
    _step(session, training_class, actor, REVIEW_RESUBMIT, None, now)
    session.commit()
    return training_class


def history(session, training_class: TrainingClass) -> list[ClassReview]:
    return list(session.scalars(select(ClassReview).where(ClassReview.class_id == training_class.id)
                                .order_by(ClassReview.id)))


def last_return_reason(session, training_class: TrainingClass) -> str | None:
    """Why the bureau returned the class, while it is returned."""
    if training_class.status != CLASS_RETURNED:
        return None
    return session.scalar(select(ClassReview.reason).where(
        ClassReview.class_id == training_class.id, ClassReview.action == REVIEW_RETURN)
        .order_by(ClassReview.id.desc()).limit(1))


# --- Changes after approval -----------------------------------------------------------------------

def _lesson(lesson, site_names: dict) -> str:
    start, end = to_local(lesson.starts_at), to_local(lesson.ends_at)
    where = site_names.get(lesson.site_id, "")
    return (f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} {float(lesson.hours):g}课时" + (f" · {where}" if where else ""))


def snapshot(training_class: TrainingClass) -> dict:
    """What the bureau approved, in words: each lesson, the sites and the teachers."""
    site_names = {site.id: site.name for site in training_class.sites}
    for lesson in training_class.sessions:
        if lesson.site is not None:
            site_names.setdefault(lesson.site_id, lesson.site.name)
    return {
        "lessons": [_lesson(lesson, site_names) for lesson in training_class.sessions],
        "sites": sorted(site.name for site in training_class.sites),
        "teachers": [f"{t.name}（{t.certificate_number}）" for t in training_class.teachers],
    }


def change_lines(before: dict, after: dict) -> list[str]:
    lines = []
    old, new = before["lessons"], after["lessons"]
    for n in range(max(len(old), len(new))):
        was, now = (old[n] if n < len(old) else None), (new[n] if n < len(new) else None)
        if was == now:
            continue
        if was is None:
            lines.append(f"新增第{n + 1}次课：{now}")
        elif now is None:
            lines.append(f"删除第{n + 1}次课：{was}")
        else:
            lines.append(f"第{n + 1}次课：{was} → {now}")
    for key, label in (("sites", "培训地点"), ("teachers", "授课教师")):
        if before[key] != after[key]:
            lines.append(f"{label}：{'、'.join(before[key]) or '无'} → {'、'.join(after[key]) or '无'}")
    return lines


def record_changes(session, training_class: TrainingClass, before: dict, actor: audit.Actor, *, now=None) -> list[str]:
    """Keep what changed on an approved class for its bureau; part of the caller's transaction."""
    if training_class.approved_at is None:
        return []
    session.flush()
    session.refresh(training_class)
    lines = change_lines(before, snapshot(training_class))
    if lines:
        session.add(ClassChange(class_id=training_class.id, lines=lines, actor_label=actor.label,
                                created_at=now or utcnow()))
        audit.record(session, actor, "class.change", institution_id=training_class.institution_id,
                     region_code=training_class.institution.region_code,
                     details={"class_id": training_class.id, "changes": lines})
    return lines


def changes(session, training_class: TrainingClass) -> list[ClassChange]:
    return list(session.scalars(select(ClassChange).where(ClassChange.class_id == training_class.id)
                                .order_by(ClassChange.id.desc())))


@service
def mark_changes_read(session, training_class: TrainingClass, actor: audit.Actor, *, now=None) -> int:
    """A clerk has read the changes of an approved class: they leave the queue (and stay listed)."""
    now = now or utcnow()
    if not actor.region_code or not actor.in_region(training_class.institution.region_code):
        raise OutOfScope("只能查看本地区培训机构的班期")
    done = session.execute(
        update(ClassChange).where(ClassChange.class_id == training_class.id, ClassChange.read_at.is_(None))
        .values(read_at=now, read_by_id=actor.id if actor.type == "staff" else None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not done:
        raise InvalidTransition("没有未阅的变更")
    audit.record(session, actor, "class.change_read", institution_id=training_class.institution_id,
                 region_code=training_class.institution.region_code, at=now,
                 details={"class_id": training_class.id, "changes": done})
    session.commit()
    return done


# --- The bureau's queue ---------------------------------------------------------------------------

@dataclass
class QueueItem:
    training_class: TrainingClass
    since: datetime | None  # submitted (pending) or first unread change (changed)
    unread: int = 0


def _in_region(region_code: str):
    return select(TrainingClass).join(Institution, TrainingClass.institution_id == Institution.id).where(
        in_region(Institution.region_code, region_code))


def pending(session, region_code: str) -> list[QueueItem]:
    """Classes waiting for 开班审核 in the region, the longest waiting first."""
    submitted = dict(session.execute(
        select(ClassReview.class_id, func.max(ClassReview.created_at))
        .join(TrainingClass, TrainingClass.id == ClassReview.class_id)
        .join(Institution, TrainingClass.institution_id == Institution.id)
        .where(TrainingClass.status == CLASS_PENDING_REVIEW, in_region(Institution.region_code, region_code),
               ClassReview.action.in_((REVIEW_SUBMIT, REVIEW_RESUBMIT)))
        .group_by(ClassReview.class_id)
    ).all())
    rows = session.scalars(_in_region(region_code).where(TrainingClass.status == CLASS_PENDING_REVIEW)).all()
    items = [QueueItem(c, submitted.get(c.id)) for c in rows]
    return sorted(items, key=lambda item: (item.since or datetime.min, item.training_class.id))


def changed(session, region_code: str) -> list[QueueItem]:
    """Approved classes with changes no clerk has read yet."""
    unread = session.execute(
        select(ClassChange.class_id, func.count(ClassChange.id), func.min(ClassChange.created_at))
        .join(TrainingClass, TrainingClass.id == ClassChange.class_id)
        .join(Institution, TrainingClass.institution_id == Institution.id)
        .where(ClassChange.read_at.is_(None), in_region(Institution.region_code, region_code))
        .group_by(ClassChange.class_id)
    ).all()
    classes = {c.id: c for c in session.scalars(select(TrainingClass).where(
        TrainingClass.id.in_([class_id for class_id, *_ in unread] or [0])))}
    return sorted((QueueItem(classes[class_id], since, count) for class_id, count, since in unread),
                  key=lambda item: item.since)


def returned(session, region_code: str, limit: int = 50) -> list[TrainingClass]:
    """Classes returned to their institutions, waiting to be resubmitted."""
    return list(session.scalars(_in_region(region_code).where(TrainingClass.status == CLASS_RETURNED)
                                .order_by(TrainingClass.id.desc()).limit(limit)))


def waiting_count(session, region_code: str) -> int:
    return session.scalar(
        select(func.count(TrainingClass.id)).join(Institution, TrainingClass.institution_id == Institution.id)
        .where(TrainingClass.status == CLASS_PENDING_REVIEW, in_region(Institution.region_code, region_code)))
