"""The service's casework: a mandatory search recorded before it is shown, Art. 6 marks, case views.

Retrieval itself is ``retrieval.search`` and ``retrieval.related``; this module turns an HTTP
request into a ``SearchRequest`` (with the account's court), writes the audit record, and shapes the
answer. The order inside ``run_search`` is the point of the service: search → audit record → ledger
→ response. Nothing reaches the caller unless the record was written (fail-closed).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from api.service.accounts import Principal
from api.service.errors import ApiError, invalid
from api.service.runtime import Services
from retrieval.audit.records import (
    KEYWORD_FIELDS,
    BatchRef,
    RankedResult,
    SearchRecord,
    utc_timestamp,
)
from retrieval.audit.store import AppendResult
from retrieval.citation import citation, uncitable_reason
from retrieval.document import Court, Document, Party
from retrieval.guidance import Trigger
from retrieval.index_store import IndexStore
from retrieval.parsing.courts import parse_court
from retrieval.query_plan import UnknownSeedCase
from retrieval.related import RelatedLink, find_related_for_pending
from retrieval.report.model import explanation_json, snapshot
from retrieval.request import Method, SearchFilters, SearchRequest
from retrieval.search import SearchResponse, SearchResult, search
from retrieval.tiers import Tier

NO_SIMILAR_CASE = "未检索到类案"
"""What a tier says when none of its results reaches the similarity floor (search.SIMILARITY_FLOOR)."""

# ValueError messages of retrieval name the field of SearchRequest; the API's name may differ.
_API_FIELD = {"seed_doc_id": "seed_case"}


@dataclass
class SearchInput:
    """A search as the service runs it: the retrieval request plus what only the record needs."""

    request: SearchRequest
    case_number: str | None
    trigger: Trigger
    trigger_note: str | None
    endpoint: str
    requested_methods: list[str] | None
    parties: list[Party] = field(default_factory=list)
    batch: BatchRef | None = None  # a report batch's id and item, recorded so a resume finds it
    dispute_focus: str | None = None  # 争议焦点: kept in the record, so the search's report has it


@dataclass
class ExecutedSearch:
    """A search that was run and recorded: the retrieval response and where its record sits."""

    response: SearchResponse
    related: list[dict[str, Any]]
    appended: AppendResult
    timings: dict[str, float]


@contextlib.contextmanager
def ledger_errors() -> Iterator[None]:
    """The audit record is written but the ledger is not: refuse to answer rather than answer half."""
    try:
        yield
    except sqlite3.Error as exc:
        raise ApiError(
            503,
            "accounts_unavailable",
            "账户数据库暂不可用，请稍后重试",
            "the accounts database is unavailable; retry later",
        ) from exc


def requesting_court(principal: Principal) -> Court | None:
    """Art. 4 tiers are relative to the court of the account that searches, never to the request."""
    return parse_court(principal.user.court) if principal.user.court else None


def check_limits(services: Services, k: int, facts: str) -> None:
    settings = services.settings
    if k > settings.max_k:
        raise invalid("k", f"不得超过 {settings.max_k}", f"must be at most {settings.max_k}")
    check_facts_length(services, len(facts))


def check_facts_length(services: Services, length: int, field_name: str = "facts") -> None:
    """Facts longer than ``LEIAN_MAX_FACTS_CHARS`` are refused (422 naming ``field_name``). The HTTP
    routes call it with the length as received, before control characters were removed, since that
    is what the OpenAPI schema's maxLength states."""
    limit = services.settings.max_facts_chars
    if length > limit:
        raise invalid(field_name, f"不得超过 {limit} 字", f"at most {limit} characters")


def similar_input(
    principal: Principal, doc_id: str, k: int, trigger: Trigger, case_number: str | None
) -> SearchInput:
    """案例关联检索 from a corpus case: the case is the query; it is audited like any search."""
    request = SearchRequest(
        case_number=case_number,
        requesting_court=requesting_court(principal),
        seed_doc_id=doc_id,
        methods=(Method.CASE,),
        k=k,
    )
    return SearchInput(request, case_number, trigger, None, "cases/similar", [Method.CASE.value])


