"""Who a directed issuance (定向发券 to a class roster) reaches, worked out before anything is written:
the bureau sees this plan — who gets a voucher, who is skipped and why — and confirms it, and
issuance.issue_directed writes exactly it.

A roster person who already holds a voucher for the class is skipped: one used for it, the one they
chose when they enrolled (still 可使用), or a directed one of another template bound to it. Before
this rule a worker who had enrolled with her own voucher got a second, directed one (3 issued for a
roster of 2), and the trainee list showed that one in place of hers (issue 19)."""
import hashlib
from dataclasses import dataclass, field

from sqlalchemy import select

from ..models import Enrolment, Person, TrainingClass, Voucher, VoucherTemplate
from ..models.classes import CLASS_PENDING_REVIEW, ENROLLED
from ..models.vouchers import CLAIMED, DIRECTED, SETTLED, USED
from . import rules
from .cancellation import closed_class
from .claim import claims_of_type_this_year
from .errors import ClaimClosed, ClassNotOpen, ClassPendingReview, InstitutionSuspended, NotApplicable, OutOfScope

HELD = (CLAIMED, USED, SETTLED)


@dataclass
class DirectedPlan:
    template: VoucherTemplate
    training_class: TrainingClass
    roster_size: int
    chosen: list = field(default_factory=list)  # people
    skipped: list = field(default_factory=list)  # (person, code, message)

    @property
    def digest(self) -> str:
        """Names this plan's list of people: a confirmation of a plan that has since changed (a
        trainee added, a voucher used) is refused rather than issued to people nobody saw."""
        ids = ",".join(str(person.id) for person in self.chosen)
        text = f"{self.template.id}:{self.training_class.id}:{ids}"
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    @property
    def stock_problem(self) -> str | None:
        remaining = self.template.remaining_stock
        if remaining is not None and remaining < len(self.chosen):
            return f"券模板剩余库存{remaining}张，不足以为{len(self.chosen)}人发券"
        return None


def check_class(template: VoucherTemplate, training_class: TrainingClass, actor, now) -> None:
    """The refusals that concern the whole batch, before anyone on the roster is looked at."""
    from .issuance import _check_issuable  # the checks every issuance shares

    _check_issuable(actor, template, DIRECTED)
    if actor.region_code and not actor.in_region(training_class.institution.region_code):
        raise OutOfScope("只能为本地区培训机构的班期发券")
    if training_class.institution.is_suspended:  # its front desk could not verify them (verify.judge)
        raise InstitutionSuspended(f"“{training_class.institution.name}”已被暂停验券资格，整改恢复前不能为其班期发放定向券")
    # A cancelled or completed class holds no more lessons: a voucher bound to it could never be
    # used. One whose enrolment is closed (or not yet open) still trains its roster, so it may.
    ended = closed_class(training_class, "发放定向券")
    if ended is not None:
        raise ended
    if training_class.status == CLASS_PENDING_REVIEW:
        raise ClassPendingReview(f"班期“{training_class.course_name}”尚未通过开班审核，审核通过后才能发放定向券")
    if training_class.is_unapproved:
        raise ClassNotOpen(f"班期“{training_class.course_name}”开班审核未通过，已退回培训机构修改，不能发放定向券")
    window = rules.claim_window_problem(template, now)
    if window:  # directed vouchers are claimed at once, so the claim window applies to issuing them
        raise ClaimClosed(window)
    problem = rules.applicability_problem(template, training_class, training_class.institution)
    if problem:
        raise NotApplicable(problem)


def _tail(code: str) -> str:
    return f"尾号{code[-4:]}"


def held_for_class(session, template: VoucherTemplate, training_class: TrainingClass, now) -> dict[int, str]:
    """person id → why they already hold a voucher for this class (the words shown to the bureau)."""
    held = {}
    for person_id, code in session.execute(select(Voucher.person_id, Voucher.code).where(
            Voucher.class_id == training_class.id, Voucher.status.in_((USED, SETTLED)))):
        held[person_id] = f"已用自己的培训券（{_tail(code)}）在本班期验券"
    chosen = session.execute(
        select(Enrolment.person_id, Voucher)
        .join(Voucher, Voucher.id == Enrolment.voucher_id)
        .where(Enrolment.class_id == training_class.id, Enrolment.status == ENROLLED))
    for person_id, voucher in chosen:
        if person_id not in held and voucher.effective_status(now) == CLAIMED:
            held[person_id] = f"报名时已选用自己的培训券（{_tail(voucher.code)}），无需再发"
    bound = session.scalars(select(Voucher).where(Voucher.bound_class_id == training_class.id,
                                                  Voucher.template_id != template.id))
    for voucher in bound:
        if voucher.person_id not in held and voucher.effective_status(now) in HELD:
            held[voucher.person_id] = f"已持有本班期的另一张定向券（{_tail(voucher.code)}）"
    return held


def plan(session, template: VoucherTemplate, training_class: TrainingClass, actor, *, now,
         person_ids=None) -> DirectedPlan:
    """The roster (or `person_ids` of it) sorted into those who get a voucher and those skipped."""
    # Read afresh under a KEY SHARE lock: a cancellation (FOR UPDATE) either waits for this issuance,
    # and unbinds its vouchers, or has already cancelled the class. The row is fetched: an unread
    # result refreshes nothing (populate_existing acts on the rows loaded).
    session.scalars(select(TrainingClass).where(TrainingClass.id == training_class.id)
                    .with_for_update(read=True, key_share=True, of=TrainingClass)
                    .execution_options(populate_existing=True)).one()
    check_class(template, training_class, actor, now)
    roster = list(session.scalars(
        select(Person).join(Enrolment, Enrolment.person_id == Person.id)
        .where(Enrolment.class_id == training_class.id, Enrolment.status == ENROLLED)
        .order_by(Enrolment.id)
    ))
    if person_ids is not None:
        roster = [person for person in roster if person.id in person_ids]
    result = DirectedPlan(template, training_class, len(roster))
    same_template = set(session.scalars(select(Voucher.person_id).where(Voucher.template_id == template.id)))
    for_class = held_for_class(session, template, training_class, now)
    limit = template.policy.claims_per_type_per_year
    for person in roster:
        if person.id in same_template:
            result.skipped.append((person, "ALREADY_CLAIMED", "已持有该券"))
            continue
        if person.id in for_class:
            result.skipped.append((person, "ALREADY_IN_CLASS", for_class[person.id]))
            continue
        problems = rules.eligibility_problems(person, template, check_region=False)
        if problems:
            result.skipped.append((person, "NOT_ELIGIBLE", problems[0]))
            continue
        if limit and claims_of_type_this_year(session, person.id, template, now) >= limit:
            result.skipped.append((person, "YEARLY_LIMIT_REACHED",
                                   f"本年度已领取过同类型培训券（{template.voucher_type}）"))
            continue
        result.chosen.append(person)
    return result
