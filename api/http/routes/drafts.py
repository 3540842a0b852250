"""文书辅助 (Art. 10): a draft paragraph answering a case cited by a party or the prosecution."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.http.deps import ClientDep, PrincipalDep, ServicesDep
from api.http.schemas import DraftBody, DraftOut, ErrorOut, RowId
from api.service import drafting

router = APIRouter(prefix="/api/v1/searches", tags=["drafts"])


@router.post(
    "/{search_id}/drafts",
    response_model=DraftOut,
    summary="Draft the reasoning paragraph on a cited case from the comparison and the judge's mark (audited)",
    responses={409: {"model": ErrorOut, "description": "the case is not marked 类案/非类案 yet"}},
)
def draft(
    search_id: RowId, body: DraftBody, principal: PrincipalDep, services: ServicesDep, client: ClientDep
) -> Any:
    return drafting.draft_answer(services, principal, client, search_id, body.doc_id, body.cited_by)
