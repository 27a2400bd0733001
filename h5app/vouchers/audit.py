"""Who did it, and the audit record of what was done."""
from dataclasses import dataclass

from sqlalchemy import literal

from ..models import AuditEvent, Institution, Person
from ..timeutil import utcnow


@dataclass(frozen=True)
class Actor:
    type: str  # staff | person | api_key | device | system
    id: int | None
    label: str
    region_code: str | None = None  # bureau staff and bureau API keys
    institution_id: int | None = None  # officers, verifiers, institution keys, devices

    def in_region(self, region_code: str | None) -> bool:
        """May act on what belongs to `region_code`: the system, or a bureau whose region covers it."""
        from ..models import region_covers

        return self.type == "system" or (bool(self.region_code) and region_covers(self.region_code, region_code))

    def for_institution(self, institution_id: int | None) -> bool:
        """False for an institution's staff, key or device acting on another institution's object."""
        return self.institution_id is None or self.institution_id == institution_id

    @classmethod
    def system(cls, label: str = "系统") -> "Actor":
        return cls("system", None, label)

    @classmethod
    def for_staff(cls, user) -> "Actor":
        return cls("staff", user.id, f"{user.role_label} {user.username}", user.region_code, user.institution_id)

    @classmethod
    def for_person(cls, person) -> "Actor":
        from ..identity import mask_name

        return cls("person", person.id, f"劳动者 {mask_name(person.name)}")


INSERT = AuditEvent.__table__.insert()  # built once: every voucher move writes a row


def record(session, actor: Actor, action: str, *, voucher=None, from_status=None, to_status=None,
           person_id=None, institution_id=None, region_code=None, reason=None, details=None, at=None) -> None:
    """Append one audit row, written at once in the caller's transaction (it commits or rolls
    back with the change it records). A plain INSERT: the log is never read back as objects here,
    and every voucher move writes one."""
    if session.new:
        session.flush()  # the row may point at a voucher or person added in this transaction
    if region_code is None and voucher is None:
        region_code = region_of(session, institution_id, person_id)
    session.connection().execute(INSERT, values(
        actor, action, voucher=voucher, from_status=from_status, to_status=to_status, person_id=person_id,
        institution_id=institution_id, region_code=region_code, reason=reason, details=details, at=at))


def region_of(session, institution_id: int | None, person_id: int | None) -> str | None:
    """Where an event with no region of its own belongs: its institution's region, else its
    person's. A clerk's 审计日志 shows only rows of its region (bureau/oversight.py), so a sign-in,
    an enrolment or an exam result must carry one. Usually the identity map answers, no SELECT."""
    if institution_id is not None:
        institution = session.get(Institution, institution_id)
        if institution is not None:
            return institution.region_code
    if person_id is not None:
        person = session.get(Person, person_id)
        if person is not None:
            return person.region_code
    return None


def record_many(session, rows: list[dict]) -> None:
    """Append many audit rows (each `values(...)`) in one executemany: a settlement of 5,000 lines
    writes 5,000 rows, and one round trip each would be most of its time."""
    if not rows:
        return
    if session.new:
        session.flush()
    session.connection().execute(INSERT, rows)


def record_selected(session, actor: Actor, action: str, selected, *, to_status=None, region_code=None,
                    details=None, at=None) -> None:
    """Append one audit row per voucher `selected` names — a SELECT of (voucher_id, person_id) —
    in one INSERT … SELECT: 100,000 offers of a population issuance bind no parameters per row."""
    row = values(actor, action, to_status=to_status, region_code=region_code, details=details, at=at)
    table = AuditEvent.__table__
    constants = {name: literal(value, table.c[name].type) for name, value in row.items()
                 if name not in ("voucher_id", "person_id")}
    voucher_id, person_id = selected.selected_columns
    session.connection().execute(table.insert().from_select(
        ["voucher_id", "person_id", *constants],
        selected.with_only_columns(voucher_id, person_id, *constants.values())))


def values(actor: Actor, action: str, *, voucher=None, from_status=None, to_status=None, person_id=None,
           institution_id=None, region_code=None, reason=None, details=None, at=None) -> dict:
    """The audit row's columns."""
    return dict(
        at=at or utcnow(),
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        voucher_id=voucher.id if voucher is not None else None,
        from_status=from_status,
        to_status=to_status,
        person_id=person_id if person_id is not None else (voucher.person_id if voucher is not None else None),
        institution_id=institution_id,
        region_code=region_code or (voucher.template.region_code if voucher is not None else None),
        reason=reason,
        details=details or {},
    )
