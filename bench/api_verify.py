"""Verifications per second through the partner API (POST /api/v1/verifications behind gunicorn),
side by side with a bare Flask endpoint doing one guarded UPDATE on the same database under the
same gunicorn settings, on SQLite and — when a URL is given — PostgreSQL. A third server, the framework
floor (bench/api_floor.py), verifies with only what the spec asks of a keyed, audited verification
on the fixed stack: its ratio is the most the API could reach here, whatever the app does.

    python bench/api_verify.py                                                    # SQLite only
    python bench/api_verify.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench   # both; emptied!

Every request verifies a different claimed voucher. API and bare rounds alternate, so drift in the
machine's speed falls on both alike. Prints req/s, p50 and p99 latency, the ratio API ÷ bare, and the
lowest and highest ratio of a single round (how far the machine moved during the run)."""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from sqlalchemy import text  # noqa: E402

from engine import build_app, load  # noqa: E402  (bench/engine.py: the same 100k-voucher data set)
from harness import drive, local_connection, percentile, require_postgres, start_gunicorn, stop  # noqa: E402
from h5app.api.keys import create_key  # noqa: E402
from h5app.extensions import db  # noqa: E402
from h5app.vouchers import app_qr_secret, qrtoken  # noqa: E402

SECRET_KEY = "bench-secret-key-0123456789abcdef"


def start(app_spec: str, url: str, workers: int, threads: int) -> tuple[subprocess.Popen, int]:
    return start_gunicorn(app_spec, {"DATABASE_URL": url, "SECRET_KEY": SECRET_KEY,
                                     "API_RATE_LIMIT": "10000000 per minute",
                                     "RATELIMIT_STORAGE_URI": "process-memory://"}, workers, threads)


def measure(url: str, args) -> dict:
    app = build_app(url)
    with app.app_context():
        class_id, _open_id, _ = load(args.vouchers, 0)
        token = create_key(db.session, "bench", "institution", "B000001")[1]
        codes = db.session.execute(text("SELECT code FROM vouchers ORDER BY id")).scalars().all()
        secret = app_qr_secret()
        dialect = db.engine.dialect.name
        db.session.remove()
        db.engine.dispose()
    n = args.requests
    per_side = n * args.rounds + 100
    api_codes, bare_codes, floor_codes = (codes[i * per_side:(i + 1) * per_side] for i in range(3))
    servers = []
    api_headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bare_headers = {"Content-Type": "application/json"}

    def api_requests(chunk, keyed=args.idempotency):
        # Signed just before the round: a QR is accepted for 60 s. With --idempotency every request
        # carries its own Idempotency-Key, as API.md asks partners to send on every POST.
        return [("POST", "/api/v1/verifications", json.dumps(
            {"qr": qrtoken.sign(secret, qrtoken.KIND_VOUCHER, c), "class_id": class_id}).encode(),
            {**api_headers, "Idempotency-Key": f"bench-{c}"} if keyed else api_headers)
            for c in chunk]

    def floor_requests(chunk):
        return api_requests(chunk, keyed=True)  # the floor is keyed, always

    def bare_requests(chunk):
        return [("POST", "/bare/verify", json.dumps({"code": c, "class_id": class_id}).encode(), bare_headers)
                for c in chunk]

    try:
        servers.append(start("wsgi:app", url, args.workers, args.threads))
        servers.append(start("bench.bare_app:app", url, args.workers, args.threads))
        servers.append(start("bench.api_floor:app", url, args.workers, args.threads))
        (_, api_port), (_, bare_port), (_, floor_port) = servers
        drive(local_connection(api_port), api_requests(api_codes[:100]), args.concurrency)  # warm-up: caches
        drive(local_connection(bare_port), bare_requests(bare_codes[:100]), args.concurrency)
        drive(local_connection(floor_port), floor_requests(floor_codes[:100]), args.concurrency)
        totals = {"api": [0.0, []], "bare": [0.0, []], "floor": [0.0, []]}
        round_ratios = []
        for r in range(args.rounds):
            chunk = slice(100 + r * n, 100 + (r + 1) * n)
            spent = {}
            for name, port, build, pool in (("api", api_port, api_requests, api_codes),
                                             ("bare", bare_port, bare_requests, bare_codes),
                                             ("floor", floor_port, floor_requests, floor_codes)):
                elapsed, latencies = drive(local_connection(port), build(pool[chunk]), args.concurrency)
                totals[name][0] += elapsed
                totals[name][1].extend(latencies)
                spent[name] = elapsed
            round_ratios.append(spent["bare"] / spent["api"])
    finally:
        stop(servers)
    result = {"database": dialect, "rounds": (min(round_ratios), max(round_ratios))}
    for name, (elapsed, latencies) in totals.items():
        result[name] = (len(latencies) / elapsed, percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", help="a PostgreSQL URL to run on as well (the database is emptied)")
    parser.add_argument("--vouchers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2_000, help="requests per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--idempotency", action="store_true", help="send an Idempotency-Key with every API request "
                                                                   "(target ≥ 0.45 of the bare endpoint)")
    args = parser.parse_args()
    require_postgres(args.postgres)
    print(f"gunicorn -w {args.workers} --threads {args.threads}, {args.concurrency} client connections, "
          f"{args.rounds}×{args.requests} verifications per side"
          f"{', an Idempotency-Key on every API request' if args.idempotency else ''}; "
          "each line as its database finishes")
    print(f"{'database':<12}{'API req/s':>10}{'p50 ms':>8}{'p99 ms':>8}   {'bare req/s':>10}{'p50 ms':>8}"
          f"{'p99 ms':>8}   {'ratio':>6}  {'rounds':>11}  (target ≥ {0.45 if args.idempotency else 0.5})"
          f"   {'floor req/s':>11}{'floor ratio':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for url in [f"sqlite:///{tmp}/bench.sqlite3", *([args.postgres] if args.postgres else [])]:
            r = measure(url, args)
            (a_rps, a50, a99), (b_rps, b50, b99), (f_rps, _, _) = r["api"], r["bare"], r["floor"]
            print(f"{r['database']:<12}{a_rps:>10,.0f}{a50:>8.1f}{a99:>8.1f}   {b_rps:>10,.0f}{b50:>8.1f}{b99:>8.1f}"
                  f"   {a_rps / b_rps:>6.2f}  {r['rounds'][0]:>5.2f}–{r['rounds'][1]:.2f}"
                  f"                   {f_rps:>11,.0f}{f_rps / b_rps:>12.2f}", flush=True)


if __name__ == "__main__":
    main()
