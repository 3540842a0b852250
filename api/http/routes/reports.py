"""类案检索报告: batches of pending cases (submit, poll, download) and the report of one past search."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, Response

from api.http.deps import ClientDep, PrincipalDep, ServicesDep, require_roles
from api.http.json_body import StrictJsonRoute
from api.http.report_schemas import (
    BatchBody,
    BatchListOut,
    BatchStatusOut,
    ReportFormatName,
    SearchReportFormatName,
    SummaryFormatName,
)
from api.http.schemas import RowId, control_character_notes
from api.service import reports as report_making
from api.service.accounts import SEARCH_ROLES, Principal
from api.service.receipts import receipt_headers
from api.service.report_batch.service import BatchService
from api.service.searching import check_facts_length

router = APIRouter(prefix="/api/v1", tags=["reports"], route_class=StrictJsonRoute)

Searcher = Annotated[Principal, Depends(require_roles(*sorted(SEARCH_ROLES)))]
FormatQ = Annotated[ReportFormatName, Query(description="docx, html, md or json")]


def get_batches(request: Request) -> BatchService:
    return request.app.state.report_batches


BatchesDep = Annotated[BatchService, Depends(get_batches)]


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@router.post(
    "/reports/batches",
    response_model=BatchStatusOut,
    status_code=202,
    summary="Submit pending cases: one audited search and one 类案检索报告 each, run in the background",
)
def submit_batch(body: BatchBody, principal: Searcher, batches: BatchesDep, client: ClientDep) -> Any:
    for i, case in enumerate(body.cases):
        check_facts_length(batches.services, case.received_length("facts"), f"cases.{i}.facts")
    cases = [case.model_dump(exclude_none=True) for case in body.cases]
    answer = batches.submit(principal, client, cases, body.trigger, body.k)
    return {**answer, "input_notes": control_character_notes(body)}


@router.get("/reports/batches", response_model=BatchListOut, summary="Batches this account may read")
def list_batches(principal: PrincipalDep, batches: BatchesDep) -> Any:
    return {"batches": batches.list(principal)}


@router.get(
    "/reports/batches/{batch_id}",
    response_model=BatchStatusOut,
    summary="A batch's progress and its finished cases (the owner and their court's 审判管理)",
)
def batch_status(batch_id: str, principal: PrincipalDep, batches: BatchesDep) -> Any:
    return batches.status(principal, batch_id)


@router.get(
    "/reports/batches/{batch_id}/reports/{item}",
    response_class=FileResponse,
    summary="One case's report (item: the case's 1-based position in the batch)",
)
def batch_report(
    batch_id: str,
    item: Annotated[int, Path(ge=1)],
    principal: PrincipalDep,
    batches: BatchesDep,
    format: FormatQ = ReportFormatName.DOCX,
) -> FileResponse:
    path, media_type, name = batches.report_file(principal, batch_id, item, format.value)
    return FileResponse(path, media_type=media_type, headers=_attachment(name))


@router.get(
    "/reports/batches/{batch_id}/summary",
    response_class=Response,
    summary="The summary table (one row per case) as CSV or XLSX",
)
def batch_summary(
    batch_id: str,
    principal: PrincipalDep,
    batches: BatchesDep,
    format: Annotated[SummaryFormatName, Query()] = SummaryFormatName.CSV,
) -> Response:
    content, media_type, name = batches.summary(principal, batch_id, format.value)
    return Response(content, media_type=media_type, headers=_attachment(name))


@router.get(
    "/searches/{search_id}/report",
    response_class=Response,
    summary="The 类案检索报告 of a past search, rebuilt from its audit record (audited as a report)",
    responses={
        409: {"description": "the index has changed since the search: its results cannot be replayed"},
        501: {"description": "PDF asked for where LibreOffice is not installed"},
    },
)
def search_report(
    search_id: RowId,
    principal: PrincipalDep,
    services: ServicesDep,
    client: ClientDep,
    format: Annotated[
        SearchReportFormatName, Query(description="docx, html, md, json, or pdf (needs LibreOffice)")
    ] = SearchReportFormatName.DOCX,
) -> Response:
    rendered = report_making.search_report(services, principal, client, search_id, format.value)
    headers = _attachment(rendered.filename) | receipt_headers(rendered.audit)
    return Response(rendered.content, media_type=rendered.media_type, headers=headers)
