"""The merge rule of people records (h5app/people/records.py): one incoming record against what is
stored — created when unknown, never overwritten by an older record, a no-op when repeated, one
history row per accepted change — and the phone and name rules that go with it."""
from datetime import date

import pytest
from sqlalchemy import func, select

from h5app.models import Person, PersonRecordChange
from h5app.people import records
from h5app.people.records import Incoming, apply_records, merge

from . import factories as f

DEC1, DEC5, NOV1 = date(2026, 12, 1), date(2026, 12, 5), date(2026, 11, 1)


def incoming(id_number=None, as_of=DEC1, name="王建国", phone=None, **fields) -> Incoming:
    return Incoming(id_number=id_number or f.valid_id_number(), name=name, as_of=as_of, phone=phone,
                    fields=fields or {"insurance_region_code": "330602", "insurance_months": 40})


def apply(session, *items, scope="330600", source="import"):
    outcomes = apply_records(session, list(items), source=source, origin="测试", scope_region=scope)
    session.commit()
    return outcomes


def history(session, person_id=None) -> list:
    query = select(PersonRecordChange).order_by(PersonRecordChange.id)
    if person_id is not None:
        query = query.where(PersonRecordChange.person_id == person_id)
    return session.scalars(query).all()


def person_of(session, id_number) -> Person:
    session.expire_all()
    return session.scalar(select(Person).where(Person.id_number == id_number))


# --- the rule, field by field ----------------------------------------------------------------------

def test_merge_takes_given_fields_and_dates_them():
    merged = merge({"insurance_months": 10, "hukou_region_code": "330602"}, {"insurance_months": "2026-11-01"},
                   {"insurance_months": 40}, DEC1)
    assert merged.changes == {"insurance_months": [10, 40]}
    assert merged.dates == {"insurance_months": "2026-12-01"}  # hukou: not given, not touched


def test_merge_keeps_a_field_dated_later_than_the_record():
    merged = merge({"insurance_months": 40}, {"insurance_months": "2026-12-05"}, {"insurance_months": 10}, DEC1)
    assert (merged.changes, merged.older, merged.dates_moved) == ({}, ["insurance_months"], False)


def test_merge_refuses_another_value_the_same_day():
    merged = merge({"insurance_months": 40}, {"insurance_months": "2026-12-01"}, {"insurance_months": 41}, DEC1)
    assert (merged.changes, merged.conflicting) == ({}, ["insurance_months"])


def test_merge_of_the_same_value_later_moves_only_the_date():
    merged = merge({"insurance_months": 40}, {"insurance_months": "2026-12-01"}, {"insurance_months": 40}, DEC5)
    assert (merged.changes, merged.dates_moved, merged.dates["insurance_months"]) == ({}, True, "2026-12-05")


def test_merge_overwrites_a_value_no_dated_record_gave():
    """Values from before records had dates (a roster, the demo) give way to any dated record."""
    merged = merge({"insurance_months": 48}, {}, {"insurance_months": 12}, NOV1)
    assert merged.changes == {"insurance_months": [48, 12]}


# --- the service ---------------------------------------------------------------------------------

def test_unknown_person_is_created_with_the_record_and_one_history_row(session):
    item = incoming(phone="13900001111", residence_region_code="330603", insurance_region_code="330602",
                    insurance_months=40, groups=["unemployed"])
    [outcome] = apply(session, item)
    person = person_of(session, item.id_number)
    assert outcome.status == records.CREATED and outcome.person_id == person.id
    assert (person.residence_region_code, person.insurance_region_code, person.insurance_months, person.groups) == (
        "330603", "330602", 40, ["unemployed"])
    assert (person.record_as_of, person.record_source, person.phone, person.verified_via) == (
        DEC1, "import", "13900001111", "import")
    assert person.region_code == "330603"  # 所在地区: the residence first
    assert not person.identity_proven  # listed by a file, not signed in by its owner
    [change] = history(session, person.id)
    assert change.source == "import" and change.as_of == DEC1 and change.origin == "测试"
    assert change.changes["insurance_months"] == [0, 40] and change.changes["residence_region_code"] == [None, "330603"]


def test_the_same_record_again_changes_nothing_and_writes_no_history(session):
    item = incoming()
    apply(session, item)
    [outcome] = apply(session, item)
    assert outcome.status == records.UNCHANGED and not outcome.notes
    assert len(history(session)) == 1


def test_an_older_record_is_rejected_and_changes_nothing(session):
    newer = incoming(as_of=DEC5, insurance_months=40, insurance_region_code="330602")
    apply(session, newer)
    [outcome] = apply(session, incoming(newer.id_number, as_of=NOV1, insurance_months=12))
    assert outcome.status == records.REJECTED and outcome.code == records.RECORD_OUTDATED
    assert "信息日期早于已登记的信息（2026-12-05）" in outcome.message
    person = person_of(session, newer.id_number)
    assert (person.insurance_months, person.record_as_of) == (40, DEC5)
    assert len(history(session)) == 1


