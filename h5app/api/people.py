"""People records through the API (API.md, "People records"): `POST /people` takes the bureau's
eligibility records item by item by the one merge rule of every record (h5app/people/records.py),
and `GET /people/{id_number}` answers the record and which open general templates the person may
claim now, with the reasons for each they may not. A bureau sees and writes the people its region
holds; a channel reads, masked, the people who signed in through it."""
from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field, StrictInt
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..identity import id_number_error, mask_id_number, mask_phone, normalize_id_number
from ..models import Person, Voucher, VoucherTemplate, in_region
from ..models.integration import SCOPE_BUREAU, SCOPE_CHANNEL
from ..models.people import RECORD_FIELDS
from ..models.vouchers import GENERAL, OFFERED, TEMPLATE_ACTIVE
from ..people.fields import RegionBook, clean_record, describe
from ..people.records import CREATED, apply_records
from ..timeutil import local_today, utcnow
from ..vouchers import audit
from ..vouchers.claim import claim_problems, region_names
from .blueprint import bp
from .errors import ApiError, not_found
from .registry import endpoint
from .schemas import In
from .scope import visible_person

MAX_ITEMS = 10_000
REGION = Annotated[str | None, Field(default=None, max_length=32, description="6位行政区划代码")]


class PersonRecordIn(In):
    id_number: Annotated[str, Field(min_length=1, max_length=32, description="18位公民身份号码（GB 11643 校验）")]
    name: Annotated[str, Field(min_length=1, max_length=30)]
    phone: Annotated[str | None, Field(default=None, max_length=20, description="只登记给尚无手机号的人员，且不能是他人已用的号码")]
    hukou_region_code: REGION
    residence_region_code: REGION
    employment_region_code: REGION
    insurance_region_code: REGION
    insurance_months: Annotated[StrictInt | None, Field(default=None, description="在参保地累计缴纳失业保险的月数，0–600")]
    unemployment_registered_region_code: REGION
    groups: Annotated[list[Annotated[str, Field(max_length=30)]] | None,
                      Field(default=None, max_length=20, description="重点群体代码（unemployed 等）或名称；[] 表示不属于任何重点群体")]
    as_of: Annotated[str, Field(min_length=1, max_length=20, description="这些信息所属的日期 YYYY-MM-DD，不能晚于今天；早于已登记信息的不会覆盖")]


class PeopleIn(In):
    people: Annotated[list[PersonRecordIn], Field(min_length=1, max_length=MAX_ITEMS)]


class PersonRecordDone(BaseModel):
    index: int = Field(description="在请求 people 中的序号，从1开始")
    id_number: str
    created: bool
    changed: list[str] = Field(description="本次更新的字段；空表示与已登记的相同")
    notes: list[str] = Field(description="部分未更新的字段及原因、未登记的手机号等")


class PersonRecordRejected(BaseModel):
    index: int
    id_number: str
    code: str = Field(description="INVALID、NAME_MISMATCH、OUT_OF_SCOPE、RECORD_OUTDATED、RECORD_CONFLICT")
    message: str
    field: str | None = None


class PeopleRecordsOut(BaseModel):
    done: list[PersonRecordDone]
    rejected: list[PersonRecordRejected]


class PersonRecordFields(BaseModel):
    hukou_region_code: str | None
    residence_region_code: str | None
    employment_region_code: str | None
    insurance_region_code: str | None
    insurance_months: int | None
    unemployment_registered_region_code: str | None
    groups: list[str]
    region_code: str | None = Field(description="所在地区：常住地，否则参保地、就业地、户籍地、失业登记地")
    as_of: date | None = Field(description="最新信息的日期；null 表示尚无人员信息记录")
    source: str | None = Field(description="最新信息的来源：import（导入）、api、sso（渠道）")
    field_dates: dict[str, str] = Field(description="各字段当前值的信息日期")


class ClaimReason(BaseModel):
    code: str
    message: str


class TemplateClaimability(BaseModel):
    template_id: int
    name: str
    region_code: str
    claimable: bool
    reasons: list[ClaimReason]


class RecordHolder(BaseModel):
    name: str
    id_number: str = Field(description="脱敏，持有该记录的人社部门除外")
    phone: str | None = Field(description="脱敏")


class PersonRecordOut(BaseModel):
    person: RecordHolder
    record: PersonRecordFields
    templates: list[TemplateClaimability] = Field(description="现在开放领取的通用券，及不能领取的原因")


@endpoint(bp, "POST", "/people", scopes=(SCOPE_BUREAU,), summary="人员信息（大数据比对）：按身份证号登记或更新",
          body=PeopleIn, response=PeopleRecordsOut, tag="people")
