"""A 类案检索报告 from a recorded search: the batch's and ``GET /searches/{id}/report``'s one way to make one.

A report is always tied to the audit record of its search: the record gives the 检索主体 (its
actor), the 检索时间 (its timestamp, shown in China time), the trigger, the query and the ranked
results, and its seq and leaf hash go into the report so that a printed page can be traced to the
log. Right after a search the live response is used; later (a resumed batch, a report asked for a
past search) the report is made from the record's snapshot of what the judge was shown, whatever
the index has become since, noting any shown case the current index now holds as withdrawn. A
record without a snapshot (made before snapshots existed) is replayed on the same index build
(``retrieval.report.replay``), never searched again. Marks (Art. 6) come from the ledger as they
stand when the report is made.

Producing a report is itself recorded (kind ``report``) once the document exists, before it is
written or served: a document that cannot be made leaves no record of a report.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from api.service.accounts import Principal, User
from api.service.errors import ApiError, audit_tampered, audit_unavailable
from api.service.marks import no_such_search, visible_search
from api.service.runtime import Services, actor_on_court
from api.service.searching import ledger_errors
from retrieval.audit.records import Actor, AuditRecord, BatchRef, RecordKind, ReportRecord, SearchRecord
from retrieval.audit.store import AppendResult, AuditTampered, AuditUnavailable
from retrieval.report import RetrievalReport, build_report
from retrieval.report.files import report_format
from retrieval.report.model import SearchShown
from retrieval.report.render_pdf import PdfUnavailable
from retrieval.report.replay import (
    ReplayError,
    record_time,
    replay_search,
    request_of,
    shown_search,
    withdrawn_since,
)
from retrieval.request import SearchRequest
from retrieval.search import SearchResponse

log = logging.getLogger("leian.api")


@dataclass(frozen=True)
class RenderedReport:
    content: bytes
    media_type: str
    filename: str
    audit: AppendResult | None = None  # the report record, whose receipt the answer carries


def pdf_unavailable() -> ApiError:
    return ApiError(
        501,
        "pdf_unavailable",
        "本服务器未安装 LibreOffice，无法生成 PDF 报告，请下载 DOCX 版本",
        "PDF reports need LibreOffice (soffice), which is not installed on this server; download the DOCX",
    )


def report_unavailable(exc: ReplayError) -> ApiError:
    return ApiError(
        409,
        "report_unavailable",
        "该次检索的结果无法按原样重现（索引已更新），不能生成报告",
        f"the search cannot be reproduced as recorded: {exc}",
    )


def read_search_record(services: Services, seq: int) -> tuple[AuditRecord, str]:
    """The search record ``seq`` and its leaf hash; 404 when there is no search record of that seq."""
    try:
        record, leaf_hash = services.audit_log().read(seq)
    except KeyError:
        raise no_such_search(seq) from None
    except AuditTampered as exc:
        services.flag_tampered(str(exc))
        raise audit_tampered(services.tampered or "") from exc
    except AuditUnavailable as exc:
        raise audit_unavailable() from exc
    if record.kind != RecordKind.SEARCH:
        raise no_such_search(seq)  # the same answer as a missing id
    return record, leaf_hash


def marks_of(services: Services, search_id: int) -> dict[str, tuple[str, str]]:
    with ledger_errors():
        return {d.doc_id: (d.label, d.reason) for d in services.accounts.ledger.decisions(search_id)}


def report_for_record(
    services: Services,
    record: AuditRecord,
    leaf_hash: str,
    *,
    live: tuple[SearchResponse, SearchRequest] | None = None,
    dispute_focus: str | None = None,
) -> RetrievalReport:
    """The report of search record ``record``; ReplayError when it must be replayed and cannot be."""
    searched = SearchRecord.from_payload(record.payload)
    searched_at = record_time(record.at)
    store = services.index()
    shown: SearchShown | None = shown_search(searched) if live is None else None
    with store.exclusive():
        if live is not None:
            response: SearchResponse | SearchShown = live[0]
            request: SearchRequest | None = live[1]
        elif shown is not None:
            response, request = shown, request_of(searched)
        else:
            response, request = replay_search(store, searched, searched_at)
        # The live response is the index as it is; a snapshot may predate a withdrawal.
        gone = withdrawn_since(store, list(searched.doc_ids)) if live is None else {}
    actor = record.actor
    return build_report(
        response,
        withdrawn_since=gone,
        request=request,
        pending_case_number=searched.case_number,
        pending_facts=searched.query,
        dispute_focus=dispute_focus or searched.dispute_focus,
        judge={"name": actor.user, "court": actor.court or "", "role": actor.role},
        searched_at=searched_at,
        audit_search_id=record.seq,
        audit_hash=leaf_hash,
        marks=marks_of(services, record.seq),
        trigger=searched.trigger or None,
    )


def record_report(
    services: Services,
    who: Principal | Actor,
    client: str | None,
    record: AuditRecord,
    formats: Iterable[str],
    *,
    via: str,
    batch: BatchRef | None = None,
) -> AppendResult:
    """The ``report`` audit record: which search the report was made from, in which formats, how."""
    searched = SearchRecord.from_payload(record.payload)
    made = ReportRecord(
        search_id=record.seq,
        case_number=searched.case_number,
        trigger=searched.trigger or None,
        formats=tuple(formats),
        via=via,
        batch=batch,
    )
    return services.record(who, client, made)


def ensure_ledger_entry(services: Services, user: User, record: AuditRecord) -> None:
    """Put a recorded search into the ledger if a kill came between the two writes (it is then markable)."""
    with ledger_errors():
        if services.accounts.ledger.search(record.seq) is None:
            searched = SearchRecord.from_payload(record.payload)
            services.accounts.ledger.record_search(
                record.seq, user, searched.case_number, searched.trigger, record.at, searched.doc_ids
            )


def search_report(
    services: Services, principal: Principal, client: str | None, search_id: int, fmt: str
) -> RenderedReport:
    """GET /searches/{id}/report: whoever may see the search gets its report, rendered from the record."""
    chosen = report_format(fmt)
    entry = visible_search(services, principal, search_id)
    record, leaf_hash = read_search_record(services, search_id)
    try:
        report = report_for_record(services, record, leaf_hash)
    except ReplayError as exc:
        raise report_unavailable(exc) from exc
    try:
        content = chosen.render(report)  # made before it is recorded: no record of a report never made
    except PdfUnavailable as exc:
        log.warning("PDF report refused: %s", exc)
        raise pdf_unavailable() from exc
    who = actor_on_court(principal, entry.court)
    appended = record_report(services, who, client, record, [chosen.name], via="api")
    return RenderedReport(content, chosen.media_type, f"leian-report-{search_id}{chosen.suffix}", appended)
