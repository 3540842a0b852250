"""Request-size limit and security headers, as plain ASGI middleware (no per-request task overhead)."""

from __future__ import annotations

import time

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.http.errors import error_body
from api.service.metrics import Metrics

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's Swagger UI and ReDoc pages load their scripts from a CDN; a strict policy would blank them.
_DOCS_PATHS = ("/docs", "/redoc")


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        error_body(
            "payload_too_large",
            f"请求体过大（上限 {limit} 字节）",
            f"request body larger than {limit} bytes",
        ),
        status_code=413,
    )


class BodyLimitMiddleware:
    """Refuses bodies over ``limit`` bytes with 413 before any handler parses them.

    A declared Content-Length over the limit is refused without reading; otherwise the body is
    read up to the limit and replayed to the app, so chunked uploads are bounded too.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.limit:
                    await _too_large(self.limit)(scope, receive, send)
                    return
        chunks: list[bytes] = []
        size = 0
        more = scope.get("method") not in ("GET", "HEAD", "OPTIONS", "DELETE")
        disconnect: Message | None = None
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnect = message
                break
            body = message.get("body", b"")
            size += len(body)
            if size > self.limit:
                await _too_large(self.limit)(scope, receive, send)
                return
            chunks.append(body)
            more = bool(message.get("more_body", False))
        if disconnect is not None:
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed and scope.get("method") not in ("GET", "HEAD", "OPTIONS", "DELETE"):
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class SecurityHeadersMiddleware:
    """Headers for every response: no sniffing, no framing, no referrer, a same-origin-only policy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        strict = not path.startswith(_DOCS_PATHS)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Cache-Control", "no-store")
                if strict:
                    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                else:
                    headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
            await send(message)

        await self.app(scope, receive, with_headers)


class MetricsMiddleware:
    """Pure ASGI, outermost: counts every response, including 413s and errors from inner layers."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.request_latency.labels(method, template).observe(time.perf_counter() - start)
