"""POST /api/v1/searches: the mandatory search for a pending case, recorded before it is answered."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api import casework
from api.accounts import SEARCH_ROLES, Principal
from api.deps import ClientDep, PrincipalDep, ServicesDep, require_roles
from api.routes.schemas import ErrorOut, RowId, SearchBody, SearchOut, SearchSummaryOut

router = APIRouter(prefix="/api/v1/searches", tags=["searches"])

Searcher = Annotated[Principal, Depends(require_roles(*sorted(SEARCH_ROLES)))]


@router.post(
    "",
    response_model=SearchOut,
    summary="类案检索 for a pending case (tiers relative to the account's court; audited, fail-closed)",
    responses={
        422: {"model": ErrorOut, "description": "invalid field (named)"},
        503: {"model": ErrorOut, "description": "audit log unavailable"},
    },
)
def create_search(body: SearchBody, principal: Searcher, services: ServicesDep, client: ClientDep) -> Any:
    return casework.run_search(services, principal, client, casework.input_from_body(principal, body))


@router.get("/{search_id}", response_model=SearchSummaryOut, summary="A past search and its current marks")
def get_search(search_id: RowId, principal: PrincipalDep, services: ServicesDep) -> Any:
    return casework.search_summary(services, principal, search_id)
