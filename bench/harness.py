"""What the HTTP benchmarks share: gunicorn started the same way for the app and its yardstick, a
crowd of client threads released together, latency percentiles, and the PostgreSQL probe that
refuses a bad URL before the SQLite half has run."""
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def start_gunicorn(app_spec: str, env: dict, workers: int, threads: int) -> tuple[subprocess.Popen, int]:
    """`app_spec` under gunicorn with bench/gunicorn_bench.conf.py (the same settings for every
    server of a run), production settings plus `env`; (process, port) once it answers."""
    port = free_port()
    env = {**os.environ, "H5APP_ENV": "production", "BENCH_WORKERS": str(workers), "BENCH_THREADS": str(threads),
           "PYTHONPATH": str(ROOT), **env}
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


def stop(servers: list[tuple[subprocess.Popen, int]]) -> None:
    for process, _ in servers:
        process.terminate()
    for process, _ in servers:
        process.wait(timeout=30)


def run_together(work, parts: list) -> float:
    """`work(part)` for each part on its own thread, all released at one moment; the seconds from
    that moment until the last one is done."""
    go = threading.Event()

    def run(part):
        go.wait()
        work(part)

    threads = [threading.Thread(target=run, args=(part,)) for part in parts]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    go.set()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def drive(connect, requests: list[tuple[str, str, bytes | None, dict]], concurrency: int) -> tuple[float, list[float]]:
    """Send `requests` (method, path, body, headers) over `concurrency` keep-alive connections made by
    `connect()`; (seconds, latencies). Any answer but 200 stops the benchmark."""
    latencies: list[float] = []
    failures = []
    lock = threading.Lock()

    def send(mine):
        connection = connect()
        local = []
        for method, path, body, headers in mine:
            started = time.perf_counter()
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            local.append(time.perf_counter() - started)
            if response.status != 200:
                failures.append((response.status, payload[:200]))
        connection.close()
        with lock:
            latencies.extend(local)

    elapsed = run_together(send, [requests[i::concurrency] for i in range(concurrency)])
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]!r}")
    return elapsed, latencies


def local_connection(port: int, timeout: float = 60):
    """A connection factory for `drive`: plain HTTP to 127.0.0.1:`port`."""
    return lambda: http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def require_postgres(url: str | None) -> None:
    """Refuse now, not after the SQLite half has run, when `url` names a server we cannot reach."""
    if not url:
        return
    try:
        probe = create_engine(url, connect_args={"connect_timeout": 5})
        probe.connect().close()
        probe.dispose()
    except SQLAlchemyError as error:
        raise SystemExit(f"cannot reach {url}: {getattr(error, 'orig', None) or error}") from None
