"""通用券 to a matched population (大数据比对): who a general template reaches under a bureau's
filters, how many of them, a sample to check, and the offers, made in chunks of a few statements.

The population is one SQL condition — the template's own eligibility (the same as
rules.eligibility_problems reads: real name, region, priority groups, insurance months) and the
bureau's filters — so the count the bureau confirms, the people sampled and the offers made are the
same rows. A person holding any voucher of the template is never offered it again: the chunk's
SELECT leaves them out and the unique (template, person) index drops a voucher a claim slipped in
meanwhile (`ON CONFLICT DO NOTHING`), so a second run, or a run resumed after its process died,
offers nobody twice."""
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Integer, String, bindparam, case, cast, exists, func, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from ..codes import random_code
from ..identity import mask_id_number, mask_name, mask_phone
from ..models import PRIORITY_GROUPS, Issuance, Person, Region, Voucher, VoucherTemplate, in_region, region_covers
from ..models.people import RECORD_REGION_FIELDS
from ..models.vouchers import OFFERED
from ..timeutil import utcnow
from . import audit, notify, rules
from .errors import OutOfStock, PopulationChanged, ValidationFailed
from .issuance import activate, check_general_issuable
from .transactions import service

# 就业状态 a bureau may pick: which record region must be inside the issuing (or chosen) region.
EMPLOYMENT_STATUSES = {
    "unemployment_registered": "已办理失业登记",
    "employed": "在本地就业",
}
_EMPLOYMENT_COLUMNS = {
    "unemployment_registered": Person.unemployment_registered_region_code,
    "employed": Person.employment_region_code,
}

SAMPLE_SIZE = 20
CHUNK = 5000  # offers per transaction: a few statements each, progress reported between them
NOTICE_KIND = "general_offered"


@dataclass(frozen=True)
class Filters:
    """What the bureau narrows the template's own population by. Empty: everyone eligible."""

    groups: tuple[str, ...] = ()
    region_code: str | None = None
    min_insurance_months: int | None = None
    employment: str | None = None

    def to_params(self) -> dict:
        return {"groups": list(self.groups), "region_code": self.region_code,
                "min_insurance_months": self.min_insurance_months, "employment": self.employment}

    @classmethod
    def from_params(cls, params: dict | None) -> "Filters":
        params = params or {}
        return cls(groups=tuple(params.get("groups") or ()), region_code=params.get("region_code") or None,
                   min_insurance_months=params.get("min_insurance_months"),
                   employment=params.get("employment") or None)


@dataclass
class Preview:
    """What the bureau sees before confirming: the people to be offered, those skipped because they
    already hold a voucher of the template, and a masked sample of the first."""

    count: int
    held: int
    sample: list = field(default_factory=list)
    stock_problem: str | None = None


def filter_problems(template: VoucherTemplate, filters: Filters) -> dict:
    """Field → message for filters that cannot apply to `template` (the form shows them)."""
    problems = {}
    unknown = [g for g in filters.groups if g not in PRIORITY_GROUPS]
    if unknown:
        problems["groups"] = "重点群体不在可选范围内"
    if filters.region_code is not None and not region_covers(template.region_code, filters.region_code):
        problems["region_code"] = "所选地区不在该券的使用地区内"
    months = filters.min_insurance_months
    if months is not None and not (isinstance(months, int) and 0 <= months <= 600):
        problems["min_insurance_months"] = "缴费月数应为0至600之间的整数"
    if filters.employment is not None and filters.employment not in EMPLOYMENT_STATUSES:
        problems["employment"] = "就业状态不在可选范围内"
    return problems


# --- the population as SQL ------------------------------------------------------------------------

def _any_group(dialect: str, groups) -> object:
    """The person's groups (a JSON list) share one of `groups`."""
    groups = list(groups)
    if dialect == "postgresql":
        return cast(Person.groups, postgresql.JSONB).has_any(postgresql.array(groups, type_=String))
    each = func.json_each(Person.groups).table_valued("value", joins_implicitly=True)
    return exists(select(literal(1)).select_from(each).where(each.c.value.in_(groups)))


