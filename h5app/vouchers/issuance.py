"""发券: general offers to a target population, and directed vouchers for a class roster."""
from dataclasses import dataclass, field

from sqlalchemy import select, update

from ..codes import random_code
from ..models import (
    AuditEvent, Enrolment, Issuance, Notification, Person, TrainingClass, Voucher, VoucherTemplate,
)
from ..models.people import VIA_IMPORT
from ..models.vouchers import CLAIMED, DIRECTED, GENERAL, OFFERED, TEMPLATE_ACTIVE, TEMPLATE_CLOSED
from ..timeutil import local_today, utcnow
from . import audit, directed, rules
from .errors import (
    ClaimClosed, InvalidTransition, NotApplicable, OutOfScope, OutOfStock, PlanChanged, ValidationFailed,
)
from .claim import region_names
from .roster import check_room
from .transactions import service


@dataclass
class IssueReport:
    issuance: Issuance
    done: list = field(default_factory=list)  # vouchers (general) or (id, person_id, code) rows (directed)
    rejected: list = field(default_factory=list)  # (person, code, message)


def _check_issuable(actor: audit.Actor, template: VoucherTemplate, mode: str) -> None:
    if not actor.in_region(template.region_code):
        raise OutOfScope("只能为本地区的券模板发券")
    if template.distribution_mode != mode:
        raise NotApplicable("通用券请向人群发放，不能按花名册发放" if mode == DIRECTED else "定向券请按班期花名册发放")
    if template.status == TEMPLATE_CLOSED:
        raise ClaimClosed("该券模板已关闭")


def lapse_problem(template: VoucherTemplate, now) -> str | None:
    """Why nobody could claim or use an offer of `template` any more (its claim window has ended or
    its use deadline has passed), or None. An offer made before the window opens is fine: it waits
    in 卡券中心 until then."""
    if local_today(now) < template.claim_starts_on:
        return None
    return rules.claim_window_problem(template, now)


def activate(session, template: VoucherTemplate, actor: audit.Actor) -> None:
    """The first issuance puts a draft template into force (it can no longer be edited)."""
    if template.status != TEMPLATE_ACTIVE:
        audit.record(session, actor, "template.activate", region_code=template.region_code,
                     details={"template_id": template.id, "from": template.status})
        template.status = TEMPLATE_ACTIVE


@service
def put_in_force(session, template: VoucherTemplate, actor: audit.Actor, *, now=None) -> VoucherTemplate:
    """Put a draft template into force without issuing from it (what the first issuance does), so
    workers may claim an open general template in 卡券中心. A template already in force is left as
    it is; a closed or lapsed one is refused."""
    if not actor.in_region(template.region_code):
        raise OutOfScope("只能启用本地区的券模板")
    if template.status == TEMPLATE_CLOSED:
        raise InvalidTransition("该券模板已关闭，不能再启用")
    if template.status != TEMPLATE_ACTIVE:
        problem = lapse_problem(template, now or utcnow())
        if problem:
            raise ValidationFailed(f"{problem}，不能再启用")
        activate(session, template, actor)
        session.commit()
    return template


def check_general_issuable(actor: audit.Actor, template: VoucherTemplate, now) -> None:
    """Raise why `template` cannot be offered now: another region's, not a general one, closed, or
    lapsed (an offer nobody could claim or use is no offer: 422, as for any template that cannot work)."""
    _check_issuable(actor, template, GENERAL)
    lapsed = lapse_problem(template, now)
    if lapsed:
        raise ValidationFailed(f"{lapsed}，不能再发券")


