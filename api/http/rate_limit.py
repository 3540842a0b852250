"""Per-token rate limiting: a token bucket per bearer token, 429 with Retry-After when it is empty.

A runaway script holding a judge's token must not starve the court's other users of the one search
process. Buckets are keyed by the token's SHA-256 (never the token itself), checked before any
handler runs, and live in this process only: with several workers each has its own budget.
Requests without a bearer token are not counted here (they cost a 401 and nothing else), and the
health probes are never limited, so an orchestrator's checks cannot be starved by clients.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api.http.errors import error_response
from api.service.config import RateLimit
from api.service.errors import ApiError
from api.service.security import hash_token

EXEMPT_PATHS = frozenset({"/healthz", "/readyz"})
MAX_BUCKETS = 10_000
"""Buckets kept at most (least recently used dropped first): garbage tokens cannot grow memory."""

Clock = Callable[[], float]


class TokenBuckets:
    """One bucket per key, refilled continuously at ``limit.per_second`` up to ``limit.burst``."""

    def __init__(
        self, limit: RateLimit, clock: Clock = time.monotonic, max_buckets: int = MAX_BUCKETS
    ) -> None:
        self.limit = limit
        self.clock = clock
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, at)

    def take(self, key: str) -> float:
        """Spend one request: 0.0 when allowed, else the seconds until the next one would be."""
        now = self.clock()
        tokens, at = self._buckets.pop(key, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - at) * self.limit.per_second)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.limit.per_second
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_buckets:
            self._buckets.popitem(last=False)
        return wait


def bearer_token(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or None (absent, other scheme, empty)."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


def too_many_requests(retry_after: int) -> JSONResponse:
    return error_response(
        ApiError(
            429,
            "rate_limited",
            f"请求过于频繁，请 {retry_after} 秒后重试",
            f"too many requests for this token; retry after {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
    )


class RateLimitMiddleware:
    """Plain ASGI: counts every request that carries a bearer token, whatever route it asks for."""

    def __init__(self, app: ASGIApp, limit: RateLimit, clock: Clock = time.monotonic) -> None:
        self.app = app
        self.buckets = TokenBuckets(limit, clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") not in EXEMPT_PATHS:
            token = bearer_token(scope)
            if token is not None:
                wait = self.buckets.take(hash_token(token))
                if wait > 0:
                    await too_many_requests(max(1, math.ceil(wait)))(scope, receive, send)
                    return
        await self.app(scope, receive, send)
