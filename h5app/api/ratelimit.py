"""The partner API's per-key rate limit: API_RATE_LIMIT (default 600 per minute) for each key,
and for the callers without one, for their address; 429 in the API's error format.

Flask-Limiter keeps the counts: its storage (process memory by default, Redis when
RATELIMIT_STORAGE_URI names it, so several workers and instances share them), its strategy and
its switch (RATELIMIT_ENABLED); it also limits the pages. The API asks that strategy
(`limiter.limiter`) directly, once per request, and Flask-Limiter's own check skips the API
(`limiter.request_filter`): the API has one limit per key, and Flask-Limiter's per-request search
for the limits of a route (application, blueprint and route limits, exemptions) cost about 75 µs
of a 600 µs verification (bench/api_verify.py)."""
import math
import time
from functools import cache

from flask import current_app, g, request
from limits import RateLimitItem, parse_many

from ..extensions import limiter
from .errors import HTTP_CODES, error_response
from .keys import request_digest

NAMESPACE = "api"


def rate_limit_key() -> str:
    """Per API key (its digest: nothing to forge); callers without a key share their address's."""
    key_digest = request_digest()
    return f"key:{key_digest}" if key_digest else f"ip:{request.remote_addr}"


@cache
def _limits(text: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(text))


def check():
    """The API blueprint's first step: count the request against its key's limits."""
    if not limiter.enabled:
        return None
    strategy, key = limiter.limiter, rate_limit_key()
    for item in _limits(current_app.config["API_RATE_LIMIT"]):
        if not strategy.hit(item, NAMESPACE, key):
            code, message = HTTP_CODES[429]
            response = error_response(429, code, f"{message}（限额：{item}）")
            return _with_headers(response, item, key, refused=True)
        g.api_rate_limit = (item, key)
    return None


def add_headers(response):
    """X-RateLimit-Limit, -Remaining and -Reset (epoch seconds), as Flask-Limiter writes them."""
    counted = g.pop("api_rate_limit", None)
    if counted is not None:
        _with_headers(response, *counted)
    return response


def _with_headers(response, item: RateLimitItem, key: str, refused: bool = False):
    if not current_app.config.get("RATELIMIT_HEADERS_ENABLED"):
        return response
    reset_at, remaining = limiter.limiter.get_window_stats(item, NAMESPACE, key)
    response.headers["X-RateLimit-Limit"] = str(item.amount)
    response.headers["X-RateLimit-Remaining"] = str(remaining)
    response.headers["X-RateLimit-Reset"] = str(math.ceil(reset_at))
    if refused:
        response.headers["Retry-After"] = str(max(1, math.ceil(reset_at - time.time())))
    return response
