"""What one verification asks of the database: a single read (class, institution, voucher, owner,
template, policy, enrolment in one statement), then the three writes. On SQLite all in one BEGIN
IMMEDIATE transaction, so no check can go stale before the commit; on PostgreSQL the three writes
are one statement, and the read and the write each commit on their own unless a yearly limit needs
its lock, count and write in one transaction. A refusal only reads.
(bench/api_verify.py shows what this buys in requests per second.)"""
from contextlib import contextmanager

from sqlalchemy import event, select, update

import pytest

from h5app.models import Enrolment, Voucher
from h5app.models.vouchers import CLAIMED, REVOKED, USED
from h5app.vouchers import app_qr_secret, errors, states, verify
from h5app.vouchers import reading as reading_module
from tests import factories as f

from .test_engine_verify import NOW, TS, claimed_voucher, make_template


def _kind(statement: str) -> str:
    words = statement.split()
    verb = words[0].upper()
    if verb == "BEGIN":
        return " ".join(words).upper()
    if verb == "UPDATE":
        return f"UPDATE {words[1]}"
    if verb == "INSERT":
        return f"INSERT {words[2]}"
    if verb == "SELECT" and "FOR UPDATE" in statement:
        return "SELECT FOR UPDATE"
    return verb


@contextmanager
def statements(session, *, transactions=False):
    """The kind of every statement sent to the database inside the block, in order; with
    `transactions`, (kind, "autocommit" or the driver's transaction number) for each."""
    engine = session.get_bind()
    seen = []

    def record(connection, cursor, statement, _parameters, _context, _executemany):
        if not transactions:
            seen.append(_kind(statement))
            return
        autocommit = connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
        seen.append((_kind(statement), "autocommit" if autocommit else _transaction_id(cursor)))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _transaction_id(cursor) -> tuple:
    """The transaction the cursor is in, as the server tells it: its backend and its start time
    (now() stands still for the whole of a transaction)."""
    with cursor.connection.cursor() as probe:
        return probe.execute("SELECT pg_backend_pid(), now()").fetchone()


def _verification(session, voucher, training_class):
    """The call, with every argument loaded beforehand: only the service's own statements count."""
    arguments = dict(qr=f.qr_for(voucher, TS), class_id=training_class.id,
                     actor=f.institution_actor(training_class.institution), qr_secret=app_qr_secret(),
                     now=NOW, now_ts=TS)
    session.commit()
    return lambda: verify.verify(session, **arguments)


def _transaction_start(session) -> list:
    """SQLite's BEGIN is ours (database.py); PostgreSQL's is the driver's own, not a cursor statement."""
    return ["BEGIN IMMEDIATE"] if session.get_bind().dialect.name == "sqlite" else []


def test_a_verification_reads_once_then_writes_voucher_audit_and_enrolment(session):
    voucher = claimed_voucher()
    training_class = f.training_class()
    run = _verification(session, voucher, training_class)
    begin = _transaction_start(session)

    with statements(session) as seen:
        assert run().result == verify.VERIFIED

    if session.get_bind().dialect.name == "postgresql":  # one data-modifying WITH: one round trip
        assert seen == ["SELECT", "WITH"]
    else:
        assert seen == [*begin, "SELECT", "UPDATE vouchers", "INSERT audit_events", "INSERT enrolments"]
    assert session.get(Voucher, voucher.id).status == USED
    [event] = f.audit_events(voucher_id=voucher.id)
    assert (event.action, event.from_status, event.to_status, event.at) == ("voucher.verify", CLAIMED, USED, NOW)
    assert (event.person_id, event.institution_id) == (voucher.person_id, training_class.institution_id)
    [enrolment] = session.scalars(select(Enrolment).where(Enrolment.class_id == training_class.id)).all()
    assert (enrolment.person_id, enrolment.voucher_id, enrolment.status) == (voucher.person_id, voucher.id, "enrolled")


