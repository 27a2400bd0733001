"""The bridge's own Prometheus metrics, served on --metrics-port (off by default): how many scans
wait in its queue and how old the oldest is — the number to alert on when a front desk's network
or the server is down — and what became of each scan.

    scanner_bridge_queue_depth, scanner_bridge_oldest_queued_seconds      (read from the queue file)
    scanner_bridge_scans_read_total, scanner_bridge_scans_answered_total{verdict="accepted|refused|dropped"},
    scanner_bridge_send_failures_total{reason="unavailable|token_refused"}"""
import time

from prometheus_client import CollectorRegistry, Counter, start_http_server
from prometheus_client.core import GaugeMetricFamily


class QueueCollector:
    """Asks the queue on every scrape, so the figure is never stale."""

    def __init__(self, queue):
        self.queue = queue

    def collect(self):
        depth, oldest = self.queue.depth_and_oldest()
        yield GaugeMetricFamily("scanner_bridge_queue_depth", "Scans read and not yet answered by the server",
                                value=depth)
        yield GaugeMetricFamily("scanner_bridge_oldest_queued_seconds", "Age of the oldest scan in the queue (0: empty)",
                                value=max(0.0, time.time() - oldest) if oldest is not None else 0.0)


class BridgeMetrics:
    def __init__(self, queue):
        self.registry = CollectorRegistry()
        self.registry.register(QueueCollector(queue))
        self.read = Counter("scanner_bridge_scans_read", "Valid scans read and queued", registry=self.registry)
        self.answered = Counter("scanner_bridge_scans_answered", "Scans the server answered for, by outcome",
                                ["verdict"], registry=self.registry)
        self.failures = Counter("scanner_bridge_send_failures", "Delivery attempts that failed, by reason",
                                ["reason"], registry=self.registry)
        self._server = None

    def serve(self, address: str, port: int) -> int:
        """Start the /metrics HTTP server; return the port it listens on (port 0: any free one)."""
        self._server, _thread = start_http_server(port, addr=address, registry=self.registry)
        return self._server.server_address[1]

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
