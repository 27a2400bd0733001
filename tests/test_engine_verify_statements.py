"""What one verification asks of the database: a single read (class, institution, voucher, owner,
template, policy, enrolment in one statement), then the three writes, in one transaction (on SQLite
BEGIN IMMEDIATE, so no check can go stale before the commit; on PostgreSQL the three writes are one
statement); a refusal only reads.
(bench/api_verify.py shows what this buys in requests per second.)"""
from contextlib import contextmanager

from sqlalchemy import event, select, update

import pytest

from h5app.models import Enrolment, Voucher
from h5app.models.vouchers import CLAIMED, REVOKED, USED
from h5app.vouchers import app_qr_secret, errors, states, verify
from tests import factories as f

from .test_engine_verify import NOW, TS, claimed_voucher


def _kind(statement: str) -> str:
    words = statement.split()
    verb = words[0].upper()
    if verb == "BEGIN":
        return " ".join(words).upper()
    if verb == "UPDATE":
        return f"UPDATE {words[1]}"
    if verb == "INSERT":
        return f"INSERT {words[2]}"
    return verb


@contextmanager
def statements(session):
    """The kind of every statement sent to the database inside the block, in order."""
    engine = session.get_bind()
    seen = []

    def record(_connection, _cursor, statement, _parameters, _context, _executemany):
        seen.append(_kind(statement))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


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
    reading = verify._read(session, training_class.id, voucher.code)
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
