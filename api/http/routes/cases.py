"""A corpus case: its full record, its related cases (关联案件), and cases similar to it (案例关联检索)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator

from api.http.deps import ClientDep, PrincipalDep, ServicesDep, require_roles
from api.http.schemas import CaseOut, JudgeTrigger, RelatedListOut, SearchOut, refuse_control_characters
from api.service import case_views, searching
from api.service.accounts import SEARCH_ROLES, Principal
from retrieval.control_characters import NO_CONTROL_PATTERN
from retrieval.guidance import Trigger

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])

Searcher = Annotated[Principal, Depends(require_roles(*sorted(SEARCH_ROLES)))]


@router.get(
    "/{doc_id}", response_model=CaseOut, summary="A case's full record (a withdrawn one is marked so)"
)
def get_case(doc_id: str, principal: PrincipalDep, services: ServicesDep) -> Any:
    return case_views.case_record(services, principal, doc_id)


@router.get(
    "/{doc_id}/related", response_model=RelatedListOut, summary="关联案件: same dispute, 串案, same party"
)
def get_related(doc_id: str, _principal: PrincipalDep, services: ServicesDep) -> Any:
    return case_views.case_related(services, doc_id)


@router.get(
    "/{doc_id}/similar",
    response_model=SearchOut,
    summary="案例关联检索 from this case (audited as a search, fail-closed)",
)
def get_similar(
    doc_id: str,
    principal: Searcher,
    services: ServicesDep,
    client: ClientDep,
    k: Annotated[int, Query(ge=1)] = 10,
    trigger: Annotated[JudgeTrigger, Query()] = Trigger.OTHER,
    case_number: Annotated[
        str | None,
        Query(
            max_length=64,
            description="the pending case's 案号",
            json_schema_extra={"pattern": NO_CONTROL_PATTERN},  # enforced, with a clearer message, below
        ),
        AfterValidator(refuse_control_characters),
    ] = None,
) -> Any:
    case_views.ensure_case_exists(services, doc_id)
    job = searching.similar_input(principal, doc_id, k, trigger, case_number)
    return searching.run_search(services, principal, client, job)
