"""The partner API's rate limit: API_RATE_LIMIT (default 600 per minute) for each key across the
whole API, and for the callers without one, for their address; 429 in the API's error format.

Flask-Limiter keeps the counts: its storage (process memory by default, Redis when
RATELIMIT_STORAGE_URI names it, so several workers and instances share them), its strategy, its
switch (RATELIMIT_ENABLED) and its key prefix; it also limits the pages. The API asks that
strategy (`limiter.limiter`) directly, once per request, and Flask-Limiter's own check skips the
API (`limiter.request_filter`): the API has one budget per key, and Flask-Limiter's per-request
search for the limits of a route (application, blueprint and route limits, exemptions) cost about
75 µs of a 600 µs verification (bench/api_verify.py).

When the storage fails (Redis down), a request is refused with a 500 as Flask-Limiter would,
unless RATELIMIT_SWALLOW_ERRORS or RATELIMIT_IN_MEMORY_FALLBACK_ENABLED asks to carry on: then it
goes through uncounted and the failure is logged. The headers never fail an answer."""
import logging
import math
import time
from functools import cache

from flask import current_app, g, request
from limits import RateLimitItem, parse_many

from ..extensions import limiter
from .errors import HTTP_CODES, error_response
from .keys import request_digest

NAMESPACE = "api"
log = logging.getLogger(__name__)


def rate_limit_key() -> str:
    """Per API key (its digest: nothing to forge); callers without a key share their address's."""
    key_digest = request_digest()
    return f"key:{key_digest}" if key_digest else f"ip:{request.remote_addr}"


@cache
def _limits(text: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(text))


def _identifiers(key: str) -> tuple[str, ...]:
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX")  # instances sharing one Redis keep apart
    return (prefix, NAMESPACE, key) if prefix else (NAMESPACE, key)


def _carry_on_without_storage() -> bool:
    config = current_app.config
    return bool(config.get("RATELIMIT_SWALLOW_ERRORS") or config.get("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"))


def check():
    """The API blueprint's first step: count the request against each of its key's limits."""
    if not limiter.enabled:
        return None
    strategy, identifiers = limiter.limiter, _identifiers(rate_limit_key())
    items = _limits(current_app.config["API_RATE_LIMIT"])
    for item in items:
        try:
            allowed = strategy.hit(item, *identifiers)
        except Exception:
            if not _carry_on_without_storage():
                raise
            log.exception("rate-limit storage failed; API request let through uncounted")
            return None
        if not allowed:
            code, message = HTTP_CODES[429]
            response = error_response(429, code, f"{message}（限额：{item}）")
            return _with_headers(response, [item], identifiers, refused=True)
    g.api_rate_limits = (items, identifiers)
    return None


def add_headers(response):
    counted = g.pop("api_rate_limits", None)
    if counted is not None:
        _with_headers(response, *counted)
    return response


def _with_headers(response, items, identifiers, refused: bool = False):
    """X-RateLimit-Limit, -Remaining and -Reset (epoch seconds) of the tightest limit, as
    Flask-Limiter writes them; Retry-After on a refusal. Advice only: a storage error leaves
    them out rather than fail the answer (the request's work may be committed already)."""
    if not current_app.config.get("RATELIMIT_HEADERS_ENABLED"):
        return response
    try:
        stats = [(limiter.limiter.get_window_stats(item, *identifiers), item) for item in items]
    except Exception:
        log.exception("rate-limit storage failed; answer sent without X-RateLimit headers")
        return response
    (reset_at, remaining), item = min(stats, key=lambda entry: entry[0][1])
    response.headers["X-RateLimit-Limit"] = str(item.amount)
    response.headers["X-RateLimit-Remaining"] = str(remaining)
    response.headers["X-RateLimit-Reset"] = str(math.ceil(reset_at))
    if refused:
        response.headers["Retry-After"] = str(max(1, math.ceil(reset_at - time.time())))
    return response
