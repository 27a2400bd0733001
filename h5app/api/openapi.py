"""The OpenAPI 3.1 document, built from the endpoint declarations and their pydantic models."""
from pydantic import BaseModel

from .registry import ENDPOINTS, PATH_PARAM
from .schemas import ErrorResponse

ERROR_STATUSES = {
    "400": "请求体不是有效的 JSON", "401": "缺少或无效的 API 密钥", "403": "密钥范围不能调用此接口",
    "404": "对象不存在或不在密钥范围内", "409": "培训券规则拒绝（领域错误码）", "422": "字段校验失败",
    "429": "请求过于频繁",
}
REF = "#/components/schemas/{model}"


def _schema(model: type[BaseModel], components: dict) -> dict:
    schema = model.model_json_schema(ref_template=REF)
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


def build(prefix: str = "/api/v1") -> dict:
    from . import people_payee, settlements, training, vouchers  # noqa: F401  (their declarations fill ENDPOINTS)
    from . import class_review  # noqa: F401  (开班审核, issue 19)
    from . import attendance  # noqa: F401  (补签 and online study records, issue 19)
    from . import class_lifecycle  # noqa: F401  (取消班期, 退班, 签退: issue 19)

    components: dict = {}
    error_ref = _schema(ErrorResponse, components)
    paths: dict = {}
    for spec in ENDPOINTS:
        operation = {
            "operationId": spec.view_name,
            "summary": spec.summary,
            "tags": [spec.tag],
            "description": "范围（scope）：" + "、".join(spec.scopes),
            "x-scopes": list(spec.scopes),
            "parameters": [],
            "responses": {
                str(spec.status): {"description": "成功",
                                   "content": {"application/json": {"schema": _schema(spec.response, components)}}},
                **{status: {"description": text, "content": {"application/json": {"schema": error_ref}}}
                   for status, text in ERROR_STATUSES.items()},
            },
        }
        for name in PATH_PARAM.findall(spec.path):
            schema = ({"type": "integer", "minimum": 1, "maximum": 2**31 - 1} if name in spec.int_params
                      else {"type": "string", "minLength": 1, "maxLength": 64})
            operation["parameters"].append({"name": name, "in": "path", "required": True, "schema": schema})
        operation["parameters"] += [{**parameter, "in": "query", "required": False} for parameter in spec.query]
        if spec.method == "POST":
            operation["parameters"].append({
                "name": "Idempotency-Key", "in": "header", "required": False,
                "description": "同一密钥下首次应答保存24小时并重放（Idempotent-Replayed: true）",
                "schema": {"type": "string", "maxLength": 128},
            })
        if spec.body is not None:
            operation["requestBody"] = {"required": True,
                                        "content": {"application/json": {"schema": _schema(spec.body, components)}}}
            operation["responses"]["415"] = {"description": "请求体不是 JSON（Content-Type 须为 application/json）",
                                             "content": {"application/json": {"schema": error_ref}}}
        paths.setdefault(prefix + spec.path, {})[spec.method.lower()] = operation
    paths[prefix + "/openapi.json"] = {"get": {
        "operationId": "openapi", "summary": "本文档", "tags": ["meta"], "security": [],
        "responses": {"200": {"description": "OpenAPI 3.1 文档",
                              "content": {"application/json": {"schema": {"type": "object"}}}}},
    }}
    return {
        "openapi": "3.1.0",
        "info": {"title": "职业培训券 合作方接口", "version": "1.0.0",
                 "description": "人社部门、培训机构、渠道的合作方接口。时间为 ISO 8601（+08:00），金额单位为分。"},
        "servers": [{"url": "/"}],
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": {"schemas": components,
                       "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}}},
    }
