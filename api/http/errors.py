"""One error shape for every failure: ``{"error": {"code", "message_zh", "message_en", ...}}``.

A court workstation shows ``message_zh``; scripts branch on ``code``; ``fields`` names the request
fields a 422 is about. Messages never carry file paths or stack traces.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.service.errors import ApiError

_BY_STATUS: dict[int, tuple[str, str, str]] = {
    400: ("bad_request", "请求体无法解析：须为 UTF-8 编码的 JSON", "the request body is not UTF-8 JSON"),
    401: (
        "unauthenticated",
        "未登录或令牌无效、已过期、已撤销",
        "missing, invalid, expired or revoked token",
    ),
    403: ("forbidden", "无权执行此操作", "not allowed for this account"),
    404: ("not_found", "未找到", "not found"),
    405: ("method_not_allowed", "不支持该请求方法", "method not allowed"),
    413: ("payload_too_large", "请求体过大", "request body too large"),
    422: ("validation_error", "请求参数有误", "invalid request"),
    429: ("rate_limited", "请求过于频繁", "too many requests"),
    500: ("internal_error", "服务器内部错误", "internal server error"),
    503: ("unavailable", "服务暂不可用", "service unavailable"),
}


def error_body(
    code: str, message_zh: str, message_en: str, fields: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message_zh": message_zh, "message_en": message_en}
    if fields:
        error["fields"] = fields
    error.update(extra)
    return {"error": error}


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(exc.code, exc.message_zh, exc.message_en, exc.fields, **exc.extra),
        status_code=exc.status,
        headers=exc.headers,
    )


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts)


async def api_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"field": _field_name(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    fields = list(dict.fromkeys(d["field"] for d in details))
    names = "、".join(fields)
    return JSONResponse(
        jsonable_encoder(
            error_body(
                "validation_error",
                f"请求参数有误：{names}",
                "invalid request: " + "; ".join(f"{d['field']}: {d['message']}" for d in details),
                fields,
                details=details,
            )
        ),
        status_code=422,
    )


def _allowed_methods(request: Request) -> str:
    """Every method served at the request's path (Starlette's 405 names only the first route's)."""
    path = request.scope.get("path", "")
    methods = {
        method
        for route in iter_route_contexts(request.app.routes)
        if route.methods and route.path_regex.match(path)
        for method in route.methods
    }
    return ", ".join(sorted(methods))


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, zh, en = _BY_STATUS.get(exc.status_code, ("http_error", "请求失败", "request failed"))
    # FastAPI's 400 is only ever "There was an error parsing the body": ours says what is expected
    if isinstance(exc.detail, str) and exc.detail and exc.status_code not in (400, 404, 500):
        en = exc.detail
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return JSONResponse(error_body(code, zh, en), status_code=exc.status_code, headers=headers or None)


async def unexpected_error_handler(_request: Request, _exc: Exception) -> JSONResponse:
    code, zh, en = _BY_STATUS[500]
    return JSONResponse(error_body(code, zh, en), status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
