"""Prometheus metrics at /metrics (prometheus_client; multiprocess mode under gunicorn).

- request latency by endpoint (a histogram) and requests by endpoint and status;
- what the engine did, counted from the audit rows it writes — every voucher move writes one, in the
  same transaction — when that transaction commits: claims, verifications, and the amounts of
  settlement lines approved and paid;
- refusals by their error code (VOUCHER_ALREADY_USED, QR_EXPIRED …), counted by the engine's
  `@service` wrapper when a rule refuses.

Under gunicorn every worker is a process of its own: gunicorn.conf.py points
PROMETHEUS_MULTIPROC_DIR at a folder of the instance (emptied when it starts) before the workers
are forked, and /metrics adds up every worker's numbers. The nightly jobs report through the
node_exporter text file the job wrapper writes (deploy/h5app-job), not through here.

/metrics answers whoever reaches the instance: nginx refuses it from outside (deploy/nginx), and
Prometheus scrapes each instance on its own loopback or private address."""
import os
import time
from functools import cache

from flask import Flask, Response, request
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram,
                               generate_latest, multiprocess)
from sqlalchemy import event

REQUEST_SECONDS = Histogram(
    "h5app_request_duration_seconds", "Time to answer a request, by Flask endpoint", ["endpoint", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
REQUESTS = Counter("h5app_requests_total", "Requests answered, by endpoint and status", ["endpoint", "method", "status"])
CLAIMS = Counter("h5app_claims_total", "Vouchers claimed (committed), by who acted", ["actor"])
VERIFICATIONS = Counter("h5app_verifications_total", "Vouchers verified (committed), by who acted: "
                        "staff on the page, api_key, device (scan gun)", ["actor"])
REFUSALS = Counter("h5app_refusals_total", "Engine refusals, by error code", ["code"])
SETTLEMENT_FEN = Counter("h5app_settlement_amount_fen_total",
                         "Settlement line amounts in fen (分): approved on review, paid on payment", ["stage"])
SETTLEMENT_LINES = Counter("h5app_settlement_lines_total", "Settlement lines approved or paid", ["stage"])

_PENDING = "h5app_metrics_pending"  # on the connection: counts waiting for their transaction's COMMIT
_SAVEPOINTS = "h5app_metrics_savepoints"


def count_refusal(error) -> None:
    """Once per refusal, however many services it passes through on its way out."""
    if not getattr(error, "_counted", False):
        REFUSALS.labels(code=error.code).inc()
        error._counted = True


def register(app: Flask) -> None:
    if not app.config["METRICS_ENABLED"]:
        return
    with app.app_context():
        from .extensions import db

        watch_audit_rows(db.engine)
    # First of all before_request hooks, so a request another hook turns away is timed too.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_timer)
    app.after_request(_observe)
    app.add_url_rule("/metrics", "metrics", _metrics_view)


def _start_timer():
    request.environ["h5app.started"] = time.perf_counter()


def _observe(response):
    started = request.environ.get("h5app.started")
    endpoint = request.url_rule.endpoint if request.url_rule is not None else "unmatched"
    if started is not None:
        REQUEST_SECONDS.labels(endpoint, request.method).observe(time.perf_counter() - started)
    REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
    return response


def _metrics_view():
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


# --- the engine's work, from its audit rows ------------------------------------------------------

def watch_audit_rows(engine) -> None:
    if event.contains(engine, "after_execute", _after_execute):
        return
    event.listen(engine, "after_execute", _after_execute)
    event.listen(engine, "commit", _commit)
    event.listen(engine, "rollback", _rollback)
    event.listen(engine, "savepoint", _savepoint)
    event.listen(engine, "rollback_savepoint", _rollback_savepoint)


@cache
def _audit_table():
    from .models import AuditEvent  # not at module load: the models package imports much of the app

    return AuditEvent.__table__


def _after_execute(conn, clause, multiparams, params, execution_options, result):
    if getattr(clause, "is_insert", False) and getattr(clause, "table", None) is _audit_table():
        rows = multiparams if multiparams else [params]
        conn.info.setdefault(_PENDING, []).extend(_tally(rows))


def _tally(rows) -> list[tuple]:
    counted = []
    for row in rows:
        action, details = row.get("action"), row.get("details") or {}
        if action == "voucher.claim":
            counted.append((CLAIMS, (row.get("actor_type") or "unknown",), 1))
        elif action == "voucher.verify":
            counted.append((VERIFICATIONS, (row.get("actor_type") or "unknown",), 1))
        elif action == "settlement.approve":
            amount = details.get("approved_amount_fen")
            amount = amount if isinstance(amount, int) else details.get("amount_fen")
            counted += _amount("approved", amount)
        elif action == "voucher.settle":
            counted += _amount("paid", details.get("amount_fen"))
    return counted


def _amount(stage: str, fen) -> list[tuple]:
    counted = [(SETTLEMENT_LINES, (stage,), 1)]
    if isinstance(fen, int) and fen > 0:
        counted.append((SETTLEMENT_FEN, (stage,), fen))
    return counted


def _commit(conn):
    for metric, labels, amount in conn.info.pop(_PENDING, ()):
        metric.labels(*labels).inc(amount)
    conn.info.pop(_SAVEPOINTS, None)


def _rollback(conn):
    conn.info.pop(_PENDING, None)
    conn.info.pop(_SAVEPOINTS, None)


def _savepoint(conn, name):
    conn.info.setdefault(_SAVEPOINTS, {})[name] = len(conn.info.get(_PENDING, ()))


def _rollback_savepoint(conn, name, context):
    kept = conn.info.get(_SAVEPOINTS, {}).pop(name, None)
    if kept is not None and _PENDING in conn.info:
        del conn.info[_PENDING][kept:]
