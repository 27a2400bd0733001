"""database.Prepared: verification's statements, compiled once by SQLAlchemy and run on the
transaction's DBAPI connection. What it writes and reads must be what Connection.execute would
write and read, on SQLite and PostgreSQL; whatever listens to the engine's statements must still
see them all."""
from datetime import datetime

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, Numeric, Table, cast, event, literal, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError

from h5app.database import Prepared
from h5app.models import AuditEvent, Voucher
from h5app.models.vouchers import USED
from h5app.vouchers import app_qr_secret, audit, verify
from tests import factories as f

from .test_engine_verify import NOW, TS, claimed_voucher

AT = datetime(2026, 11, 30, 1, 2, 3, 456789)


def _sqlite(session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _audit_row(**overrides) -> dict:
    return audit.values(audit.Actor("system", None, "测试"), "voucher.verify", region_code="330600",
                        details={"说明": "预编译", "n": [1, 2]}, at=AT) | overrides


def _stored(session, action: str) -> tuple:
    """The row as the database holds it, read as text: not what the ORM makes of it."""
    return tuple(session.execute(text(
        "SELECT CAST(at AS TEXT), actor_type, actor_label, region_code, CAST(details AS TEXT) FROM audit_events "
        "WHERE action = :a"), {"a": action}).one())


def test_prepared_stores_exactly_what_connection_execute_stores(session):
    connection = session.connection()
    Prepared(audit.insert_statement()).execute(connection, _audit_row(action="by.prepared"))
    connection.execute(audit.insert_statement(), _audit_row(action="by.sqlalchemy"))

    assert _stored(session, "by.prepared")[0].startswith("2026-11-30 01:02:03.456789")
    assert _stored(session, "by.prepared") == _stored(session, "by.sqlalchemy")
    [event] = f.audit_events(action="by.prepared")
    assert (event.at, event.details) == (AT, {"说明": "预编译", "n": [1, 2]})


def test_prepared_reads_rows_through_the_column_types(session):
    session.connection().execute(audit.insert_statement(), _audit_row(action="to.read"))
    query = select(AuditEvent.at, AuditEvent.details, AuditEvent.actor_id).where(
        AuditEvent.action == "to.read")

    result = Prepared(query).execute(session.connection(), {})

    assert result.rows == [(AT, {"说明": "预编译", "n": [1, 2]}, None)]


def test_a_prepared_statement_refused_by_the_database_raises_sqlalchemys_error(session):
    voucher = claimed_voucher()
    session.commit()
    duplicate = Voucher.__table__.insert().values(
        code=voucher.code, template_id=voucher.template_id, person_id=voucher.person_id, status="claimed",
        created_at=NOW)

    with pytest.raises(IntegrityError):
        Prepared(duplicate).execute(session.connection(), {})
    session.rollback()


def test_a_guarded_update_that_matches_nothing_counts_zero_rows(session):
    voucher = claimed_voucher()
    session.commit()
    update = verify.states.guarded_update(("used_at",))
    params = {"_id": voucher.id, "_from": USED, "_to": USED, "used_at": NOW}  # it is claimed, not used

    assert Prepared(update).execute(session.connection(), params).rowcount == 0


def test_statements_that_need_sqlalchemys_execution_context_are_refused(session):
    scratch = Table("scratch", MetaData(), Column("id", Integer, primary_key=True),
                    Column("made_at", DateTime, default=datetime.now))
    with pytest.raises(ValueError, match="Python-side column defaults"):
        Prepared(scratch.insert().values(id=1)).execute(session.connection(), {})
    returning = scratch.insert().values(id=1, made_at=AT).returning(scratch.c.id)
    with pytest.raises(ValueError, match="SELECT or a plain"):
        Prepared(returning).execute(session.connection(), {})


def _verification(session):
    voucher = claimed_voucher()
    training_class = f.training_class()
    arguments = dict(qr=f.qr_for(voucher, TS), class_id=training_class.id,
                     actor=f.institution_actor(training_class.institution), qr_secret=app_qr_secret(),
                     now=NOW, now_ts=TS)
    session.commit()
    return voucher, lambda: verify.verify(session, **arguments)


def test_a_verification_sends_its_statements_straight_to_the_driver(session, monkeypatch):
    """No SQLAlchemy execution for the read and the writes (on SQLite, SQLite itself sees them, in
    one transaction)."""
    voucher, run = _verification(session)
    traced, executed = [], []

    def trace(_dbapi_connection, _record, proxy):
        if _sqlite(session):
            proxy.driver_connection.set_trace_callback(traced.append)

    original = Connection.execute

    def counted(self, statement, *args, **kwargs):
        executed.append(str(statement).split()[0])
        return original(self, statement, *args, **kwargs)

    monkeypatch.setattr(Connection, "execute", counted)
    pool = session.get_bind().pool
    event.listen(pool, "checkout", trace)
    try:
        assert run().result == verify.VERIFIED
    finally:
        event.remove(pool, "checkout", trace)

    assert executed == []  # nothing went through Connection.execute
    if _sqlite(session):
        kinds = [" ".join(statement.split()[:3]) for statement in traced]
        assert kinds == ["BEGIN IMMEDIATE", "SELECT classes.id AS", "UPDATE vouchers SET",
                         "INSERT INTO audit_events", "INSERT INTO enrolments", "COMMIT"]
    assert session.get(Voucher, voucher.id).status == USED


def test_whatever_listens_to_statements_still_sees_every_one(session):
    _voucher, run = _verification(session)
    seen = []

    def listen(_connection, _cursor, statement, *_):
        seen.append(statement.split()[0])

    event.listen(session.get_bind(), "before_cursor_execute", listen)
    try:
        assert run().result == verify.VERIFIED
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listen)

    assert seen == (["BEGIN", "SELECT", "UPDATE", "INSERT", "INSERT"] if _sqlite(session) else ["SELECT", "WITH"])


