"""The bridge: a reader thread that queues every valid, non-repeated scan on disk, and a sender
thread that drains the queue to the server in order, with back-off while it cannot."""
import logging
import random
import threading
import time

from .parser import Deduper, LineParser, mask
from .queue import DurableQueue
from .reader import PortReader
from .sender import Sender, ServerUnavailable, TokenRefused

log = logging.getLogger("scanner_bridge")
FEEDBACK_MAX_AGE = 10.0  # seconds: a verdict for a scan from a backlog is not beeped at the desk


class Bridge:
    def __init__(self, settings, *, sender: Sender | None = None, open_port=None):
        self.settings = settings
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.queue = DurableQueue(settings.queue)
        self.deduper = Deduper(settings.dedup_window)
        self.sender = sender or Sender(settings.server, settings.token, timeout=settings.http_timeout,
                                       verify=settings.ca_bundle or True)
        parser = LineParser(settings.terminator, settings.min_length, settings.max_length, settings.charset,
                            settings.line_timeout)
        self.reader = PortReader(settings, parser, self.on_scan, self.stop, open_port=open_port)
        self._threads: list[threading.Thread] = []
        self.metrics = None  # scanner_bridge/metrics.py, when --metrics-port is set
        if settings.metrics_port:
            from .metrics import BridgeMetrics

            self.metrics = BridgeMetrics(self.queue)

    # --- reading -------------------------------------------------------------------------------
    def on_scan(self, code: str, read_at: float) -> None:
        if self.deduper.is_repeat(code, time.monotonic()):
            log.info("重复读数已忽略 repeat within %.1f s dropped: %s", self.settings.dedup_window, mask(code))
            return
        item = self.queue.put(code, read_at)  # on disk before any attempt to send
        log.info("读到 read %s → queued #%d", mask(code), item.seq)
        if self.metrics:
            self.metrics.read.inc()
        self.wake.set()

    # --- sending -------------------------------------------------------------------------------
    def send_loop(self) -> None:
        backoff = 0.0
        while not self.stop.is_set():
            items = self.queue.peek(self.settings.batch_size)
            if not items:
                self.wake.wait(1.0)
                self.wake.clear()
                continue
            try:
                outcomes = self.sender.deliver(items)
            except TokenRefused as exc:
                self._count_failure("token_refused")
                backoff = self._next_backoff(backoff, floor=5.0)
                log.error("!!! 服务器拒绝了扫码枪令牌 the server refused the device token (%s). %d scan(s) kept in "
                          "the queue; register the gun again and set the new token. Retrying in %.0f s",
                          exc, len(self.queue), backoff)
                self.stop.wait(backoff)
                continue
            except ServerUnavailable as exc:
                self._count_failure("unavailable")
                backoff = self._next_backoff(backoff)
                log.warning("服务器不可用 server unavailable (%s); %d scan(s) queued, retrying in %.1f s",
                            exc, len(self.queue), backoff)
                self.stop.wait(backoff)
                continue
            backoff = 0.0
            finished = [o.item.key for o in outcomes if o.done]
            self.queue.remove(finished)
            for outcome in outcomes:
                self._report(outcome)
            if len(finished) < len(outcomes):
                backoff = self._next_backoff(backoff)
                self.stop.wait(backoff)

    def _next_backoff(self, current: float, floor: float = 0.25) -> float:
        grown = max(floor, current * 2)
        return min(grown, max(self.settings.retry_max, floor)) * random.uniform(0.8, 1.0)

    def _count_failure(self, reason: str) -> None:
        if self.metrics:
            self.metrics.failures.labels(reason=reason).inc()

    def _report(self, outcome) -> None:
        item = outcome.item
        if self.metrics and not outcome.retry:
            verdict = "dropped" if outcome.verdict is None else ("accepted" if outcome.verdict.get("ok") else "refused")
            self.metrics.answered.labels(verdict=verdict).inc()
        if outcome.verdict is not None:
            v = outcome.verdict
            trainee = v.get("trainee") or {}
            log.info("判定 verdict #%d %s: %s %s %s%s", item.seq, mask(item.code), v.get("result"),
                     v.get("title", ""), v.get("message", ""),
                     f" 学员 {trainee.get('name', '')} {trainee.get('id_number', '')}" if trainee else "")
            if time.time() - item.read_at <= FEEDBACK_MAX_AGE:
                self.reader.write(self.settings.ok_feedback if v.get("ok") else self.settings.fail_feedback)
        elif outcome.retry:
            log.warning("稍后重发 will resend #%d %s: %s", item.seq, mask(item.code), outcome.error)
        else:
            log.error("服务器拒收，已丢弃 dropped #%d %s: %s", item.seq, mask(item.code), outcome.error)

    # --- running -------------------------------------------------------------------------------
    def hello(self) -> None:
        try:
            device = self.sender.whoami()
        except TokenRefused as exc:
            log.error("!!! 服务器拒绝了扫码枪令牌 the server refused the device token: %s", exc)
        except ServerUnavailable as exc:
            log.warning("暂时连不上服务器 server not reachable yet (%s); 扫码先存入队列 scans will be queued", exc)
        else:
            log.info("扫码枪 device %s (#%s)，用途 mode %s", device.get("name"), device.get("id"), device.get("mode"))

    def start(self) -> None:
        log.info("扫码桥启动 starting: %s; %d scan(s) waiting in the queue", self.settings.public(), len(self.queue))
        if self.metrics:
            port = self.metrics.serve(self.settings.metrics_address, self.settings.metrics_port)
            log.info("监控指标 metrics on http://%s:%d/metrics", self.settings.metrics_address, port)
        self.hello()
        for name, target in (("reader", self.reader.run), ("sender", self.send_loop)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def shutdown(self, timeout: float = 5.0) -> None:
        self.stop.set()
        self.wake.set()
        for thread in self._threads:
            thread.join(timeout)
        if self.metrics:
            self.metrics.close()
        self.queue.close()
        log.info("扫码桥已停止 stopped")
