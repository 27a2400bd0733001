"""What one verification (verify.py) reads, in one statement: the class, its institution and — by
code — the voucher with its owner, template, policy and the owner's enrolment in the class come
back as one plain row, with no ORM objects built. The plain row types share their status logic
with the models."""
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cache

from sqlalchemy import and_, bindparam, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import scoped_session

from ..database import prepared
from ..models import Enrolment, Institution, Person, Policy, TrainingClass, Voucher, VoucherTemplate
from ..models.classes import ClassStatus
from ..models.institutions import InstitutionStatus
from ..models.vouchers import VoucherStatus


# --- the plain rows (field names are the models' column names) -----------------------------------

@dataclass(frozen=True, slots=True)
class PolicyLimits:
    id: int
    uses_per_year: int | None
    uses_per_occupation_per_year: int | None


@dataclass(frozen=True, slots=True)
class TemplateRow:
    id: int
    name: str
    region_code: str
    function_mode: str
    distribution_mode: str
    face_value_fen: int | None
    project_types: list
    occupation: str | None
    level: str | None
    policy: PolicyLimits


@dataclass(frozen=True, slots=True)
class PersonRow:
    id: int
    name: str
    id_number: str


@dataclass(slots=True)
class VoucherRow(VoucherStatus):
    """Mutable: a successful move mirrors its new values here, as it would on a Voucher."""

    id: int
    code: str
    status: str
    template_id: int
    person_id: int
    bound_class_id: int | None
    claimed_at: datetime | None
    expires_at: datetime | None
    used_at: datetime | None
    settled_at: datetime | None
    class_id: int | None
    institution_id: int | None
    template: TemplateRow
    person: PersonRow


@dataclass(frozen=True, slots=True)
class InstitutionRow(InstitutionStatus):
    id: int
    region_code: str
    status: str
    suspended_reason: str | None


@dataclass(frozen=True, slots=True)
class ClassRow(ClassStatus):
    id: int
    institution_id: int
    course_name: str
    status: str
    project_type: str
    occupation: str
    level: str | None


@dataclass(frozen=True, slots=True)
class Reading:
    training_class: ClassRow
    institution: InstitutionRow
    voucher: VoucherRow | None  # None: no voucher has this code
    enrolment_status: str | None  # the owner's enrolment in the class, if any



# --- the statement --------------------------------------------------------------------------------

def _labelled(model, row_type, prefix: str) -> list:
    table = model.__table__
    return [table.c[f.name].label(prefix + f.name) for f in fields(row_type) if f.name in table.c]


@cache
def _labels() -> dict[str, int]:
    return {column.name: index for index, column in enumerate(_reading_query().selected_columns)}


def _position(label: str) -> int:
    return _labels()[label]


@cache
def _positions(row_type, prefix: str) -> tuple:
    """Where each field of `row_type` sits in the reading's row (None: a nested row, given)."""
    return tuple((f.name, _labels().get(prefix + f.name)) for f in fields(row_type))


def _take(row_type, row, prefix: str, **nested):
    return row_type(*[nested[name] if index is None else row[index] for name, index in _positions(row_type, prefix)])


_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


def reads_in_autocommit(session) -> bool:
    """PostgreSQL, with nothing of the caller's in the session's transaction: the read and the one-statement
    write (verify._write) each run as a transaction of their own — two round trips, where BEGIN, SELECT,
    WITH, COMMIT take four. Nothing is lost: in one READ COMMITTED transaction the two statements
    would not share a snapshot either (each sees what was committed before it began), and the
    guarded UPDATE decides every race. A yearly limit needs its lock and count in the writes'
    transaction, so then verify._use opens one. Asked after the caller's work is flushed."""
    current = session() if isinstance(session, scoped_session) else session
    bind = current.get_bind()  # a Connection (the scan gun's chunk) brings its own transaction
    return (isinstance(bind, Engine) and bind.dialect.name == "postgresql" and not current.in_transaction()
            # Under REPEATABLE READ or SERIALIZABLE the one transaction would guarantee more.
            and bind.dialect.default_isolation_level == "READ COMMITTED")


@cache
def _reading_query():
    """One statement, built once: the class and its institution, and by code the voucher, its
    owner, template, policy and the owner's enrolment in the class (NULLs when no voucher has it)."""
    c, i, v = TrainingClass.__table__, Institution.__table__, Voucher.__table__
    p, t, pol, e = Person.__table__, VoucherTemplate.__table__, Policy.__table__, Enrolment.__table__
    columns = [*_labelled(TrainingClass, ClassRow, "c_"), *_labelled(Institution, InstitutionRow, "i_"),
               *_labelled(Voucher, VoucherRow, "v_"), *_labelled(Person, PersonRow, "p_"),
               *_labelled(VoucherTemplate, TemplateRow, "t_"), *_labelled(Policy, PolicyLimits, "pol_"),
               e.c.status.label("enrolment_status")]
    joined = (c.join(i, i.c.id == c.c.institution_id)
              .outerjoin(v, v.c.code == bindparam("code"))
              .outerjoin(p, p.c.id == v.c.person_id)
              .outerjoin(t, t.c.id == v.c.template_id)
              .outerjoin(pol, pol.c.id == t.c.policy_id)
              .outerjoin(e, and_(e.c.class_id == c.c.id, e.c.person_id == v.c.person_id)))
    return select(*columns).select_from(joined).where(c.c.id == bindparam("class_id"))


def read(session, class_id: int, code: str, *, autocommit: bool = False) -> Reading | None:
    """None when the class does not exist. With `autocommit` (PostgreSQL, see reads_in_autocommit)
    the read is a transaction of its own; otherwise it is the writes' transaction — on SQLite its
    BEGIN IMMEDIATE makes every check hold until the commit (a class closed or an institution
    suspended meanwhile waits for this verification, or this one sees it). The caller has flushed."""
    connection = session.connection(execution_options=_AUTOCOMMIT if autocommit else None)
    rows = prepared(_reading_query()).execute(connection, {"class_id": class_id, "code": code}).rows
    row = rows[0] if rows else None
    if row is None:
        return None
    voucher = None
    if row[_position("v_id")] is not None:
        template = _take(TemplateRow, row, "t_", policy=_take(PolicyLimits, row, "pol_"))
        voucher = _take(VoucherRow, row, "v_", template=template, person=_take(PersonRow, row, "p_"))
    return Reading(_take(ClassRow, row, "c_"), _take(InstitutionRow, row, "i_"), voucher,
                   row[_position("enrolment_status")])
