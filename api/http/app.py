"""The app factory: ``create_app(settings)`` assembles routers, middleware and the lifespan.

Everything expensive (the index, the audit log, the signing key) is opened once in the lifespan,
never per request. Middleware order, outermost first: metrics (counts every answer, 413s included),
security headers, body limit, CORS only when origins are configured (closed by default), then the
per-token rate limit (inside CORS, so that an allowed origin can read its 429).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from api.http import errors
from api.http.deps import known_query_only
from api.http.middleware import BodyLimitMiddleware, MetricsMiddleware, SecurityHeadersMiddleware
from api.http.openapi_limits import declare_limits
from api.http.rate_limit import RateLimitMiddleware
from api.http.routes import audit, cases, decisions, drafts, health, me, pending, reports, search
from api.http.schemas import ERROR_RESPONSES
from api.service.config import Settings
from api.service.metrics import Metrics
from api.service.push.service import PushService
from api.service.report_batch.service import BatchService
from api.service.runtime import Services

STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings if settings is not None else Settings.from_env()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await anyio.to_thread.run_sync(Services.start, settings, metrics)
        app.state.services = services
        app.state.report_batches = BatchService(services)
        app.state.report_batches.resume_unfinished()  # batches a restart cut short go on
        app.state.push = PushService(services)  # 智能推送: watches for new builds, delivers webhooks
        app.state.push.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(app.state.push.close)
            await anyio.to_thread.run_sync(app.state.report_batches.close)
            services.close()

    app = FastAPI(
        title="leian 类案强制检索",
        summary="Mandatory similar-case search for courts, with a tamper-evident audit log",
        version="1.0",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        responses=ERROR_RESPONSES,
        dependencies=[Depends(known_query_only)],
    )
    app.state.settings = settings
    declare_limits(app, settings)
    errors.install(app)
    for router in (search.router, decisions.router, cases.router, audit.router, me.router, health.router):
        app.include_router(router)
    app.include_router(reports.router)
    app.include_router(drafts.router)
    app.include_router(pending.router)

    @app.get("/", include_in_schema=False)
    def index_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    if settings.rate_limit is not None:
        app.add_middleware(RateLimitMiddleware, limit=settings.rate_limit)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After"],
        )
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware)  # outside the limit: a 413 carries the headers too
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
