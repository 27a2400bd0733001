"""Engine-level settings that make SQLite safe for concurrent writers.

SQLite: WAL so readers never block the writer, a busy timeout so writers queue instead of
failing, and every transaction opened with BEGIN IMMEDIATE: a transaction that read first and
writes later would otherwise fail with SQLITE_BUSY_SNAPSHOT the moment another writer commits.
With IMMEDIATE, the read-check-write of the voucher engine is serialised by SQLite itself.
PostgreSQL needs none of this: the engine uses guarded UPDATEs and row locks there.
"""
import logging
from functools import cache
from typing import NamedTuple

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, StatementError

_STATEMENT_LOG = logging.getLogger("sqlalchemy.engine.Engine")


def configure_engine(engine: Engine, busy_timeout_ms: int) -> None:
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Take transaction control away from the sqlite3 module so "begin" below is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Prepared:
    """One Core statement, compiled once per dialect and run on the DBAPI connection of the
    SQLAlchemy Connection that holds the caller's transaction (and its isolation level).

    For the few statements of the busiest request, verification. SQLAlchemy's per-call execution
    context costs more than the statements themselves there: on SQLite, where every statement
    runs in-process, about three times a statement; on PostgreSQL, where the 39-column read is a
    prepared statement with a generic plan, it reads psycopg's column descriptions anew on every
    call, about as long as the server takes to answer. SQLAlchemy still writes the SQL, names
    and orders the parameters and converts every value with its types' own bind and result
    processors, so the database receives what Connection.execute would have sent; a refusal is
    raised as SQLAlchemy's error. A lost connection is invalidated, and with it the rest of the
    pool (the engine gets a fresh one), since its other connections were lost with it.

    Whenever anything listens to the engine's statements (tests, query recording, tracing) or
    SQLAlchemy logs them (echo), `execute` goes through Connection.execute instead, so no observer
    misses a statement; listeners must be on the engine (or the Engine class), not on one
    Connection. A statement that needs more of the execution context — Python-side column defaults, expanding
    or escaped parameters, RETURNING from a plain INSERT, UPDATE or DELETE, a result column whose
    conversion needs the driver's type code — is refused when it is first compiled."""

    def __init__(self, statement):
        self.statement = statement
        self._by_dialect: dict = {}  # per dialect object: psycopg and psycopg2 are both "postgresql"

    def _compiled(self, dialect):
        compiled = self._by_dialect.get(dialect)
        if compiled is None:
            compiled = self._by_dialect[dialect] = self._compile(dialect)
        return compiled

    def _compile(self, dialect):
        statement = self.statement
        if statement.is_insert:
            statement = statement.inline()  # no implicit RETURNING of the new id: nothing here reads it
        compiled = statement.compile(dialect=dialect)
        if compiled.insert_prefetch or compiled.update_prefetch:
            raise ValueError("Prepared cannot fill Python-side column defaults: give every value")
        if compiled.literal_execute_params or compiled.post_compile_params or compiled.escaped_bind_names:
            raise ValueError("Prepared takes plain parameters only (no expanding IN, no escaped names)")
        if compiled.effective_returning and not statement.is_select:  # a WITH of writes may return
            raise ValueError("Prepared runs a SELECT or a plain INSERT, UPDATE or DELETE")
        types = {name: bind.type for bind, name in compiled.bind_names.items()}
        # Positional paramstyles (SQLite's ?) take a list in this order; named ones a dict.
        names = compiled.positiontup if dialect.positional else list(dict.fromkeys(compiled.bind_names.values()))
        binds = tuple((name, types[name].dialect_impl(dialect).bind_processor(dialect)) for name in names)
        results = None
        if statement.is_select:
            try:
                results = tuple(column.type.dialect_impl(dialect).result_processor(dialect, None)
                                for column in statement.selected_columns)
            except TypeError:  # e.g. PostgreSQL's Numeric: its processor depends on cursor.description
                raise ValueError("Prepared cannot convert a column whose type needs the driver's type code") from None
            results = results if any(results) else ()
        return compiled, binds, results

    @staticmethod
    def _observed(connection) -> bool:
        # The engine's own events (and the Engine class's), which every connection of it fires,
        # and SQLAlchemy's statement log (echo=True, or the sqlalchemy.engine logger at INFO).
        engine = connection.engine
        events = engine.dispatch
        return bool(events.before_execute or events.after_execute
                    or events.before_cursor_execute or events.after_cursor_execute
                    or engine.echo or _STATEMENT_LOG.isEnabledFor(logging.INFO))

    def execute(self, connection, params: dict) -> "PreparedResult":
        """Run with `params` (by bind name) in `connection`'s transaction: a PreparedResult."""
        if self._observed(connection):
            result = connection.execute(self.statement, params)
            return PreparedResult(result.rowcount, [tuple(row) for row in result] if result.returns_rows else [])
        dialect = connection.dialect
        compiled, binds, results = self._compiled(dialect)
        values = compiled.construct_params(params)
        try:
            converted = [(name, values[name] if process is None else process(values[name])) for name, process in binds]
        except Exception as error:  # a value its type cannot take, as Connection.execute would say it
            raise StatementError(str(error), compiled.string, params, error) from error
        arguments = [value for _, value in converted] if dialect.positional else dict(converted)
        driver_connection = connection.connection.driver_connection
        try:
            cursor = driver_connection.execute(compiled.string, arguments)
            rows = cursor.fetchall() if results is not None else []
        except dialect.loaded_dbapi.Error as error:
            lost = dialect.is_disconnect(error, driver_connection, None)
            if lost:  # the server went away: its other connections in the pool are gone too
                connection.invalidate(error)
                connection.engine.dispose(close=False)
            raise DBAPIError.instance(compiled.string, arguments, error, dialect.loaded_dbapi.Error,
                                      connection_invalidated=lost, dialect=dialect) from error
        except Exception as error:  # the driver could not adapt a value (psycopg dumps JSON here)
            raise StatementError(str(error), compiled.string, params, error) from error
        if results:
            rows = [tuple(value if process is None else process(value) for value, process in zip(row, results))
                    for row in rows]
        return PreparedResult(cursor.rowcount, rows)


@cache
def prepared(statement) -> Prepared:
    """The one Prepared of a statement built once (the statement builders are cached too)."""
    return Prepared(statement)


class PreparedResult(NamedTuple):
    rowcount: int
    rows: list  # tuples, in the statement's column order
