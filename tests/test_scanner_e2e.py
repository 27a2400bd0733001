"""End to end: a socat pty pair plays the scan gun's serial line, `python -m scanner_bridge` reads
it, gunicorn serves the app. 500 scans (with random garbage between them) are written while the
server is stopped and started again and the bridge is killed with SIGKILL twice — once holding a
backlog, once in the middle of draining it. Every scan must be stored exactly once, in the order
it was read, and every voucher used once."""
import random

import pytest
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import ScanRecord, Voucher
from h5app.scanning.judge import code_hash
from h5app.vouchers import app_qr_secret, qrtoken

from . import factories as f
from .conftest import TEST_CONFIG
from .scanner_processes import SOCAT, BridgeProcess, PtyPair, Server, wait_for
from .scanner_support import scan_gun

pytestmark = pytest.mark.skipif(SOCAT is None, reason="socat is not installed (apt-get install -y socat)")

TOTAL = 500


def seed(count: int):
    institution = f.institution(name="绍兴市技师学院")
    training_class = f.training_class(institution, course_name="低压电工作业培训")
    _device, token = scan_gun(institution, training_class=training_class)
    template = f.template(name="就业技能培训券")
    codes = [f.voucher(template, f.person(name=f"学员{n}"), "claimed").code for n in range(count)]
    db.session.commit()
    return token, codes


def server_count() -> int:
    count = db.session.scalar(select(func.count()).select_from(ScanRecord))
    db.session.rollback()  # never hold a transaction the server's writes would wait for
    return count


def garbage(rng: random.Random) -> bytes:
    if rng.random() < 0.2:
        return b"Z" * rng.randrange(80, 400) + b"\r"  # over-long
    junk = bytes(rng.randrange(256) for _ in range(rng.randrange(8, 40)))
    junk = junk.replace(b"\r", b"\x80").replace(b"\n", b"\x80")
    return b"\xff" + junk + b"\r"  # never valid: not ASCII


def test_500_scans_survive_server_restarts_and_bridge_kills_exactly_once_in_order(app, database_url, tmp_path):
    token, codes = seed(TOTAL)
    secret = app_qr_secret()
    rng = random.Random(2026)
    written, junk_lines = [], 0
    server = Server(database_url, TEST_CONFIG["SECRET_KEY"], tmp_path / "gunicorn.log")
    ptys = PtyPair(tmp_path)
    bridge = BridgeProcess(ptys.port, server.url, token, tmp_path / "queue.sqlite3", tmp_path / "bridge.log",
                           terminator="CR", batch_size=20, retry_max=0.5, dedup_window=2)

    def scan(upto: int) -> None:
        nonlocal junk_lines
        while len(written) < upto:
            if rng.random() < 0.1:
                ptys.write(garbage(rng))
                junk_lines += 1
            qr = qrtoken.sign(secret, qrtoken.KIND_VOUCHER, codes[len(written)])
            written.append(qr)
            ptys.write(qr.encode() + b"\r")

    def all_read(n: int) -> bool:
        return server_count() + bridge.queued() == n

    try:
        server.start()
        bridge.start()
        scan(100)
        wait_for(lambda: all_read(100), 60, "the first 100 scans read")
        server.stop()
        scan(250)
        wait_for(lambda: all_read(250), 60, "250 scans read while the server is down")
        backlog = bridge.queued()
        assert backlog > 0
        bridge.kill()  # holding a backlog on disk
        assert bridge.queued() == backlog
        bridge.start()
        scan(350)
        wait_for(lambda: all_read(350), 60, "350 scans read")
        delivered = server_count()
        server.start()
        # Kill it again in the middle of the drain, when some but not all of the backlog is stored.
        wait_for(lambda: server_count() > delivered, 60, "the drain to begin")
        bridge.kill()
        assert server_count() + bridge.queued() >= 350  # a batch in flight may be on both sides
        bridge.start()
        scan(TOTAL)
        wait_for(lambda: server_count() == TOTAL and bridge.queued() == 0, 120, "all scans delivered")
    finally:
        bridge.stop()
        server.stop()
        ptys.close()

    rows = db.session.execute(select(ScanRecord.code_hash, ScanRecord.result).order_by(ScanRecord.id)).all()
    assert [h for h, _ in rows] == [code_hash(qr) for qr in written], "scans lost, doubled or out of order"
    assert {r for _, r in rows} == {"verified"}
    assert db.session.scalar(select(func.count()).select_from(Voucher).where(Voucher.status == "used")) == TOTAL
    log = bridge.log_text()
    assert log.count("跳过无效读数") == junk_lines > 0
    assert "服务器不可用" in log and log.count("串口已打开") == 3
