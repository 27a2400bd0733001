"""领券: a worker takes a voucher into 我的卡券, after the eligibility and stock checks.

A claim reads one statement (`read_offer`): the template's status and stock as they are now, and
the voucher the person already holds of it; the rest of the template comes from a per-process
cache (`template_terms`). It writes in one short transaction — the voucher, its audit row, then
the guarded stock UPDATE — so the template's row, which every claimant of a popular template
needs, is locked only from that UPDATE to the COMMIT right after it."""
import time
from contextlib import nullcontext
from dataclasses import dataclass, fields
from datetime import date, datetime

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from ..codes import random_code
from ..models import Person, Policy, Region, Voucher, VoucherTemplate
from ..models.vouchers import (
    CLAIMED, DISTRIBUTION_MODES, FUNCTION_MODES, GENERAL, OFFERED, TEMPLATE_ACTIVE, TEMPLATE_DRAFT, VoucherStatus,
)
from ..timeutil import local_year_bounds, utcnow
from . import audit, rules, states
from .errors import AlreadyClaimed, ClaimClosed, NotEligible, OutOfStock, YearlyLimitReached
from .transactions import lock_person, service


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


# --- the template's terms, cached per process ------------------------------------------------------
#
# What never changes once a template is issued (templates.update_template edits drafts only) is
# kept per process with its policy's rules, as TemplateTerms. The invalidation rule:
#   * status, stock and claimed_count are never cached: every confirm page and claim reads them;
#   * a draft is never cached: it may still be edited;
#   * an entry serves only the row it was read from: `read_offer` reads the row's created_at with
#     its live state, and an entry with another created_at (a deleted template's id taken again,
#     as SQLite does) is read afresh;
#   * an entry is read afresh TERMS_MAX_AGE seconds after it was loaded, so a policy adjusted in
#     the database applies within that time, as region names do (h5app/region_names.py).
TERMS_MAX_AGE = 300.0  # seconds
TERMS_MAX_ENTRIES = 10_000  # templates anyone opened lately; past this the cache starts over


@dataclass(frozen=True)
class PolicyTerms:
    """The rules of a template's policy that a claim and its confirm page apply."""

    id: int
    code: str
    claims_per_type_per_year: int | None
    min_insurance_months_general: int | None
    activation_days: int | None


@dataclass(frozen=True)
class TemplateTerms:
    """An issued template's fields that never change, with its policy: what a claim needs of the
    template besides its status and stock. Read-only, shared by every request of the process."""

    id: int
    created_at: datetime
    name: str
    voucher_type: str
    region_code: str
    function_mode: str
    distribution_mode: str
    face_value_fen: int | None
    standard_fen: int | None
    eligible_groups: tuple[str, ...]
    min_insurance_months: int | None
    occupation: str | None
    level: str | None
    project_types: tuple[str, ...]
    claim_starts_on: date
    claim_ends_on: date
    valid_until: date | None
    valid_days: int | None
    audience: str
    policy_id: int
    policy: PolicyTerms

    @property
    def function_label(self) -> str:
        return FUNCTION_MODES[self.function_mode]

    @property
    def distribution_label(self) -> str:
        return DISTRIBUTION_MODES[self.distribution_mode]

    @classmethod
    def of(cls, template) -> "TemplateTerms":
        """The terms of a template the caller has loaded (no cache, no statement but its policy's
        when that is not loaded yet)."""
        values = {name: getattr(template, name) for name in _TEMPLATE_FIELDS}
        policy = PolicyTerms(**{name: getattr(template.policy, name) for name in _POLICY_FIELDS})
        return cls._build(values, policy)

    @classmethod
    def _build(cls, values: dict, policy: PolicyTerms) -> "TemplateTerms":
        return cls(**{**values, "eligible_groups": tuple(values["eligible_groups"] or ()),
                      "project_types": tuple(values["project_types"] or ()), "policy": policy})


@dataclass(frozen=True)
class LiveTemplate(TemplateTerms):
    """A template as one request sees it: the cached terms and the status and stock just read.
    It answers what the rules and the pages ask of a VoucherTemplate."""

    status: str
    stock: int | None
    claimed_count: int

    @property
    def remaining_stock(self) -> int | None:
        return None if self.stock is None else max(self.stock - self.claimed_count, 0)


