"""The scanner bridge's own Prometheus metrics (--metrics-port): its queue depth and the age of the
oldest queued scan while the server is down, and what became of each scan once it is back."""
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from scanner_bridge import config

from .scanner_processes import free_port
from .scanner_support import qr_lines, stored, wait_for
from .scanner_support import bridge_for, desk  # noqa: F401  (fixtures)


def scrape(port: int) -> dict:
    session = requests.Session()
    session.trust_env = False  # loopback, no proxy
    text = session.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_the_bridge_reports_its_queue_while_the_server_is_down_and_the_outcomes_after(desk, bridge_for):  # noqa: F811
    _device, token, vouchers = desk
    port_number = free_port()
    bridge, port, transport = bridge_for(token, metrics_port=port_number)
    transport.down = True
    bridge.start()
    qrs = qr_lines(*vouchers[:3])
    port.write(b"".join(q.encode() + b"\r" for q in qrs))
    wait_for(lambda: len(bridge.queue) == 3, what="three queued scans")
    wait_for(lambda: scrape(port_number).get(("scanner_bridge_send_failures_total", (("reason", "unavailable"),)), 0) >= 1,
             what="a failed delivery counted")
    down = scrape(port_number)
    assert down[("scanner_bridge_queue_depth", ())] == 3
    assert down[("scanner_bridge_oldest_queued_seconds", ())] >= 0
    assert down[("scanner_bridge_scans_read_total", ())] == 3

    transport.down = False
    wait_for(lambda: len(stored()) == 3 and len(bridge.queue) == 0, what="the backlog delivered")
    up = scrape(port_number)
    assert up[("scanner_bridge_queue_depth", ())] == 0 and up[("scanner_bridge_oldest_queued_seconds", ())] == 0
    assert up[("scanner_bridge_scans_answered_total", (("verdict", "accepted"),))] == 3


def test_metrics_are_off_unless_a_port_is_given():
    settings = config.load(["--port", "loop://", "--server", "http://x.test", "--token", "sg_x"], environ={})
    assert settings.metrics_port == 0


def test_a_metrics_port_out_of_range_is_refused():
    with pytest.raises(config.ConfigError, match="metrics_port"):
        config.load(["--port", "loop://", "--server", "http://x.test", "--token", "sg_x", "--metrics-port", "70000"],
                    environ={})
