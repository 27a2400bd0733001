"""查询统计 at scale: with 1,000,000 vouchers in the database (a city with six districts, 20
templates, 300 institutions, 6,000 classes, events spread over this year), how long the bureau's
dashboard takes to answer — the whole page through Flask, signed in as a city clerk. Target: under
300 ms. The one-off roll-up of all past days (what `flask stats rollup` does from cron the first
night) is timed separately.

    python bench/dashboard.py                        # SQLite (a temporary file)
    python bench/dashboard.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

The database given is emptied and rebuilt."""
import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select  # noqa: E402

from h5app import create_app  # noqa: E402
from h5app.extensions import db  # noqa: E402
from h5app.models import Institution, Person, Region, StaffUser, TrainingClass, Voucher, VoucherTemplate  # noqa: E402
from h5app.policies import ensure_policies  # noqa: E402
from h5app.statistics.rollup import roll_up  # noqa: E402
from h5app.timeutil import local_today, start_of_local_day, utcnow  # noqa: E402

DISTRICTS = {"330602": "越城区", "330603": "柯桥区", "330604": "上虞区", "330624": "新昌县", "330681": "诸暨市",
             "330683": "嵊州市"}
BATCH = 20_000


def load(n_vouchers: int, rng: random.Random) -> None:
    db.drop_all()
    db.create_all()
    policy = ensure_policies(db.session)["default"]
    db.session.add(Region(code="330600", name="绍兴市", policy_id=policy.id))
    db.session.add_all(Region(code=c, name=n, parent_code="330600", policy_id=policy.id) for c, n in DISTRICTS.items())
    today = local_today()
    year_start = date(today.year, 1, 1)
    templates = []
    for i in range(20):
        directed = i % 4 == 3
        templates.append(VoucherTemplate(
            name=f"bench {i}", voucher_type=f"T{i}", region_code="330600" if i % 2 else rng.choice(list(DISTRICTS)),
            policy_id=policy.id, status="active", function_mode="credential" if i % 3 == 2 else "face_value",
            distribution_mode="directed" if directed else "general", face_value_fen=100000, audience="targeted",
            claim_starts_on=year_start, claim_ends_on=today + timedelta(days=60), valid_days=180))
    db.session.add_all(templates)
    institutions = [Institution(code=f"B{i:06d}", name=f"bench school {i}", region_code=rng.choice(list(DISTRICTS)),
                                type="other") for i in range(300)]
    db.session.add_all(institutions)
    db.session.flush()
    classes = []
    for i in range(6000):
        starts = year_start + timedelta(days=rng.randrange(max((today - year_start).days, 1)))
        completed = starts + timedelta(days=20) < today
        trainees = rng.randrange(20, 60)
        classes.append(TrainingClass(
            institution_id=rng.choice(institutions).id, course_name=f"bench {i}", occupation="电工",
            project_type="employment_skills", hours=40, starts_on=starts, ends_on=starts + timedelta(days=20),
            status="completed" if completed else "open", trainees_completed=trainees if completed else 0,
            ratings_count=rng.randrange(trainees) if completed else 0))
    db.session.add_all(classes)
    db.session.commit()
    class_rows = [(c.id, c.institution_id) for c in classes]

    people = n_vouchers // len(templates) + 1
    codes = list(DISTRICTS)
    now = utcnow()
    for start in range(0, people, BATCH):
        db.session.execute(insert(Person), [
            {"name": "学员", "id_number": f"{i:018d}", "groups": [], "region_code": codes[i % len(codes)],
             "insurance_months": 0, "verified_via": "bench", "qr_code": f"P{i:015d}", "job_consent": False,
             "created_at": now} for i in range(start, min(start + BATCH, people))])
    person_ids = db.session.scalars(select(Person.id).order_by(Person.id)).all()
    db.session.commit()

    span = max(int((start_of_local_day(today) - start_of_local_day(year_start)).total_seconds()), 86400)
    first = start_of_local_day(year_start)
    rows, made = [], 0
    for ti, template in enumerate(templates):
        for person_id in person_ids:
            if made == n_vouchers:
                break
            made += 1
            issued = first + timedelta(seconds=rng.randrange(span))
            row = {"code": f"V{made:015d}", "template_id": template.id, "person_id": person_id, "status": "offered",
                   "offered_at": issued, "created_at": issued, "claimed_at": None, "used_at": None,
                   "settled_at": None, "class_id": None, "institution_id": None, "expires_at": None}
            roll = rng.random()
            if roll < 0.6:
                row.update(status="claimed", claimed_at=_after(issued, now, rng))
            if roll < 0.25:
                # (class, person) is unique: one person's vouchers of different templates go to different classes
                class_id, institution_id = class_rows[(person_id * 31 + ti) % len(class_rows)]
                row.update(status="used", used_at=_after(row["claimed_at"], now, rng), institution_id=institution_id,
                           class_id=class_id)
            if roll < 0.1:
                row.update(status="settled", settled_at=_after(row["used_at"], now, rng))
            rows.append(row)
            if len(rows) == BATCH:
                db.session.execute(insert(Voucher), rows)
                rows = []
    if rows:
        db.session.execute(insert(Voucher), rows)
    clerk = StaffUser(username="bench_clerk", name="bench", role="bureau", region_code="330600")
    clerk.set_password("bench-password-0123")
    db.session.add(clerk)
    db.session.commit()


def _after(moment: datetime, now: datetime, rng: random.Random) -> datetime:
    room = max(int((now - moment).total_seconds()), 1)
    return moment + timedelta(seconds=rng.randrange(min(room, 30 * 86400)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--vouchers", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--reuse", action="store_true",
                        help="time a database an earlier run loaded, without emptying it (PostgreSQL)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url or f"sqlite:///{tmp}/bench.sqlite3",
                          "SECRET_KEY": "bench-secret-key-0123456789abcdef", "RATELIMIT_ENABLED": False})
        with app.app_context():
            started = time.perf_counter()
            if not args.reuse:
                load(args.vouchers, random.Random(2026))
            loaded = time.perf_counter() - started
            if db.engine.dialect.name == "postgresql":
                # A production database has planner statistics (autovacuum); a freshly bulk-loaded
                # one has none until autovacuum gets to it, and the planner then guesses badly.
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.exec_driver_sql("VACUUM ANALYZE")
            started = time.perf_counter()
            rows = roll_up(db.session, rebuild=True) if args.reuse else roll_up(db.session)
            rolled = time.perf_counter() - started
            clerk = db.session.scalar(select(StaffUser).where(StaffUser.username == "bench_clerk"))
            client = app.test_client()
            with client.session_transaction() as session:
                session["_user_id"], session["_fresh"] = clerk.get_id(), True
            times = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                response = client.get("/bureau/statistics")
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.status_code
            times.sort()
            vouchers = db.session.scalar(select(func.count(Voucher.id)))
            print(f"database: {db.engine.dialect.name}; {vouchers:,} vouchers"
                  + ("" if args.reuse else f" loaded in {loaded:.0f}s"))
            print(f"first roll-up of every past day: {rows:,} rows in {rolled:.2f}s (once; then one day a night)")
            print(f"dashboard page /bureau/statistics over {args.rounds} requests: median {statistics.median(times):.0f} ms, "
                  f"p95 {times[int(len(times) * 0.95) - 1]:.0f} ms, max {times[-1]:.0f} ms — target < 300 ms")
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
