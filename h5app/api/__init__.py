"""The partner API (/api/v1, API.md): API keys with scopes, idempotent POSTs, per-key rate
limits, the API error format everywhere under the prefix, and an OpenAPI document generated from
the endpoint declarations. Handlers call the same engine services as the pages."""
import os

from flask import Flask, current_app, jsonify, request

from ..extensions import csrf
from . import ratelimit
from .blueprint import PREFIX, bp
from .errors import from_http


def _load_routes() -> None:
    from . import people_payee, settlements, training, vouchers  # noqa: F401  (they declare the endpoints)
    from . import class_review  # noqa: F401  (开班审核, issue 19)
    from . import attendance  # noqa: F401  (补签 and online study records, issue 19)
    from . import people  # noqa: F401  (people records, issue 18)
    from . import class_lifecycle  # noqa: F401  (取消班期, 退班, 签退: issue 19)


@bp.route("/openapi.json")
def openapi_document():
    document = current_app.extensions.get("api_openapi")
    if document is None:
        from .openapi import build

        document = current_app.extensions["api_openapi"] = build(PREFIX)
    return jsonify(document)


def _json_under_prefix(app: Flask, code: int) -> None:
    previous = app.error_handler_spec[None].get(code, {})
    fallback = next(iter(previous.values()), None)

    def handler(error):
        if request.path == PREFIX or request.path.startswith(PREFIX + "/") or fallback is None:
            return from_http(error)
        return fallback(error)

    app.register_error_handler(code, handler)


_limited = False


def register(app: Flask) -> None:
    app.config.setdefault("API_RATE_LIMIT", os.environ.get("API_RATE_LIMIT", "600 per minute"))
    app.config.setdefault("API_KEY_CACHE_SECONDS", float(os.environ.get("API_KEY_CACHE_SECONDS", "5")))
    _load_routes()
    global _limited
    if not _limited:  # the limiter and the blueprint are shared by every app built in a process
        csrf.exempt(bp)  # key auth, no cookies: CSRF has nothing to protect here
        ratelimit.apply(bp)
        _limited = True
    app.register_blueprint(bp, url_prefix=PREFIX)
    for code in (400, 404, 405, 413, 415, 429, 500):
        _json_under_prefix(app, code)