def test_an_older_record_still_fills_fields_the_newer_did_not_give(session):
    """The insurance system's file of 1 December after a channel's sign-in of 5 December: the
    hukou the channel never gave is taken; the months the channel gave later are kept."""
    later = incoming(as_of=DEC5, insurance_months=40, insurance_region_code="330602")
    apply(session, later, source="sso")
    [outcome] = apply(session, incoming(later.id_number, as_of=DEC1, insurance_months=30, hukou_region_code="330603"))
    assert outcome.status == records.UPDATED and outcome.changes == {"hukou_region_code": [None, "330603"]}
    assert "参保月数已有更新的信息（信息日期2026-12-05），未更新" in outcome.notes[0]
    person = person_of(session, later.id_number)
    assert (person.insurance_months, person.hukou_region_code, person.record_as_of) == (40, "330603", DEC5)
    assert person.record_dates == {"insurance_months": "2026-12-05", "insurance_region_code": "2026-12-05",
                                   "hukou_region_code": "2026-12-01"}
    assert person.record_source == "sso"  # the latest information still came from the channel


def test_another_value_for_the_same_day_is_rejected_as_a_conflict(session):
    first = incoming(insurance_months=40, insurance_region_code="330602")
    apply(session, first)
    [outcome] = apply(session, incoming(first.id_number, insurance_months=41))
    assert outcome.code == records.RECORD_CONFLICT and "请以更正当天为信息日期" in outcome.message
    assert person_of(session, first.id_number).insurance_months == 40


def test_a_newer_record_with_the_same_values_moves_the_date_without_history(session):
    item = incoming()
    apply(session, item)
    [outcome] = apply(session, incoming(item.id_number, as_of=DEC5))
    assert outcome.status == records.UNCHANGED
    assert person_of(session, item.id_number).record_as_of == DEC5
    assert len(history(session)) == 1


def test_a_newer_record_writes_one_history_row_with_old_and_new(session):
    item = incoming(insurance_months=40, insurance_region_code="330602")
    apply(session, item)
    [outcome] = apply(session, incoming(item.id_number, as_of=DEC5, insurance_months=41,
                                         insurance_region_code="330602"))
    assert outcome.status == records.UPDATED
    [_, change] = history(session)
    assert change.changes == {"insurance_months": [40, 41]} and change.as_of == DEC5


def test_rows_of_one_id_number_in_a_batch_are_taken_in_order(session):
    number = f.valid_id_number()
    outcomes = apply(session, incoming(number, insurance_months=40, insurance_region_code="330602"),
                     incoming(number, insurance_months=40),
                     incoming(number, as_of=DEC5, insurance_months=42), incoming(number, insurance_months=1))
    assert [o.status for o in outcomes] == [records.CREATED, records.UNCHANGED, records.UPDATED, records.REJECTED]
    assert session.scalar(select(func.count(Person.id))) == 1
    assert person_of(session, number).insurance_months == 42


def test_a_name_that_differs_from_the_person_is_rejected(session):
    person = f.person(name="王建国")
    session.commit()
    [outcome] = apply(session, incoming(person.id_number, name="王建华"))
    assert outcome.code == records.NAME_MISMATCH
    assert person_of(session, person.id_number).insurance_region_code is None


def test_a_phone_someone_else_holds_is_not_taken_and_the_outcome_says_so(session):
    f.person(phone="13900002222")
    session.commit()
    item = incoming(phone="13900002222")
    [outcome] = apply(session, item)
    assert outcome.status == records.CREATED and "139****2222已被其他人员使用" in outcome.notes[0]
    assert person_of(session, item.id_number).phone is None


def test_a_phone_already_on_the_person_is_not_replaced(session):
    person = f.person(phone="13900003333")
    session.commit()
    [outcome] = apply(session, incoming(person.id_number, name=person.name, phone="13900004444"))
    assert outcome.accepted and "已登记手机号139****3333" in outcome.notes[0]
    assert person_of(session, person.id_number).phone == "13900003333"


def test_a_phone_fills_an_empty_one(session):
    person = f.person(phone=None)
    session.commit()
    apply(session, incoming(person.id_number, name=person.name, phone="13900005555"))
    assert person_of(session, person.id_number).phone == "13900005555"


def test_two_new_people_with_one_phone_in_a_batch_the_second_goes_without(session):
    first, second = incoming(phone="13900006666"), incoming(phone="13900006666")
    outcomes = apply(session, first, second)
    assert [o.status for o in outcomes] == [records.CREATED, records.CREATED]
    assert person_of(session, first.id_number).phone == "13900006666"
    assert person_of(session, second.id_number).phone is None and outcomes[1].notes


@pytest.mark.parametrize(("fields", "region"), [
    ({"residence_region_code": "330603", "insurance_region_code": "330602"}, "330603"),
    ({"insurance_region_code": "330602", "employment_region_code": "330603"}, "330602"),
    ({"employment_region_code": "330603", "hukou_region_code": "330602"}, "330603"),
    ({"hukou_region_code": "330602", "unemployment_registered_region_code": "330603"}, "330602"),
    ({"unemployment_registered_region_code": "330603"}, "330603"),
])
def test_region_code_is_the_records_first_region_residence_first(session, fields, region):
    item = incoming(**fields)
    apply(session, item)
    assert person_of(session, item.id_number).region_code == region


