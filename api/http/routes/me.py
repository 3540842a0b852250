"""The signed-in account, so that the web page can show who and which court a token stands for."""

from __future__ import annotations

from fastapi import APIRouter

from api.http.deps import PrincipalDep
from api.http.schemas import UserOut

router = APIRouter(prefix="/api/v1", tags=["accounts"])


@router.get("/me", response_model=UserOut, summary="The account of the bearer token")
def me(principal: PrincipalDep) -> UserOut:
    user = principal.user
    return UserOut(name=user.name, role=user.role.value, court=user.court, token_id=principal.token_id)