def upsert_people(caller, body):
    regions, today = RegionBook.load(db.session), local_today()
    done, rejected, items = [], [], []
    for index, item in enumerate(body.people, start=1):
        incoming, errors = clean_record(item.model_dump(), regions, today, ref=index)
        if errors:
            field = next(iter(errors))
            rejected.append({"index": index, "id_number": _shown(item.id_number), "code": "INVALID",
                             "message": describe(errors), "field": field if field in PersonRecordIn.model_fields else None})
        else:
            items.append(incoming)
    outcomes = []
    for start in range(0, len(items), 1000):
        outcomes += apply_records(db.session, items[start:start + 1000], source="api", origin=f"API {caller.prefix}",
                                  scope_region=caller.code)
    for outcome in outcomes:
        number = outcome.incoming.id_number
        if outcome.accepted:
            done.append({"index": outcome.incoming.ref, "id_number": number, "created": outcome.status == CREATED,
                         "changed": list(outcome.changes), "notes": outcome.notes})
        else:
            rejected.append({"index": outcome.incoming.ref, "id_number": number, "code": outcome.code,
                             "message": outcome.message})
    audit.record(db.session, caller.actor, "people.upsert", region_code=caller.code,
                 details={"items": len(body.people), "done": len(done), "rejected": len(rejected),
                          "created": sum(1 for o in outcomes if o.status == CREATED)})
    db.session.commit()
    rejected.sort(key=lambda row: row["index"])
    return {"done": done, "rejected": rejected}


def _shown(raw: str) -> str:
    """An ID number as the bureau sent it, trimmed to what it could be (it may be malformed)."""
    return normalize_id_number(raw)[:32]


@endpoint(bp, "GET", "/people/{id_number}", scopes=(SCOPE_BUREAU, SCOPE_CHANNEL),
          summary="人员信息：记录、信息日期与来源，以及现在可领取的通用券和不能领取的原因",
          response=PersonRecordOut, tag="people")
def person_record(caller, id_number):
    problem = id_number_error(id_number)
    if problem:
        raise ApiError(422, "VALIDATION_FAILED", problem, fields={"id_number": problem})
    person = db.session.scalar(select(Person).where(Person.id_number == normalize_id_number(id_number)))
    if not visible_person(caller, person):
        raise not_found("未找到该人员")
    bureau = caller.scope == SCOPE_BUREAU
    audit.record(db.session, caller.actor, "person.view", person_id=person.id,
                 region_code=caller.code if bureau else None, details={"via": "api"})
    templates = _eligibility(person, caller.code if bureau else None)
    db.session.commit()
    return {
        "person": {"name": person.name,
                   "id_number": person.id_number if bureau else mask_id_number(person.id_number),
                   "phone": mask_phone(person.phone) if person.phone else None},
        "record": {**{name: getattr(person, name) for name in RECORD_FIELDS},
                   "groups": list(person.groups or []), "region_code": person.region_code,
                   "as_of": person.record_as_of.isoformat() if person.record_as_of else None,
                   "source": person.record_source,
                   "field_dates": dict(person.record_dates or {})},
        "templates": templates,
    }


def _eligibility(person: Person, region_code: str | None) -> list[dict]:
    """The open general templates in their claim window (a bureau: of its region), each with
    claim_problems as 卡券中心 shows them."""
    now, today = utcnow(), local_today()
    query = (select(VoucherTemplate).options(joinedload(VoucherTemplate.policy))
             .where(VoucherTemplate.distribution_mode == GENERAL, VoucherTemplate.status == TEMPLATE_ACTIVE,
                    VoucherTemplate.audience == "open", VoucherTemplate.claim_starts_on <= today,
                    VoucherTemplate.claim_ends_on >= today).order_by(VoucherTemplate.claim_ends_on, VoucherTemplate.id))
    if region_code is not None:
        query = query.where(in_region(VoucherTemplate.region_code, region_code))
    held = db.session.scalars(select(Voucher).where(Voucher.person_id == person.id)
                              .options(joinedload(Voucher.template).joinedload(VoucherTemplate.policy))).all()
    mine = {voucher.template_id: voucher for voucher in held}
    names = region_names(db.session)
    out = []
    for template in db.session.scalars(query):
        reasons = []
        voucher = mine.get(template.id)
        if voucher is not None and voucher.effective_status(now) != OFFERED:
            reasons.append({"code": "ALREADY_CLAIMED", "message": "已领取过该培训券"})
        reasons += [{"code": kind.code, "message": message}
                    for kind, message in claim_problems(db.session, person, template, now, names=names, held=held)]
        out.append({"template_id": template.id, "name": template.name, "region_code": template.region_code,
                    "claimable": not reasons, "reasons": reasons})
    return out

