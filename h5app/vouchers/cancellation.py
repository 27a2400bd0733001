"""取消班期 and 退班 (issue 19): a class cancelled, or one trainee withdrawn before attending, gives
back the vouchers used for it. Each goes from used back to claimed (可使用), the only move out of
`used` besides `settled`, with its deadline extended by the days it was held; the enrolment ends
and the worker is told (消息). Every step is in the audit log.

Who may: the institution cancels its own class until its first lesson starts, the bureau whose
region covers the institution at any time; a completed class is never cancelled. A trainee is
withdrawn before the first lesson they attended; after it, ALREADY_ATTENDING.

Under concurrency: the class row is locked FOR UPDATE before its vouchers are read, and a
verification holds a KEY SHARE lock on it from its read to its commit (verification_read.py). So a
verification racing a cancellation either commits first, and its voucher is given back with the
others, or reads the class as cancelled and is refused. Locks are taken in one order everywhere —
class, voucher, enrolment — so no two of these wait for each other (SQLite serialises writers)."""
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from ..identity import id_number_error, mask_id_number, normalize_id_number
from ..models import CheckIn, ClassSession, Enrolment, Person, SettlementLine, TrainingClass, Voucher
from ..models.classes import CLASS_CANCELLED, CLASS_COMPLETED, ENROLLED, ENROLMENT_CANCELLED, WITHDRAWN
from ..models.settlement import LINE_REJECTED
from ..models.vouchers import CLAIMED, SETTLED, USED
from ..statistics.rollup import take_back_use
from ..timeutil import iso_local, start_of_local_day, to_local, utcnow
from . import audit, reasons, states
from .errors import (
    AlreadyAttending, ClassCancelled, ClassCompleted, ClassStarted, InvalidTransition, NotEnrolled, OutOfScope,
    SettlementError, ValidationFailed, VoucherSettled,
)
from .notify import notify
from .transactions import in_chunks, service

CAUSE_CANCELLED, CAUSE_WITHDRAWN = "class_cancelled", "withdrawn"
METHODS = {"location": "定位签到", "scan": "机构扫码签到", "session_qr": "扫课堂码签到", "correction": "补签",
           "online": "线上学习"}


@dataclass
class Cancellation:
    training_class: TrainingClass
    returned: list[Voucher] = field(default_factory=list)  # back to claimed
    held_days: dict[int, int] = field(default_factory=dict)  # voucher id → days its deadline moved
    enrolments_ended: int = 0
    by_bureau: bool = False


@dataclass
class Withdrawal:
    training_class: TrainingClass
    person: Person
    voucher: Voucher | None  # the voucher given back, if one was used for the class
    held_days: int = 0


def clean_reason(reason: str | None, what: str) -> str:
    return reasons.clean(reason, f"{what}原因")


def first_lesson_start(training_class: TrainingClass) -> datetime:
    """When the class begins: its first lesson, or (with none on record) the morning of its start date."""
    starts = [lesson.starts_at for lesson in training_class.sessions]
    return min(starts) if starts else start_of_local_day(training_class.starts_on)


def held_days(used_at: datetime | None, now: datetime) -> int:
    """Whole days a voucher was held by a class, any part of a day counting as one (in the worker's favour)."""
    if used_at is None:
        return 0
    return max(1, math.ceil((now - used_at) / timedelta(days=1)))


def may_cancel(actor: audit.Actor, training_class: TrainingClass) -> bool:
    """True for the bureau (or the system) whose region covers the class's institution, False for the
    institution's own staff or key; OutOfScope for anyone else."""
    if actor.type == "system" or (actor.region_code and actor.in_region(training_class.institution.region_code)):
        return True
    if actor.institution_id is not None and actor.institution_id == training_class.institution_id:
        return False
    raise OutOfScope("只能取消本机构或本地区的班期")


def _lock_class(session, training_class: TrainingClass, *, exclusive: bool) -> None:
    """Read the class afresh under its lock: FOR UPDATE to cancel it, KEY SHARE to act inside it. The
    row is read, not only locked: the ORM refreshes the loaded class as it reads the row."""
    lock = {} if exclusive else {"read": True, "key_share": True}
    session.scalars(select(TrainingClass).where(TrainingClass.id == training_class.id)
                    .with_for_update(of=TrainingClass, **lock).execution_options(populate_existing=True)).one()


def closed_class(training_class: TrainingClass, doing: str):
    """The refusal for a class already cancelled or completed, else None."""
    if training_class.status == CLASS_CANCELLED:
        when = f"已于{to_local(training_class.cancelled_at):%Y年%m月%d日}取消" if training_class.cancelled_at else "已取消"
        return ClassCancelled(f"班期“{training_class.course_name}”{when}，不能{doing}")
    if training_class.status == CLASS_COMPLETED:
        return ClassCompleted(f"班期“{training_class.course_name}”已结业，不能{doing}")
    return None


