"""What one verification asks of the database: a single read (class, institution, voucher, owner,
template, policy, enrolment in one statement), then the three writes, all in one transaction on
both databases (on SQLite a BEGIN IMMEDIATE one, so no check can go stale before the commit); a
yearly limit adds the person's lock and the count to that transaction. A refusal only reads.
(bench/api_verify.py shows what this costs in requests per second.)"""
from contextlib import contextmanager

from sqlalchemy import event, select, update

import pytest

from h5app.models import Enrolment, Voucher
from h5app.models.vouchers import CLAIMED, REVOKED, USED
from h5app.vouchers import app_qr_secret, errors, states, verify
from h5app.vouchers import verification_read
from tests import factories as f

from .verify_support import NOW, TS, claimed_voucher, make_template


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
    reading = verification_read.read(session, training_class.id, voucher.code)
    # As another transaction would: the reading in this session is not told.
    session.execute(update(Voucher).where(Voucher.id == voucher.id).values(status=REVOKED)
                    .execution_options(synchronize_session=False))

    with pytest.raises(states.StaleState):
        verify._write(session, reading, f.institution_actor(training_class.institution), NOW)

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
        pytest.skip("PostgreSQL's transactions are told apart by the server (SQLite has one writer at a time)")


def test_on_postgresql_a_yearly_limit_puts_read_lock_count_and_writes_in_one_transaction(session):
    """The person's lock must be held from the count to the write, or two vouchers could both pass."""
    _postgresql_only(session)
    voucher = claimed_voucher(make_template("shaoxing"))  # one activation a year
    training_class = f.training_class()
    run = _verification(session, voucher, training_class)

    with statements(session, transactions=True) as seen:
        assert run().result == verify.VERIFIED

    assert [kind for kind, _ in seen] == [
        "SELECT", "SELECT FOR UPDATE", "SELECT", "UPDATE vouchers", "INSERT audit_events", "INSERT enrolments"]
    assert len({transaction for _, transaction in seen}) == 1


def test_a_person_already_in_the_class_is_refused_and_nothing_is_written(session):
    """The (class, person) index refuses the second voucher's use as a whole."""
    owner = f.person()
    training_class = f.training_class()
    first = claimed_voucher(owner=owner)
    second = claimed_voucher(make_template(name="另一张券"), owner=owner)
    assert _verification(session, first, training_class)().result == verify.VERIFIED
    run = _verification(session, second, training_class)

    with pytest.raises(errors.AlreadyInClass):
        run()

    session.rollback()
    assert session.get(Voucher, second.id).status == CLAIMED
    assert f.audit_events(voucher_id=second.id) == []
