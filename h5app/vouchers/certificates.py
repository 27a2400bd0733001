"""培训证书: a bureau (or an exam centre through it) records a person's certificate."""
from sqlalchemy import select

from ..identity import id_number_error, normalize_id_number, normalize_name
from ..models import Certificate, Person
from . import audit
from .errors import ValidationFailed
from .unit import service


@service
def record_certificate(session, values: dict, actor: audit.Actor) -> tuple[Certificate, Person]:
    """The person must be known and the name must match their real name; the number is unique."""
    id_number = normalize_id_number(values["id_number"])
    problem = id_number_error(id_number)
    if problem:
        raise ValidationFailed(problem, fields={"id_number": problem})
    person = session.scalar(select(Person).where(Person.id_number == id_number))
    if person is None:
        raise ValidationFailed("该身份证号没有人员记录", fields={"id_number": "该身份证号没有人员记录"})
    if normalize_name(values["name"]) != person.name:
        raise ValidationFailed("姓名与该身份证号的实名信息不一致", fields={"name": "姓名与实名信息不一致"})
    if session.scalar(select(Certificate.id).where(Certificate.number == values["number"])):
        raise ValidationFailed("该证书编号已存在", fields={"number": "该证书编号已存在"})
    certificate = Certificate(
        person_id=person.id, number=values["number"], occupation=values["occupation"], level=values.get("level"),
        name=values.get("certificate_name") or f"{values['occupation']}{values.get('level') or ''}职业技能等级证书",
        issued_on=values["issued_on"], issuer=values["issuer"],
    )
    session.add(certificate)
    session.flush()
    audit.record(session, actor, "certificate.add", person_id=person.id, region_code=person.region_code,
                 details={"certificate_id": certificate.id, "number": certificate.number})
    session.commit()
    return certificate, person
