"""Every API endpoint is declared once, with its scopes and its pydantic request and response
models; the Flask route and its OpenAPI operation are both built from that declaration, so the
document cannot drift from the code."""
import json
import re
import types
import typing
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
    query: tuple = ()  # the query-string parameters, as OpenAPI parameter objects without "in"

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


def _choices(expected: str) -> str:
    """pydantic's list of allowed values ("'a', 'b' or 'c'") as a clerk reads it: a、b、c."""
    return "、".join(part.strip().strip("'\"") for part in re.split(r",\s*|\s+or\s+", expected) if part.strip())


def _message(problem: dict) -> str:
    if problem["type"] in ("value_error", "assertion_error"):
        return str(problem.get("ctx", {}).get("error") or problem["msg"])
    if problem["type"] == "string_too_short" and problem.get("ctx", {}).get("min_length") == 1:
        return "不能为空"
    template = PYDANTIC_MESSAGES.get(problem["type"])
    if template is None:
        return "取值不正确"
    ctx = dict(problem.get("ctx", {}))
    if isinstance(ctx.get("expected"), str):
        ctx["expected"] = _choices(ctx["expected"])
    try:
        return template.format(**ctx)
    except (KeyError, IndexError):
        return template.split("{")[0].rstrip("：") or "取值不正确"


def _bare(kind):
    """`kind` without its Annotated metadata."""
    while typing.get_origin(kind) is typing.Annotated:
        kind = typing.get_args(kind)[0]
    return kind


def _members(kind) -> list | None:
    """The choices of a union (None left out), or None when `kind` is not one."""
    if typing.get_origin(kind) not in (typing.Union, types.UnionType):
        return None
    return [member for member in typing.get_args(kind) if member is not type(None)]


def _inner(kind, part):
    """The type found at `part` (a field name, an index, a key) inside `kind`, where known."""
    kind = _bare(kind)
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        found = kind.model_fields.get(part)
        return found.annotation if found is not None else None
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (list, set, frozenset, tuple) and args:
        return args[0]
    if typing.get_origin(kind) is dict and len(args) == 2:
        return args[1]
    return None


@dataclass
class _Place:
    name: str  # the field as the caller sent it: "approve.0.amount_fen"
    choice_of: str | None = None  # the union the error came through ("approve.0")
    inside: bool = False  # past the choice: a field inside it


def _place(model: type[BaseModel], loc: tuple) -> _Place:
    """Where an error is, in the caller's terms. pydantic names the union choice it tried in `loc`
    ("ApproveIn", "constrained-str"): no field of the request has that name, so it is dropped."""
    names, kind, place = [], model, _Place("")
    for part in loc:
        kind = _bare(kind)
        members = _members(kind)
        if members is not None and len(members) > 1:
            if place.choice_of is None:
                place.choice_of = ".".join(names)
            kind = next((m for m in members if getattr(m, "__name__", None) == part), None)
            continue
        if members:  # X | None
            kind = _bare(members[0])
        if place.choice_of is not None:
            place.inside = True
        names.append(str(part))
        kind = _inner(kind, part)
    place.name = ".".join(names) or "body"
    return place


def _field_errors(model: type[BaseModel], error: ValidationError) -> dict:
    """field → message. A value that fits no choice of a union: where it had the shape of one (a
    string too long, an object with a field wrong), what is wrong with it as that choice; where it
    had none, each choice's word ("应为字符串，或应为对象")."""
    found = []
    for problem in error.errors(include_url=False, include_input=False):
        place = _place(model, problem["loc"])
        shaped = place.inside or not problem["type"].endswith(("_type", "_parsing"))
        found.append((place, shaped, _message(problem)))
    fitting = {place.choice_of for place, shaped, _ in found if place.choice_of is not None and shaped}
    fields = {}
    for place, shaped, message in found:
        if place.choice_of in fitting and not shaped:
            continue
        if place.choice_of is not None and place.name in fields:
            if message not in fields[place.name]:  # another choice's word for the same value
                fields[place.name] += f"，或{message}"
            continue
        fields.setdefault(place.name, message)
    return fields


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def _check_media_type() -> None:
    """A body is JSON, said so by its Content-Type (API.md: JSON in and out): a form or plain text
    is refused before it is read, not parsed as if it were JSON. No header and no body is left to
    the "缺少 JSON 请求体" answer."""
    mimetype = request.mimetype  # lower case, without parameters (charset)
    if _is_json(mimetype) or not (mimetype or request.content_length or request.get_data(cache=True)):
        return
    shown = f"（收到的是 {mimetype[:100]}）" if mimetype else "（请求未说明 Content-Type）"
    raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", f"请求体须为 JSON，请设置 Content-Type: application/json{shown}")


def parse_body(model: type[BaseModel]):
    _check_media_type()
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
        raise ApiError(422, "VALIDATION_FAILED", "提交的数据有误", fields=_field_errors(model, error)) from None


def _json(result, status: int):
    if isinstance(result, tuple):
        result, status = result
    response = jsonify(result)
    response.status_code = status
    return response


def endpoint(bp: Blueprint, method: str, path: str, *, scopes, summary: str, response: type[BaseModel],
             body: type[BaseModel] | None = None, status: int = 200, tag: str = "vouchers",
             int_params: tuple[str, ...] = (), query: tuple[dict, ...] = ()):
    """Register `view(caller, [body,] **path_params)` returning a JSON-able dict. `query`: the
    query-string parameters the view reads, for the OpenAPI document."""

    def decorator(view):
        spec = Endpoint(method, path, tuple(scopes), summary, body, response, status, tag, view.__name__,
                        frozenset(int_params), tuple(query))
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
