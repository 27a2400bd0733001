"""Health checks for the load balancer, systemd and monitoring: /healthz says the process serves
requests (nothing else is asked, so a database outage does not get every instance restarted);
/readyz says it can do its work: the database answers, and so does the rate limiter's store.

Both are plain JSON, set no cookie, and are never rate limited."""
import logging
import time

from flask import Blueprint, jsonify
from sqlalchemy import text

from .extensions import db, limiter

bp = Blueprint("health", __name__)
log = logging.getLogger("h5app.health")


@bp.get("/healthz")
@limiter.exempt
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
@limiter.exempt
def readyz():
    checks, ready = {}, True
    started = time.perf_counter()
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        checks["database"] = "ok"
    except Exception as error:  # any driver or pool error means: not ready
        db.session.rollback()
        log.warning("readyz: database not reachable: %s", type(error).__name__)
        checks["database"], ready = "unreachable", False
    checks["database_ms"] = round((time.perf_counter() - started) * 1000, 1)
    if limiter.enabled:  # switched off (RATELIMIT_ENABLED=0): no store to ask
        try:
            storage_ok = limiter.storage.check()
        except Exception:  # a Redis that refuses or times out
            storage_ok = False
        checks["rate_limit_store"] = "ok" if storage_ok else "unreachable"
    else:
        storage_ok, checks["rate_limit_store"] = True, "off"
    ready = ready and storage_ok
    response = jsonify(status="ok" if ready else "unavailable", checks=checks)
    response.status_code = 200 if ready else 503
    if not ready:
        response.headers["Retry-After"] = "5"
    return response