def _filters_json(filters: SearchFilters) -> dict[str, Any]:
    return {
        "date_from": filters.date_from.isoformat() if filters.date_from else None,
        "date_to": filters.date_to.isoformat() if filters.date_to else None,
        "court_levels": [lv.value for lv in filters.court_levels],
        "provinces": list(filters.provinces),
        "categories": [c.value for c in filters.categories],
        "causes": list(filters.causes),
        "include_uncitable": filters.include_uncitable,
    }


def court_json(court: Court | None) -> dict[str, Any] | None:
    if court is None:
        return None
    return {
        "name": court.name,
        "level": court.level.value if court.level else None,
        "province": court.province,
    }


def _retrieval_error(exc: ValueError) -> ApiError:
    message = str(exc)
    name, sep, rest = message.partition(":")
    if sep and name and " " not in name.strip():
        api_name = _API_FIELD.get(name.strip(), name.strip())
        return invalid(api_name, rest.strip(), rest.strip())
    return ApiError(422, "validation_error", f"请求参数有误：{message}", message)


def search_record(
    services: Services, job: SearchInput, response: SearchResponse, related: list[RelatedLink]
) -> SearchRecord:
    """The audit record of a search: the request as run, the index and model it ran on, the results."""
    request = job.request
    index = services.index_facts()
    embedder = index["embedder"]
    vector_index = services.index().ann
    keywords = request.keywords
    return SearchRecord(
        trigger=job.trigger.value,
        case_number=job.case_number,
        methods=tuple(str(m) for m in response.methods),
        query=request.facts,
        results=tuple(
            RankedResult(
                doc_id=r.document.doc_id,
                tier=int(r.tier) if r.tier is not None else None,
                score=round(float(r.score), 6),
                effect=r.effect,
            )
            for r in response.results
        ),
        keywords={name: tuple(getattr(keywords, name)) for name in KEYWORD_FIELDS},
        articles=tuple(request.articles),
        seed=request.seed_doc_id,
        filters=_filters_json(request.filters),
        index_version=index["build_id"],
        manifest_sha256=index["manifest_sha256"],
        index_documents=int(index["documents"]),
        embedder=f"{embedder.get('name')}@sha256:{embedder.get('sha256')}",
        ann={
            "factory": vector_index.get("factory"),
            "metric": vector_index.get("metric"),
            "params": dict(vector_index.get("params") or {}),
            "ntotal": vector_index.get("ntotal"),
        },
        endpoint=job.endpoint,
        trigger_note=job.trigger_note,
        requesting_court=court_json(request.requesting_court),
        requested_methods=tuple(job.requested_methods) if job.requested_methods is not None else None,
        charges=tuple(request.charges),
        causes_used=tuple(response.causes_used),
        causes_predicted=response.causes_predicted,
        k=request.k,
        parties=tuple({"name": p.name, "role": p.role} for p in job.parties),
        related=tuple({"doc_id": link.doc_id, "kind": link.kind.value} for link in related),
        batch=job.batch,
        shown=snapshot(response.results),
        dispute_focus=job.dispute_focus,
    )


def document_summary(doc: Document) -> dict[str, Any]:
    auth = doc.authority
    return {
        "doc_id": doc.doc_id,
        "title": doc.title,
        "case_number": doc.case_number,
        "court": court_json(doc.court),
        "decision_date": doc.decision_date.isoformat() if doc.decision_date else None,
        "doc_type": doc.doc_type,
        "category": doc.category.value if doc.category else None,
        "causes": list(doc.causes),
        "authority": {
            "kind": auth.kind.value,
            "number": auth.number,
            "published": auth.published.isoformat() if auth.published else None,
            "withdrawn": auth.withdrawn,
            "withdrawn_reason": auth.withdrawn_reason,
        },
        "holding": doc.holding,
        "citation": citation(doc),
    }


def _result_json(rank: int, result: SearchResult) -> dict[str, Any]:
    return {
        "rank": rank,
        **document_summary(result.document),
        "tier": int(result.tier) if result.tier is not None else None,
        "tier_label": result.tier.label if result.tier is not None else None,
        "recent": result.recent,
        "effect": result.effect,
        "score": round(float(result.score), 6),
        "methods": dict(result.methods),
        "explanation": explanation_json(result),
        "uncitable_missing": uncitable_reason(result.document),
        "citable": not uncitable_reason(result.document),
    }


