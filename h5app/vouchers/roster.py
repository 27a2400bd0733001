"""花名册: an institution adds trainees to a class (the roster a directed issuance is made for).
All-or-nothing: any bad row and nothing is written; every bad row is reported."""
from dataclasses import dataclass

from sqlalchemy import func, select

from ..identity import id_number_error, is_valid_phone, name_error, normalize_id_number, normalize_name, normalize_phone
from ..models import Enrolment, Person, TrainingClass
from ..models.classes import CLASS_CANCELLED, CLASS_COMPLETED, ENROLLED
from ..models.people import VIA_ROSTER
from ..spreadsheets import numbers
from . import audit
from .errors import ClassCancelled, ClassFull, ClassNotOpen, OutOfScope, ValidationFailed
from .transactions import in_chunks, service


@dataclass
class RowError:
    index: int  # 1-based row number as the user sees it
    field: str
    message: str


def validate_rows(rows: list[dict]) -> tuple[list[dict], list[RowError]]:
    clean, errors, seen = [], [], {}
    for index, row in zip(numbers(rows), rows, strict=True):
        name = normalize_name(str(row.get("name") or ""))
        id_number = normalize_id_number(str(row.get("id_number") or ""))
        phone = normalize_phone(str(row.get("phone") or ""))
        problem = id_number_error(id_number)
        if problem:
            errors.append(RowError(index, "id_number", problem))
        elif id_number in seen:
            errors.append(RowError(index, "id_number", f"身份证号与第{seen[id_number]}行重复"))
        else:
            seen[id_number] = index
        name_problem = name_error(name)
        if name_problem:
            errors.append(RowError(index, "name", name_problem))
        if phone and not is_valid_phone(phone):
            errors.append(RowError(index, "phone", "手机号应为11位数字"))
        clean.append({"name": name, "id_number": id_number, "phone": phone or None})
    return clean, errors


def _known_people(session, clean: list[dict], errors: list[RowError], row_numbers: list[int]) -> dict:
    """The people already known by the rows' ID numbers; a row whose name is not theirs is added
    to `errors` beside the rows' other problems, so one answer lists every bad row."""
    unreadable = {error.index for error in errors if error.field in ("id_number", "name")}
    ids = [row["id_number"] for index, row in zip(row_numbers, clean, strict=True) if index not in unreadable]
    people = {}
    for chunk in in_chunks(ids):
        people.update({p.id_number: p for p in session.scalars(select(Person).where(Person.id_number.in_(chunk)))})
    for index, row in zip(row_numbers, clean, strict=True):
        known = people.get(row["id_number"]) if index not in unreadable else None
        if known is not None and known.name != row["name"]:
            errors.append(RowError(index, "name", "姓名与该身份证号的实名信息不一致"))
    return people


def check_room(session, training_class: TrainingClass, joining) -> None:
    """A class with a capacity takes no more trainees than it has places, by roster (or a directed
    issuance naming its people) as by 报名. `joining`: those not on its list yet."""
    if training_class.capacity is None or not joining:
        return
    taken = session.scalar(select(func.count(Enrolment.id)).where(
        Enrolment.class_id == training_class.id, Enrolment.status == ENROLLED))
    if taken + len(joining) > training_class.capacity:
        raise ClassFull(f"该班期名额{training_class.capacity}人，已报名{taken}人，本次新增{len(joining)}人，"
                        f"超出{taken + len(joining) - training_class.capacity}人，未做任何更改；"
                        "请调整名额或名单后重试")


@service
def add_trainees(session, training_class: TrainingClass, rows: list[dict], actor: audit.Actor) -> list[Enrolment]:
    """Enrol every row on the class roster, creating people not yet known. Raises ValidationFailed
    with `rows` (every bad row) and writes nothing when any row is bad."""
    if not actor.for_institution(training_class.institution_id):
        raise OutOfScope("只能为本机构的班期添加学员")
    if training_class.status == CLASS_COMPLETED:
        raise ClassNotOpen("班期已结业，不能再添加学员")
    if training_class.status == CLASS_CANCELLED:
        raise ClassCancelled("班期已取消，不能再添加学员")
    clean, errors = validate_rows(rows)
    if not rows:
        errors.append(RowError(0, "file", "花名册中没有学员"))
    people = _known_people(session, clean, errors, numbers(rows))
    if errors:
        errors.sort(key=lambda error: error.index)
        raise ValidationFailed(f"花名册有{len(errors)}处错误，未导入任何学员", rows=errors)
    enrolled = set(session.scalars(
        select(Enrolment.person_id).where(Enrolment.class_id == training_class.id)
    ))
    check_room(session, training_class, [row for row in clean if (known := people.get(row["id_number"])) is None
                                          or known.id not in enrolled])
    added = []
    for row in clean:
        person = people.get(row["id_number"])
        if person is None:
            person = Person(name=row["name"], id_number=row["id_number"], verified_via=VIA_ROSTER,
                            region_code=training_class.institution.region_code)
            if row["phone"] and not session.scalar(select(Person.id).where(Person.phone == row["phone"])):
                person.phone = row["phone"]
            session.add(person)
            session.flush()
        if person.id in enrolled:
            continue
        enrolment = Enrolment(class_id=training_class.id, person_id=person.id, source="roster")
        session.add(enrolment)
        enrolled.add(person.id)
        added.append(enrolment)
    audit.record(session, actor, "class.roster", institution_id=training_class.institution_id,
                 region_code=training_class.institution.region_code,
                 details={"class_id": training_class.id, "added": len(added), "rows": len(rows)})
    session.commit()
    return added
