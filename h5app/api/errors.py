"""The API's one error format: {"error": {"code", "message", "fields"? | "rows"?}} with the
status codes of API.md. Domain errors of the engine are translated here and nowhere else."""
from flask import jsonify, request
from werkzeug.exceptions import HTTPException

from ..vouchers.errors import DomainError

HTTP_CODES = {
    400: ("BAD_REQUEST", "请求格式有误"),
    401: ("UNAUTHORIZED", "缺少或无效的 API 密钥"),
    403: ("FORBIDDEN", "无权访问"),
    404: ("NOT_FOUND", "对象不存在"),
    405: ("METHOD_NOT_ALLOWED", "不支持的请求方法"),
    409: ("CONFLICT", "操作未能完成"),
    413: ("PAYLOAD_TOO_LARGE", "请求体过大"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "请求体须为 JSON"),
    422: ("VALIDATION_FAILED", "提交的数据有误"),
    429: ("RATE_LIMITED", "请求过于频繁，请稍后再试"),
    500: ("INTERNAL_ERROR", "系统繁忙，请稍后再试"),
}


class ApiError(Exception):
    """An answer that is not a domain rule's: auth, scope, validation, unknown object."""

    def __init__(self, status: int, code: str | None = None, message: str | None = None, **extra):
        default_code, default_message = HTTP_CODES.get(status, HTTP_CODES[500])
        self.status, self.code, self.message = status, code or default_code, message or default_message
        self.extra = extra
        super().__init__(self.message)


def not_found(message: str = "对象不存在") -> ApiError:
    return ApiError(404, "NOT_FOUND", message)


def error_response(status: int, code: str, message: str, **extra):
    body = {"code": code, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    response = jsonify({"error": body})
    response.status_code = status
    return response


def _rows(rows) -> list[dict]:
    """Batch problems as API.md has them: index, code, message (and the field when known)."""
    out = []
    for row in rows:
        item = dict(row) if isinstance(row, dict) else dict(vars(row))
        item.setdefault("code", "INVALID")
        out.append(item)
    return out


def from_domain(error: DomainError):
    extra = {}
    if "rows" in error.details:
        extra["rows"] = _rows(error.details["rows"])
    if "fields" in error.details:
        extra["fields"] = dict(error.details["fields"])
    return error_response(error.status, error.code, error.message, **extra)


def from_api(error: ApiError):
    return error_response(error.status, error.code, error.message, **error.extra)


def _bad_request_message() -> str:
    """Which part of the request a 400 of the request guards (h5app/__init__.py) is about."""
    if "\x00" in request.path:
        return "请求路径中有空字符（%00），请检查路径中的身份证号、券码等取值"
    if b"%00" in request.query_string or b"\x00" in request.query_string:
        return "查询参数中有空字符（%00），请检查查询参数的取值"
    return HTTP_CODES[400][1]


def from_http(error: HTTPException):
    status = error.code if error.code in HTTP_CODES else 500
    code, message = HTTP_CODES[status]
    if status == 400:
        message = _bad_request_message()
    response = error_response(status, code, message)
    if status == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response