def eligible(template, dialect: str) -> list:
    """SQL of rules.eligibility_problems(person, template) == []: keep the two in step (the tests
    compare them person by person)."""
    conditions = [Person.name != "", Person.verified_via.is_not(None)]  # Person.is_real_name
    conditions.append(rules.region_clause(template.policy, template.region_code))
    if template.eligible_groups:
        conditions.append(_any_group(dialect, template.eligible_groups))
    required = rules.required_insurance_months(template)
    if required:
        conditions.append(Person.insurance_months >= required)
    return conditions


def filtered(template, filters: Filters, dialect: str) -> list:
    """SQL of the bureau's filters."""
    conditions = []
    if filters.groups:
        conditions.append(_any_group(dialect, filters.groups))
    if filters.region_code:
        conditions.append(rules.region_clause(template.policy, filters.region_code))
    if filters.min_insurance_months:
        conditions.append(Person.insurance_months >= filters.min_insurance_months)
    if filters.employment:
        conditions.append(in_region(_EMPLOYMENT_COLUMNS[filters.employment],
                                    filters.region_code or template.region_code))
    return conditions


def holds(template_id: int):
    """The person holds a voucher of the template (in any state)."""
    return exists().where(Voucher.template_id == template_id, Voucher.person_id == Person.id)


def conditions(session, template, filters: Filters) -> list:
    dialect = session.get_bind().dialect.name
    return eligible(template, dialect) + filtered(template, filters, dialect)


def people_query(session, template, filters: Filters = Filters()):
    """Person rows of the population, holders included (issuance.issue_general checks each)."""
    return select(Person).where(*conditions(session, template, filters)).order_by(Person.id)


# --- preview and checks -----------------------------------------------------------------------------

def stock_problem(session, template, count: int, now: datetime, *,
                  advice: str = "请增加筛选条件缩小发放范围") -> str | None:
    """Offers take no stock (a claim does), but offering more people than the stock left could
    give is promising what cannot be given: offers still open count against it. `advice`: what the
    caller can do about it (the population page narrows its filters; a list of people is cut)."""
    if template.stock is None:
        return None
    remaining = max(template.stock - template.claimed_count, 0)
    open_offers = session.scalar(select(func.count(Voucher.id)).where(
        Voucher.template_id == template.id, Voucher.status == OFFERED,
        or_(Voucher.expires_at.is_(None), Voucher.expires_at > now)))
    room = max(remaining - open_offers, 0)
    if count <= room:
        return None
    waiting = f"，已发出尚未领取{open_offers}张" if open_offers else ""
    return (f"该券剩余库存{remaining}张{waiting}，最多还能向{room}人发放；本次符合条件的有{count}人，"
            f"超出库存，{advice}")


def preview(session, template: VoucherTemplate, filters: Filters, actor: audit.Actor, *, now=None,
            sample_size: int = SAMPLE_SIZE) -> Preview:
    """The count to be offered, the holders skipped and a masked sample, for a template the actor may
    issue. Raises the refusal when the template cannot be issued or a filter cannot apply."""
    now = now or utcnow()
    check_general_issuable(actor, template, now)
    problems = filter_problems(template, filters)
    if problems:
        raise ValidationFailed(next(iter(problems.values())), fields=problems)
    where = conditions(session, template, filters)
    held = holds(template.id)
    total, holding = session.execute(
        select(func.count(Person.id), func.coalesce(func.sum(case((held, 1), else_=0)), 0)).where(*where)
    ).one()
    count = total - holding
    people = session.scalars(select(Person).where(*where, ~held).order_by(Person.id).limit(sample_size)).all() \
        if sample_size else []
    sample = [_sampled(person, template, filters) for person in people]
    return Preview(count=count, held=holding, sample=sample, stock_problem=stock_problem(session, template, count, now))


