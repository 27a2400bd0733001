"""培训证书: a bureau (or an exam centre through it) records a person's certificate, one by one
(API) or as a file from the certificate system (page, `flask certificates import`). A worker
subsidy that a certificate makes due (seed 003 §三(五)) is found in the same transaction."""
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from ..access import person_in_region
from ..identity import id_number_error, mask_id_number, normalize_id_number, normalize_name
from ..models import Certificate, Person
from ..spreadsheets import read_table, records
from ..timeutil import local_today
from . import audit, settlement
from .errors import ValidationFailed
from .transactions import service

COLUMNS = {
    "id_number": ("身份证号", "公民身份号码", "id_number"),
    "name": ("姓名", "name"),
    "number": ("证书编号", "number"),
    "occupation": ("职业", "职业（工种）", "工种", "occupation"),
    "level": ("等级", "level"),
    "issued_on": ("发证日期", "issued_on"),
    "issuer": ("发证机构", "issuer"),
    "certificate_name": ("证书名称", "certificate_name"),
}
REQUIRED = {"id_number", "name", "number", "occupation", "issued_on", "issuer"}


@dataclass
class ImportReport:
    added: int
    matched: int


def _problems(session, values: dict, numbers_seen: set, actor: audit.Actor) -> tuple[dict, Person | None]:
    fields = {}
    id_number = normalize_id_number(values.get("id_number"))
    problem = id_number_error(id_number)
    person = None
    if problem:
        fields["id_number"] = problem
    else:
        person = session.scalar(select(Person).where(Person.id_number == id_number))
        if person is None or not _holds(actor, person):
            person = None  # another region's person is not this bureau's to learn of
            fields["id_number"] = "该身份证号在本地区没有人员记录"
        elif normalize_name(values.get("name")) != person.name:
            fields["name"] = "姓名与该身份证号的实名信息不一致"
    number = (values.get("number") or "").strip()
    if not number or len(number) > 64:
        fields["number"] = "请填写证书编号（64个字符以内）"
    elif number in numbers_seen or session.scalar(select(Certificate.id).where(Certificate.number == number)):
        fields["number"] = "该证书编号已存在"
    if not (values.get("occupation") or "").strip():
        fields["occupation"] = "请填写职业（工种）"
    if not (values.get("issuer") or "").strip():
        fields["issuer"] = "请填写发证机构"
    if not isinstance(values.get("issued_on"), date):
        fields["issued_on"] = "发证日期格式应为 2026-03-01"
    elif values["issued_on"] > local_today():  # a certificate not yet issued would make a subsidy due
        fields["issued_on"] = f"发证日期不能晚于今天（{local_today().isoformat()}）"
    return fields, person


def _holds(actor: audit.Actor, person: Person) -> bool:
    """The system, or a bureau whose region holds any region of the person's record (as its people
    pages and the API): a record moved by another region's bureau does not take the person away."""
    return actor.type == "system" or person_in_region(person, actor.region_code)


def _add(session, values: dict, person: Person, actor: audit.Actor) -> Certificate:
    certificate = Certificate(
        person_id=person.id, number=values["number"].strip(), occupation=values["occupation"].strip(),
        level=(values.get("level") or "").strip() or None,
        name=values.get("certificate_name") or f"{values['occupation']}{values.get('level') or ''}职业技能等级证书",
        issued_on=values["issued_on"], issuer=values["issuer"].strip(),
    )
    session.add(certificate)
    session.flush()
    audit.record(session, actor, "certificate.add", person_id=person.id, region_code=person.region_code,
                 details={"certificate_id": certificate.id, "number": certificate.number})
    return certificate


@service
def record_certificate(session, values: dict, actor: audit.Actor) -> tuple[Certificate, Person]:
    """The person must be known and the name must match their real name; the number is unique."""
    fields, person = _problems(session, values, set(), actor)
    if fields:
        raise ValidationFailed(next(iter(fields.values())), fields=fields)
    certificate = _add(session, values, person, actor)
    settlement.match_for_person(session, person.id, actor)
    session.commit()
    return certificate, person


def _date(text: str):
    """2026-03-01, 2026/3/1 (how Excel in China writes a date into CSV), 2026.3.1, or an Excel date
    cell (read as "2026-03-01 00:00:00")."""
    parts = (text or "").strip().removesuffix(" 00:00:00").replace("/", "-").replace(".", "-").split("-")
    try:
        return date(*map(int, parts)) if len(parts) == 3 and len(parts[0]) == 4 else None
    except ValueError:
        return None


@service
def import_certificates(session, filename: str, data: bytes, actor: audit.Actor) -> ImportReport:
    """A certificate file (CSV in UTF-8/GBK, or XLSX), all or nothing: any bad row and nothing is
    added, with every bad row listed by its line in the file (ID numbers masked)."""
    rows = records(read_table(filename, data), COLUMNS, REQUIRED)
    if not rows:
        raise ValidationFailed("文件中没有证书数据")
    bad, ready, numbers = [], [], set()
    for row in rows:
        line = row.line
        values = {**row, "issued_on": _date(row.get("issued_on"))}
        fields, person = _problems(session, values, numbers, actor)
        numbers.add((values.get("number") or "").strip())
        if fields:
            bad.append({"index": line - 1, "line": line, "code": "VALIDATION_FAILED",
                        "id_number": mask_id_number(normalize_id_number(row.get("id_number"))),
                        "message": "；".join(fields.values())})
        else:
            ready.append((values, person))
    if bad:
        raise ValidationFailed(f"有{len(bad)}行有误，未导入任何证书", rows=bad)
    people = {}
    for values, person in ready:
        _add(session, values, person, actor)
        people[person.id] = person
    matched = sum(len(settlement.match_for_person(session, person_id, actor)) for person_id in people)
    session.commit()
    return ImportReport(len(ready), matched)
