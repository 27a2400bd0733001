"""The one rule by which an incoming record — a bureau's import, a partner's `POST /people`, a
channel's SSO ticket — updates a person, matched by ID number (created when unknown).

A record gives some of RECORD_FIELDS and the day they were true (`as_of`). Field by field:
  * a field whose stored value is dated later than `as_of` is kept: an older record never
    overwrites a newer one;
  * the same day, with another value already taken that day: kept, and the record is said to
    conflict with it (a correction is newer information: it carries the day of the correction, so
    taking one file twice, duplicates inside it included, always ends the same way);
  * otherwise the record's value is taken and dated `as_of` (the same value: only its date moves);
  * a field the record leaves out (a blank cell, a key not sent) stays as it is.
A record of which nothing was taken (no value changed or confirmed as of a later day, and some
field kept) is rejected, with the reason; one taken in part says which fields were kept. A record that changed something writes one PersonRecordChange (field →
[old, new]); the same record taken again changes nothing and writes nothing. `record_dates` keeps
each field's date, `record_as_of` the latest of them, `record_source` where that latest came from.

所在地区 (Person.region_code: pages, the bureau's scope, statistics) follows the record: its first
region in REGION_CODE_ORDER — where the person lives, else where insured, employed, of hukou,
registered unemployed. A record that names no region leaves it as it was.

Name and phone belong to the person, not to the record: a record whose name differs from the
person's is rejected (NAME_MISMATCH); its phone is recorded only on a person who has none, and only
when nobody else holds that number (the outcome says so otherwise) — a phone a worker proved by SMS
is never replaced by a file."""
import json
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import JSON, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..identity import mask_phone
from ..models import Person, PersonRecordChange, region_prefix
from ..models.people import RECORD_FIELDS, RECORD_REGION_FIELDS, REGION_CODE_ORDER, VIA_API, VIA_IMPORT

FIELD_LABELS = {**RECORD_REGION_FIELDS, "insurance_months": "参保月数", "groups": "重点群体"}

CREATED, UPDATED, UNCHANGED, REJECTED = "created", "updated", "unchanged", "rejected"
OUTCOME_LABELS = {CREATED: "新增", UPDATED: "已更新", UNCHANGED: "无变化", REJECTED: "未导入"}

# How a person first recorded by a record's source was identified (Person.verified_via): not by
# its owner, who still binds name + ID by SMS or comes through a channel (models.people).
VERIFIED_VIA = {"import": VIA_IMPORT, "api": VIA_API, "demo": VIA_IMPORT}

# Rejection codes (the API's rows[].code; the import's result file gives the message).
NAME_MISMATCH = "NAME_MISMATCH"
OUT_OF_SCOPE = "OUT_OF_SCOPE"
RECORD_OUTDATED = "RECORD_OUTDATED"
RECORD_CONFLICT = "RECORD_CONFLICT"


@dataclass
class Incoming:
    """One record, checked (fields.clean_record): `fields` holds only the fields it gives."""

    id_number: str
    name: str
    as_of: date
    fields: dict
    phone: str | None = None
    ref: int | None = None  # the file's line number or the request's item index


@dataclass
class Outcome:
    incoming: Incoming
    status: str
    code: str | None = None
    message: str | None = None
    changes: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    person_id: int | None = None

    @property
    def accepted(self) -> bool:
        return self.status != REJECTED


@dataclass
class Merge:
    """What `merge` decided for one record against one person's stored record."""

    values: dict  # the fields to write, with their new values
    dates: dict  # the person's record_dates after it
    changes: dict  # field → [old, new]
    older: list  # fields kept: their stored value is newer
    conflicting: list  # fields kept: another value was taken the same day
    dates_moved: bool = False  # a field's date moved (its value may be the same)

    @property
    def dated(self) -> bool:
        """Whether anything is to be written."""
        return bool(self.values) or self.dates_moved


def merge(current: dict, dates: dict | None, fields: dict, as_of: date) -> Merge:
    """The rule above, for one record (`fields` as of `as_of`) against `current` (field → value)
    and `dates` (field → ISO date of that value, absent for a value no dated record gave)."""
    day = as_of.isoformat()
    new_dates = dict(dates or {})
    values, changes, older, conflicting = {}, {}, [], []
    moved = False
    for name in RECORD_FIELDS:
        if name not in fields:
            continue
        value, old, stamp = fields[name], current.get(name), new_dates.get(name)
        if stamp is not None and stamp > day:
            older.append(name)
            continue
        if stamp == day and old != value:
            conflicting.append(name)
            continue
        if old != value:
            values[name], changes[name] = value, [old, value]
        if stamp != day:
            new_dates[name], moved = day, True
    return Merge(values, new_dates, changes, older, conflicting, dates_moved=moved)