@service
def issue_general(session, template: VoucherTemplate, actor: audit.Actor, *, groups=None, region_code=None,
                  min_insurance_months=None, people=None, now=None) -> IssueReport:
    """Offer `template` to a population (the filters) or to listed people; each gets an `offered`
    voucher in 卡券中心. Stock is taken at claim, not at offer."""
    from .population import Filters, people_query, stock_problem

    now = now or utcnow()
    check_general_issuable(actor, template, now)
    filters = {"groups": groups or [], "region_code": region_code, "min_insurance_months": min_insurance_months}
    issuance = Issuance(template=template, filters=filters, created_by_id=actor.id if actor.type == "staff" else None)
    session.add(issuance)
    session.flush()
    activate(session, template, actor)
    if people is None:
        people = session.scalars(people_query(session, template, Filters(
            groups=tuple(groups or ()), region_code=region_code, min_insurance_months=min_insurance_months))).all()
    report = IssueReport(issuance)
    held = set(session.scalars(select(Voucher.person_id).where(Voucher.template_id == template.id)))
    names = region_names(session)
    deadline = rules.offer_deadline(template)
    for person in people:
        if person.id in held:
            report.rejected.append((person, "ALREADY_CLAIMED", "已持有该券"))
            continue
        problems = rules.eligibility_problems(person, template, names)
        if problems:
            report.rejected.append((person, "NOT_ELIGIBLE", for_bureau(problems[0])))
            continue
        report.done.append(Voucher(code=random_code(), template=template, issuance_id=issuance.id,
                                   person_id=person.id, status=OFFERED, offered_at=now, expires_at=deadline))
        held.add(person.id)
    # The population page's rule, for the API too.
    beyond = stock_problem(session, template, len(report.done), now, advice="请缩小发放范围或分批发放")
    if beyond:
        raise OutOfStock(beyond)
    session.add_all(report.done)
    session.flush()
    for voucher in report.done:
        audit.record(session, actor, "voucher.offer", voucher=voucher, to_status=OFFERED, at=now)
    issuance.count = len(report.done)
    audit.record(session, actor, "issuance.general", region_code=template.region_code,
                 details={"template_id": template.id, "issuance_id": issuance.id, "count": issuance.count})
    session.commit()
    return report


