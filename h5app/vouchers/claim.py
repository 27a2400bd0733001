"""领券: a worker takes a voucher into 我的卡券, after the eligibility and stock checks."""
from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from ..codes import random_code
from ..models import Person, Region, Voucher, VoucherTemplate
from ..models.vouchers import CLAIMED, GENERAL, OFFERED, TEMPLATE_ACTIVE
from ..timeutil import local_year_bounds, utcnow
from . import audit, rules, states
from .unit import lock_person, service
from .errors import AlreadyClaimed, ClaimClosed, NotEligible, OutOfStock, YearlyLimitReached


class RegionNames:
    """Region names for messages, looked up only when a message needs one (the happy path of a
    claim formats no message and so costs no query)."""

    def __init__(self, session):
        self.session, self.cache = session, {}

    def get(self, code, default=None):
        if code not in self.cache:
            self.cache[code] = self.session.scalar(select(Region.name).where(Region.code == code))
        return self.cache[code] or default


def region_names(session) -> RegionNames:
    return RegionNames(session)


# Built once: on the claim path, building statements would cost more than running them.
_TAKE_STOCK = (
    update(VoucherTemplate.__table__)
    .where(
        VoucherTemplate.id == bindparam("template_id"),
        or_(VoucherTemplate.stock.is_(None), VoucherTemplate.claimed_count < VoucherTemplate.stock),
    )
    .values(claimed_count=VoucherTemplate.claimed_count + 1)
)
_HELD = select(Voucher.id, Voucher.status).where(
    Voucher.template_id == bindparam("template_id"), Voucher.person_id == bindparam("person_id")
)
_NEW_VOUCHER = insert(Voucher.__table__).returning(Voucher.id)


def take_stock(session, template_id: int) -> None:
    """Guarded increment: never more claims than stock, whatever the concurrency."""
    if session.connection().execute(_TAKE_STOCK, {"template_id": template_id}).rowcount != 1:
        raise OutOfStock("该培训券已被领完，请关注其他培训券")


def claims_of_type_this_year(session, person_id: int, template, now) -> int:
    """Vouchers of the same type (and region policy) the person took this local year (Chongqing)."""
    start, end = local_year_bounds(rules.local_year(now))
    return session.scalar(
        select(func.count(Voucher.id))
        .join(VoucherTemplate, Voucher.template_id == VoucherTemplate.id)
        .where(
            Voucher.person_id == person_id,
            Voucher.template_id != template.id,
            VoucherTemplate.voucher_type == template.voucher_type,
            VoucherTemplate.policy_id == template.policy_id,
            Voucher.claimed_at >= start,
            Voucher.claimed_at < end,
        )
    )


def count_claims_of_type(held, template, now) -> int:
    """claims_of_type_this_year, counted in Python from the person's vouchers already loaded with
    their templates (卡券中心 checks every template against one read of them)."""
    start, end = local_year_bounds(rules.local_year(now))
    return sum(
        1 for voucher in held
        if voucher.template_id != template.id
        and voucher.template.voucher_type == template.voucher_type
        and voucher.template.policy_id == template.policy_id
        and voucher.claimed_at is not None and start <= voucher.claimed_at < end
    )


def claim_problems(session, person, template, now, *, names=None, held=None) -> list[tuple[type, str]]:
    """Everything that stands between `person` and a voucher of `template`, for display in
    卡券中心 and for `claim`. Each item is (error class, message).
    A page checking many templates passes what it has loaded, so the check costs no statement:
    `names` (region names by code) and `held` (all the person's vouchers, templates loaded)."""
    problems = []
    if template.status != TEMPLATE_ACTIVE:
        problems.append((ClaimClosed, "该券已停止发放"))
    if template.distribution_mode != GENERAL:
        problems.append((NotEligible, "定向券由培训机构报名后直接发放到人，无需领取"))
    window = rules.claim_window_problem(template, now)
    if window:
        problems.append((ClaimClosed, window))
    names = region_names(session) if names is None else names
    for message in rules.eligibility_problems(person, template, names):
        problems.append((NotEligible, message))
    limit = template.policy.claims_per_type_per_year
    if limit and (count_claims_of_type(held, template, now) if held is not None
                  else claims_of_type_this_year(session, person.id, template, now)) >= limit:
        problems.append((
            YearlyLimitReached, f"本年度同类型培训券（{template.voucher_type}）每人限领{limit}次，您已领取",
        ))
    if template.remaining_stock == 0:
        problems.append((OutOfStock, "该培训券已领完"))
    return problems


@service
def claim(session, person: Person, template: VoucherTemplate, *, now=None, actor=None) -> Voucher:
    """Claim a voucher of `template` for `person`; commit on success, roll back and raise the
    first problem's DomainError otherwise."""
    now = now or utcnow()
    actor = actor or audit.Actor.for_person(person)
    try:
        if template.policy.claims_per_type_per_year:
            lock_person(session, person.id)  # the yearly count below must not race
        held = session.connection().execute(_HELD, {"template_id": template.id, "person_id": person.id}).first()
        existing = session.get(Voucher, held.id) if held is not None and held.status == OFFERED else None
        if held is not None and held.status != OFFERED:
            raise AlreadyClaimed("您已领取过该培训券，请在“我的卡券”中查看")
        if template.audience == "targeted" and existing is None:
            raise NotEligible("该券仅向人社部门选定的人员发放，您不在本次发放范围内")
        problems = claim_problems(session, person, template, now)
        if problems:
            error_class, message = problems[0]
            raise error_class(message, reasons=[m for _, m in problems])
        take_stock(session, template.id)
        deadline = rules.claim_deadline(template, now)
        if existing is not None:
            states.move(session, existing, CLAIMED, actor, at=now, claimed_at=now, expires_at=deadline)
            voucher = existing
        else:
            values = dict(code=random_code(), template_id=template.id, person_id=person.id, status=CLAIMED,
                          claimed_at=now, expires_at=deadline, created_at=now)
            # A plain INSERT … RETURNING, then the object attached as already persistent: the
            # unit-of-work flush would double the cost of a claim.
            voucher = Voucher(id=session.connection().execute(_NEW_VOUCHER, values).scalar_one(), **values)
            make_transient_to_detached(voucher)
            session.add(voucher)
            audit.record(session, actor, "voucher.claim", voucher=voucher, from_status=None,
                         to_status=CLAIMED, at=now)
        session.commit()
        return voucher
    except IntegrityError:
        # The unique (template, person) index caught a concurrent claim by the same person.
        session.rollback()
        raise AlreadyClaimed("您已领取过该培训券，请在“我的卡券”中查看") from None
    except states.StaleState:
        session.rollback()
        raise AlreadyClaimed("您已领取过该培训券，请在“我的卡券”中查看") from None
