"""Engine-level settings that make SQLite safe for concurrent writers.

SQLite: WAL so readers never block the writer, a busy timeout so writers queue instead of
failing, and every transaction opened with BEGIN IMMEDIATE: a transaction that read first and
writes later would otherwise fail with SQLITE_BUSY_SNAPSHOT the moment another writer commits.
With IMMEDIATE, the read-check-write of the voucher engine is serialised by SQLite itself.
PostgreSQL needs none of this: the engine uses guarded UPDATEs and row locks there.
"""
from sqlalchemy import event
from sqlalchemy.engine import Engine


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