@dataclass(frozen=True)
class HeldVoucher(VoucherStatus):
    """The voucher the person already holds of the template (an offer, or one claimed before)."""

    id: int
    status: str
    expires_at: datetime | None


@dataclass(frozen=True)
class Offer:
    """One person and one template, as read in one statement: the template now, what they hold."""

    template: LiveTemplate
    held: HeldVoucher | None


_TEMPLATE_FIELDS = tuple(f.name for f in fields(TemplateTerms) if f.name != "policy")
_POLICY_FIELDS = tuple(f.name for f in fields(PolicyTerms))
_templates, _policies, _vouchers = VoucherTemplate.__table__, Policy.__table__, Voucher.__table__
_terms: dict[int, tuple[float, TemplateTerms]] = {}  # template id → (loaded at, terms)

# Built once: on the claim path, building statements would cost more than running them.
_READ_TERMS = (
    select(*(_templates.c[name] for name in _TEMPLATE_FIELDS), _templates.c.status,
           *(_policies.c[name].label(f"policy__{name}") for name in _POLICY_FIELDS))
    .join_from(_templates, _policies, _policies.c.id == _templates.c.policy_id)
    .where(_templates.c.id == bindparam("template_id"))
)
_READ_OFFER = (
    select(_templates.c.created_at, _templates.c.status, _templates.c.stock, _templates.c.claimed_count,
           _vouchers.c.id.label("held_id"), _vouchers.c.status.label("held_status"),
           _vouchers.c.expires_at.label("held_expires_at"))
    .select_from(_templates.outerjoin(_vouchers, and_(_vouchers.c.template_id == _templates.c.id,
                                                      _vouchers.c.person_id == bindparam("person_id"))))
    .where(_templates.c.id == bindparam("template_id"))
)
_TAKE_STOCK = (
    update(_templates)
    .where(_templates.c.id == bindparam("template_id"), _templates.c.status == TEMPLATE_ACTIVE,
           or_(_templates.c.stock.is_(None), _templates.c.claimed_count < _templates.c.stock))
    .values(claimed_count=_templates.c.claimed_count + 1)
)
_STATUS = select(_templates.c.status).where(_templates.c.id == bindparam("template_id"))
_NEW_VOUCHER = insert(_vouchers).returning(_vouchers.c.id)


def template_terms(session, template_id: int, created_at: datetime) -> TemplateTerms | None:
    """The terms of the template whose row, as just read, was created at `created_at`: from the
    cache while they hold (see the rule above), else read in one statement. None when there is no
    such template."""
    entry = _terms.get(template_id)
    if entry is not None and time.monotonic() - entry[0] < TERMS_MAX_AGE and entry[1].created_at == created_at:
        return entry[1]
    loaded_at = time.monotonic()
    row = session.connection().execute(_READ_TERMS, {"template_id": template_id}).mappings().first()
    if row is None:
        _terms.pop(template_id, None)
        return None
    terms = TemplateTerms._build({name: row[name] for name in _TEMPLATE_FIELDS},
                                 PolicyTerms(**{name: row[f"policy__{name}"] for name in _POLICY_FIELDS}))
    if row["status"] != TEMPLATE_DRAFT:
        if len(_terms) >= TERMS_MAX_ENTRIES:
            _terms.clear()
        _terms[template_id] = (loaded_at, terms)
    return terms


def forget_terms() -> None:
    """Drop every cached template's terms: the next claim of each reads them (a cold start)."""
    _terms.clear()


def read_offer(session, person_id: int, template_id: int, terms: TemplateTerms | None = None) -> Offer | None:
    """The template as it is now and the voucher `person_id` holds of it, in one statement (plus
    one when its terms are not cached); None when there is no such template. `terms`: the
    caller's own, when it has the template loaded."""
    row = session.connection().execute(_READ_OFFER, {"template_id": template_id, "person_id": person_id}).first()
    if row is None:
        return None
    created_at, status, stock, claimed_count, held_id, held_status, held_expires_at = row
    terms = terms or template_terms(session, template_id, created_at)
    if terms is None:  # deleted in between
        return None
    held = None if held_id is None else HeldVoucher(held_id, held_status, held_expires_at)
    return Offer(LiveTemplate(**vars(terms), status=status, stock=stock, claimed_count=claimed_count), held)


