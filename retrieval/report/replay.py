"""A recorded search brought back for its report: from its snapshot, else replayed on the same build.

A search record made since the snapshot existed keeps what the judge was shown (``SearchRecord.shown``):
the report is made from that, whatever the index has become (``shown_search``), and the current
index only tells which shown cases were withdrawn since (``withdrawn_since``). The rest of this
module serves older records, which have no snapshot:

The audit record of a search holds the query, the causes used, the articles, keywords and seed, the
index build, and the ranked results with their tiers, scores and effects. Those results are taken as
recorded (never searched again); what the record does not hold is recomputed from the same build:
each document, its explanation (a pure function of the pending facts, causes, provisions and the
build's segmenter and IDF) and its three-year flag (relative to the day of the search, China time).
A record made on another build is refused: the documents and their statistics may have changed.
"""

from __future__ import annotations

import datetime as dt

from retrieval.audit.records import SearchRecord
from retrieval.explain import explain, pending_features
from retrieval.index_store import IndexStore
from retrieval.query_plan import UnknownSeedCase, plan
from retrieval.report.model import SearchShown
from retrieval.request import KeywordQuery, SearchRequest
from retrieval.search import SearchResponse, SearchResult
from retrieval.tiers import Tier, is_recent

CHINA_TIME = dt.timezone(dt.timedelta(hours=8), "UTC+08:00")


class ReplayError(ValueError):
    """The record cannot be turned back into its results on this index."""


def record_time(at: str) -> dt.datetime:
    """An audit timestamp (``2025-06-01T01:30:00.000Z``) as an aware datetime in China time."""
    return dt.datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(CHINA_TIME)


def request_of(record: SearchRecord) -> SearchRequest:
    """The parts of the original request that the record keeps (the report's 检索方法)."""
    return SearchRequest(
        facts=record.query,
        case_number=record.case_number,
        charges=list(record.charges),
        articles=list(record.articles),
        keywords=KeywordQuery(
            must=record.keyword_terms("must"),
            should=record.keyword_terms("should"),
            must_not=record.keyword_terms("must_not"),
            phrases=record.keyword_terms("phrases"),
        ),
        seed_doc_id=record.seed,
    )


def shown_search(record: SearchRecord) -> SearchShown | None:
    """The search as the judge was shown it, from the record's snapshot; None for a record without one."""
    if record.shown is None:
        return None
    return SearchShown(
        shown=record.shown,
        methods=list(record.methods),
        causes_used=list(record.causes_used),
        causes_predicted=record.causes_predicted,
        seed_doc_id=record.seed,
        build_id=record.index_version or "",
        documents=record.index_documents,
    )


def withdrawn_since(store: IndexStore, doc_ids: list[str]) -> dict[str, str]:
    """Shown cases the current index now holds as withdrawn (不再参照 / 撤回), with the reason recorded."""
    out: dict[str, str] = {}
    for doc_id in doc_ids:
        doc = store.document_by_id(doc_id)
        if doc is not None and doc.authority.withdrawn:
            out[doc_id] = doc.authority.withdrawn_reason or "已撤回"
    return out


def replay_search(
    store: IndexStore, record: SearchRecord, searched_at: dt.datetime
) -> tuple[SearchResponse, SearchRequest]:
    """The recorded search's response on ``store``; ReplayError on another build or a missing document."""
    described = store.describe()
    recorded_build = record.index_version
    if recorded_build != described["build_id"]:
        raise ReplayError(
            f"the search ran on index build {recorded_build}; the index now serves {described['build_id']}"
        )
    request = request_of(record)
    methods = list(record.methods)
    try:
        query = plan(store, request)  # a record names 案例关联 among its methods exactly when it has a seed
    except UnknownSeedCase as exc:
        raise ReplayError(str(exc)) from exc
    causes = list(record.causes_used)
    pending = pending_features(query.facts, causes, query.provisions, store.segmenter)

    ranked = list(record.results)
    rows: list[int] = []
    for hit in ranked:
        row = store.metadata.row_of(hit.doc_id)
        if row is None:
            raise ReplayError(f"document {hit.doc_id} of the record is not in the index")
        rows.append(row)
    docs = store.metadata.documents(rows)
    features = store.metadata.legal_features(rows)
    today = searched_at.astimezone(CHINA_TIME).date()
    years = SearchRequest().recency_years or 0
    results = []
    for hit, row in zip(ranked, rows, strict=True):
        doc = docs[row]
        results.append(
            SearchResult(
                document=doc,
                score=hit.score,
                fused_score=hit.score,
                tier=Tier(hit.tier) if hit.tier is not None else None,
                recent=is_recent(doc, today, years),
                effect=hit.effect or "",
                explanation=explain(pending, doc, store, pending.tokens, features.get(row)),
            )
        )
    counts: dict[int, int] = {}
    for result in results:
        tier = int(result.tier or Tier.OTHER)
        counts[tier] = counts.get(tier, 0) + 1
    response = SearchResponse(
        results=results,
        methods=methods,
        causes_used=causes,
        causes_predicted=record.causes_predicted,
        predicted_causes=[],
        first_tier_with_results=results[0].tier if results else None,
        tier_counts=counts,
        seed_doc_id=request.seed_doc_id,
        index=described,
        timings_ms={},
    )
    return response, request