def _refuse_closed_class(training_class: TrainingClass, doing: str) -> None:
    refusal = closed_class(training_class, doing)
    if refusal is not None:
        raise refusal


def cancel_problem(training_class: TrainingClass, by_bureau: bool, now: datetime):
    """Why this caller may not cancel the class now (a DomainError to raise or show), or None."""
    refusal = closed_class(training_class, "取消")
    if refusal is None and not by_bureau and now >= (first := first_lesson_start(training_class)):
        refusal = ClassStarted(f"第一次课已于{to_local(first):%m月%d日 %H:%M}开始，培训机构不能再取消班期；"
                               f"如确需取消，请联系人社部门")
    return refusal


def first_attendance(session, training_class: TrainingClass, person_id: int):
    """(check-in, lesson) of the person's first attended lesson of the class, or None."""
    return session.execute(
        select(CheckIn, ClassSession).join(ClassSession, CheckIn.session_id == ClassSession.id)
        .where(ClassSession.class_id == training_class.id, CheckIn.person_id == person_id)
        .order_by(ClassSession.starts_at).limit(1)).first()


def attended_people(session, training_class: TrainingClass, person_ids) -> set[int]:
    """Which of `person_ids` attended a lesson of the class (first_attendance for many, one query):
    those 退班 refuses."""
    if not person_ids:
        return set()
    return set(session.scalars(
        select(CheckIn.person_id).join(ClassSession, CheckIn.session_id == ClassSession.id)
        .where(ClassSession.class_id == training_class.id, CheckIn.person_id.in_(person_ids)).distinct()))


def attending(session, training_class: TrainingClass, person_id: int):
    """AlreadyAttending once the person attended a lesson of the class (退班 is then refused), else None."""
    attended = first_attendance(session, training_class, person_id)
    if attended is None:
        return None
    check_in, lesson = attended
    return AlreadyAttending(
        f"该学员已于{to_local(lesson.starts_at):%m月%d日}参加{lesson.title or '课次'}"
        f"（{METHODS.get(check_in.method, '签到')}），培训已开始，不能退班；培训券不予退回")


@dataclass
class CancellationPreview:
    """What a cancellation would do, for the confirmation page."""

    vouchers: int  # used for the class: each goes back to its holder
    trainees: int  # enrolled: each is told
    first_start: datetime
    by_bureau: bool
    refusal: object | None  # the DomainError a cancellation would meet now


def preview(session, training_class: TrainingClass, actor: audit.Actor, *, now=None) -> CancellationPreview:
    now = now or utcnow()
    by_bureau = may_cancel(actor, training_class)
    vouchers = session.scalar(select(func.count(Voucher.id)).where(Voucher.class_id == training_class.id,
                                                                   Voucher.status == USED))
    trainees = session.scalar(select(func.count(Enrolment.id)).where(Enrolment.class_id == training_class.id,
                                                                     Enrolment.status == ENROLLED))
    return CancellationPreview(vouchers, trainees, first_lesson_start(training_class), by_bureau,
                               cancel_problem(training_class, by_bureau, now))


def _refuse_settlement(session, vouchers: list[Voucher], doing: str) -> None:
    """A voucher settled, or standing on a settlement line not rejected, is the bureau's to decide first."""
    settled = [v for v in vouchers if v.status == SETTLED]
    if settled:
        raise VoucherSettled(f"有{len(settled)}张培训券已结算核销，不能{doing}")
    pending = set()
    for chunk in in_chunks([v.id for v in vouchers]):
        pending.update(session.scalars(select(SettlementLine.voucher_id).where(
            SettlementLine.voucher_id.in_(chunk), SettlementLine.decision != LINE_REJECTED)))
    if pending:
        raise SettlementError(f"有{len(pending)}张培训券已在结算申请中，不能{doing}；请先撤回或由人社部门驳回该结算申请")


def give_back(session, voucher: Voucher, training_class: TrainingClass, actor: audit.Actor, *, reason: str,
              cause: str, now: datetime, unbind: bool = False) -> int:
    """used → claimed: where and when it was used cleared, its deadline extended by the days it was
    held (audited with both deadlines). Returns those days."""
    days = held_days(voucher.used_at, now)
    before = voucher.expires_at
    values = {"used_at": None, "class_id": None, "institution_id": None,
              "expires_at": before + timedelta(days=days) if before is not None else None}
    if unbind:  # a directed voucher whose class will never run may be used at another one
        values["bound_class_id"] = None
    details = {"cause": cause, "class_id": training_class.id, "course_name": training_class.course_name,
               "institution": training_class.institution.name, "used_at": iso_local(voucher.used_at),
               "held_days": days, "expires_at_before": iso_local(before), "expires_at": iso_local(values["expires_at"])}
    used_at = voucher.used_at
    try:
        states.move(session, voucher, CLAIMED, actor, reason=reason, details=details, at=now, **values)
    except states.StaleState:
        raise InvalidTransition("培训券状态已变化，请刷新后重试") from None
    take_back_use(session, template_id=voucher.template_id, person_id=voucher.person_id, used_at=used_at)
    return days