def related_json(store: IndexStore, links: list[RelatedLink]) -> list[dict[str, Any]]:
    titles = store.titles(link.doc_id for link in links)
    return [
        {
            "doc_id": link.doc_id,
            "kind": link.kind.value,
            "reason": link.reason,
            "evidence": list(link.evidence),
            "stage": link.stage.value if link.stage else None,
            "case_number": link.case_number,
            "withdrawn": link.withdrawn,
            "title": titles.get(link.doc_id),
        }
        for link in links
    ]


def receipt(result: AppendResult) -> dict[str, Any]:
    """Where the record sits, plus its signed receipt (``retrieval.audit.receipts``) when the key is loaded."""
    signed = result.receipt.to_dict() if result.receipt is not None else {}
    return {
        **signed,
        "seq": result.seq,
        "leaf_hash": result.leaf_hash,
        "tree_size": result.tree_size,
        "root": result.root,
    }


def execute_search(
    services: Services, principal: Principal, client: str | None, job: SearchInput
) -> ExecutedSearch:
    """Search, then record (audit log, then ledger); raises ApiError (422, 503) before anything is shown."""
    store = services.index()
    check_limits(services, job.request.k, job.request.facts)
    try:
        job.request.validate()
    except ValueError as exc:
        raise _retrieval_error(exc) from exc
    # The search and the related cases are one visit to the store: one caller at a time.
    with store.exclusive():
        try:
            response = search(store, job.request)
        except UnknownSeedCase as exc:
            raise invalid("seed_case", "索引中没有该案例", str(exc)) from exc
        except ValueError as exc:
            raise _retrieval_error(exc) from exc
        clock = time.perf_counter()
        related = (
            find_related_for_pending(
                store,
                case_number=job.case_number,
                parties=job.parties,
                court=job.request.requesting_court,
                text=job.request.facts,
            )
            if job.case_number or job.parties or job.request.facts
            else []
        )
        related_ms = (time.perf_counter() - clock) * 1000
        related_out = related_json(store, related)
    timings = {**response.timings_ms, "related": round(related_ms, 2)}

    appended = services.record(principal, client, search_record(services, job, response, related))
    with ledger_errors():
        services.accounts.ledger.record_search(
            appended.seq,
            principal.user,
            job.case_number,
            job.trigger.value,
            utc_timestamp(),
            [r.document.doc_id for r in response.results],
        )
    services.metrics.observe_search(timings)
    return ExecutedSearch(response, related_out, appended, timings)


def run_search(
    services: Services, principal: Principal, client: str | None, job: SearchInput
) -> dict[str, Any]:
    """Search, record, then answer; raises ApiError (422, 503) before anything is answered."""
    executed = execute_search(services, principal, client, job)
    response, appended = executed.response, executed.appended
    groups: dict[int, dict[str, Any]] = {}
    for rank, result in enumerate(response.results, start=1):
        tier = result.tier if result.tier is not None else Tier.OTHER
        group = groups.setdefault(int(tier), {"tier": int(tier), "label": tier.label, "results": []})
        group["results"].append(_result_json(rank, result))
    first = response.first_tier_with_results
    return {
        "search_id": appended.seq,
        "audit": receipt(appended),
        "case_number": job.case_number,
        "trigger": job.trigger.value,
        "requesting_court": court_json(job.request.requesting_court),
        "methods": response.methods,
        "causes_used": response.causes_used,
        "causes_predicted": response.causes_predicted,
        "predicted_causes": [p.to_dict() for p in response.predicted_causes],
        "first_tier_with_results": int(first) if first is not None else None,
        "tier_counts": {str(t): n for t, n in response.tier_counts.items()},
        # Every tier's name, so that a page can show an empty tier as 未检索到 (Art. 4 lists all four).
        "tier_labels": {str(int(t)): t.label for t in Tier},
        "result_count": len(response.results),
        "tiers": [groups[t] for t in sorted(groups)],
        "no_similar_case": [
            {"tier": int(t), "label": t.label, "message": NO_SIMILAR_CASE}
            for t in response.tiers_without_similar
        ],
        "similarity_floor": response.similarity_floor,
        "below_floor": response.below_floor,
        "related": executed.related,
        "index": services.index_facts(),
        "timings_ms": executed.timings,
    }