def derived_region(values: dict, current: str | None) -> str | None:
    """所在地区 from a whole record (`values`: every record field), else `current`."""
    return next((values[name] for name in REGION_CODE_ORDER if values.get(name)), current)


def latest(dates: dict) -> date | None:
    return date.fromisoformat(max(dates.values())) if dates else None


def _kept_notes(merged: Merge) -> list[str]:
    notes = []
    if merged.older:
        labels = "、".join(FIELD_LABELS[f] for f in merged.older)
        notes.append(f"{labels}已有更新的信息（信息日期{max(merged.dates[f] for f in merged.older)}），未更新")
    if merged.conflicting:
        labels = "、".join(FIELD_LABELS[f] for f in merged.conflicting)
        day = merged.dates[merged.conflicting[0]]
        notes.append(f"同一信息日期（{day}）已登记了不同的{labels}，未更新；如需更正，请以更正当天为信息日期")
    return notes


def _refusal(merged: Merge) -> tuple[str, str]:
    if merged.older:
        stamp = max(merged.dates[f] for f in merged.older)
        return RECORD_OUTDATED, f"信息日期早于已登记的信息（{stamp}），未更新"
    return RECORD_CONFLICT, _kept_notes(merged)[-1]


def _outcome(incoming: Incoming, merged: Merge, created: bool) -> Outcome:
    if created:
        return Outcome(incoming, CREATED, changes=merged.changes)
    if merged.changes:
        return Outcome(incoming, UPDATED, changes=merged.changes, notes=_kept_notes(merged))
    if (merged.older or merged.conflicting) and not merged.dates_moved:  # nothing of it was taken
        code, message = _refusal(merged)
        return Outcome(incoming, REJECTED, code=code, message=message)
    return Outcome(incoming, UNCHANGED, notes=_kept_notes(merged))


def in_scope(scope_region: str | None, values: dict, region_code: str | None) -> bool:
    """A bureau may record a person whose record (or 所在地区) has a region inside its own."""
    if scope_region is None:
        return True
    prefix = region_prefix(scope_region)
    return any(code and code.startswith(prefix) for code in (*(values.get(n) for n in RECORD_REGION_FIELDS),
                                                               region_code))


def placed(row: dict) -> bool:
    """The stored person has a region on record (a worker who only bound their phone has none yet:
    any bureau may record them, as it may record someone new)."""
    return bool(row.get("region_code")) or any(row.get(name) for name in RECORD_REGION_FIELDS)


OUT_OF_SCOPE_MESSAGE = "该人员的户籍地、常住地、就业地、参保地和失业登记地都不在本地区，不能由本部门登记"
OTHER_REGION_MESSAGE = "该人员的信息由其他地区登记，本部门不能修改；如已迁入本地区，请由原登记地区更新"


# --- one person, through the ORM (a channel's ticket at sign-in) -----------------------------------

def apply_to_person(session, person: Person, incoming: Incoming, *, source: str, origin: str | None = None) -> Outcome:
    """Merge `incoming` into `person` (loaded, and locked by the caller where it matters) and add
    the history row; the caller commits."""
    current = {name: getattr(person, name) for name in RECORD_FIELDS}
    merged = merge(current, person.record_dates, incoming.fields, incoming.as_of)
    outcome = _outcome(incoming, merged, created=False)
    outcome.person_id = person.id
    if not outcome.accepted or not merged.dated:
        return outcome
    for name, value in merged.values.items():
        setattr(person, name, value)
    previous = person.record_as_of
    person.record_dates = merged.dates
    person.record_as_of = latest(merged.dates)
    if previous is None or incoming.as_of >= previous:
        person.record_source = source
    person.region_code = derived_region({**current, **merged.values}, person.region_code)
    if merged.changes:
        session.add(PersonRecordChange(person_id=person.id, source=source, as_of=incoming.as_of,
                                       changes=merged.changes, origin=origin))
    return outcome


# --- a batch, in a few statements (an import's chunk, a POST /people) ------------------------------

_COLUMNS = ("id", "id_number", "name", "phone", "region_code", "record_as_of", "record_source", "record_dates",
            *RECORD_FIELDS)


