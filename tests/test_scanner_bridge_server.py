"""The bridge and the server together, in process: scans read from a loop:// port go through the
durable queue and the real sender to /scanner/v1; a server that is down, or that refuses the
token, leaves every scan queued; a lost answer is resent with the same key and counts once."""
import threading

import pytest
import serial
from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import ScanRecord, Voucher
from scanner_bridge import config
from scanner_bridge.bridge import Bridge
from scanner_bridge.sender import Sender
from h5app.timeutil import utcnow

from . import factories as f
from .scanner_support import FlaskTransport, claimed_voucher, scan_gun
from .test_scanner_bridge import wait_for


@pytest.fixture
def desk():
    institution = f.institution(name="绍兴市技师学院")
    training_class = f.training_class(institution, course_name="低压电工作业培训")
    device, token = scan_gun(institution, training_class=training_class)
    template = f.template(name="就业技能培训券")
    vouchers = [claimed_voucher(owner=f.person(name=f"学员{n}"), template=template) for n in range(6)]
    db.session.commit()
    return device, token, vouchers


@pytest.fixture
def bridge_for(app, tmp_path):
    made = []

    def build(token, **values):
        transport = FlaskTransport(app)
        settings = config.Settings(port="loop://", server="http://bridge.test", token=token,
                                   queue=str(tmp_path / "queue.sqlite3"), retry_max=0.05, ok_bytes="+",
                                   fail_bytes="-", **values)
        port = serial.serial_for_url("loop://", timeout=0.05)
        bridge = Bridge(settings, sender=Sender(settings.server, token, session=transport.session()),
                        open_port=lambda: port)
        made.append(bridge)
        return bridge, port, transport

    yield build
    for bridge in made:
        if not bridge.stop.is_set():
            bridge.shutdown()


def qr_lines(*vouchers) -> list[str]:
    """Fresh QR tokens, and the test's read transaction ended (SQLite: it would block the server)."""
    qrs = [f.qr_for(v) for v in vouchers]
    db.session.rollback()
    return qrs


def stored():
    """(code_hash, result, attempts) of every stored scan, in order. The read's transaction ends at
    once: on SQLite it would otherwise hold the lock the server's writes wait for."""
    rows = db.session.execute(select(ScanRecord.code_hash, ScanRecord.result, ScanRecord.attempts)
                              .order_by(ScanRecord.id)).all()
    db.session.rollback()
    return rows


def used_count():
    count = db.session.scalar(select(func.count()).select_from(Voucher).where(Voucher.status == "used"))
    db.session.rollback()
    return count


def test_scans_read_while_the_server_is_down_are_delivered_in_order_when_it_is_back(desk, bridge_for):
    _device, token, vouchers = desk
    bridge, port, transport = bridge_for(token)
    transport.down = True
    bridge.start()
    qrs = qr_lines(*vouchers)
    port.write(b"".join(q.encode() + b"\r" for q in qrs[:3]) + b"\xff\x00junk\r")
    wait_for(lambda: len(bridge.queue) == 3, what="three queued scans")
    wait_for(lambda: len(transport.calls) >= 2, what="delivery attempts while down")
    assert stored() == []
    transport.down = False
    port.write(b"".join(q.encode() + b"\r" for q in qrs[3:]))
    wait_for(lambda: len(stored()) == 6, what="all six delivered")
    wait_for(lambda: len(bridge.queue) == 0, what="an empty queue")
    from h5app.scanning.judge import code_hash
    assert [r.code_hash for r in stored()] == [code_hash(q) for q in qrs]
    assert [r.result for r in stored()] == ["verified"] * 6 and used_count() == 6


def test_a_repeat_read_is_dropped_and_refusals_beep_differently(desk, bridge_for):
    _device, token, vouchers = desk
    bridge, port, _transport = bridge_for(token)
    written = []
    bridge.reader.write = written.append  # the loop port would read our own feedback back as a scan
    bridge.start()
    [qr] = qr_lines(vouchers[0])
    port.write(qr.encode() + b"\r" + qr.encode() + b"\r" + b"NOTAQRCODE\r")
    wait_for(lambda: len(stored()) == 2, what="two stored scans")
    assert [r.result for r in stored()] == ["verified", "refused"]
    wait_for(lambda: len(written) == 2, what="feedback for both verdicts")
    assert written == [b"+", b"-"]


def test_a_revoked_token_keeps_the_queue_and_says_so_loudly(desk, bridge_for, caplog):
    device, token, vouchers = desk
    device.revoked_at = utcnow()
    db.session.commit()
    bridge, port, transport = bridge_for(token)
    bridge.start()
    port.write(qr_lines(vouchers[0])[0].encode() + b"\r")
    wait_for(lambda: "拒绝了扫码枪令牌" in caplog.text and len(bridge.queue) == 1, what="the refusal logged")
    assert stored() == [] and len(bridge.queue) == 1


def test_a_lost_answer_is_resent_with_the_same_key_and_counts_once(desk, bridge_for):
    _device, token, vouchers = desk
    bridge, port, transport = bridge_for(token)
    original = transport.send
    lost = threading.Event()

    def lose_first_answer(request):
        response = original(request)
        if request.method == "POST" and not lost.is_set():
            lost.set()
            import requests
            raise requests.ReadTimeout("read timed out")
        return response

    transport.send = lose_first_answer
    bridge.start()
    port.write(qr_lines(vouchers[0])[0].encode() + b"\r")
    wait_for(lambda: len(bridge.queue) == 0 and lost.is_set(), what="the resend to succeed")
    [(_hash, result, attempts)] = stored()
    assert (result, attempts) == ("verified", 2) and used_count() == 1
