"""Art. 6 marks: the judge who searched says, result by result, 类案 or 非类案 and why."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.http.deps import ClientDep, PrincipalDep, ServicesDep
from api.http.json_body import StrictJsonRoute
from api.http.schemas import DecisionsBody, DecisionsOut, RowId, control_character_notes
from api.service import marks
from retrieval.audit.records import Mark

router = APIRouter(prefix="/api/v1/searches", tags=["decisions"], route_class=StrictJsonRoute)


@router.post(
    "/{search_id}/decisions",
    response_model=DecisionsOut,
    summary="Mark results of a search 类案/非类案 with reasons (the searcher or their court's 院长/庭长; audited)",
)
def mark(
    search_id: RowId, body: DecisionsBody, principal: PrincipalDep, services: ServicesDep, client: ClientDep
) -> Any:
    decided = [Mark(m.doc_id, m.label.value, m.reason) for m in body.marks]
    answer = marks.mark_results(services, principal, client, search_id, decided)
    return {**answer, "input_notes": control_character_notes(body)}