def _returned_notice(session, voucher: Voucher, training_class: TrainingClass, why: str, days: int) -> None:
    deadline = (f"，有效期延长{days}天，至{to_local(voucher.expires_at):%Y年%m月%d日}" if voucher.expires_at is not None
                else "")
    # A directed voucher still bound to the class (退班: the class runs on) serves that class alone.
    then = (f"该券为定向券，只能用于“{training_class.course_name}”，如需重新参加请联系培训机构。"
            if voucher.bound_class_id == training_class.id else "可报名其他班期使用。")
    notify(session, voucher.person_id, "voucher_returned", "培训券已退回，可继续使用",
           f"{why}，您用于“{training_class.course_name}”（{training_class.institution.name}）的"
           f"“{voucher.template.name}”已退回“我的卡券”{deadline}，{then}",
           link=f"/worker/vouchers/{voucher.code}")


@service
def cancel_class(session, training_class: TrainingClass, reason: str | None, actor: audit.Actor, *,
                 now: datetime | None = None) -> Cancellation:
    """取消班期: every voucher used for the class back to claimed, enrolments ended, workers told;
    one commit, or nothing at all."""
    now = now or utcnow()
    by_bureau = may_cancel(actor, training_class)
    reason = clean_reason(reason, "取消")
    _lock_class(session, training_class, exclusive=True)
    refusal = cancel_problem(training_class, by_bureau, now)
    if refusal is not None:
        raise refusal
    used = list(session.scalars(select(Voucher).where(Voucher.class_id == training_class.id)
                                .order_by(Voucher.id).with_for_update()
                                .execution_options(populate_existing=True)))
    _refuse_settlement(session, used, "取消班期")
    done = Cancellation(training_class, by_bureau=by_bureau)
    for voucher in used:
        days = give_back(session, voucher, training_class, actor, reason=reason, cause=CAUSE_CANCELLED, now=now,
                         unbind=voucher.bound_class_id == training_class.id)
        _returned_notice(session, voucher, training_class, f"班期已取消（原因：{reason}）", days)
        done.returned.append(voucher)
        done.held_days[voucher.id] = days
    _unbind_directed(session, training_class, actor, reason, now)
    told = {v.person_id for v in done.returned}
    enrolled = session.scalars(select(Enrolment).where(
        Enrolment.class_id == training_class.id, Enrolment.status == ENROLLED).order_by(Enrolment.id)
        .with_for_update().execution_options(populate_existing=True)).all()
    for enrolment in enrolled:
        enrolment.status, enrolment.ended_at, enrolment.end_reason = ENROLMENT_CANCELLED, now, reason
        enrolment.voucher_id = None
        done.enrolments_ended += 1
        if enrolment.person_id not in told:
            notify(session, enrolment.person_id, "class_cancelled", "报名的班期已取消",
                   f"{training_class.institution.name}的“{training_class.course_name}”班期已取消（原因：{reason}），"
                   f"您的报名已结束，可在“培训报名”中选择其他班期。", link="/worker/classes")
    training_class.status, training_class.cancelled_at, training_class.cancel_reason = CLASS_CANCELLED, now, reason
    session.flush()
    audit.record(session, actor, "class.cancel", institution_id=training_class.institution_id,
                 region_code=training_class.institution.region_code, reason=reason, at=now,
                 details={"class_id": training_class.id, "by": "bureau" if by_bureau else "institution",
                          "vouchers_returned": [v.code for v in done.returned],
                          "enrolments_ended": done.enrolments_ended})
    session.commit()
    return done


def _unbind_directed(session, training_class: TrainingClass, actor: audit.Actor, reason: str, now) -> None:
    """Directed vouchers issued for the class and not yet used there: the class will never run, so
    their holders may use them at another class the template fits."""
    for voucher in session.scalars(select(Voucher).where(
            Voucher.bound_class_id == training_class.id, Voucher.status == CLAIMED).with_for_update()):
        voucher.bound_class_id = None
        audit.record(session, actor, "voucher.unbind", voucher=voucher, reason=reason, at=now,
                     institution_id=training_class.institution_id,
                     details={"class_id": training_class.id, "course_name": training_class.course_name})