@dataclass
class _State:
    """A person as the batch sees them: as read (or as created by an earlier row of the batch)."""

    row: dict
    new: bool = False
    dirty: bool = False


def _blank_person(incoming: Incoming, source: str) -> dict:
    row = {name: None for name in _COLUMNS if name != "id"}
    row.update(id_number=incoming.id_number, name=incoming.name, groups=[], insurance_months=0, record_dates={},
               verified_via=VERIFIED_VIA.get(source, source))
    return row


def _plan(people: dict, held_phones: dict, items: list[Incoming], source: str, scope_region: str | None,
          history: list, origin: str | None) -> list[Outcome]:
    outcomes = []
    for incoming in items:
        state = people.get(incoming.id_number)
        created = state is None
        row = _blank_person(incoming, source) if created else state.row
        if not created and placed(row) and not in_scope(scope_region, row, row["region_code"]):
            # Someone another region records: its bureau's to change. A push naming one of our
            # districts would otherwise move them here, out of the sight of the bureau that pays them.
            outcomes.append(Outcome(incoming, REJECTED, code=OUT_OF_SCOPE, message=OTHER_REGION_MESSAGE))
            continue
        if not created and row["name"] != incoming.name:
            outcomes.append(Outcome(incoming, REJECTED, code=NAME_MISMATCH,
                                    message="姓名与系统中该身份证号的实名信息不一致，未导入"))
            continue
        current = {name: row[name] for name in RECORD_FIELDS}
        merged = merge(current, row["record_dates"], incoming.fields, incoming.as_of)
        values = {**current, **merged.values}
        region = derived_region(values, row["region_code"])
        if not in_scope(scope_region, values, region):
            outcomes.append(Outcome(incoming, REJECTED, code=OUT_OF_SCOPE, message=OUT_OF_SCOPE_MESSAGE))
            continue
        outcome = _outcome(incoming, merged, created)
        if not outcome.accepted:
            outcomes.append(outcome)
            continue
        if created:
            state = people[incoming.id_number] = _State(row, new=True)
        if merged.dated:
            previous = row["record_as_of"]
            row.update(merged.values)
            row["record_dates"], row["record_as_of"] = merged.dates, latest(merged.dates)
            if previous is None or incoming.as_of >= previous:
                row["record_source"] = source
            row["region_code"] = region
            state.dirty = True
        if merged.changes:
            history.append((state, {"source": source, "as_of": incoming.as_of, "changes": merged.changes,
                                    "origin": origin}))
        _take_phone(state, incoming, held_phones, outcome)
        outcomes.append(outcome)
    return outcomes


def _take_phone(state: _State, incoming: Incoming, held_phones: dict, outcome: Outcome) -> None:
    phone, row = incoming.phone, state.row
    if not phone or row["phone"] == phone:
        return
    if row["phone"]:
        outcome.notes.append(f"已登记手机号{mask_phone(row['phone'])}，未改为文件中的号码")
    elif held_phones.get(phone, incoming.id_number) != incoming.id_number:
        outcome.notes.append(f"手机号{mask_phone(phone)}已被其他人员使用，未登记该手机号")
    else:
        row["phone"], held_phones[phone] = phone, incoming.id_number
        state.dirty = True


def _write(session, people: dict, history: list) -> None:
    table = Person.__table__
    new = [state for state in people.values() if state.new]
    if new:
        # A plain executemany and one read of the ids: several times cheaper than INSERT … RETURNING
        # in the order of the parameters, on both databases.
        bulk_insert(session, table, [{name: state.row[name] for name in (*_COLUMNS[1:], "verified_via")}
                                     for state in new])
        made = dict(session.execute(select(table.c.id_number, table.c.id).where(
            table.c.id_number.in_([state.row["id_number"] for state in new]))).all())
        for state in new:
            state.row["id"] = made[state.row["id_number"]]
    changed = [state for state in people.values() if state.dirty and not state.new]
    if changed:
        names = [name for name in _COLUMNS if name not in ("id", "id_number", "name")]
        session.execute(update(table).where(table.c.id == bindparam("person_id")).values(
            {name: bindparam("p_" + name, type_=table.c[name].type) for name in names}),
            [{"person_id": s.row["id"], **{"p_" + name: s.row[name] for name in names}} for s in changed])
    if history:
        bulk_insert(session, PersonRecordChange.__table__,
                    [{"person_id": state.row["id"], **values} for state, values in history])


