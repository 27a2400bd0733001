"""Scanner bridge speed, end to end on this machine: a socat pty pair as the scan gun's line,
`python -m scanner_bridge` reading it, the app under gunicorn.

    python bench/scanner.py                                  # SQLite (a temporary file)
    python bench/scanner.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench   # emptied!

1. Latency: one scan at a time, from the line written to the pty to the verdict stored on the
   server (the record's judged_at; same machine, same clock): median and p99. Target ≤ 50 ms median.
2. Drain: with the server stopped, a backlog of scans is read and queued by the bridge; the server
   is started and the time from its first answer to the last verdict stored gives scans/s.
   Target ≥ 200/s.
Every scan is a fresh, genuine QR for its own claimed voucher, so each is a real verification."""
import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sqlalchemy import create_engine, text  # noqa: E402

from engine import build_app, load  # noqa: E402  (bench/engine.py: the same 100k-voucher-style loader)
from h5app.extensions import db  # noqa: E402
from h5app.models import TrainingClass  # noqa: E402
from h5app.scanning import devices  # noqa: E402
from h5app.scanning.judge import code_hash  # noqa: E402
from h5app.vouchers import app_qr_secret, audit, qrtoken  # noqa: E402
from tests.scanner_processes import SOCAT, BridgeProcess, PtyPair, Server, wait_for  # noqa: E402

SECRET_KEY = "bench-secret-key-0123456789abcdef"


def epoch(naive_utc) -> float:
    if isinstance(naive_utc, str):  # SQLite hands back text through a bare connection
        naive_utc = datetime.fromisoformat(naive_utc)
    return naive_utc.replace(tzinfo=UTC).timestamp()


def prepare(url: str, n: int):
    app = build_app(url)
    with app.app_context():
        class_id, _open_id, _claimers = load(n, 0)
        training_class = db.session.get(TrainingClass, class_id)
        _device, token = devices.register(db.session, institution_id=training_class.institution_id, name="bench",
                                          mode="verify", class_id=class_id, session_id=None,
                                          actor=audit.Actor.system())
        codes = db.session.execute(text("SELECT code FROM vouchers ORDER BY id")).scalars().all()
        secret = app_qr_secret()
        db.session.remove()
        db.engine.dispose()
    return token, codes, secret


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="emptied and rebuilt; default a temporary SQLite file")
    parser.add_argument("--samples", type=int, default=300, help="scans timed one at a time")
    parser.add_argument("--backlog", type=int, default=5_000, help="scans queued while the server is down")
    parser.add_argument("--batch-size", type=int, default=100, help="the bridge's --batch-size")
    args = parser.parse_args()
    if SOCAT is None:
        sys.exit("socat is needed: apt-get install -y socat")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        token, codes, secret = prepare(url, args.samples + args.backlog)
        reader = create_engine(url)
        server = Server(url, SECRET_KEY, tmp / "gunicorn.log")
        ptys = PtyPair(tmp)
        bridge = BridgeProcess(ptys.port, server.url, token, tmp / "queue.sqlite3", tmp / "bridge.log",
                               batch_size=args.batch_size, retry_max=0.2)

        def stored() -> int:
            with reader.connect() as conn:
                return conn.execute(text("SELECT count(*) FROM scan_records")).scalar()

        def line(code: str) -> bytes:
            return qrtoken.sign(secret, qrtoken.KIND_VOUCHER, code).encode() + b"\r"

        try:
            server.start()
            bridge.start()
            latencies = []
            for i, code in enumerate(codes[: args.samples]):
                data = line(code)
                written = time.time()
                ptys.write(data)
                digest = code_hash(data[:-1].decode())

                def verdict():
                    with reader.connect() as conn:
                        return conn.execute(text("SELECT code_hash, judged_at, result FROM scan_records "
                                                 "ORDER BY id DESC LIMIT 1")).first()

                row = wait_for(lambda: (r := verdict()) is not None and r[0] == digest and r[1] is not None and r,
                               30, f"scan {i}", interval=0.001)
                assert row[2] == "verified", row
                latencies.append((epoch(row[1]) - written) * 1000)
            latencies.sort()
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]

            server.stop()
            for code in codes[args.samples:]:
                ptys.write(line(code))
            wait_for(lambda: bridge.queued() == args.backlog, 600, "the backlog to be queued", interval=0.05)
            server.start()
            ready = time.time()
            total = args.samples + args.backlog
            wait_for(lambda: stored() == total, 1200, "the backlog to drain", interval=0.02)
            with reader.connect() as conn:
                last = epoch(conn.execute(text("SELECT max(judged_at) FROM scan_records")).scalar())
                verified = conn.execute(text("SELECT count(*) FROM scan_records WHERE result = 'verified'")).scalar()
            drain = args.backlog / (last - ready)
        finally:
            bridge.stop()
            server.stop()
            ptys.close()
            reader.dispose()
        print(f"database: {reader.dialect.name}; bridge batch size {args.batch_size}; gunicorn 2 workers × 4 threads")
        print(f"latency, line written → verdict stored ({args.samples} scans): median "
              f"{statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms   (target median ≤ 50 ms)")
        print(f"drain of a {args.backlog:,}-scan backlog: {drain:,.0f} scans/s "
              f"({last - ready:.1f} s)   (target ≥ 200/s)")
        print(f"verified: {verified:,} of {total:,} scans")


if __name__ == "__main__":
    main()
