"""Probes and metrics: ``/healthz`` (the process answers), ``/readyz`` (it can serve), ``/metrics``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from api.http.deps import ServicesDep, bearer_scheme, current_principal
from api.http.errors import error_body
from api.service.cluster import metadata_status, recall_status

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers (no authentication)")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: index loaded, audit log writable, signing key loaded")
def readyz(services: ServicesDep) -> JSONResponse:
    store = services.store
    checks: dict[str, Any] = {
        "index": {"ok": store is not None}
        | (
            {"build_id": store.version, "documents": store.size}
            if store is not None
            else {"error": services.index_problem}
        ),
        "audit": services.audit_status(),
        "accounts": services.accounts_status(),
        "signing_key": {"ok": services.signing_key is not None},
        "recall": recall_status(store, services.settings.backend),
        "metadata": metadata_status(store),
    }
    database = services.database
    if database is not None:
        checks["database"] = database.status()
    if all(c["ok"] for c in checks.values()):
        return JSONResponse({"status": "ready", "checks": checks})
    failing = [name for name, c in checks.items() if not c["ok"]]
    zh, en = "服务未就绪：" + "、".join(failing), "not ready: " + ", ".join(failing)
    headers = None
    if database is not None and not database.ready:
        zh += f"（数据库 {database.name} 无法使用：{database.problem or '尚未连接'}）"
        en += f" (database {database.name}: {database.problem or 'not opened yet'})"
        if not database.refused:
            headers = {"Retry-After": str(database.retry_in_s())}
    return JSONResponse(error_body("not_ready", zh, en, checks=checks), status_code=503, headers=headers)


@router.get(
    "/metrics",
    summary="Prometheus metrics (a token is required unless LEIAN_METRICS_PUBLIC)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
def metrics(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Response:
    if not services.settings.metrics_public:
        current_principal(services, credentials)
    return Response(services.metrics.render(), media_type=services.metrics.content_type)
