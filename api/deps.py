"""Dependencies injected into routes: the app's services, the authenticated caller, role checks.

Authentication is this one dependency, not checks scattered in handlers: a route that declares
``PrincipalDep`` (or ``require_roles``) cannot be reached without a valid, unexpired, unrevoked token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.accounts import Principal, Role
from api.errors import forbidden, unauthenticated
from api.services import Services

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