def test_a_value_its_type_cannot_take_is_sqlalchemys_statement_error(session):
    with pytest.raises(StatementError):
        Prepared(audit.insert_statement()).execute(session.connection(), _audit_row(details={"x": object()}))


def test_with_statement_logging_on_prepared_goes_through_connection_execute(session, monkeypatch):
    _voucher, run = _verification(session)
    executed = []
    original = Connection.execute

    def counted(self, statement, *args, **kwargs):
        executed.append(str(statement).split()[0])
        return original(self, statement, *args, **kwargs)

    monkeypatch.setattr(Connection, "execute", counted)
    monkeypatch.setattr(session.get_bind(), "echo", True)
    assert run().result == verify.VERIFIED
    assert executed[0] == "SELECT" and len(executed) == (4 if _sqlite(session) else 2)


def test_a_column_converted_by_the_drivers_type_code_is_refused(session):
    if _sqlite(session):
        pytest.skip("PostgreSQL's Numeric converts by the type code the driver reports")
    with pytest.raises(ValueError, match="type code"):
        Prepared(select(cast(literal(1), Numeric(10, 2)))).execute(session.connection(), {})


def test_a_lost_server_costs_one_verification_not_every_pooled_connection(session):
    """After a restart every pooled connection is dead: the first verification fails and takes the
    whole pool with it, so the next one runs on a fresh connection."""
    if _sqlite(session):
        pytest.skip("an in-process database cannot go away")
    engine = session.get_bind()
    _first, run_first = _verification(session)
    second, run_second = _verification(session)
    second_id = second.id
    session.close()
    held = [engine.connect() for _ in range(3)]  # three live connections, then back in the pool
    for connection in held:
        connection.close()
    with engine.connect() as killer:
        killer.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid()"))

    with pytest.raises(DBAPIError) as lost:
        run_first()
    assert lost.value.connection_invalidated
    session.rollback()
    assert run_second().result == verify.VERIFIED
    assert session.get(Voucher, second_id).status == USED
