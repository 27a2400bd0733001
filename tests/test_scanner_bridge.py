"""The scanner bridge on its own: the line parser, the durable queue, the settings, and the read
loop on pyserial's loop:// port (garbage, half and over-long lines skipped; a lost port reopened)."""
import logging
import threading

import pytest
import serial

from scanner_bridge import config
from scanner_bridge.parser import Deduper, LineParser, Scan, Skipped, mask
from scanner_bridge.queue import DurableQueue
from scanner_bridge.reader import PortReader

from .scanner_support import wait_for

TOKEN = "VABCDEFGHJKLMNPQR0000AAAAAAAAAAAAAAAAAAAA"[:40]


def scans(events):
    return [e.code for e in events if isinstance(e, Scan)]


def skipped(events):
    return [e.reason for e in events if isinstance(e, Skipped)]


# --- parser ------------------------------------------------------------------------------------

@pytest.mark.parametrize("terminator, data", [
    ("CR", b"ABCD1234\r"), ("LF", b"ABCD1234\n"), ("CRLF", b"ABCD1234\r\n"), ("LF", b"ABCD1234\r\n"),
])
def test_each_terminator_ends_a_scan(terminator, data):
    assert scans(LineParser(terminator).feed(data, 0.0)) == ["ABCD1234"]


def test_a_scan_split_over_reads_is_joined():
    parser = LineParser("CR")
    assert parser.feed(b"ABCD", 0.0) == []
    assert scans(parser.feed(b"1234\rEFGH", 0.01)) == ["ABCD1234"]
    assert scans(parser.feed(b"5678\r", 0.02)) == ["EFGH5678"]


@pytest.mark.parametrize("line, reason", [
    (b"\xff\xfe\x00garbage", "not ASCII"),
    (b"AB", "too short"),
    (b"ABCD EFGH", "outside the allowed set"),
    (b"ABCD<script>", "outside the allowed set"),
    (b"\x1b[2JABCDEF", "outside the allowed set"),
])
def test_garbage_is_skipped_with_a_reason(line, reason):
    events = LineParser("CR").feed(line + b"\rGOOD1234\r", 0.0)
    assert scans(events) == ["GOOD1234"]
    assert reason in skipped(events)[0]


def test_an_over_long_line_is_skipped_whole_even_across_reads():
    parser = LineParser("CR", max_length=16)
    events = parser.feed(b"A" * 40, 0.0) + parser.feed(b"B" * 40, 0.01) + parser.feed(b"C\rGOOD1234\r", 0.02)
    assert scans(events) == ["GOOD1234"]
    assert skipped(events) == ["行过长 over-long line (more than 16 characters)"]


def test_a_scan_after_an_unterminated_over_long_line_and_silence_counts():
    parser = LineParser("CR", max_length=16, line_timeout=0.5)
    assert "over-long" in skipped(parser.feed(b"A" * 100, 0.0))[0]
    assert scans(parser.feed(b"GOOD1234\r", 2.0)) == ["GOOD1234"]


def test_a_scan_after_garbage_and_silence_counts_even_when_read_by_idle():
    parser = LineParser("CR", max_length=16, line_timeout=0.5)
    parser.feed(b"\x07" * 50, 0.0)
    assert parser.idle(1.0) == []
    assert scans(parser.feed(b"GOOD1234\r", 1.1)) == ["GOOD1234"]


def test_a_half_line_is_dropped_after_silence_and_does_not_spoil_the_next_scan():
    parser = LineParser("CR", line_timeout=0.5)
    parser.feed(b"VHALF", 0.0)
    assert parser.idle(0.2) == []
    assert "half line" in skipped(parser.idle(0.8))[0]
    assert scans(parser.feed(b"GOOD1234\r", 0.9)) == ["GOOD1234"]


def test_a_half_line_then_a_late_scan_in_one_read_keeps_the_scan():
    parser = LineParser("CR", line_timeout=0.5)
    parser.feed(b"VHALF", 0.0)
    events = parser.feed(b"GOOD1234\r", 5.0)
    assert scans(events) == ["GOOD1234"] and "half line" in skipped(events)[0]


def test_random_bytes_never_raise():
    import random
    rng = random.Random(7)
    parser = LineParser("CR")
    for n in range(300):
        parser.feed(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))), n * 0.01)
    assert scans(parser.feed(b"\rGOOD1234\r", 10.0)) == ["GOOD1234"]


def test_repeats_within_the_window_are_dropped():
    dedupe = Deduper(window=3.0)
    assert not dedupe.is_repeat("A", 0.0)
    assert dedupe.is_repeat("A", 2.0)
    assert not dedupe.is_repeat("B", 2.1)
    assert not dedupe.is_repeat("A", 6.0)


def test_logs_show_only_the_tail_of_a_token():
    assert mask(TOKEN) == "V…" + TOKEN[-6:]


# --- queue -------------------------------------------------------------------------------------

def test_the_queue_keeps_order_and_survives_reopening(tmp_path):
    path = tmp_path / "q.sqlite3"
    queue = DurableQueue(path)
    items = [queue.put(f"CODE{n:04d}", 1000.0 + n) for n in range(5)]
    queue.remove([items[0].key])
    queue.close()
    again = DurableQueue(path)
    assert [i.code for i in again.peek(10)] == [f"CODE{n:04d}" for n in range(1, 5)]
    assert [i.key for i in again.peek(2)] == [items[1].key, items[2].key]
    assert len(again) == 4 and len({i.key for i in items}) == 5