def take_stock(session, template_id: int) -> None:
    """Guarded increment: never more claims than stock, whatever the concurrency, and none once the
    template is closed. Only a refusal costs a second statement, to say which it was."""
    connection = session.connection()
    if connection.execute(_TAKE_STOCK, {"template_id": template_id}).rowcount != 1:
        if connection.scalar(_STATUS, {"template_id": template_id}) != TEMPLATE_ACTIVE:
            raise ClaimClosed("该券已停止发放")
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


def offer_problems(session, person, offer: Offer, now, *, names=None) -> list[tuple[type, str]]:
    """claim_problems for what `read_offer` found, with what the person already holds first: the
    confirm page shows them, `claim` raises the first."""
    problems = []
    if offer.held is not None and offer.held.status != OFFERED:
        problems.append((AlreadyClaimed, "您已领取过该培训券，请在“我的卡券”中查看"))
    if offer.template.audience == "targeted" and offer.held is None:
        problems.append((NotEligible, "该券仅向人社部门选定的人员发放，您不在本次发放范围内"))
    return problems + claim_problems(session, person, offer.template, now, names=names)


@service
def claim(session, person: Person, template, *, now=None, actor=None, offer: Offer | None = None,
          admit=nullcontext) -> Voucher:
    """Claim a voucher of `template` (a VoucherTemplate, or an offer's template) for `person`;
    commit on success, roll back and raise the first problem's DomainError otherwise.

    `offer`: what `read_offer` found for this person and template in this transaction — a page that
    read it to show the claim passes it on, and the claim reads nothing more.
    `admit`: a context manager the writing runs in, once every check has passed: the pages pass
    their admission control (h5app/admission.py), which may refuse at once, before any write."""
    now = now or utcnow()
    actor = actor or audit.Actor.for_person(person)
    try:
        if template.policy.claims_per_type_per_year:
            lock_person(session, person.id)  # the yearly count below must not race
        if offer is None:
            offer = read_offer(session, person.id, template.id, TemplateTerms.of(template))
            if offer is None:
                raise ClaimClosed("该券已停止发放")
        problems = offer_problems(session, person, offer, now)
        if problems:
            error_class, message = problems[0]
            raise error_class(message, reasons=[m for _, m in problems])
        if offer.held is not None:
            return _take_offered(session, offer, actor, now, admit)
        return _take_new(session, person, offer.template, actor, now, admit)
    except (IntegrityError, states.StaleState):
        # The unique (template, person) index, or the offer's guarded move, caught a concurrent
        # claim by the same person.
        session.rollback()
        raise AlreadyClaimed("您已领取过该培训券，请在“我的卡券”中查看") from None


def _take_new(session, person: Person, template: LiveTemplate, actor, now, admit) -> Voucher:
    """Everything is worked out before the first write; the stock UPDATE comes last, so the
    template's row is locked only until the COMMIT right after it."""
    values = dict(code=random_code(), template_id=template.id, person_id=person.id, status=CLAIMED,
                  claimed_at=now, expires_at=rules.claim_deadline(template, now), created_at=now)
    voucher = Voucher(**values)  # not in the session: a plain INSERT writes it (a flush would cost double)
    connection = session.connection()
    with admit():
        voucher.id = connection.execute(_NEW_VOUCHER, values).scalar_one()
        audit.record(session, actor, "voucher.claim", voucher=voucher, person_id=person.id,
                     region_code=template.region_code, to_status=CLAIMED, at=now)
        take_stock(session, template.id)
        session.commit()
    # The committed row, attached as loaded: reading voucher.code next costs no statement.
    make_transient_to_detached(voucher)
    session.add(voucher)
    return voucher


def _take_offered(session, offer: Offer, actor, now, admit) -> Voucher:
    """A targeted template: the voucher offered to the person moves to claimed."""
    voucher = session.get(Voucher, offer.held.id)
    with admit():
        states.move(session, voucher, CLAIMED, actor, at=now, claimed_at=now,
                    expires_at=rules.claim_deadline(offer.template, now))
        take_stock(session, offer.template.id)
        session.commit()
    return voucher
