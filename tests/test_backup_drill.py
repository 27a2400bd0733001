"""Backups that are proven: deploy/backup writes a custom-format pg_dump (with its digest) and
keeps the newest; deploy/restore-drill restores it into a fresh database, runs `flask db upgrade`
and the smoke journey, and its voucher counts equal the source's. Needs TEST_DATABASE_URL on
PostgreSQL and the PostgreSQL client tools (pg_dump, pg_restore, psql)."""
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import Voucher

from . import factories as f
from .conftest import TEST_CONFIG

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
ON_POSTGRES = os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")
pytestmark = [pytest.mark.skipif(not ON_POSTGRES, reason="needs TEST_DATABASE_URL on PostgreSQL"),
              pytest.mark.skipif(any(shutil.which(t) is None for t in ("pg_dump", "pg_restore", "psql")),
                                 reason="needs the PostgreSQL client tools")]


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def source(database_url, make_app):
    """A database of its own (the drill compares whole-database counts), built and stamped at the
    migration heads as `flask db upgrade` leaves one, with vouchers in every state."""
    name = f"h5app_backup_source_{uuid.uuid4().hex[:8]}"
    admin = libpq(with_database(database_url, "postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = with_database(database_url, name)
    other = make_app(SQLALCHEMY_DATABASE_URI=url)
    try:
        with other.app_context():
            db.create_all()
            template = f.template(stock=500)
            staff = f.staff("bureau")
            for n in range(60):
                status = ("claimed", "used", "offered", "expired")[n % 4]
                f.voucher(template, f.person(), status, claimed_at=f.utcnow_plus(days=-2),
                          expires_at=f.utcnow_plus(days=30 if status != "expired" else -1))
            assert staff.id
            db.session.commit()
            expected = db.session.scalar(select(func.count(Voucher.id)))
            db.session.remove()
            db.engine.dispose()
        flask(["db", "stamp", "heads"], url)
        yield url, expected
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def flask(args: list[str], url: str) -> str:
    env = {**os.environ, "FLASK_APP": "wsgi", "H5APP_ENV": "testing", "DATABASE_URL": url,
           "SECRET_KEY": TEST_CONFIG["SECRET_KEY"]}
    return subprocess.run([str(Path(sys.executable).with_name("flask")), *args], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stdout


def script_env(url: str, folder: Path, database_url: str, **extra) -> dict:
    env = {**os.environ, "DATABASE_DIRECT_URL": url, "BACKUP_DIR": str(folder), "H5APP_ENV": "testing",
           "SECRET_KEY": TEST_CONFIG["SECRET_KEY"], "DRILL_ADMIN_URL": libpq(with_database(database_url, "postgres")),
           "FLASK": str(Path(sys.executable).with_name("flask")), "EVIDENCE_DIR": str(folder / "no-evidence"), **extra}
    env.pop("TEST_DATABASE_URL", None)
    return env


def test_the_restore_drill_brings_back_every_voucher_of_the_backup(source, database_url, tmp_path):
    url, expected = source
    backups = tmp_path / "backups"
    dumped = subprocess.run([str(DEPLOY / "backup")], env=script_env(url, backups, database_url),
                            capture_output=True, text=True, timeout=300)
    assert dumped.returncode == 0, dumped.stderr
    dumps = sorted(backups.glob("h5app-*.dump"))
    assert len(dumps) == 1 and dumps[0].with_name(dumps[0].name + ".sha256").exists()

    drill = subprocess.run([sys.executable, str(DEPLOY / "restore-drill"), "--compare-source", "--json"], cwd=ROOT,
                           env=script_env(url, backups, database_url), capture_output=True, text=True, timeout=600)
    assert drill.returncode == 0, drill.stdout + drill.stderr
    outcome = json.loads(drill.stdout.strip().splitlines()[-2])
    assert outcome["counts"]["vouchers"] == expected == 60
    assert outcome["counts"]["vouchers_by_status"] == {"claimed": 15, "expired": 15, "offered": 15, "used": 15}
    assert outcome["source_counts_equal"] is True and outcome["restore_seconds"] >= 0
    assert "smoke journey passed" in drill.stdout and "GET /readyz" in drill.stdout
    with psycopg.connect(libpq(with_database(database_url, "postgres"))) as connection:  # the scratch copy is gone
        assert connection.execute("SELECT count(*) FROM pg_database WHERE datname = %s",
                                  (outcome["database"],)).fetchone()[0] == 0


def test_a_dump_that_does_not_match_its_digest_is_not_restored(database_url, tmp_path):
    url = database_url  # the suite's own database: any dump will do
    backups = tmp_path / "backups"
    assert subprocess.run([str(DEPLOY / "backup")], env=script_env(url, backups, database_url),
                          capture_output=True, timeout=300).returncode == 0
    dump = next(backups.glob("h5app-*.dump"))
    with dump.open("r+b") as handle:
        handle.seek(-1, os.SEEK_END)
        last = handle.read(1)
        handle.seek(-1, os.SEEK_END)
        handle.write(bytes([last[0] ^ 0xFF]))
    drill = subprocess.run([sys.executable, str(DEPLOY / "restore-drill")], cwd=ROOT,
                           env=script_env(url, backups, database_url), capture_output=True, text=True, timeout=300)
    assert drill.returncode != 0 and "does not match" in drill.stdout + drill.stderr


def test_backup_keeps_the_newest_and_deletes_dumps_past_their_days(database_url, tmp_path):
    url = database_url
    backups = tmp_path / "backups"
    backups.mkdir()
    month_ago = time.time() - 30 * 86400
    for day in ("20261101T023000Z", "20261102T023000Z", "20261103T023000Z"):
        old = backups / f"h5app-{day}.dump"
        old.write_bytes(b"old")
        os.utime(old, (month_ago, month_ago))
    env = script_env(url, backups, database_url, BACKUP_KEEP_DAYS="14", BACKUP_KEEP_MIN="2")
    assert subprocess.run([str(DEPLOY / "backup")], env=env, capture_output=True, timeout=300).returncode == 0
    left = sorted(p.name for p in backups.glob("h5app-*.dump"))
    assert len(left) == 2 and left[0] == "h5app-20261103T023000Z.dump"  # the newest old one, and today's
