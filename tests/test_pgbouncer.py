"""The app through PgBouncer in transaction mode (deploy/pgbouncer/pgbouncer.ini): every transaction
may run on another server connection, so psycopg must keep no prepared statements there —
DATABASE_PREPARED_STATEMENTS=off. Needs TEST_DATABASE_URL on PostgreSQL and Debian's pgbouncer."""
import os
import re
import subprocess

import pytest
from sqlalchemy import select, text

from h5app import create_app
from h5app.models import Voucher

from .conftest import TEST_CONFIG
from .topology import Topology, binary

ON_POSTGRES = os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")
pytestmark = [pytest.mark.skipif(not ON_POSTGRES, reason="needs TEST_DATABASE_URL on PostgreSQL"),
              pytest.mark.skipif(binary("pgbouncer") is None, reason="needs pgbouncer (apt-get install pgbouncer)")]
STATEMENT = select(Voucher.id).where(Voucher.code == "NO-SUCH-CODE")


@pytest.fixture(scope="module")
def pgbouncer(app, database_url):
    topology = Topology(database_url, TEST_CONFIG["SECRET_KEY"])
    try:
        topology.start_pgbouncer()
        yield topology
    finally:
        topology.close()


def engine_through(pgbouncer, monkeypatch, prepared: str):
    """The engine the app builds from its environment, as a production instance would."""
    monkeypatch.setenv("DATABASE_PREPARED_STATEMENTS", prepared)
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": pgbouncer.app_database_url, "METRICS_ENABLED": False})
    with app.app_context():
        from h5app.extensions import db

        return db.engine


def alternate_server_connections(engine) -> None:
    """One client runs the same statement in many transactions; between them another client holds
    the server connection it used last, so the next transaction lands on another one."""
    with engine.connect() as first, engine.connect() as second:
        for _ in range(8):  # past psycopg's prepare_threshold (5)
            first.execute(STATEMENT).all()
            first.commit()
            second.execute(text("SELECT 1"))  # takes the server connection `first` just gave back
            first.execute(STATEMENT).all()
            first.commit()
            second.commit()


def test_with_prepared_statements_off_any_server_connection_serves_the_app(pgbouncer, monkeypatch):
    engine = engine_through(pgbouncer, monkeypatch, "off")
    alternate_server_connections(engine)
    engine.dispose()


def pgbouncer_version() -> tuple[int, ...]:
    out = subprocess.run([binary("pgbouncer"), "--version"], capture_output=True, text=True).stdout
    return tuple(int(n) for n in re.search(r"(\d+)\.(\d+)", out).groups())


@pytest.mark.skipif(ON_POSTGRES and binary("pgbouncer") is not None and pgbouncer_version() >= (1, 21),
                    reason="PgBouncer 1.21+ carries protocol-level prepared statements itself")
def test_with_psycopg_prepared_statements_transaction_mode_breaks(pgbouncer, monkeypatch):
    """Why the setting exists: the statement psycopg prepared on one server connection is missing
    on the next (PgBouncer before 1.21)."""
    engine = engine_through(pgbouncer, monkeypatch, "on")
    with pytest.raises(Exception, match="prepared statement"):
        alternate_server_connections(engine)
    engine.dispose()