def _sampled(person, template, filters: Filters) -> dict:
    """One person of the sample, masked, with the region of the record that placed them in it."""
    where = filters.region_code or template.region_code
    field, code = next(((f, c) for f, c in rules.person_regions(person, template.policy) if region_covers(where, c)),
                       (None, None))
    return {"name": mask_name(person.name), "id_number": mask_id_number(person.id_number),
            "phone": mask_phone(person.phone), "insurance_months": person.insurance_months or 0,
            "groups": [PRIORITY_GROUPS.get(g, g) for g in (person.groups or [])],
            "region_field": RECORD_REGION_FIELDS.get(field, "所在地区"), "region_code": code}


def region_choices(session, template: VoucherTemplate | None, actor_region: str) -> list[Region]:
    """The regions a bureau may narrow to: its own and those under it (inside the template's)."""
    rows = session.scalars(select(Region).where(in_region(Region.code, actor_region)).order_by(Region.code)).all()
    if template is not None:
        rows = [r for r in rows if region_covers(template.region_code, r.code)]
    return rows


# --- the offers ---------------------------------------------------------------------------------------

def _insert_offers(session, person_ids: list[int], **columns) -> list:
    """INSERT an offer for each person, skipping any who came to hold a voucher of the template
    meanwhile (the unique (template, person) index): (id, person_id) of those written. PostgreSQL
    takes the chunk as two arrays in one INSERT … SELECT FROM unnest (a third of the time of 5,000
    rows of bound values); SQLite, in process, an executemany."""
    table = Voucher.__table__
    codes = [random_code() for _ in person_ids]
    if session.get_bind().dialect.name == "postgresql":
        chunk = func.unnest(bindparam("codes", codes, type_=postgresql.ARRAY(String)),
                            bindparam("person_ids", person_ids, type_=postgresql.ARRAY(Integer))) \
            .table_valued("code", "person_id").render_derived()
        statement = postgresql.insert(table).from_select(["code", "person_id", *columns], select(
            chunk.c.code, chunk.c.person_id, *(literal(value, table.c[name].type) for name, value in columns.items())))
        rows = None
    else:
        statement = sqlite.insert(table)
        rows = [dict(columns, code=code, person_id=person_id)
                for code, person_id in zip(codes, person_ids, strict=True)]
    statement = statement.on_conflict_do_nothing(index_elements=["template_id", "person_id"]) \
        .returning(table.c.id, table.c.person_id)
    return session.execute(statement, rows).all()


@dataclass(frozen=True)
class _Offer:
    """What every offer of one issuance shares."""

    template_id: int
    issuance_id: int
    region_code: str
    actor: audit.Actor
    now: datetime
    deadline: datetime
    title: str
    body: str

    @property
    def link(self) -> str:
        return f"/worker/cards/{self.template_id}"


def _offer_chunk(session, offer: _Offer, person_ids: list[int]) -> list:
    """The chunk's offers, an audit row each and a 消息 each: three statements, whatever its size."""
    written = _insert_offers(session, person_ids, template_id=offer.template_id, issuance_id=offer.issuance_id,
                             status=OFFERED, offered_at=offer.now, expires_at=offer.deadline, created_at=offer.now)
    if written:  # this chunk's vouchers have ids in one range of the issuance's
        ids = [voucher_id for voucher_id, _ in written]
        made = select(Voucher.id, Voucher.person_id).where(Voucher.issuance_id == offer.issuance_id,
                                                            Voucher.id.between(min(ids), max(ids)))
        audit.record_selected(session, offer.actor, "voucher.offer", made, to_status=OFFERED,
                              region_code=offer.region_code, details={"issuance_id": offer.issuance_id}, at=offer.now)
        notify.notify_selected(session, made.with_only_columns(Voucher.person_id, Voucher.id), kind=NOTICE_KIND,
                               title=offer.title, body=offer.body, link=offer.link, created_at=offer.now)
    return written


def _tell_by_sms(sms, phones: list[str], text: str, totals: dict) -> None:
    for phone in phones:
        try:
            sms(phone, text)
        except Exception:  # a gateway's refusal of one number never stops the issuance
            totals["sms_failed"] += 1
        else:
            totals["sms_sent"] += 1


