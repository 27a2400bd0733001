"""查询统计 at scale: with 1,000,000 vouchers in the database (a city with six districts, 20
templates, 300 institutions, 6,000 classes, events spread over this year), how long the bureau's
dashboard takes to answer — the whole page through Flask, signed in as the city's clerk and as its
province's. Target: under 300 ms. The one-off roll-up of all past days (what `flask stats rollup`
does from cron the first night) is timed separately.

--today N adds a national day: N vouchers verified today across 31 provinces (each with a city, a
district and a template of its own), --today-share of them in the bench's province (half in the
city, half in another city of the province); the rest of the country is what a page must not count.

    python bench/dashboard.py                        # SQLite (a temporary file)
    python bench/dashboard.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
    python bench/dashboard.py --today 300000 --database-url ...

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

from flask import g  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from h5app import create_app  # noqa: E402
from h5app.auth.users import session_values  # noqa: E402
from h5app.extensions import db  # noqa: E402
from h5app.models import Institution, Person, Region, StaffUser, TrainingClass, Voucher, VoucherTemplate  # noqa: E402
from h5app.policies import ensure_policies  # noqa: E402
from h5app.statistics.rollup import roll_up  # noqa: E402
from h5app.timeutil import local_today, start_of_local_day, utcnow  # noqa: E402

DISTRICTS = {"330602": "越城区", "330603": "柯桥区", "330604": "上虞区", "330624": "新昌县", "330681": "诸暨市",
             "330683": "嵊州市"}
PROVINCE, CITY = "330000", "330600"
# The bench's province and 30 others; each other province has one city (XX0100) and district (XX0102).
PROVINCES = ["110000", "120000", "130000", "140000", "150000", "210000", "220000", "230000", "310000", "320000",
             PROVINCE, "340000", "350000", "360000", "370000", "410000", "420000", "430000", "440000", "450000",
             "460000", "500000", "510000", "520000", "530000", "540000", "610000", "620000", "630000", "640000",
             "650000"]
BATCH = 20_000


def load(n_vouchers: int, rng: random.Random, n_today: int = 0, today_share: float = 1 / 31) -> None:
    db.drop_all()
    db.create_all()
    policy = ensure_policies(db.session)["default"]
    for code in PROVINCES:
        db.session.add(Region(code=code, name="浙江省" if code == PROVINCE else f"省{code[:2]}", policy_id=policy.id))
        city = CITY if code == PROVINCE else code[:2] + "0100"
        db.session.add(Region(code=city, name="绍兴市" if code == PROVINCE else f"市{city[:4]}", parent_code=code,
                              policy_id=policy.id))
    db.session.add(Region(code="330100", name="杭州市", parent_code=PROVINCE, policy_id=policy.id))
    db.session.add_all(Region(code=c, name=n, parent_code=CITY, policy_id=policy.id) for c, n in DISTRICTS.items())
    db.session.add_all(Region(code=code[:2] + "0102", name=f"区{code[:2]}", parent_code=code[:2] + "0100",
                              policy_id=policy.id) for code in PROVINCES if code != PROVINCE)
    db.session.add(Region(code="330102", name="上城区", parent_code="330100", policy_id=policy.id))
    today = local_today()
    year_start = date(today.year, 1, 1)
    templates = []
    for i in range(20):
        directed = i % 4 == 3
        # A quarter are open general templates with a stock: their offered vouchers are counted apart.
        open_stock = i % 4 == 1
        templates.append(VoucherTemplate(
            name=f"bench {i}", voucher_type=f"T{i}", region_code="330600" if i % 2 else rng.choice(list(DISTRICTS)),
            policy_id=policy.id, status="active", function_mode="credential" if i % 3 == 2 else "face_value",
            distribution_mode="directed" if directed else "general", face_value_fen=100000,
            audience="open" if open_stock else "targeted", stock=n_vouchers if open_stock else None,
            claim_starts_on=year_start, claim_ends_on=today + timedelta(days=60), valid_days=180))
    # Each province's own template, whose vouchers are verified today in that province.
    elsewhere = {code: VoucherTemplate(
        name=f"bench {code}", voucher_type=f"P{code}", region_code=code, policy_id=policy.id, status="active",
        function_mode="face_value", distribution_mode="general", face_value_fen=100000, audience="targeted",
        claim_starts_on=year_start, claim_ends_on=today + timedelta(days=60), valid_days=180) for code in PROVINCES}
    db.session.add_all(templates)
    db.session.add_all(elsewhere.values())
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
    midnight = start_of_local_day(today)
    # Today's verifications in the city: claimed vouchers of its templates verified since midnight.
    here = round(n_today * today_share / 2)
    p_here = min(here / max(n_vouchers * 0.35, 1), 1.0)
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
            if 0.25 <= roll < 0.6 and here and rng.random() < p_here and row["claimed_at"] < midnight:
                here -= 1
                class_id, institution_id = class_rows[(person_id * 31 + ti) % len(class_rows)]
                row.update(status="used", used_at=_today(midnight, now, rng), institution_id=institution_id,
                           class_id=class_id)
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
    for template in templates:
        if template.stock is not None:
            template.claimed_count = db.session.scalar(select(func.count(Voucher.id)).where(
                Voucher.template_id == template.id, Voucher.status != "offered"))
    _load_today_elsewhere(n_today, today_share, elsewhere, class_rows, midnight, now, rng)
    for username, code in (("bench_clerk", CITY), ("bench_province", PROVINCE)):
        clerk = StaffUser(username=username, name="bench", role="bureau", region_code=code)
        clerk.set_password("bench-password-0123")
        db.session.add(clerk)
    db.session.commit()


def _load_today_elsewhere(n_today, today_share, elsewhere, class_rows, midnight, now, rng) -> None:
    """Today's verifications outside the city: the other half of the province's share in 杭州, the
    rest spread evenly over the other 30 provinces; a new person and voucher each."""
    share = {PROVINCE: round(n_today * today_share) - round(n_today * today_share / 2)}
    others = [code for code in PROVINCES if code != PROVINCE]
    rest = n_today - round(n_today * today_share)
    share.update({code: rest // len(others) + (1 if i < rest % len(others) else 0) for i, code in enumerate(others)})
    made = 0
    for code, count in share.items():
        district = "330102" if code == PROVINCE else code[:2] + "0102"
        template_id = elsewhere[code].id
        for start in range(0, count, BATCH):
            size = min(BATCH, count - start)
            people = [{"name": "学员", "id_number": f"9{i:017d}", "groups": [], "region_code": district,
                       "insurance_months": 0, "verified_via": "bench", "qr_code": f"Q{i:015d}",
                       "job_consent": False, "created_at": now} for i in range(made, made + size)]
            ids = db.session.scalars(insert(Person).returning(Person.id, sort_by_parameter_order=True), people).all()
            made += size
            vouchers = []
            for person_id in ids:
                claimed = midnight - timedelta(seconds=rng.randrange(1, 30 * 86400))
                class_id, institution_id = class_rows[person_id % len(class_rows)]
                vouchers.append({"code": f"W{person_id:015d}", "template_id": template_id, "person_id": person_id,
                                 "status": "used", "offered_at": claimed, "created_at": claimed,
                                 "claimed_at": claimed, "used_at": _today(midnight, now, rng), "settled_at": None,
                                 "class_id": class_id, "institution_id": institution_id, "expires_at": None})
            db.session.execute(insert(Voucher), vouchers)
    db.session.commit()


def _today(midnight: datetime, now: datetime, rng: random.Random) -> datetime:
    return midnight + timedelta(seconds=rng.randrange(max(int((now - midnight).total_seconds()), 1)))


def _time_page(app, username: str, rounds: int) -> list[float]:
    """Milliseconds per request of the page, signed in as `username`, sorted."""
    clerk = db.session.scalar(select(StaffUser).where(StaffUser.username == username))
    region = db.session.scalar(select(Region).where(Region.code == clerk.region_code))
    client = app.test_client()
    with client.session_transaction() as session:
        session.update(session_values(clerk.get_id()))
    times = []
    for _ in range(rounds):
        # Each request gets a fresh `g`, as on a server (the bench holds one app context open, and
        # Flask-Login would keep the first clerk signed in there for every later request).
        vars(g._get_current_object()).clear()
        started = time.perf_counter()
        response = client.get("/bureau/statistics")
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
        assert f"<h2>{region.name} " in response.get_data(as_text=True), "not the clerk's own region's page"
    return sorted(times)


def _after(moment: datetime, now: datetime, rng: random.Random) -> datetime:
    room = max(int((now - moment).total_seconds()), 1)
    return moment + timedelta(seconds=rng.randrange(min(room, 30 * 86400)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--vouchers", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--today", type=int, default=0, metavar="N",
                        help="also verify N vouchers today across the country (e.g. 300000)")
    parser.add_argument("--today-share", type=float, default=1 / 31, metavar="F",
                        help="the share of today's verifications in the bench's province (default 1/31)")
    parser.add_argument("--reuse", action="store_true",
                        help="time a database an earlier run loaded, without emptying it (PostgreSQL, or a "
                             "SQLite file named by --database-url)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url or f"sqlite:///{tmp}/bench.sqlite3",
                          "SECRET_KEY": "bench-secret-key-0123456789abcdef", "RATELIMIT_ENABLED": False})
        with app.app_context():
            started = time.perf_counter()
            if not args.reuse:
                load(args.vouchers, random.Random(2026), args.today, args.today_share)
            loaded = time.perf_counter() - started
            if db.engine.dialect.name == "postgresql":
                # A production database has planner statistics (autovacuum); a freshly bulk-loaded
                # one has none until autovacuum gets to it, and the planner then guesses badly.
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.exec_driver_sql("VACUUM ANALYZE")
            started = time.perf_counter()
            rows = roll_up(db.session, rebuild=True) if args.reuse else roll_up(db.session)
            rolled = time.perf_counter() - started
            vouchers = db.session.scalar(select(func.count(Voucher.id)))
            today = db.session.scalar(select(func.count(Voucher.id)).where(
                Voucher.used_at >= start_of_local_day(local_today())))
            print(f"database: {db.engine.dialect.name}; {vouchers:,} vouchers, {today:,} verified today"
                  + ("" if args.reuse else f"; loaded in {loaded:.0f}s"))
            print(f"first roll-up of every past day: {rows:,} rows in {rolled:.2f}s (once; then one day a night)")
            for username, label in (("bench_clerk", "city 330600"), ("bench_province", "province 330000")):
                times = _time_page(app, username, args.rounds)
                print(f"/bureau/statistics as the {label} clerk over {args.rounds} requests: "
                      f"median {statistics.median(times):.0f} ms, p95 {times[int(len(times) * 0.95) - 1]:.0f} ms, "
                      f"max {times[-1]:.0f} ms — target < 300 ms")
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main()
