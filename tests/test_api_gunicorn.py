"""Two gunicorn instances on one PostgreSQL database: 200 concurrent verifications of one voucher,
split across both, use it exactly once."""
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from h5app.models import AuditEvent, Voucher

from . import factories as f
from .api_support import world
from .conftest import TEST_CONFIG

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
                                reason="needs TEST_DATABASE_URL on PostgreSQL")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(process, port: int, limit_s: float = 60) -> None:
    """Poll until the server answers (bounded); fail if it died."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn on {port} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"gunicorn on {port} not ready")


@pytest.fixture
def two_servers(database_url, tmp_path):
    env = {**os.environ, "H5APP_ENV": "production", "DATABASE_URL": database_url,
           "SECRET_KEY": TEST_CONFIG["SECRET_KEY"], "API_RATE_LIMIT": "100000 per minute",
           "RATELIMIT_STORAGE_URI": "process-memory://",
           # Limits per worker would double with -w 2: production refuses that unless they are off.
           "RATELIMIT_ENABLED": "0"}
    servers = []
    try:
        for _ in range(2):
            port = _free_port()
            log = open(tmp_path / f"gunicorn-{port}.log", "wb")
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--no-control-socket", "-w", "2", "--threads", "8",
                 "-b", f"127.0.0.1:{port}", "--access-logfile", "/dev/null", "wsgi:app"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            servers.append((process, port, log))
        for process, port, _ in servers:
            _wait_ready(process, port)
        yield [port for _, port, _ in servers]
    finally:
        for process, _, log in servers:
            process.terminate()
        for process, _, log in servers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def _post(port: int, token: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/verifications", method="POST",
                                     data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_200_concurrent_verifications_on_two_servers_use_the_voucher_once(two_servers, session):
    w = world()
    body = {"qr": f.qr_for(w.voucher), "class_id": w.training_class.id}
    token, voucher_id = w.institution_key, w.voucher.id
    session.commit()
    start = threading.Event()
    answers = []

    def call(n):
        start.wait()
        answers.append(_post(two_servers[n % 2], token, body))

    threads = [threading.Thread(target=call, args=(n,)) for n in range(200)]
    for thread in threads:
        thread.start()
    start.set()
    for thread in threads:
        thread.join()
    outcomes = [(status, data.get("result") or data["error"]["code"]) for status, data in answers]
    assert len(outcomes) == 200
    assert outcomes.count((200, "verified")) == 1, outcomes
    assert all(o in ((200, "verified"), (200, "already_verified"), (409, "VOUCHER_ALREADY_USED")) for o in outcomes)
    session.expire_all()
    assert session.get(Voucher, voucher_id).status == "used"
    assert session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "voucher.verify")) == 1
