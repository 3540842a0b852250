"""Dependencies injected into routes: the app's services, the authenticated caller, role checks, and
the refusal of query parameters an operation does not declare (applied to every route by the app).

Authentication is this one dependency, not checks scattered in handlers: a route that declares
``PrincipalDep`` (or ``require_roles``) cannot be reached without a valid, unexpired, unrevoked token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.service.accounts import Principal, Role
from api.service.errors import ApiError, forbidden, unauthenticated
from api.service.runtime import Services

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="API token from `leian token issue` (sent as `Authorization: Bearer <token>`)",
)


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def current_principal(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise unauthenticated("Authorization: Bearer <token> is required")
    principal = services.accounts.authenticate(credentials.credentials)
    if principal is None:
        raise unauthenticated()
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role) -> Callable[[Principal], Principal]:
    allowed = frozenset(roles)
    names = "、".join(r.value for r in roles)

    def check(principal: PrincipalDep) -> Principal:
        if principal.user.role not in allowed:
            raise forbidden(
                f"此操作仅限以下角色：{names}", f"only for roles: {', '.join(r.value for r in roles)}"
            )
        return principal

    return check


def client_address(request: Request) -> str | None:
    """The peer address as the server saw it (uvicorn's --proxy-headers decides whether to trust X-Forwarded-For)."""
    return request.client.host if request.client else None


ClientDep = Annotated[str | None, Depends(client_address)]


def known_query_only(request: Request) -> None:
    """Unknown query parameters are refused (422), as unknown body fields are.

    ``?court=`` sent to an audited search, or a misspelt filter on an export, must be answered, not
    silently ignored while the request goes on as if it had not been sent.
    """
    route = request.scope.get("route")
    declared = _query_parameters(request.app).get((request.method, getattr(route, "path", "")))
    if declared is None:
        return
    unknown = sorted(set(request.query_params) - declared)
    if unknown:
        shown = [name or '""' for name in unknown]
        raise ApiError(
            422,
            "validation_error",
            f"请求参数有误：{'、'.join(shown)} 不是该接口的参数",
            f"unknown query parameter(s): {', '.join(shown)}",
            fields=unknown,
        )


def _query_parameters(app: FastAPI) -> dict[tuple[str, str], frozenset[str]]:
    """(method, path template) → the query parameters its OpenAPI operation declares; built once."""
    known = getattr(app.state, "query_parameters", None)
    if known is None:
        known = {
            (method.upper(), path): frozenset(
                p["name"] for p in op.get("parameters", []) if p["in"] == "query"
            )
            for path, item in app.openapi()["paths"].items()
            for method, op in item.items()
        }
        app.state.query_parameters = known
    return known
