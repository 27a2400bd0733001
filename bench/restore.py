"""Backup and restore of a 1,000,000-voucher database with the shipped scripts: deploy/backup
(pg_dump -Fc) and deploy/restore-drill (pg_restore into a fresh database, flask db upgrade, the
smoke journey, counts compared with the source).

    python bench/restore.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench   # emptied!

Loads the vouchers (one person each, bench/engine.py's data set) plus an audit row per voucher,
stamps the schema at the migration heads, then prints the dump's size and time, and the drill's
restore, upgrade and total times."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sqlalchemy import text  # noqa: E402

from engine import build_app, load  # noqa: E402
from h5app.extensions import db  # noqa: E402
from h5app.models import Region  # noqa: E402

SECRET_KEY = "bench-secret-key-0123456789abcdef"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", required=True, help="a PostgreSQL database to fill (emptied first)")
    parser.add_argument("--vouchers", type=int, default=1_000_000)
    args = parser.parse_args()
    flask = str(Path(sys.executable).with_name("flask"))
    env = {**os.environ, "FLASK_APP": "wsgi", "H5APP_ENV": "testing", "SECRET_KEY": SECRET_KEY,
           "DATABASE_URL": args.postgres, "DATABASE_DIRECT_URL": args.postgres, "FLASK": flask}

    started = time.monotonic()
    app = build_app(args.postgres)
    with app.app_context():
        load(args.vouchers, 0)
        db.session.add(Region(code="330600", name="绍兴市"))  # the templates' region, as a real database has
        db.session.execute(text(
            "INSERT INTO audit_events (at, actor_type, actor_label, action, voucher_id, person_id, from_status, "
            "to_status, region_code, details) SELECT claimed_at, 'person', '劳动者', 'voucher.claim', id, person_id, "
            "'offered', 'claimed', '330600', '{}' FROM vouchers"))
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    subprocess.run([flask, "db", "stamp", "heads"], cwd=ROOT, env=env, check=True, capture_output=True)
    print(f"loaded {args.vouchers:,} vouchers, people and audit rows in {time.monotonic() - started:.0f} s", flush=True)

    with tempfile.TemporaryDirectory(prefix="h5app-bench-backup-") as folder:
        env["BACKUP_DIR"] = folder
        started = time.monotonic()
        subprocess.run([str(ROOT / "deploy" / "backup")], env=env, check=True)
        backup_seconds = time.monotonic() - started
        dump_mib = next(Path(folder).glob("h5app-*.dump")).stat().st_size / 2**20
        started = time.monotonic()
        drill = subprocess.run([sys.executable, str(ROOT / "deploy" / "restore-drill"), "--compare-source", "--json"],
                               cwd=ROOT, env=env, capture_output=True, text=True)
        drill_seconds = time.monotonic() - started
        if drill.returncode:
            raise SystemExit(f"restore drill failed:\n{drill.stdout}{drill.stderr}")
    outcome = json.loads(drill.stdout.strip().splitlines()[-2])
    print(f"\nvouchers {outcome['counts']['vouchers']:,}, audit rows {outcome['counts']['audit_events']:,}; "
          f"counts equal the source: {outcome['source_counts_equal']}")
    print(f"deploy/backup        {backup_seconds:6.1f} s   dump {dump_mib:.0f} MiB")
    print(f"pg_restore           {outcome['restore_seconds']:6.1f} s   (--jobs={os.cpu_count()})")
    print(f"flask db upgrade     {outcome['upgrade_seconds']:6.1f} s")
    print(f"restore-drill total  {drill_seconds:6.1f} s   (with counts on both sides and the smoke journey)")


if __name__ == "__main__":
    main()
