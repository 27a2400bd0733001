"""The partner API's rate limit, kept by Flask-Limiter: API_RATE_LIMIT (default 600 per minute) as
one budget per API key across the whole API, per address for callers without a key; a refusal is
a 429 in the API's error format.

Everything else is Flask-Limiter's, set by its RATELIMIT_* settings: storage, strategy, switch,
key prefix, the X-RateLimit-* and Retry-After headers (RATELIMIT_HEADERS_ENABLED), and what a
failing store does (a 500, unless RATELIMIT_SWALLOW_ERRORS or RATELIMIT_IN_MEMORY_FALLBACK_ENABLED)."""
from flask import Blueprint, current_app, request
from flask_limiter import RateLimitExceeded

from ..extensions import limiter
from .errors import HTTP_CODES, error_response
from .keys import request_digest

SCOPE = "api"  # shared by every endpoint of the blueprint: one count per key, not one per route


def rate_limit_key() -> str:
    """Per API key (its digest: nothing to forge); callers without a key share their address's."""
    key_digest = request_digest()
    return f"key:{key_digest}" if key_digest else f"ip:{request.remote_addr}"


def api_rate_limit() -> str:
    return current_app.config["API_RATE_LIMIT"]  # read per request: each app's own setting applies


UNITS = {"second": "秒", "minute": "分钟", "hour": "小时", "day": "天", "month": "个月", "year": "年"}


def limit_words(item) -> str:
    """A limit as a clerk reads it: 600 per 1 minute → 每分钟600次, 100 per 2 hours → 每2小时100次."""
    unit = UNITS.get(item.GRANULARITY.name, item.GRANULARITY.name)
    return f"每{item.multiples if item.multiples != 1 else ''}{unit}{item.amount}次"


def rate_limited(error: RateLimitExceeded):
    """Flask-Limiter's refusal in the API's words; its after_request adds Retry-After and X-RateLimit-*."""
    code, message = HTTP_CODES[429]
    item = getattr(getattr(error, "limit", None), "limit", None)
    return error_response(429, code, f"{message}（限额：{limit_words(item) if item else error.description}）")


def apply(bp: Blueprint) -> None:
    limiter.shared_limit(api_rate_limit, scope=SCOPE, key_func=rate_limit_key)(bp)
    bp.register_error_handler(RateLimitExceeded, rate_limited)