@service
def issue_directed(session, template: VoucherTemplate, training_class: TrainingClass, actor: audit.Actor,
                   *, now=None, person_ids=None, expected: str | None = None) -> IssueReport:
    """Issue directed vouchers to everyone on the class roster (or to `person_ids` of it) who holds
    none for the class yet (directed.py): auto-claimed, bound to the class, and each worker notified.
    Stock is all-or-nothing for the batch. `expected`: the digest of the plan the bureau confirmed;
    a plan changed since is refused (PlanChanged) and nothing is issued."""
    now = now or utcnow()
    planned = directed.plan(session, template, training_class, actor, now=now, person_ids=person_ids)
    if expected is not None and planned.digest != expected:
        raise PlanChanged("花名册或学员持券情况已变化，请重新核对发放名单后再确认")
    issuance = Issuance(template=template, class_id=training_class.id,
                        created_by_id=actor.id if actor.type == "staff" else None)
    session.add(issuance)
    report = IssueReport(issuance, rejected=list(planned.skipped))
    chosen = planned.chosen
    if chosen:
        result = session.execute(
            update(VoucherTemplate)
            .where(VoucherTemplate.id == template.id,
                   (VoucherTemplate.stock.is_(None))
                   | (VoucherTemplate.claimed_count + len(chosen) <= VoucherTemplate.stock))
            .values(claimed_count=VoucherTemplate.claimed_count + len(chosen))
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise OutOfStock(f"券模板剩余库存不足以为{len(chosen)}人发券")
    activate(session, template, actor)
    session.flush()
    deadline = rules.claim_deadline(template, now)
    # Bulk statements (INSERT … RETURNING in batches): a directed issuance may cover 100,000 people.
    rows = [dict(code=random_code(), template_id=template.id, issuance_id=issuance.id, person_id=person.id,
                 status=CLAIMED, bound_class_id=training_class.id, offered_at=now, claimed_at=now,
                 expires_at=deadline, created_at=now) for person in chosen]
    connection = session.connection()
    for start in range(0, len(rows), 5000):  # executemany, no per-row RETURNING
        connection.execute(Voucher.__table__.insert(), rows[start:start + 5000])
    report.done = session.execute(
        select(Voucher.id, Voucher.person_id, Voucher.code).where(Voucher.issuance_id == issuance.id)
        .order_by(Voucher.id)
    ).all()
    body = (f"人社部门已为您发放“{template.name}”，用于{training_class.institution.name}的"
            f"“{training_class.course_name}”班期，已自动领取，可在“我的卡券”中查看。")
    system = audit.Actor.system("系统自动领取")
    for start in range(0, len(report.done), 5000):
        batch = report.done[start:start + 5000]
        connection.execute(AuditEvent.__table__.insert(), [dict(
            at=now, actor_type=system.type, actor_id=None, actor_label=system.label, action="voucher.claim",
            voucher_id=v.id, from_status=None, to_status=CLAIMED, person_id=v.person_id,
            institution_id=training_class.institution_id, region_code=template.region_code, reason="定向券自动领取",
            details={"issued_by": actor.label}) for v in batch])
        # New vouchers cannot have a notice yet, so no look-up first.
        connection.execute(Notification.__table__.insert(), [dict(
            person_id=v.person_id, kind="directed_issued", title="您有一张定向培训券已到账", body=body,
            voucher_id=v.id, link=f"/worker/vouchers/{v.code}", created_at=now) for v in batch])
    issuance.count = len(report.done)
    audit.record(session, actor, "issuance.directed", region_code=template.region_code,
                 institution_id=training_class.institution_id,
                 details={"template_id": template.id, "class_id": training_class.id, "count": issuance.count})
    session.commit()
    return report


def for_bureau(problem: str) -> str:
    """An eligibility problem (worded for the worker in 卡券中心) as the issuing clerk reads it."""
    return problem.replace("您", "该人员")


@service
def issue_to_people(session, template: VoucherTemplate, rows: list[dict], actor: audit.Actor, *,
                    training_class: TrainingClass | None = None, now=None) -> IssueReport:
    """发券 to listed people (the API's form): each row {id_number, name, phone}. People not yet
    known are recorded as the issuing bureau lists them. General templates offer; directed ones put
    the people on the class roster and issue claimed vouchers bound to it. Reported per person."""
    from .roster import validate_rows

    clean, errors = validate_rows(rows)
    bad = {}
    for error in errors:
        bad.setdefault(error.index, error.message)
    known = {p.id_number: p for p in session.scalars(
        select(Person).where(Person.id_number.in_([r["id_number"] for r in clean])))}
    rejected, people, names = [], [], region_names(session)
    for index, row in enumerate(clean, start=1):
        if index in bad:
            rejected.append((row, "INVALID", bad[index]))
            continue
        person = known.get(row["id_number"])
        if person is not None and person.name != row["name"]:
            rejected.append((row, "NAME_MISMATCH", "姓名与该身份证号的实名信息不一致"))
            continue
        if person is None:
            person = Person(name=row["name"], id_number=row["id_number"], verified_via=VIA_IMPORT,
                            region_code=template.region_code, groups=[], insurance_months=0)
            problems = rules.eligibility_problems(person, template, names) if template.distribution_mode == GENERAL \
                else []
            if problems:  # nobody is recorded for an offer that is refused
                rejected.append((row, "NOT_ELIGIBLE", for_bureau(problems[0])))
                continue
            if row["phone"] and not session.scalar(select(Person.id).where(Person.phone == row["phone"])):
                person.phone = row["phone"]
            session.add(person)
            session.flush()
            known[person.id_number] = person
        people.append(person)
    if template.distribution_mode == GENERAL:
        report = issue_general(session, template, actor, people=people, now=now)
    else:
        if training_class is None:
            raise NotApplicable("定向券须指定班期（class_id）")
        enrolled = set(session.scalars(select(Enrolment.person_id).where(Enrolment.class_id == training_class.id)))
        check_room(session, training_class, {p.id for p in people if p.id not in enrolled})  # as a roster does
        for person in people:
            if person.id not in enrolled:
                session.add(Enrolment(class_id=training_class.id, person_id=person.id, source="roster"))
                enrolled.add(person.id)
        session.flush()
        report = issue_directed(session, template, training_class, actor, now=now,
                                person_ids={p.id for p in people})
    report.rejected = rejected + report.rejected
    return report
