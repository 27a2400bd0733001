"""The read loop: open the port (any pyserial URL), feed what it reads to the parser, hand each
scan on; when the port goes away (USB pulled, pty closed) close it, say so, and reopen it with
back-off until it is back or the bridge stops."""
import logging
import threading
import time
from collections.abc import Callable

import serial

from .parser import LineParser, Scan, Skipped

log = logging.getLogger("scanner_bridge.reader")
READ_TIMEOUT = 0.05  # how often an idle loop looks at the clock (half lines, stop)
FIRST_DELAY = 0.25  # seconds before the first reopen; doubles up to reopen_max
STABLE_AFTER = 5.0  # seconds a port must stay up for the back-off to start afresh


class PortReader:
    def __init__(self, settings, parser: LineParser, on_scan: Callable[[str, float], None],
                 stop: threading.Event, open_port: Callable | None = None):
        self.settings = settings
        self.parser = parser
        self.on_scan = on_scan
        self.stop = stop
        self._open_port = open_port or self._open
        self._port = None
        self._write_lock = threading.Lock()

    def _open(self):
        s = self.settings
        return serial.serial_for_url(s.port, baudrate=s.baud, bytesize=s.bytesize, parity=s.parity,
                                     stopbits=s.stopbits, timeout=READ_TIMEOUT, write_timeout=0.5)

    def run(self) -> None:
        delay = FIRST_DELAY
        while not self.stop.is_set():
            try:
                port = self._open_port()
            except (serial.SerialException, OSError, ValueError) as exc:
                log.warning("串口 %s 打不开 (cannot open port): %s — retrying in %.1f s", self.settings.port, exc, delay)
                self.stop.wait(delay)
                delay = self._grow(delay)
                continue
            log.info("串口已打开 port open: %s (%s baud, %s%s%s, terminator %s)", self.settings.port,
                     self.settings.baud, self.settings.bytesize, self.settings.parity, self.settings.stopbits,
                     self.settings.terminator)
            opened_at = time.monotonic()
            with self._write_lock:
                self._port = port
            try:
                self.read_from(port)
            except (serial.SerialException, OSError) as exc:
                # A port that stayed up a while starts the back-off afresh; one that fails at once
                # (a flapping cable) keeps growing it, so the loop never spins.
                if time.monotonic() - opened_at > STABLE_AFTER:
                    delay = FIRST_DELAY
                log.warning("串口断开 port lost: %s — reopening in %.1f s", exc, delay)
                self.stop.wait(delay)
                delay = self._grow(delay)
            finally:
                with self._write_lock:
                    self._port = None
                self._handle(self.parser.reset())
                try:
                    port.close()
                except (serial.SerialException, OSError):
                    pass

    def _grow(self, delay: float) -> float:
        return min(delay * 2, max(self.settings.reopen_max, FIRST_DELAY))

    def read_from(self, port) -> None:
        while not self.stop.is_set():
            waiting = port.in_waiting
            data = port.read(waiting or 1)
            now = time.monotonic()
            self._handle(self.parser.feed(data, now) if data else self.parser.idle(now))

    def _handle(self, events) -> None:
        for event in events:
            if isinstance(event, Scan):
                self.on_scan(event.code, time.time())
            elif isinstance(event, Skipped):
                log.warning("跳过无效读数 skipped %s: %s", event.reason, event.preview())

    def write(self, data: bytes) -> None:
        """Feedback to the gun (a beep, a LED): best effort, never fatal."""
        if not data:
            return
        with self._write_lock:
            if self._port is None:
                return
            try:
                self._port.write(data)
            except (serial.SerialException, OSError) as exc:
                log.info("无法向串口回写提示 could not write feedback to the port: %s", exc)