# --- settings ----------------------------------------------------------------------------------

def test_settings_come_from_file_then_environment_then_command_line(tmp_path):
    ini = tmp_path / "bridge.ini"
    ini.write_text("[scanner_bridge]\nport = /dev/scanner\nserver = https://a.example\ntoken = sg_file\n"
                   "baud = 115200\nterminator = crlf\nok-bytes = \\x07\n", encoding="utf-8")
    settings = config.load(["--config", str(ini), "--baud", "9600"], environ={"SCANNER_BRIDGE_TOKEN": "sg_env"})
    assert (settings.port, settings.token, settings.baud, settings.terminator) == ("/dev/scanner", "sg_env", 9600, "CRLF")
    assert settings.ok_feedback == b"\x07" and "token" not in settings.public()


@pytest.mark.parametrize("argv, message", [
    ([], "port is required"),
    (["--port", "loop://", "--server", "ftp://x", "--token", "t"], "http"),
    (["--port", "loop://", "--server", "http://x", "--token", "t", "--parity", "Q"], "parity"),
    (["--port", "loop://", "--server", "http://x", "--token", "t", "--baud", "fast"], "baud"),
    (["--port", "loop://", "--server", "http://x", "--token", "t", "--terminator", "TAB"], "terminator"),
    (["--port", "loop://", "--server", "http://x", "--token", "t", "--charset", "a-"], None),
])
def test_bad_settings_are_refused_with_a_reason(argv, message):
    if message is None:  # a valid (if odd) class is accepted
        config.load(argv, environ={})
        return
    with pytest.raises(config.ConfigError, match=message):
        config.load(argv, environ={})


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        config.load(["--help"], environ={})
    out = capsys.readouterr().out
    for option in ("--port", "--server", "--token", "--baud", "--parity", "--terminator", "--dedup-window",
                   "--queue", "--ok-bytes", "SCANNER_BRIDGE_PORT"):
        assert option in out


# --- the read loop on loop:// ------------------------------------------------------------------

def _settings(**values):
    return config.Settings(port="loop://", server="http://127.0.0.1:1", token="sg_x", **values)


class Reads:
    def __init__(self):
        self.codes, self.lock = [], threading.Lock()

    def __call__(self, code, _read_at):
        with self.lock:
            self.codes.append(code)


def test_the_reader_reads_scans_from_a_loop_port_and_skips_garbage(caplog):
    caplog.set_level(logging.INFO, "scanner_bridge")
    port = serial.serial_for_url("loop://", timeout=0.05)
    reads, stop = Reads(), threading.Event()
    reader = PortReader(_settings(), LineParser("CR"), reads, stop, open_port=lambda: port)
    thread = threading.Thread(target=reader.run, daemon=True)
    thread.start()
    port.write(b"FIRST0001\r\x00\xff\xfegarbage\rX" + b"Y" * 100 + b"\rSECOND002\r")
    wait_for(lambda: len(reads.codes) == 2, what="two scans")
    stop.set()
    thread.join(5)
    assert reads.codes == ["FIRST0001", "SECOND002"]
    assert "not ASCII" in caplog.text and "over-long" in caplog.text


class FlakyPort:
    """A loop port that is pulled out once: its read raises like a vanished USB device."""

    def __init__(self, inner, fail_after_reads):
        self.inner, self.reads_left = inner, fail_after_reads

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def read(self, size=1):
        self.reads_left -= 1
        if self.reads_left == 0:
            raise serial.SerialException("device reports readiness to read but returned no data")
        return self.inner.read(size)


def test_a_lost_port_is_reopened_with_back_off_and_said_so(caplog):
    caplog.set_level(logging.INFO, "scanner_bridge")
    attempts, ports = [], []

    def open_port():
        attempts.append(1)
        if len(attempts) in (2, 3):
            raise serial.SerialException("could not open port /dev/ttyUSB0: No such file or directory")
        ports.append(serial.serial_for_url("loop://", timeout=0.05))
        return FlakyPort(ports[-1], fail_after_reads=3) if len(attempts) == 1 else ports[-1]

    reads, stop = Reads(), threading.Event()
    reader = PortReader(_settings(reopen_max=0.0), LineParser("CR"), reads, stop, open_port=open_port)
    thread = threading.Thread(target=reader.run, daemon=True)
    thread.start()
    wait_for(lambda: len(attempts) >= 4, what="the port to be reopened")
    ports[-1].write(b"AFTER0001\r")
    wait_for(lambda: reads.codes == ["AFTER0001"], what="a scan after the reopen")
    stop.set()
    thread.join(5)
    assert "串口断开" in caplog.text and "打不开" in caplog.text and caplog.text.count("串口已打开") >= 2


def test_feedback_bytes_are_written_to_the_port():
    port = serial.serial_for_url("loop://", timeout=0.05)
    stop = threading.Event()
    reader = PortReader(_settings(), LineParser("CR"), Reads(), stop, open_port=lambda: port)
    reader._port = port
    reader.write(b"\x07")
    assert port.read(1) == b"\x07"
