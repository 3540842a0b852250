"""POST /api/v1/searches: the mandatory search for a pending case, recorded before it is answered."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.http.deps import ClientDep, PrincipalDep, ServicesDep, require_roles
from api.http.json_body import StrictJsonRoute
from api.http.schemas import (
    ErrorOut,
    RowId,
    SearchBody,
    SearchOut,
    SearchSummaryOut,
    control_character_notes,
)
from api.service import marks, searching
from api.service.accounts import SEARCH_ROLES, Principal
from api.service.searching import SearchInput, requesting_court
from retrieval.document import Party
from retrieval.request import KeywordQuery, SearchFilters, SearchRequest

router = APIRouter(prefix="/api/v1/searches", tags=["searches"], route_class=StrictJsonRoute)

Searcher = Annotated[Principal, Depends(require_roles(*sorted(SEARCH_ROLES)))]


def search_input(principal: Principal, body: SearchBody) -> SearchInput:
    """The request body as the service runs it; the requesting court is the account's, never the body's."""
    f = body.filters
    request = SearchRequest(
        facts=body.facts,
        case_number=body.case_number,
        requesting_court=requesting_court(principal),
        charges=[c for c in body.charges if c],
        articles=[a for a in body.articles if a],
        keywords=KeywordQuery(
            must=tuple(body.keywords.must),
            should=tuple(body.keywords.should),
            must_not=tuple(body.keywords.must_not),
            phrases=tuple(body.keywords.phrases),
        ),
        seed_doc_id=body.seed_case or None,
        filters=SearchFilters(
            date_from=f.date_from,
            date_to=f.date_to,
            court_levels=tuple(f.court_levels),
            provinces=tuple(f.provinces),
            categories=tuple(f.categories),
            causes=tuple(f.causes),
            include_uncitable=f.include_uncitable,
        ),
        methods=tuple(body.methods) if body.methods else None,
        k=body.k,
        include_dissimilar=body.include_dissimilar,
    )
    return SearchInput(
        request=request,
        case_number=body.case_number,
        trigger=body.trigger,
        trigger_note=body.trigger_note,
        dispute_focus=(body.dispute_focus or "").strip() or None,
        endpoint="searches",
        requested_methods=[m.value for m in body.methods] if body.methods else None,
        parties=[Party(p.name, p.role) for p in body.parties],
    )


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
    searching.check_facts_length(services, body.received_length("facts"))
    answer = searching.run_search(services, principal, client, search_input(principal, body))
    return {**answer, "input_notes": control_character_notes(body)}


@router.get("/{search_id}", response_model=SearchSummaryOut, summary="A past search and its current marks")
def get_search(search_id: RowId, principal: PrincipalDep, services: ServicesDep) -> Any:
    return marks.search_summary(services, principal, search_id)
