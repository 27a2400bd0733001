"""The bridge and the server together, in process: scans read from a loop:// port go through the
durable queue and the real sender to /scanner/v1; a server that is down, or that refuses the
token, leaves every scan queued; a lost answer is resent with the same key and counts once."""
import threading

from sqlalchemy import func, select

from h5app.extensions import db
from h5app.models import Voucher
from h5app.timeutil import utcnow

from .scanner_support import qr_lines, stored, wait_for
from .scanner_support import bridge_for, desk  # noqa: F401  (fixtures)


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
