"""Claim rush: N signed-in workers claim one open template of stock S all at once through the real
pages (卡券中心 → 领取: GET the confirm page, POST it), beside a bare Flask endpoint doing the same
guarded stock UPDATE + voucher INSERT, both under the same gunicorn settings, on SQLite and — when a
URL is given — PostgreSQL.

    python bench/claim_rush.py                                                    # SQLite only
    python bench/claim_rush.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench   # both; emptied!
    python bench/claim_rush.py --redis redis://127.0.0.1:6379/14 --admission-limit 2   # refusals shown

Workers sign in by channel SSO first (each from its own address, as behind nginx), then each round
every worker claims that round's template once (a fresh template of stock S); app and bare rounds
alternate so drift in the machine's speed falls on both alike. A worker told "领券人数较多" (503)
waits Retry-After and presses the button again, as the page asks.

Prints claims/s (workers served: claimed or told the stock is gone), p50/p99 of every page a worker
waited for (app: the confirm page and the POST; bare: its POST), CPU of the gunicorn workers per
claim (from /proc), the ratio app ÷ bare, and whether the stock came out exact: oversold (more
vouchers than stock), undersold (stock left while a worker was told it was gone).

Two more servers walk the same page pair with nothing of the claim's own (bench/claim_floors.py):
the floor is the app itself with a bare confirm form, then bare's UPDATE + INSERT, through every hook
the app runs; the framework floor is only what the spec asks of any signed-in form on the fixed
stack — Flask's signed session, Flask-Login's user load, Flask-WTF's CSRF — with the stock read on
the confirm page. Their ratios to bare are the most a claim through a confirm page could reach on
the app's stack and on the framework's, whatever the claim itself costs."""
import argparse
import http.client
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402

from harness import percentile, require_postgres, run_together, start_gunicorn, stop  # noqa: E402
from h5app import create_app  # noqa: E402
from h5app.auth.sso import mint_ticket  # noqa: E402
from h5app.codes import random_code  # noqa: E402
from h5app.extensions import db  # noqa: E402
from h5app.identity import id_check_char  # noqa: E402
from h5app.models import Channel, Person, Region, Voucher, VoucherTemplate  # noqa: E402
from h5app.policies import ensure_policies  # noqa: E402
from h5app.timeutil import local_today, utcnow  # noqa: E402

SECRET_KEY = "bench-secret-key-0123456789abcdef"
CHANNEL, CHANNEL_SECRET = "bench", "bench-channel-secret"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
NOTICE = re.compile(r'class="notice[^"]*"[^>]*>(.*?)</', re.S)
GONE = "领完"  # 该培训券已领完 on the confirm page, …已被领完… when the last unit went meanwhile
BUSY = "领券人数较多"
SIDES = ("app", "floor", "framework", "bare")


# --- the data -------------------------------------------------------------------------------------

