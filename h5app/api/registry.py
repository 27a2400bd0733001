"""Every API endpoint is declared once, with its scopes and its pydantic request and response
models; the Flask route and its OpenAPI operation are both built from that declaration, so the
document cannot drift from the code."""
import json
import re
from dataclasses import dataclass, field

from flask import Blueprint, jsonify, request
from pydantic import BaseModel, ValidationError

from ..extensions import db
from ..vouchers.errors import DomainError
from . import idempotency
from .errors import ApiError, from_api, from_domain
from .keys import authenticate

MAX_INT = 2**31 - 1  # PostgreSQL integer: a larger id cannot exist, and must not reach the driver
PATH_PARAM = re.compile(r"\{(\w+)\}")


@dataclass
class Endpoint:
    method: str
    path: str  # OpenAPI form, /vouchers/{code}
    scopes: tuple[str, ...]
    summary: str
    body: type[BaseModel] | None
    response: type[BaseModel]
    status: int
    tag: str
    view_name: str
    int_params: frozenset = field(default_factory=frozenset)

    @property
    def rule(self) -> str:
        return PATH_PARAM.sub(lambda m: f"<int:{m.group(1)}>" if m.group(1) in self.int_params else f"<{m.group(1)}>",
                              self.path)


ENDPOINTS: list[Endpoint] = []


def _field_errors(error: ValidationError) -> dict:
    fields = {}
    for problem in error.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in problem["loc"]) or "body"
        fields.setdefault(name, problem["msg"])
    return fields


def parse_body(model: type[BaseModel]):
    raw = request.get_data(cache=True)
    if b"\x00" in raw or b"\\u0000" in raw:
        raise ApiError(422, "VALIDATION_FAILED", "提交的数据含有空字符", fields={"body": "不允许空字符"})
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep to parse
        raise ApiError(400, "BAD_REQUEST", "请求体不是有效的 JSON") from None
    if data is None:
        raise ApiError(400, "BAD_REQUEST", "缺少 JSON 请求体")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ApiError(422, "VALIDATION_FAILED", "提交的数据有误", fields=_field_errors(error)) from None


def _json(result, status: int):
    if isinstance(result, tuple):
        result, status = result
    response = jsonify(result)
    response.status_code = status
    return response


def endpoint(bp: Blueprint, method: str, path: str, *, scopes, summary: str, response: type[BaseModel],
             body: type[BaseModel] | None = None, status: int = 200, tag: str = "vouchers",
             int_params: tuple[str, ...] = ()):
    """Register `view(caller, [body,] **path_params)` returning a JSON-able dict."""

    def decorator(view):
        spec = Endpoint(method, path, tuple(scopes), summary, body, response, status, tag, view.__name__,
                        frozenset(int_params))
        ENDPOINTS.append(spec)

        def handle(**params):
            try:
                caller = authenticate()
                if caller.scope not in spec.scopes:
                    raise ApiError(403, "FORBIDDEN", "该 API 密钥的范围不能调用此接口")
                if any(isinstance(v, int) and v > MAX_INT for v in params.values()):
                    raise ApiError(404, "NOT_FOUND")
                args = (caller, parse_body(body)) if body is not None else (caller,)
            except ApiError as error:
                return from_api(error)

            def respond():
                try:
                    return _json(view(*args, **params), spec.status)
                except DomainError as error:
                    db.session.rollback()
                    return from_domain(error)
                except ApiError as error:
                    db.session.rollback()
                    return from_api(error)

            if method != "POST" or idempotency.HEADER not in request.headers:
                return respond()
            try:
                return idempotency.run(caller.owner, respond)
            except ApiError as error:
                return from_api(error)

        handle.__name__ = view.__name__
        bp.add_url_rule(spec.rule, view.__name__, handle, methods=[method])
        return view

    return decorator
