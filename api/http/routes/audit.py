"""Audit endpoints: records (scoped by role), export, periodic summary, the signed checkpoint, one record's proof."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.http.deps import ClientDep, PrincipalDep, ServicesDep
from api.http.schemas import AuditRecordsOut, IsoDateTime, RowId
from api.service import audit_access, audit_summary
from api.service.audit_access import MAX_PAGE, ExportFormat, RecordQuery
from api.service.receipts import receipt_headers
from retrieval.audit.summary_output import MEDIA_TYPES, SummaryFormat

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


Court = Annotated[str | None, Query(description="法院名称 (auditors: only their own)")]
User = Annotated[str | None, Query(description="user name (judges: only themselves)")]
CaseNumber = Annotated[str | None, Query(description="the pending case's 案号")]
TriggerQ = Annotated[str | None, Query(description="Art. 2 trigger")]
Kind = Annotated[str | None, Query(description="search, decision, report, export, summary, token, account")]
Since = Annotated[IsoDateTime | None, Query(description="from (inclusive), ISO 8601; UTC if no zone")]
Until = Annotated[IsoDateTime | None, Query(description="to (exclusive), ISO 8601; UTC if no zone")]


def record_query(
    court: Court = None,
    user: User = None,
    case_number: CaseNumber = None,
    trigger: TriggerQ = None,
    kind: Kind = None,
    since: Since = None,
    until: Until = None,
) -> RecordQuery:
    """The record filters that listing and export share, declared once."""
    return RecordQuery(court, user, case_number, trigger, kind, since, until)


RecordQueryDep = Annotated[RecordQuery, Depends(record_query)]


@router.get("/records", response_model=AuditRecordsOut, summary="Audit records visible to this account")
def records(
    principal: PrincipalDep,
    services: ServicesDep,
    query: RecordQueryDep,
    after: Annotated[int | None, Query(ge=-1, description="records after this seq (paging)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> Any:
    return audit_access.list_records(services, principal, query, after, limit)


@router.get(
    "/export",
    summary="Export records as JSON Lines or CSV (审判管理: own court; admin: all); audited",
    response_class=Response,
    responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}},
)
def export(
    principal: PrincipalDep,
    services: ServicesDep,
    client: ClientDep,
    query: RecordQueryDep,
    format: Annotated[ExportFormat, Query()] = ExportFormat.JSONL,
) -> Response:
    result = audit_access.export(services, principal, client, format, query)
    headers = {
        "Content-Disposition": f'attachment; filename="{result.filename}"',
        "X-Leian-Records": str(result.records),
    }
    if result.tree_size is not None:
        headers["X-Leian-Tree-Size"] = str(result.tree_size)
    headers |= receipt_headers(result.audit)
    return Response(result.content, media_type=result.media_type, headers=headers)


@router.get(
    "/summary",
    summary="Art. 13 periodic summary of mandatory searches (审判管理, 院长/庭长: own court); audited",
    response_class=Response,
    responses={
        200: {"content": {m: {} for m in MEDIA_TYPES.values()}},
        503: {"description": "audit log unavailable or failing verification: no figures are served"},
    },
)
def summary(
    principal: PrincipalDep,
    services: ServicesDep,
    client: ClientDep,
    first: Annotated[str, Query(alias="from", description="first day (included), YYYY-MM-DD, Beijing time")],
    last: Annotated[str, Query(alias="to", description="last day (included), YYYY-MM-DD, Beijing time")],
    court: Court = None,
    format: Annotated[SummaryFormat, Query()] = SummaryFormat.JSON,
) -> Response:
    result = audit_summary.summary(services, principal, client, court, first, last, format)
    headers = receipt_headers(result.audit)
    if format is not SummaryFormat.JSON:
        headers["Content-Disposition"] = f'attachment; filename="{result.filename}"'
    return Response(result.content, media_type=result.media_type, headers=headers)


@router.get(
    "/checkpoint",
    summary="The latest signed checkpoint as a checkpoint file (signs a new one if the log grew)",
)
def checkpoint(_principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    return services.checkpoint_file(services.current_checkpoint())


@router.get("/records/{seq}/proof", summary="Inclusion proof of one record and the checkpoint it leads to")
def proof(seq: RowId, principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    return audit_access.record_proof(services, principal, seq)