SELF_WITHDRAWN = "学员本人退出报名"


@service
def leave(session, person, training_class: TrainingClass, *, now: datetime | None = None) -> None:
    """退出报名 by the worker themselves, before a voucher was verified for the class and before they
    attended: the enrolment ends and the voucher they chose is theirs to choose for another class.
    A voucher already verified is money the institution accounted for: its 退班 is the institution's."""
    now = now or utcnow()
    _lock_class(session, training_class, exclusive=False)
    _refuse_closed_class(training_class, "退出报名")
    enrolment = session.scalar(select(Enrolment).where(Enrolment.class_id == training_class.id,
                                                       Enrolment.person_id == person.id)
                               .with_for_update().execution_options(populate_existing=True))
    if enrolment is None or enrolment.status != ENROLLED:
        raise NotEnrolled("您没有报名该班期")
    if session.scalar(select(Voucher.id).where(Voucher.class_id == training_class.id, Voucher.person_id == person.id)):
        raise AlreadyAttending("您的培训券已在本班期验券使用，退出班期请联系培训机构办理退班")
    if first_attendance(session, training_class, person.id) is not None:
        raise AlreadyAttending("您已参加本班期的培训，不能自行退出报名；如有特殊情况请联系培训机构")
    enrolment.status, enrolment.ended_at, enrolment.end_reason = WITHDRAWN, now, SELF_WITHDRAWN
    enrolment.voucher_id = None
    session.flush()
    audit.record(session, audit.Actor.for_person(person), "class.leave", person_id=person.id,
                 institution_id=training_class.institution_id, region_code=training_class.institution.region_code,
                 at=now, details={"class_id": training_class.id})
    session.commit()


@service
def withdraw(session, training_class: TrainingClass, id_number: str | None, reason: str | None,
             actor: audit.Actor, *, now: datetime | None = None) -> Withdrawal:
    """退班 of one trainee who has not attended yet: the voucher used for the class (if any) back to
    claimed, the enrolment ended, the worker told. After attendance began: AlreadyAttending."""
    now = now or utcnow()
    if actor.institution_id != training_class.institution_id and not actor.in_region(
            training_class.institution.region_code):
        raise OutOfScope("只能为本机构的班期办理退班")
    problem = id_number_error(id_number)
    if problem:
        raise ValidationFailed(problem, fields={"id_number": problem})
    reason = clean_reason(reason, "退班")
    _lock_class(session, training_class, exclusive=False)
    _refuse_closed_class(training_class, "退班")
    number = normalize_id_number(id_number)
    person = session.scalar(select(Person).where(Person.id_number == number))
    not_listed = NotEnrolled(f"身份证号为{mask_id_number(number)}的学员不在本班期名单中")
    if person is None:
        raise not_listed
    voucher = session.scalar(select(Voucher).where(Voucher.class_id == training_class.id,
                                                   Voucher.person_id == person.id)
                             .with_for_update().execution_options(populate_existing=True))
    enrolment = session.scalar(select(Enrolment).where(Enrolment.class_id == training_class.id,
                                                       Enrolment.person_id == person.id)
                               .with_for_update().execution_options(populate_existing=True))
    if enrolment is None or enrolment.status != ENROLLED:
        if enrolment is not None and enrolment.status == WITHDRAWN and enrolment.ended_at is not None:
            raise NotEnrolled(f"该学员已于{to_local(enrolment.ended_at):%Y年%m月%d日}退班")
        raise not_listed
    refusal = attending(session, training_class, person.id)
    if refusal is not None:
        raise refusal
    if voucher is not None:
        _refuse_settlement(session, [voucher], "退班")
    done = Withdrawal(training_class, person, voucher)
    if voucher is not None and voucher.status == USED:
        done.held_days = give_back(session, voucher, training_class, actor, reason=reason, cause=CAUSE_WITHDRAWN,
                                   now=now)
        _returned_notice(session, voucher, training_class, f"您已退出该班期（原因：{reason}）", done.held_days)
    else:
        notify(session, person.id, "class_withdrawn", "您已退出班期",
               f"{training_class.institution.name}已为您办理“{training_class.course_name}”退班（原因：{reason}）。",
               link="/worker/classes")
    enrolment.status, enrolment.ended_at, enrolment.end_reason = WITHDRAWN, now, reason
    enrolment.voucher_id = None
    session.flush()
    audit.record(session, actor, "class.withdraw", person_id=person.id, institution_id=training_class.institution_id,
                 region_code=training_class.institution.region_code, reason=reason, at=now,
                 details={"class_id": training_class.id, "voucher": voucher.code if voucher is not None else None,
                          "held_days": done.held_days})
    session.commit()
    return done
