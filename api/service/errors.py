"""Refusals of the service layer, each with the HTTP status and the bilingual message it answers with.

The service is plain Python, but a refusal has to say how it is answered: ``status`` and ``code``
are what ``api.http.errors`` renders, ``message_zh`` is what a court workstation shows, and
``fields`` names the request fields a 422 is about. Messages never carry file paths or stack traces.
The command line turns the same refusals into exit codes.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Raised by the service, routes and dependencies; rendered by ``api.http.errors``."""

    def __init__(
        self,
        status: int,
        code: str,
        message_zh: str,
        message_en: str,
        *,
        fields: list[str] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message_en)
        self.status = status
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en
        self.fields = fields
        self.headers = headers
        self.extra = extra or {}


def unauthenticated(message_en: str = "missing, invalid, expired or revoked token") -> ApiError:
    return ApiError(
        401,
        "unauthenticated",
        "未登录或令牌无效、已过期、已撤销",
        message_en,
        headers={"WWW-Authenticate": 'Bearer realm="leian"'},
    )


def forbidden(message_zh: str, message_en: str) -> ApiError:
    return ApiError(403, "forbidden", message_zh, message_en)


def not_found(message_zh: str, message_en: str) -> ApiError:
    return ApiError(404, "not_found", message_zh, message_en)


def invalid(field: str, message_zh: str, message_en: str) -> ApiError:
    """A 422 about one field, for checks that depend on settings or on the index."""
    return ApiError(
        422,
        "validation_error",
        f"请求参数有误（{field}）：{message_zh}",
        f"{field}: {message_en}",
        fields=[field],
    )


def audit_unavailable() -> ApiError:
    """Fail-closed: the request happened but could not be recorded, so nothing is served."""
    return ApiError(
        503,
        "audit_unavailable",
        "检索留痕记录无法写入，本次请求未执行结果展示，请稍后重试或联系审判管理部门",
        "the audit record could not be written; nothing is served (fail-closed), retry later",
        headers={"Retry-After": "5"},
    )


def not_json(reason_zh: str, reason_en: str) -> ApiError:
    """400: the body is not UTF-8 JSON at all (truncated, malformed, another encoding, NaN)."""
    return ApiError(
        400,
        "bad_request",
        f"请求体无法解析：须为 UTF-8 编码的 JSON（{reason_zh}）",
        f"the request body is not UTF-8 JSON: {reason_en}",
    )


def duplicate_key(key: str) -> ApiError:
    """400: a key given twice in one object; which of the two would count is not the client's to guess."""
    return ApiError(
        400,
        "duplicate_key",
        f"请求体中同一对象内的键“{key}”重复出现",
        f"the key {key!r} appears twice in one object of the request body",
        fields=[key],
    )


def audit_tampered(reason: str) -> ApiError:
    """The log no longer matches what it signed: no record is added to it until an operator looked."""
    return ApiError(
        503,
        "audit_tampered",
        "审计日志与已签名的树头不一致（记录被删除或改写），在运维人员核查（leian audit check）之前不执行需留痕的操作："
        + reason,
        "the audit log does not match its signed tree head (records removed or rewritten); audited actions "
        "are refused until an operator investigates with `leian audit check`: " + reason,
    )
