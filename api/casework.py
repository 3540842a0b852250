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

from api.accounts import Principal, Role, SearchEntry
from api.errors import ApiError, forbidden, invalid, not_found
from api.routes.schemas import DecisionsBody, SearchBody, Trigger
from api.services import Services
from retrieval.audit.records import search_payload, utc_timestamp
from retrieval.audit.store import AppendResult
from retrieval.document import Court, Document, Party
from retrieval.index_store import IndexStore
from retrieval.parsing.courts import parse_court
from retrieval.query_plan import UnknownSeedCase
from retrieval.related import RelatedLink, find_related, find_related_for_pending
from retrieval.request import KeywordQuery, Method, SearchFilters, SearchRequest
from retrieval.search import SearchResponse, SearchResult, search
from retrieval.tiers import Tier, assign_tier, effect_label

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
    batch: dict[str, Any] | None = None  # a report batch's id and item, recorded so a resume finds it


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
    if len(facts) > settings.max_facts_chars:
        raise invalid(
            "facts",
            f"不得超过 {settings.max_facts_chars} 字",
            f"at most {settings.max_facts_chars} characters",
        )


def input_from_body(principal: Principal, body: SearchBody) -> SearchInput:
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
        ),
        methods=tuple(body.methods) if body.methods else None,
        k=body.k,
    )
    return SearchInput(
        request=request,
        case_number=body.case_number,
        trigger=body.trigger,
        trigger_note=body.trigger_note,
        endpoint="searches",
        requested_methods=[m.value for m in body.methods] if body.methods else None,
        parties=[Party(p.name, p.role) for p in body.parties],
    )


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


def _search_payload(
    services: Services, job: SearchInput, response: SearchResponse, related: list[RelatedLink]
) -> dict[str, Any]:
    request = job.request
    index = services.index_facts()
    embedder = index["embedder"]
    vector_index = services.index().ann
    payload = search_payload(
        trigger=job.trigger.value,
        case_number=job.case_number,
        methods=response.methods,
        query=request.facts,
        results=[
            {
                "doc_id": r.document.doc_id,
                "tier": int(r.tier) if r.tier is not None else None,
                "score": round(float(r.score), 6),
                "effect": r.effect,
            }
            for r in response.results
        ],
        keywords={
            "must": list(request.keywords.must),
            "should": list(request.keywords.should),
            "must_not": list(request.keywords.must_not),
            "phrases": list(request.keywords.phrases),
        },
        articles=list(request.articles),
        seed=request.seed_doc_id,
        filters=_filters_json(request.filters),
        index_version=index["build_id"],
        manifest_sha256=index["manifest_sha256"],
        embedder=f"{embedder.get('name')}@sha256:{embedder.get('sha256')}",
        ann={
            "factory": vector_index.get("factory"),
            "metric": vector_index.get("metric"),
            "params": dict(vector_index.get("params") or {}),
            "ntotal": vector_index.get("ntotal"),
        },
    )
    payload.update(
        {
            "endpoint": job.endpoint,
            "trigger_note": job.trigger_note,
            "requesting_court": court_json(request.requesting_court),
            "requested_methods": job.requested_methods,
            "charges": list(request.charges),
            "causes_used": list(response.causes_used),
            "causes_predicted": response.causes_predicted,
            "k": request.k,
            "parties": [{"name": p.name, "role": p.role} for p in job.parties],
            "related": [{"doc_id": link.doc_id, "kind": link.kind.value} for link in related],
        }
    )
    if job.batch is not None:
        payload["batch"] = dict(job.batch)
    return payload


def _explanation_json(result: SearchResult) -> dict[str, Any] | None:
    if result.explanation is None:
        return None
    data = result.explanation.to_dict()
    passages: list[dict[str, Any]] = data["passages"]  # type: ignore[assignment]
    data["passages"] = [{**p, "highlights": [list(h) for h in p["highlights"]]} for p in passages]
    return data


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
        "explanation": _explanation_json(result),
    }


def related_json(store: IndexStore, links: list[RelatedLink]) -> list[dict[str, Any]]:
    rows = {link.doc_id: store.metadata.row_of(link.doc_id) for link in links}
    docs = store.metadata.documents(r for r in rows.values() if r is not None)
    return [
        {
            "doc_id": link.doc_id,
            "kind": link.kind.value,
            "reason": link.reason,
            "evidence": list(link.evidence),
            "stage": link.stage.value if link.stage else None,
            "case_number": link.case_number,
            "withdrawn": link.withdrawn,
            "title": docs[row].title if (row := rows.get(link.doc_id)) is not None and row in docs else None,
        }
        for link in links
    ]