def _column_default(column):
    default = column.default
    if default.is_callable:
        return lambda: default.arg(None)  # SQLAlchemy's wrapper of a no-argument default
    return lambda: default.arg


def bulk_insert(session, table, rows: list[dict]) -> None:
    """INSERT `rows` (dicts with the same keys) in the session's transaction. PostgreSQL: one COPY
    (psycopg's copy, several times cheaper than an executemany of thousands of rows); elsewhere an
    executemany. The columns' Python-side defaults are filled in either way."""
    connection = session.connection()
    if connection.dialect.name != "postgresql" or connection.dialect.driver != "psycopg":
        connection.execute(insert(table), rows)
        return
    given = list(rows[0])
    # Columns not given: their Python-side defaults as SQLAlchemy's INSERT would fill them; the
    # others are left out of the COPY (NULL, or the server's default).
    missing = [column for column in table.columns
               if column.name not in given and not column.primary_key and column.default is not None]
    defaults = [_column_default(column) for column in missing]
    names = given + [column.name for column in missing]
    json_columns = {column.name for column in table.columns if isinstance(column.type, JSON)}
    encode = [(json.dumps if name in json_columns else None) for name in names]
    columns = ", ".join(connection.dialect.identifier_preparer.quote(name) for name in names)
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {table.name} ({columns}) FROM STDIN") as copy:
        for row in rows:
            values = [row[name] for name in given] + [default() for default in defaults]
            copy.write_row([value if how is None or value is None else how(value, ensure_ascii=False)
                            for value, how in zip(values, encode, strict=True)])


class _Moved(Exception):
    """A person of the batch changed between its read and its write (another request)."""


def apply_records(session, items: list[Incoming], *, source: str, origin: str | None = None,
                  scope_region: str | None = None) -> list[Outcome]:
    """Merge a batch of records (up to a few thousand) in the caller's transaction, inside a
    SAVEPOINT: one read of the batch's people and one of the phones they bring, then at most four
    writes (new people and the read of their ids, changed people, history rows). Rows of the batch
    with one ID number are taken in order, each against the one before.
    `scope_region`: a bureau's region; a person none of whose regions is inside it is refused.
    Concurrency: on SQLite the transaction holds the write lock from its start (BEGIN IMMEDIATE).
    On PostgreSQL the people to be changed are locked and read again before the writes, and a
    person changed meanwhile (a channel's sign-in), created meanwhile, or a phone taken meanwhile
    (a unique index) makes the batch run again against what is now stored — so unchanged people,
    a re-import's whole file, take no lock. The caller commits."""
    if not items:
        return []
    for attempt in range(5):
        try:
            with session.begin_nested():
                return _apply(session, items, source, origin, scope_region)
        except (IntegrityError, _Moved):
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def _read(session, column, keys) -> list[dict]:
    table = Person.__table__
    return session.execute(select(*(table.c[name] for name in _COLUMNS)).where(column.in_(keys))).mappings().all()


def _apply(session, items, source, origin, scope_region) -> list[Outcome]:
    table = Person.__table__
    read = _read(session, table.c.id_number, list({item.id_number for item in items}))
    people = {row["id_number"]: _State(dict(row)) for row in read}
    for state in people.values():
        state.row["record_dates"] = dict(state.row["record_dates"] or {})
        state.row["groups"] = list(state.row["groups"] or [])
    snapshot = {number: dict(state.row) for number, state in people.items()}
    phones = list({item.phone for item in items if item.phone})
    held_phones = dict(session.execute(select(table.c.phone, table.c.id_number).where(table.c.phone.in_(phones)))
                       .all()) if phones else {}
    history = []
    outcomes = _plan(people, held_phones, items, source, scope_region, history, origin)
    changed = [state.row["id"] for state in people.values() if state.dirty and not state.new]
    if changed and session.get_bind().dialect.name != "sqlite":
        locked = session.execute(select(*(table.c[name] for name in _COLUMNS)).where(table.c.id.in_(changed))
                                 .with_for_update()).mappings().all()
        for row in locked:
            before = snapshot[row["id_number"]]
            now = {**row, "record_dates": dict(row["record_dates"] or {}), "groups": list(row["groups"] or [])}
            if now != before:
                raise _Moved()
    _write(session, people, history)
    for outcome in outcomes:
        state = people.get(outcome.incoming.id_number)
        if outcome.accepted and state is not None:
            outcome.person_id = state.row["id"]
    return outcomes
