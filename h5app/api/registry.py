"""Every API endpoint is declared once, with its scopes and its pydantic request and response
models; the Flask route and its OpenAPI operation are both built from that declaration, so the
document cannot drift from the code."""
import json
import re
from dataclasses import dataclass, field

from flask import Blueprint, jsonify, request
from pydantic import BaseModel, ValidationError

from ..extensions import db
from ..ids import MAX_ID
from ..vouchers.errors import DomainError
from . import idempotency
from .errors import ApiError, from_api, from_domain
from .keys import authenticate

MAX_INT = MAX_ID  # PostgreSQL integer: a larger id cannot exist, and must not reach the driver
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


# pydantic's messages are English; a partner's clerk reads these. By the error's type (pydantic's
# stable identifiers), with its context values; a validator of ours raises ValueError in Chinese.
PYDANTIC_MESSAGES = {
    "missing": "必填", "extra_forbidden": "不允许的字段", "string_type": "应为字符串",
    "string_too_short": "至少{min_length}个字符", "string_too_long": "最多{max_length}个字符",
    "string_pattern_mismatch": "格式不正确", "int_type": "应为整数", "int_parsing": "应为整数",
    "int_from_float": "应为整数", "float_type": "应为数字", "float_parsing": "应为数字", "finite_number": "应为有限的数字",
    "bool_type": "应为 true 或 false", "bool_parsing": "应为 true 或 false",
    "greater_than": "应大于{gt}", "greater_than_equal": "应不小于{ge}", "less_than": "应小于{lt}",
    "less_than_equal": "应不大于{le}", "list_type": "应为数组", "too_short": "至少{min_length}项",
    "too_long": "最多{max_length}项", "dict_type": "应为对象", "model_type": "应为对象",
    "model_attributes_type": "应为对象", "literal_error": "应为以下之一：{expected}",
    "enum": "应为以下之一：{expected}", "date_type": "应为日期 YYYY-MM-DD", "date_parsing": "应为日期 YYYY-MM-DD",
    "date_from_datetime_parsing": "应为日期 YYYY-MM-DD", "date_from_datetime_inexact": "应为日期 YYYY-MM-DD",
    "datetime_type": "应为带时区的时间，如 2026-12-01T08:00:00+08:00",
    "datetime_parsing": "应为带时区的时间，如 2026-12-01T08:00:00+08:00",
    "datetime_from_date_parsing": "应为带时区的时间，如 2026-12-01T08:00:00+08:00",
    "timezone_aware": "时间须带时区，如 +08:00", "union_tag_invalid": "类型不正确", "json_invalid": "不是有效的 JSON",
}


def _message(problem: dict) -> str:
    if problem["type"] in ("value_error", "assertion_error"):
        return str(problem.get("ctx", {}).get("error") or problem["msg"])
    template = PYDANTIC_MESSAGES.get(problem["type"])
    if template is None:
        return "取值不正确"
    try:
        return template.format(**problem.get("ctx", {}))
    except (KeyError, IndexError):
        return template.split("{")[0].rstrip("：") or "取值不正确"


def _field_errors(error: ValidationError) -> dict:
    fields = {}
    for problem in error.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in problem["loc"]) or "body"
        fields.setdefault(name, _message(problem))
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
        handle.__wrapped__ = view  # the declared view behind the route (tests/test_access_url_map.py reads it)
        bp.add_url_rule(spec.rule, view.__name__, handle, methods=[method])
        return view

    return decorator