def test_a_record_without_a_region_keeps_the_region_code(session):
    person = f.person(region_code="330602")
    session.commit()
    apply(session, incoming(person.id_number, name=person.name, insurance_months=50))
    assert person_of(session, person.id_number).region_code == "330602"


def test_a_person_of_another_region_is_out_of_a_bureaus_scope(session):
    item = incoming(hukou_region_code="320211", residence_region_code="320211")
    [outcome] = apply(session, item, scope="330600")
    assert outcome.code == records.OUT_OF_SCOPE and person_of(session, item.id_number) is None


def test_another_regions_bureau_cannot_move_a_person_to_itself(session):
    # 济南 pushing one of its districts for a 绍兴 person would take them out of 绍兴's sight, with
    # their insurance months and groups replaced.
    item = incoming(insurance_region_code="330602", residence_region_code="330602", insurance_months=40,
                    groups=["unemployed"])
    apply(session, item, scope="330600")
    takeover = incoming(item.id_number, as_of=DEC5, residence_region_code="370102", insurance_months=0, groups=[])
    [outcome] = apply(session, takeover, scope="370100")
    assert (outcome.status, outcome.code) == (records.REJECTED, records.OUT_OF_SCOPE)
    assert "其他地区" in outcome.message
    person = person_of(session, item.id_number)
    assert (person.region_code, person.residence_region_code, person.insurance_months, person.groups) == (
        "330602", "330602", 40, ["unemployed"])
    assert len(history(session, person.id)) == 1


def test_one_region_inside_the_bureaus_is_enough(session):
    item = incoming(hukou_region_code="410102", insurance_region_code="330602")
    [outcome] = apply(session, item, scope="330600")
    assert outcome.status == records.CREATED


def test_without_a_scope_any_region_is_taken(session):
    [outcome] = apply(session, incoming(hukou_region_code="320211"), scope=None)
    assert outcome.status == records.CREATED


def test_a_batch_costs_a_few_statements_whatever_its_size(session):
    """One read of the batch's people, one of its phones, then a handful of writes: never a
    statement per row (an import's chunk is 1,000 rows)."""
    from sqlalchemy import event

    def statements_for(size: int) -> int:
        existing = [incoming(insurance_months=40, insurance_region_code="330602") for _ in range(size)]
        apply(session, *existing)
        batch = ([incoming(item.id_number, as_of=DEC5, insurance_months=41) for item in existing[:size // 3]]
                 + existing[size // 3:2 * size // 3]  # unchanged
                 + [incoming(phone=f"1390{size:03d}{n:04d}") for n in range(size // 3)])  # new, with phones
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(session.get_bind(), "before_cursor_execute", listener)
        try:
            outcomes = apply(session, *batch)
        finally:
            event.remove(session.get_bind(), "before_cursor_execute", listener)
        assert {o.status for o in outcomes} == {records.UPDATED, records.UNCHANGED, records.CREATED}
        return len(seen)

    small, large = statements_for(30), statements_for(300)
    assert small == large and large <= 10, large


def test_a_person_changed_while_the_batch_ran_is_merged_again(session, monkeypatch):
    """PostgreSQL: a channel's sign-in that updates the person between the batch's read and its
    write is not overwritten: the batch runs again against what is now stored. (SQLite holds the
    write lock for the whole transaction, so nothing can come between.)"""
    if session.get_bind().dialect.name == "sqlite":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE)")
    from sqlalchemy import update

    from h5app.extensions import db

    item = incoming(insurance_months=40, insurance_region_code="330602")
    apply(session, item)
    real_plan, calls = records._plan, []

    def plan_then_sign_in(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # another request, committed while this batch is between read and write
            with db.engine.begin() as other:
                other.execute(update(Person).where(Person.id_number == item.id_number).values(
                    insurance_months=45, record_dates={"insurance_months": "2026-12-06",
                                                       "insurance_region_code": "2026-12-01"}))
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(records, "_plan", plan_then_sign_in)
    [outcome] = apply(session, incoming(item.id_number, as_of=DEC5, insurance_months=41))
    assert len(calls) == 2 and outcome.code == records.RECORD_OUTDATED
    assert person_of(session, item.id_number).insurance_months == 45


def test_a_person_with_no_region_yet_may_be_recorded_by_a_bureau(session):
    # Signed up by SMS real-name binding: a name and an ID number, no record yet.
    person = f.person(region_code=None, hukou_region_code=None, residence_region_code=None,
                      employment_region_code=None, insurance_region_code=None,
                      unemployment_registered_region_code=None)
    session.commit()
    [outcome] = apply(session, incoming(person.id_number, name=person.name), scope="330600")
    assert outcome.status != records.REJECTED, outcome.message
    assert person_of(session, person.id_number).insurance_region_code == "330602"
