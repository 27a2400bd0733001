"""Verifications per second through the partner API (POST /api/v1/verifications behind gunicorn),
side by side with a bare Flask endpoint doing one guarded UPDATE on the same database under the
same gunicorn settings, on SQLite and — when a URL is given — PostgreSQL.

    python bench/api_verify.py                                                    # SQLite only
    python bench/api_verify.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench   # both; emptied!

Every request verifies a different claimed voucher. API and bare rounds alternate, so drift in the
machine's speed falls on both alike. Prints req/s, p50 and p99 latency, the ratio API ÷ bare, and the
lowest and highest ratio of a single round (how far the machine moved during the run)."""
import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.exc import SQLAlchemyError  # noqa: E402

from engine import build_app, load  # noqa: E402  (bench/engine.py: the same 100k-voucher data set)
from h5app.api.keys import create_key  # noqa: E402
from h5app.extensions import db  # noqa: E402
from h5app.vouchers import app_qr_secret, qrtoken  # noqa: E402

SECRET_KEY = "bench-secret-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(app_spec: str, url: str, workers: int, threads: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "H5APP_ENV": "production", "DATABASE_URL": url, "SECRET_KEY": SECRET_KEY,
           "API_RATE_LIMIT": "10000000 per minute", "RATELIMIT_STORAGE_URI": "process-memory://",
           "BENCH_WORKERS": str(workers), "BENCH_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--no-control-socket", "-c", str(HERE / "gunicorn_bench.conf.py"),
         "-b", f"127.0.0.1:{port}", app_spec], cwd=ROOT, env=env)
    try:
        wait_ready(process, port, app_spec)
    except BaseException:
        process.terminate()
        process.wait(timeout=30)
        raise
    return process, port


def wait_ready(process: subprocess.Popen, port: int, app_spec: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # poll for readiness, bounded
        if process.poll() is not None:
            raise SystemExit(f"{app_spec} exited with {process.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/nothing", timeout=2)
        except urllib.error.HTTPError:
            return  # it answered (404): ready
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{app_spec} not ready")


def drive(port: int, requests: list[tuple[str, bytes, dict]], concurrency: int) -> tuple[float, list[float]]:
    """Send `requests` over `concurrency` keep-alive connections; (seconds, latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()
    slices = [requests[i::concurrency] for i in range(concurrency)]
    failures = []
    go = threading.Event()

    def worker(mine):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        local = []
        go.wait()
        for path, body, headers in mine:
            started = time.perf_counter()
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            local.append(time.perf_counter() - started)
            if response.status != 200:
                failures.append(payload[:200])
        connection.close()
        with lock:
            latencies.extend(local)

    threads = [threading.Thread(target=worker, args=(mine,)) for mine in slices]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    go.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]!r}")
    return elapsed, latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


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
    api_codes, bare_codes = codes[: n * args.rounds + 100], codes[n * args.rounds + 100: 2 * (n * args.rounds + 100)]
    servers = []
    api_headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bare_headers = {"Content-Type": "application/json"}

    def api_requests(chunk):
        # Signed just before the round: a QR is accepted for 60 s. With --idempotency every request
        # carries its own Idempotency-Key, as API.md asks partners to send on every POST.
        return [("/api/v1/verifications", json.dumps(
            {"qr": qrtoken.sign(secret, qrtoken.KIND_VOUCHER, c), "class_id": class_id}).encode(),
            {**api_headers, "Idempotency-Key": f"bench-{c}"} if args.idempotency else api_headers)
            for c in chunk]

    def bare_requests(chunk):
        return [("/bare/verify", json.dumps({"code": c, "class_id": class_id}).encode(), bare_headers) for c in chunk]

    try:
        servers.append(start("wsgi:app", url, args.workers, args.threads))
        servers.append(start("bench.bare_app:app", url, args.workers, args.threads))
        (_, api_port), (_, bare_port) = servers
        drive(api_port, api_requests(api_codes[:100]), args.concurrency)  # warm-up: connections, caches
        drive(bare_port, bare_requests(bare_codes[:100]), args.concurrency)
        totals = {"api": [0.0, []], "bare": [0.0, []]}
        round_ratios = []
        for r in range(args.rounds):
            chunk = slice(100 + r * n, 100 + (r + 1) * n)
            spent = {}
            for name, port, build, pool in (("api", api_port, api_requests, api_codes),
                                             ("bare", bare_port, bare_requests, bare_codes)):
                elapsed, latencies = drive(port, build(pool[chunk]), args.concurrency)
                totals[name][0] += elapsed
                totals[name][1].extend(latencies)
                spent[name] = elapsed
            round_ratios.append(spent["bare"] / spent["api"])
    finally:
        for process, _ in servers:
            process.terminate()
        for process, _ in servers:
            process.wait(timeout=30)
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
    if args.postgres:  # refuse now, not after the SQLite half has run
        try:
            probe = create_engine(args.postgres, connect_args={"connect_timeout": 5})
            probe.connect().close()
            probe.dispose()
        except SQLAlchemyError as error:
            raise SystemExit(f"cannot reach {args.postgres}: {getattr(error, 'orig', None) or error}") from None
    print(f"gunicorn -w {args.workers} --threads {args.threads}, {args.concurrency} client connections, "
          f"{args.rounds}×{args.requests} verifications per side"
          f"{', an Idempotency-Key on every API request' if args.idempotency else ''}; "
          "each line as its database finishes")
    print(f"{'database':<12}{'API req/s':>10}{'p50 ms':>8}{'p99 ms':>8}   {'bare req/s':>10}{'p50 ms':>8}"
          f"{'p99 ms':>8}   {'ratio':>6}  {'rounds':>11}  (target ≥ {0.45 if args.idempotency else 0.5})")
    with tempfile.TemporaryDirectory() as tmp:
        for url in [f"sqlite:///{tmp}/bench.sqlite3", *([args.postgres] if args.postgres else [])]:
            r = measure(url, args)
            (a_rps, a50, a99), (b_rps, b50, b99) = r["api"], r["bare"]
            print(f"{r['database']:<12}{a_rps:>10,.0f}{a50:>8.1f}{a99:>8.1f}   {b_rps:>10,.0f}{b50:>8.1f}{b99:>8.1f}"
                  f"   {a_rps / b_rps:>6.2f}  {r['rounds'][0]:>5.2f}–{r['rounds'][1]:.2f}", flush=True)


if __name__ == "__main__":
    main()