@service
def issue(session, template: VoucherTemplate, filters: Filters, actor: audit.Actor, *, expected: int | None = None,
          now=None, chunk: int = CHUNK, progress=None, sms=None) -> dict:
    """Offer `template` to everyone `filters` select who does not hold it yet, `chunk` people per
    transaction. `expected`: the count the bureau confirmed — if the population has changed since,
    nothing is written (PopulationChanged). `progress(processed=, succeeded=, rejected=, total=)` is
    called after each chunk; `sms(phone, text)`, when given, tells each person with a phone after
    their chunk is committed. Returns the counts: offered, held (skipped), with a phone, SMS sent and
    failed."""
    now = now or utcnow()
    shown = preview(session, template, filters, actor, now=now, sample_size=0)
    if expected is not None and shown.count != expected:
        raise PopulationChanged(f"符合条件的人数已从{expected}人变为{shown.count}人"
                                "（人员信息或持券情况有更新），请重新预览后再确认")
    if shown.count == 0:
        held = f"（{shown.held}人已持有该券）" if shown.held else ""
        raise ValidationFailed(f"没有符合条件且尚未持有该券的人员{held}，请调整筛选条件")
    if shown.stock_problem:
        raise OutOfStock(shown.stock_problem)

    issuance = Issuance(template_id=template.id, filters=filters.to_params(),
                        created_by_id=actor.id if actor.type == "staff" else None)
    session.add(issuance)
    activate(session, template, actor)
    session.commit()
    offer = _Offer(template.id, issuance.id, template.region_code, actor, now, rules.offer_deadline(template),
                   "您有一张职业培训券可以领取",
                   f"人社部门根据您的参保和就业登记信息，向您发放了“{template.name}”，"
                   f"请在{rules.chinese_date(template.claim_ends_on)}前到“卡券中心”领取。")
    where = conditions(session, template, filters) + [~holds(template.id)]
    totals = {"offered": 0, "held": shown.held, "phones": 0, "sms_sent": 0, "sms_failed": 0}
    processed, last_id = 0, 0
    if progress:
        progress(processed=0, succeeded=0, total=shown.count)
    while batch := session.execute(select(Person.id, Person.phone).where(*where, Person.id > last_id)
                                   .order_by(Person.id).limit(chunk)).all():
        last_id, phones = batch[-1][0], dict(batch)
        written = _offer_chunk(session, offer, [person_id for person_id, _ in batch])
        totals["offered"] += len(written)
        totals["held"] += len(batch) - len(written)  # came to hold one between the SELECT and the INSERT
        session.execute(Issuance.__table__.update().where(Issuance.__table__.c.id == offer.issuance_id)
                        .values(count=totals["offered"]))
        session.commit()
        processed += len(batch)
        reachable = [phones[person_id] for _voucher_id, person_id in written if phones[person_id]]
        totals["phones"] += len(reachable)
        if sms is not None:
            _tell_by_sms(sms, reachable, offer.body, totals)
        if progress:
            progress(processed=processed, succeeded=totals["offered"], rejected=processed - totals["offered"],
                     total=max(shown.count, processed))
    audit.record(session, actor, "issuance.general", region_code=offer.region_code,
                 details={"template_id": offer.template_id, "issuance_id": offer.issuance_id,
                          "count": totals["offered"], "held": totals["held"], "filters": filters.to_params()})
    session.commit()
    return {"issuance_id": offer.issuance_id, "template_id": offer.template_id, **totals}


def describe(filters: Filters, region_names: dict) -> str:
    """The filters in words, for the preview and the task's page."""
    parts = []
    if filters.groups:
        parts.append("重点群体：" + "、".join(PRIORITY_GROUPS.get(g, g) for g in filters.groups))
    if filters.region_code:
        parts.append("地区：" + region_names.get(filters.region_code, filters.region_code))
    if filters.min_insurance_months:
        parts.append(f"缴费满{filters.min_insurance_months}个月")
    if filters.employment:
        parts.append(EMPLOYMENT_STATUSES.get(filters.employment, filters.employment))
    return "；".join(parts) or "按券模板条件，不另加筛选"

