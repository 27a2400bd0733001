"""Requests per second through the production topology: nginx (TLS, the shipped site) in front of
two app instances against nginx in front of one, both with PgBouncer (transaction mode) and Redis
for the limits, in one run with alternating rounds (tests/topology.py starts it all on loopback).

    python bench/nginx_instances.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench   # emptied!

Each request is a partner-API look-up of a voucher (GET /api/v1/vouchers/<code>, a bureau key):
TLS at nginx, the key check, the rate limit in Redis, one read through PgBouncer. Every instance
runs gunicorn as configured (WEB_CONCURRENCY workers × GUNICORN_THREADS threads, default 2 × 4).
Needs Debian's nginx, pgbouncer, redis-server and openssl. Prints req/s and p50/p99 of each
round, the medians and the ratio 2 instances ÷ 1."""
import argparse
import http.client
import ssl
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sqlalchemy import select  # noqa: E402

from harness import drive, percentile  # noqa: E402
from engine import build_app, load  # noqa: E402  (bench/engine.py: the same claimed-voucher data set)
from h5app.api.keys import create_key  # noqa: E402
from h5app.extensions import db  # noqa: E402
from h5app.models import Region, Voucher  # noqa: E402
from tests.topology import Topology, missing_binaries  # noqa: E402

SECRET_KEY = "bench-secret-key-0123456789abcdef"


def looked_up(port: int, cert: Path, paths: list[str], token: str, concurrency: int) -> tuple[float, list[float]]:
    """GET every path over `concurrency` keep-alive TLS connections to nginx; (seconds, latencies)."""
    context = ssl.create_default_context(cafile=str(cert))
    headers = {"Authorization": f"Bearer {token}"}
    return drive(lambda: http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=60),
                 [("GET", path, None, headers) for path in paths], concurrency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", required=True, help="a PostgreSQL database to fill (emptied first)")
    parser.add_argument("--vouchers", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=3_000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each (alternating)")
    parser.add_argument("--concurrency", type=int, default=16, help="client connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    args = parser.parse_args()
    if missing_binaries():
        raise SystemExit(f"needs {', '.join(missing_binaries())} (apt-get install nginx pgbouncer redis-server)")

    app = build_app(args.postgres)
    with app.app_context():
        load(args.vouchers, 0)
        if db.session.scalar(select(Region.id).where(Region.code == "330600")) is None:
            db.session.add(Region(code="330600", name="绍兴市"))
            db.session.commit()
        token = create_key(db.session, "bench", "bureau", "330600")[1]
        codes = db.session.scalars(select(Voucher.code).order_by(Voucher.id)).all()
        db.session.remove()
        db.engine.dispose()
    paths = [f"/api/v1/vouchers/{codes[i % len(codes)]}" for i in range(args.requests)]

    topology = Topology(args.postgres, SECRET_KEY, instances=2, workers=args.workers, threads=args.threads,
                        extra_env={"API_RATE_LIMIT": "100000000 per minute", "LOG_FORMAT": "plain"})
    try:
        topology.start()
        fronts = {"2 instances": topology.https_port,
                  "1 instance": topology.start_nginx(instances=topology.instances[:1])}
        for port in fronts.values():  # warm-up: connections, caches, the workers' first imports
            looked_up(port, topology.cert, paths[:300], token, args.concurrency)
        results = {name: [] for name in fronts}
        for round_number in range(args.rounds):
            for name, port in fronts.items():
                elapsed, latencies = looked_up(port, topology.cert, paths, token, args.concurrency)
                results[name].append((len(paths) / elapsed, percentile(latencies, 0.5), percentile(latencies, 0.99)))
                rate, p50, p99 = results[name][-1]
                print(f"round {round_number + 1} {name:<11} {rate:7.0f} req/s  p50 {p50 * 1000:5.1f} ms  "
                      f"p99 {p99 * 1000:6.1f} ms", flush=True)
    finally:
        topology.close()
    medians = {name: statistics.median(r[0] for r in rounds) for name, rounds in results.items()}
    ratios = [two[0] / one[0] for two, one in zip(results["2 instances"], results["1 instance"])]
    print(f"\nnginx → gunicorn ({args.workers} workers × {args.threads} threads each) → PgBouncer → PostgreSQL; "
          f"{args.concurrency} TLS connections, {args.requests} GET /api/v1/vouchers/<code> a round")
    for name, rate in medians.items():
        print(f"{name:<11} median {rate:7.0f} req/s")
    print(f"ratio 2 instances ÷ 1: {medians['2 instances'] / medians['1 instance']:.2f} "
          f"(single rounds {min(ratios):.2f}–{max(ratios):.2f})")


if __name__ == "__main__":
    main()