def test_writes_from_a_reading_someone_else_overtook_write_nothing(session):
    """The guarded UPDATE decides a race: when another transaction used the voucher after this
    one read it, none of the three writes happens (the caller then answers from a fresh read)."""
    voucher = claimed_voucher()
    training_class = f.training_class()
    session.commit()
    reading = reading_module.read(session, training_class.id, voucher.code)
    session.execute(update(Voucher).where(Voucher.id == voucher.id).values(status=REVOKED))

    with pytest.raises(states.StaleState):
        verify._write(session, reading.voucher, reading.training_class, f.institution_actor(
            training_class.institution), NOW)

    session.rollback()
    assert session.get(Voucher, voucher.id).status == CLAIMED
    assert f.audit_events(voucher_id=voucher.id) == []
    assert session.scalars(select(Enrolment)).all() == []


def test_a_refused_verification_only_reads(session):
    voucher = claimed_voucher(status=REVOKED)
    training_class = f.training_class()
    run = _verification(session, voucher, training_class)
    begin = _transaction_start(session)

    with statements(session) as seen, pytest.raises(errors.VoucherRevoked):
        run()

    assert seen == [*begin, "SELECT"]


def _postgresql_only(session):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the autocommit read is PostgreSQL's (SQLite reads inside BEGIN IMMEDIATE)")


def test_on_postgresql_the_read_and_the_write_are_each_a_transaction_of_their_own(session):
    _postgresql_only(session)
    voucher = claimed_voucher()
    training_class = f.training_class()
    run = _verification(session, voucher, training_class)

    with statements(session, transactions=True) as seen:
        assert run().result == verify.VERIFIED

    assert seen == [("SELECT", "autocommit"), ("WITH", "autocommit")]


def test_on_postgresql_a_yearly_limit_puts_lock_count_and_writes_in_one_transaction(session):
    """The person's lock must be held from the count to the write, or two vouchers could both pass."""
    _postgresql_only(session)
    voucher = claimed_voucher(make_template("shaoxing"))  # one activation a year
    training_class = f.training_class()
    run = _verification(session, voucher, training_class)

    with statements(session, transactions=True) as seen:
        assert run().result == verify.VERIFIED

    [read, *rest] = seen
    assert read == ("SELECT", "autocommit")
    assert [kind for kind, _ in rest] == ["SELECT FOR UPDATE", "SELECT", "WITH"]  # lock the person, count, write
    assert len({transaction for _, transaction in rest}) == 1 and rest[0][1] != "autocommit"


def test_the_connection_of_an_autocommit_verification_goes_back_to_the_pool_transactional(session):
    _postgresql_only(session)
    voucher = claimed_voucher()
    training_class = f.training_class()
    run = _verification(session, voucher, training_class)
    used = []

    def remember(_connection, cursor, statement, *_):
        if statement.startswith("WITH"):
            used.append((cursor.connection, cursor.connection.autocommit))

    event.listen(session.get_bind(), "before_cursor_execute", remember)
    try:
        assert run().result == verify.VERIFIED
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", remember)

    [(driver_connection, autocommit_while_writing)] = used
    assert autocommit_while_writing is True
    assert driver_connection.autocommit is False  # the next checkout gets a transaction again


def test_on_postgresql_a_person_already_in_the_class_is_refused_and_nothing_is_written(session):
    """The (class, person) index refuses the one-statement write as a whole, in autocommit too."""
    _postgresql_only(session)
    owner = f.person()
    training_class = f.training_class()
    first = claimed_voucher(owner=owner)
    second = claimed_voucher(make_template(name="另一张券"), owner=owner)
    assert _verification(session, first, training_class)().result == verify.VERIFIED
    run = _verification(session, second, training_class)

    with statements(session, transactions=True) as seen, pytest.raises(errors.AlreadyInClass):
        run()

    assert seen[:2] == [("SELECT", "autocommit"), ("WITH", "autocommit")]
    session.rollback()
    assert session.get(Voucher, second.id).status == CLAIMED
    assert f.audit_events(voucher_id=second.id) == []
    [enrolment] = session.scalars(select(Enrolment)).all()
    assert enrolment.voucher_id == first.id
