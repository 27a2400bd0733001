"""gunicorn settings for the demo and for production (override any with GUNICORN_CMD_ARGS)."""
import os
import shutil
import sys
import tempfile
from pathlib import Path

from h5app.logs import gunicorn_logconfig

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 30
# gunicorn ≥ 25 opens a control socket in ~/.gunicorn by default; two servers on one machine (the
# demo beside a test run, two instances behind a balancer) would fight over it. We don't use it.
control_socket_disable = True
# The access log keeps the path but never the query string: an SSO ticket or a QR token there
# is a credential, and it may carry an ID number.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
# Masked log lines, plain or one JSON object a line (LOG_FORMAT=json): h5app/logs.py.
logconfig_dict = gunicorn_logconfig()

# Prometheus metrics (h5app/metrics.py): every worker writes its numbers into one folder of this
# instance, which /metrics adds up. The systemd unit names a folder of its own
# (PROMETHEUS_MULTIPROC_DIR); without one, gunicorn makes a temporary one. Set before any worker
# is forked, so every worker's prometheus_client sees it.
_OWN_METRICS_DIR = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _OWN_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="h5app-metrics-")


def on_starting(server):
    """Refuse to serve production with per-process rate limits from several processes; start the
    metrics afresh (a restarted instance's counters begin at zero, as Prometheus expects)."""
    from h5app.config import ConfigError, check_serving, from_environment

    try:
        check_serving(from_environment(), server.cfg.workers)
    except ConfigError as refused:
        server.log.error("%s", refused)
        on_exit(server)
        sys.exit(1)
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _OWN_METRICS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