def id_number(i: int) -> str:
    born = date(1970, 1, 1) + timedelta(days=i // 1000)
    first17 = f"330602{born:%Y%m%d}{i % 1000:03d}"
    return first17 + id_check_char(first17)


def load(url: str, args) -> dict:
    """An emptied database: the policies, the region, the SSO channel, one open template of stock S
    per round and side (and one of unlimited stock per side for the warm-up), and a background of
    other open templates with claimed vouchers, so the pages read realistically sized tables."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY, "RATELIMIT_ENABLED": False})
    with app.app_context():
        db.drop_all()
        db.create_all()
        policy = ensure_policies(db.session)["default"]
        db.session.add_all([Region(code="330600", name="绍兴市", policy_id=policy.id),
                            Region(code="330602", name="越城区", parent_code="330600", policy_id=policy.id),
                            Channel(code=CHANNEL, name="智慧人社", secret=CHANNEL_SECRET)])
        today = local_today()

        def template(name: str, stock: int | None, region_code: str = "330600") -> VoucherTemplate:
            row = VoucherTemplate(
                name=name, voucher_type="就业技能培训券", region_code=region_code, policy_id=policy.id,
                status="active", function_mode="face_value", distribution_mode="general", face_value_fen=150000,
                claim_starts_on=today - timedelta(days=1), claim_ends_on=today + timedelta(days=30), valid_days=90,
                stock=stock, eligible_groups=[], project_types=[])
            db.session.add(row)
            return row

        rounds = {side: [template(f"{side} 第{r + 1}轮", args.stock) for r in range(args.rounds)]
                  for side in SIDES}
        warm = {side: template(f"{side} 预热", None) for side in SIDES}
        background = [template(f"外地培训券{i}", 1000, f"{11 + i % 20:02d}0100") for i in range(args.templates)]
        db.session.commit()
        now = utcnow()
        people = [{"name": "学员", "id_number": f"B{i:017d}", "groups": [], "region_code": "330602",
                   "insurance_months": 0, "verified_via": "roster", "qr_code": f"Q{i:015d}", "job_consent": False,
                   "session_epoch": 0, "created_at": now} for i in range(args.background)]
        for start in range(0, len(people), 10_000):
            db.session.execute(insert(Person), people[start:start + 10_000])
        person_ids = db.session.execute(select(Person.id).order_by(Person.id)).scalars().all()
        for start in range(0, len(person_ids), 10_000):
            db.session.execute(insert(Voucher), [
                {"code": random_code(), "template_id": background[i % len(background)].id, "person_id": pid,
                 "status": "claimed", "claimed_at": now, "expires_at": now + timedelta(days=90), "created_at": now}
                for i, pid in enumerate(person_ids[start:start + 10_000], start)])
        db.session.commit()
        ids = {"rounds": {side: [t.id for t in rows] for side, rows in rounds.items()},
               "warm": {side: t.id for side, t in warm.items()}, "dialect": db.engine.dialect.name}
        db.session.remove()
        db.engine.dispose()
    return ids


# --- the servers ----------------------------------------------------------------------------------

def bare_app():
    """The yardstick, served by gunicorn as `bench.claim_rush:bare_app()`: POST /bare/claim/<template>
    with a person id runs the guarded stock UPDATE and, when it took a unit, the voucher INSERT, in
    one transaction on an engine configured as the app's (on SQLite: WAL, BEGIN IMMEDIATE)."""
    from flask import Flask, request

    from h5app.database import configure_engine

    engine = create_engine(os.environ["DATABASE_URL"], pool_size=10)
    configure_engine(engine, 30000)
    take = text("UPDATE voucher_templates SET claimed_count = claimed_count + 1 "
                "WHERE id = :template_id AND (stock IS NULL OR claimed_count < stock)")
    add = text("INSERT INTO vouchers (code, template_id, person_id, status, claimed_at, expires_at, created_at) "
               "VALUES (:code, :template_id, :person_id, 'claimed', :now, :expires_at, :now)")
    app = Flask(__name__)

    @app.post("/bare/claim/<int:template_id>")
    def claim(template_id):
        now = utcnow()
        with engine.begin() as connection:
            taken = connection.execute(take, {"template_id": template_id}).rowcount == 1
            if taken:
                connection.execute(add, {"code": random_code(), "template_id": template_id, "now": now,
                                         "person_id": int(request.form["person_id"]),
                                         "expires_at": now + timedelta(days=90)})
        return ("claimed", 200) if taken else (GONE, 409)

    return app


def start(app_spec: str, url: str, args, extra_env: dict) -> tuple[subprocess.Popen, int]:
    return start_gunicorn(app_spec, {"DATABASE_URL": url, "SECRET_KEY": SECRET_KEY, "SESSION_COOKIE_SECURE": "0",
                                     "RATELIMIT_STORAGE_URI": "process-memory://", **extra_env},
                          args.workers, args.threads)


def cpu_seconds(master: int) -> float:
    """User + system CPU of the gunicorn master's live workers (their /proc/<pid>/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == master:  # ppid
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


# --- the workers ----------------------------------------------------------------------------------

class Worker:
    """One signed-in worker: a person id, an address and a cookie jar of one cookie."""

    def __init__(self, i: int):
        self.i, self.address, self.cookie, self.person_id = i, f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", "", None

    def headers(self, **more) -> dict:
        return {"X-Forwarded-For": self.address, "Cookie": self.cookie, **more}

    def keep(self, response) -> None:
        for name, value in response.getheaders():
            if name.lower() == "set-cookie" and value.startswith("session="):
                self.cookie = value.split(";", 1)[0]


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.outcomes: dict[str, int] = {}
        self.failures: list[str] = []

    def add(self, latencies: list[float], outcomes: dict[str, int], failures: list[str]) -> None:
        with self.lock:
            self.latencies.extend(latencies)
            for key, count in outcomes.items():
                self.outcomes[key] = self.outcomes.get(key, 0) + count
            self.failures.extend(failures)


class Refusals:
    """503 answers (领券人数较多), counted across the client threads."""

    def __init__(self):
        self.count, self._lock = 0, threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.count += 1


def rush(port: int, workers: list[Worker], concurrency: int, attempt) -> tuple[float, Tally]:
    """Every worker through `attempt(connection, worker, timed) -> outcome` over `concurrency`
    keep-alive connections released together; (seconds, tally)."""
    tally = Tally()

    def run(mine: list[Worker]):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        latencies, outcomes, failures = [], {}, []

        def timed(method, path, body=None, headers=None):
            started = time.perf_counter()
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            payload = response.read().decode()
            latencies.append(time.perf_counter() - started)
            return response, payload

        for worker in mine:
            try:
                outcome = attempt(worker, timed)
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                outcome, failures = "error", failures + [f"{type(error).__name__}: {error}"]
            if outcome.startswith("unexpected"):
                failures.append(outcome)
                outcome = "unexpected"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        connection.close()
        tally.add(latencies, outcomes, failures)

    return run_together(run, [workers[i::concurrency] for i in range(concurrency)]), tally


def sign_in(worker: Worker, timed) -> str:
    ticket = mint_ticket(CHANNEL_SECRET, id_number=id_number(worker.i), name="王建国", phone=f"139{worker.i:08d}",
                         nonce=f"bench-{worker.i}-{time.monotonic_ns()}", region_code="330602",
                         groups=["unemployed"], insurance_months=48)
    response, payload = timed("GET", f"/sso/{CHANNEL}?ticket={quote(ticket)}", headers=worker.headers())
    worker.keep(response)
    if response.status != 302 or not worker.cookie:
        return f"unexpected sign-in {response.status}: {payload[:200]}"
    return "signed in"


def said(page: str) -> str:
    """What a page told the worker: its notices, else its start."""
    return " / ".join(m.strip() for m in NOTICE.findall(page)) or page[:300]


def page_claim(template_id: int, refusals: Refusals, prefix: str = "/worker/cards"):
    """A worker on the real pages: the confirm page, then 确认领取; told 领券人数较多 (503), they wait
    Retry-After and press 再试一次 on that page, which posts the same form again. (`prefix`
    "/floor": the same walk through the floor's page pair.)"""

    def attempt(worker: Worker, timed) -> str:
        path = f"{prefix}/{template_id}"
        response, page = timed("GET", path, headers=worker.headers())
        worker.keep(response)
        if response.status == 200 and GONE in page and "确认领取" not in page:
            return "gone"
        while True:
            token = CSRF.search(page)
            if response.status not in (200, 503) or token is None:
                return f"unexpected confirm page {response.status}: {said(page)}"
            body = f"csrf_token={quote(token.group(1))}&submit=%E7%A1%AE%E8%AE%A4%E9%A2%86%E5%8F%96"
            response, page = timed("POST", path, body=body, headers=worker.headers(
                **{"Content-Type": "application/x-www-form-urlencoded"}))
            worker.keep(response)
            if response.status == 302 and "/worker/vouchers/" in (response.getheader("Location") or ""):
                return "claimed"
            if response.status == 400 and GONE in page:
                return "gone"
            if not (response.status == 503 and BUSY in page and response.getheader("Retry-After")):
                return f"unexpected claim answer {response.status}: {said(page)}"
            refusals.add()
            time.sleep(float(response.getheader("Retry-After")))

    return attempt


def bare_claim(template_id: int):
    def attempt(worker: Worker, timed) -> str:
        response, payload = timed("POST", f"/bare/claim/{template_id}", body=f"person_id={worker.person_id}",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        if response.status in (200, 409):
            return "claimed" if response.status == 200 else "gone"
        return f"unexpected bare answer {response.status}: {payload[:300]}"

    return attempt


# --- one database ---------------------------------------------------------------------------------

def check_stock(engine, template_id: int, stock: int, tally: Tally) -> tuple[int, int]:
    """(oversold, undersold) of one template after its rush."""
    with engine.connect() as connection:
        claimed_count = connection.scalar(
            select(VoucherTemplate.claimed_count).where(VoucherTemplate.id == template_id))
        vouchers = connection.scalar(select(func.count(Voucher.id)).where(Voucher.template_id == template_id))
    told = tally.outcomes.get("claimed", 0)
    if not claimed_count == vouchers == told:
        raise SystemExit(f"template {template_id}: claimed_count {claimed_count}, {vouchers} vouchers, "
                         f"{told} workers told they claimed one")
    gone = tally.outcomes.get("gone", 0)
    return max(vouchers - stock, 0), (stock - vouchers if gone else 0)


def measure(url: str, args) -> dict:
    ids = load(url, args)
    workers = [Worker(i) for i in range(args.people)]
    env = {"PROXY_FIX_X_FOR": "1"}  # each worker from its own address, as nginx would pass it on
    if args.redis:
        env["CLAIM_ADMISSION_STORAGE_URI"] = args.redis
    if args.admission_limit:
        env["CLAIM_ADMISSION_LIMIT"] = str(args.admission_limit)
    servers = []
    engine = create_engine(url)
    try:
        servers.append(start("wsgi:app", url, args, env))
        servers.append(start("bench.claim_floors:floor_app()", url, args, env))
        servers.append(start("bench.claim_floors:framework_app()", url, args, {}))
        servers.append(start("bench.claim_rush:bare_app()", url, args, {}))
        (app_server, app_port), (floor_server, floor_port), (framework_server, framework_port), \
            (bare_server, bare_port) = servers
        _, signed = rush(app_port, workers, args.concurrency, sign_in)
        if signed.failures:
            raise SystemExit(f"{len(signed.failures)} sign-ins failed, e.g. {signed.failures[0]}")
        with engine.connect() as connection:
            by_number = dict(connection.execute(text("SELECT id_number, id FROM people")).all())
        for worker in workers:
            worker.person_id = by_number[id_number(worker.i)]
        sides = {"app": (app_server, app_port, page_claim),
                 "floor": (floor_server, floor_port,
                           lambda template_id, refusals: page_claim(template_id, refusals, "/floor")),
                 "framework": (framework_server, framework_port,
                               lambda template_id, refusals: page_claim(template_id, refusals, "/floor")),
                 "bare": (bare_server, bare_port, lambda template_id, _refusals: bare_claim(template_id))}
        warm_up = workers[:min(len(workers), 200)]
        for name, (_, port, attempt) in sides.items():  # every worker process: its caches, pools, templates
            rush(port, warm_up, args.concurrency, attempt(ids["warm"][name], Refusals()))
        totals = {name: {"seconds": 0.0, "cpu": 0.0, "latencies": [], "claims": 0, "oversold": 0, "undersold": 0,
                         "unexpected": 0} for name in sides}
        refusals = Refusals()
        round_ratios = []
        for r in range(args.rounds):
            spent = {}
            for name, (server, port, attempt) in sides.items():
                template_id = ids["rounds"][name][r]
                cpu_before = cpu_seconds(server.pid)
                elapsed, tally = rush(port, workers, args.concurrency, attempt(template_id, refusals))
                total = totals[name]
                total["cpu"] += cpu_seconds(server.pid) - cpu_before
                total["seconds"] += elapsed
                total["latencies"].extend(tally.latencies)
                total["claims"] += len(workers)
                total["unexpected"] += len(tally.failures)
                if tally.failures:
                    print(f"  {name} round {r + 1}: {len(tally.failures)} unexpected answers, e.g. "
                          f"{tally.failures[0]}", file=sys.stderr)
                oversold, undersold = check_stock(engine, template_id, args.stock, tally)
                total["oversold"] += oversold
                total["undersold"] += undersold
                spent[name] = elapsed
            round_ratios.append(spent["bare"] / spent["app"])
    finally:
        stop(servers)
        engine.dispose()
    result = {"database": ids["dialect"], "rounds": (min(round_ratios), max(round_ratios)), "refused": refusals.count}
    for name, total in totals.items():
        latencies = total["latencies"]
        result[name] = {"rate": total["claims"] / total["seconds"], "p50": percentile(latencies, 0.5) * 1000,
                        "p99": percentile(latencies, 0.99) * 1000, "cpu": total["cpu"] / total["claims"] * 1000,
                        "oversold": total["oversold"], "undersold": total["undersold"],
                        "unexpected": total["unexpected"]}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", help="a PostgreSQL URL to run on as well (the database is emptied)")
    parser.add_argument("--redis", help="count claims in flight in this Redis, shared by the workers "
                                        "(CLAIM_ADMISSION_STORAGE_URI; default: each worker process its own)")
    parser.add_argument("--admission-limit", type=int,
                        help="claims of a template in flight at once (CLAIM_ADMISSION_LIMIT; default the app's)")
    parser.add_argument("--people", type=int, default=2_000, help="signed-in workers, N (default 2000)")
    parser.add_argument("--stock", type=int, default=600, help="stock of each round's template, S (default 600)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--templates", type=int, default=40, help="other open templates (default 40)")
    parser.add_argument("--background", type=int, default=20_000,
                        help="other people, each holding a voucher of one of those (default 20000)")
    parser.add_argument("--concurrency", type=int, default=48, help="client connections (default 48)")
    # gunicorn.conf.py's own defaults (WEB_CONCURRENCY, GUNICORN_THREADS): what production runs.
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of each server (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (default 4)")
    args = parser.parse_args()
    require_postgres(args.postgres)
    print(f"gunicorn -w {args.workers} --threads {args.threads}, {args.concurrency} client connections, "
          f"{args.people} signed-in workers × {args.rounds} rounds, stock {args.stock} per round; "
          "each line as its database finishes")
    print(f"{'database':<12}{'server':<11}{'claims/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'CPU ms':>8}{'÷ bare':>8}"
          f"   over/under/odd")
    with tempfile.TemporaryDirectory() as tmp:
        for url in [f"sqlite:///{tmp}/claim_rush.sqlite3", *([args.postgres] if args.postgres else [])]:
            r = measure(url, args)
            for side in SIDES:
                one = r[side]
                print(f"{r['database']:<12}{side:<11}{one['rate']:>9,.0f}{one['p50']:>8.1f}{one['p99']:>8.1f}"
                      f"{one['cpu']:>8.1f}{one['rate'] / r['bare']['rate']:>8.2f}"
                      f"   {one['oversold']}/{one['undersold']}/{one['unexpected']}")
            print(f"{'':<12}app ÷ bare by round {r['rounds'][0]:.2f}–{r['rounds'][1]:.2f}; "
                  f"{r['refused']} claims answered 领券人数较多 (503)", flush=True)


if __name__ == "__main__":
    main()