def receipt(result: AppendResult) -> dict[str, Any]:
    return {
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
    # The IndexStore shares one SQLite connection and one FAISS index: one search at a time.
    with services.search_lock:
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

    appended = services.record("search", principal, client, _search_payload(services, job, response, related))
    with ledger_errors():
        services.accounts.record_search(
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
        "result_count": len(response.results),
        "tiers": [groups[t] for t in sorted(groups)],
        "related": executed.related,
        "index": services.index_facts(),
        "timings_ms": executed.timings,
    }


# -- Art. 6 marks ---------------------------------------------------------------------------------


def may_see_search(principal: Principal, entry: SearchEntry) -> bool:
    user = principal.user
    if user.role is Role.ADMIN or user.id == entry.user_id:
        return True
    return (
        user.role in (Role.PRESIDENT, Role.AUDITOR) and user.court is not None and user.court == entry.court
    )


def may_mark(principal: Principal, entry: SearchEntry) -> bool:
    """The judge who searched, or a 院长/庭长 of the same court (who may direct the comparison)."""
    user = principal.user
    if user.id == entry.user_id:
        return True
    return user.role is Role.PRESIDENT and user.court is not None and user.court == entry.court


def find_search(services: Services, search_id: int) -> SearchEntry:
    entry = services.accounts.search(search_id)
    if entry is None:
        raise not_found(f"没有编号为 {search_id} 的检索", f"no search {search_id}")
    return entry


def mark_results(
    services: Services, principal: Principal, client: str | None, search_id: int, body: DecisionsBody
) -> dict[str, Any]:
    entry = find_search(services, search_id)
    if not may_mark(principal, entry):
        raise forbidden(
            "只有发起检索的法官或本院院长/庭长可以标注",
            "only the user who searched, or their court's president, may mark",
        )
    for i, mark in enumerate(body.marks):
        if mark.doc_id not in entry.doc_ids:
            raise invalid(
                f"marks.{i}.doc_id",
                f"{mark.doc_id} 不在该次检索结果中",
                f"{mark.doc_id} is not a result of search {search_id}",
            )
    marks = [(m.doc_id, m.label.value, m.reason) for m in body.marks]
    appended = services.record(
        "decision",
        principal,
        client,
        {
            "search_id": search_id,
            "case_number": entry.case_number,
            "trigger": entry.trigger,
            "searched_by": entry.user_name,
            "marks": [{"doc_id": d, "label": lab, "reason": r} for d, lab, r in marks],
        },
    )
    with ledger_errors():
        saved = services.accounts.record_decisions(
            search_id, principal.user, marks, utc_timestamp(), appended.seq
        )
    return {"search_id": search_id, "audit": receipt(appended), "decisions": [d.to_dict() for d in saved]}


def search_summary(services: Services, principal: Principal, search_id: int) -> dict[str, Any]:
    entry = find_search(services, search_id)
    if not may_see_search(principal, entry):
        raise forbidden("无权查看该次检索", "not allowed to see this search")
    return {
        "search_id": entry.search_id,
        "user": entry.user_name,
        "role": entry.role,
        "court": entry.court,
        "case_number": entry.case_number,
        "trigger": entry.trigger,
        "at": entry.at,
        "doc_ids": entry.doc_ids,
        "decisions": [d.to_dict() for d in services.accounts.decisions(search_id)],
    }


# -- case views -----------------------------------------------------------------------------------


def case_record(services: Services, principal: Principal, doc_id: str) -> dict[str, Any]:
    store = services.index()
    with services.search_lock:
        row = store.metadata.row_of(doc_id)
        doc = store.metadata.document(row) if row is not None else None
    if doc is None:
        raise not_found(f"索引中没有文书 {doc_id}", f"no document {doc_id!r} in the index")
    tier = assign_tier(doc, requesting_court(principal))
    return {
        "document": doc.to_dict(),
        "withdrawn": doc.authority.withdrawn,
        "citable": not doc.authority.withdrawn,
        "effect": effect_label(doc),
        "tier": int(tier),
        "tier_label": tier.label,
    }


def case_related(services: Services, doc_id: str) -> dict[str, Any]:
    store = services.index()
    try:
        with services.search_lock:
            links = find_related(store, doc_id)
            out = related_json(store, links)
    except KeyError as exc:
        raise not_found(f"索引中没有文书 {doc_id}", f"no document {doc_id!r} in the index") from exc
    return {"doc_id": doc_id, "related": out}


def ensure_case_exists(services: Services, doc_id: str) -> None:
    store = services.index()
    with services.search_lock:
        row = store.metadata.row_of(doc_id)
    if row is None:
        raise not_found(f"索引中没有文书 {doc_id}", f"no document {doc_id!r} in the index")
