"""Similar-case search for a pending case: plan → recall → fuse → rerank → tier → explain.

Recall runs the methods the request names (or the default hybrid), each returning ``Hit`` lists;
reciprocal rank fusion merges them; the legal rerank reorders by agreement on 罪名/案由, articles
and circumstances (with charges predicted from the neighbours when the judge gave none); results
are then grouped by Art. 4 tier relative to the requesting court and explained one by one.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field, replace

import numpy as np

from retrieval.candidate import Candidate, LegalAgreement
from retrieval.cause_model import CauseModel
from retrieval.charge_prediction import PredictedCause, cause_category, predict
from retrieval.document import CaseCategory, Document
from retrieval.explain import Explanation, PendingCaseFeatures, explain, pending_features, query_terms
from retrieval.fusion import RRF_K, reciprocal_rank_fusion
from retrieval.index_store import IndexStore
from retrieval.keyword_index import Scoring
from retrieval.metadata import LegalFeatures
from retrieval.methods import Hit, boolean_keyword_hits, keyword_hits, semantic_hits, statute_hits
from retrieval.parsing.case_number import parse_case_number
from retrieval.parsing.causes import normalise_cause
from retrieval.query_plan import QueryPlan, SeedCase, plan
from retrieval.request import Method, SearchRequest
from retrieval.rerank import RerankWeights, legal_agreement, rerank, weights_for
from retrieval.tiers import MAY_REFER, Tier, assign_tier, effect_label, order_by_tier

RECALL_DEPTH = 200  # per method; fusion and rerank see at most this many candidates each
CANDIDATE_DEPTH = 100  # fused candidates considered (rerank head, authorities beyond k)
# Only the fused head is reranked: deeper, a shared charge pulls up dissimilar cases (see bench/README.md).
RERANK_DEPTH = 35
PREDICTION_NEIGHBOURS = 10  # nearest fused candidates whose causes vote when the judge named none
AUTHORITY_EXTRA = 3  # guiding/SPC cases on the same charges added beyond k (see _with_authorities)
TAIL_SCORE_STEP = 1e-6  # how far each score below the reranked head stays under the one above it
SIMILARITY_FLOOR = 3.5
"""未检索到类案: in a tiered search (the judge's view) a result whose final score (fused similarity
×RRF_K plus the rerank's agreement terms) is below this is not offered as a similar case, and a tier
left empty says 未检索到类案 instead of being filled with whatever ranked highest. A document first in
every default channel scores about 3.05 on fusion alone, so the floor asks for agreement on the
罪名/案由 as well. Chosen on CJRC, leave-one-out, by the F1 of the kept results against "same cause"
(``bench/civil_grid.py``: 3.5 on all queries, 3.4–3.7 in the 5 folds; cross-validated the kept top-10
results are same-cause 0.43 of the time against 0.20 unfiltered, and keep 0.74 of those that are;
bench/README.md). A request with ``include_dissimilar`` gets the results below it too. It applies
only where the score has the scale it was chosen on: a search whose recall ran ``FLOOR_CHANNELS``
(the default hybrid on facts) with a cause to agree on (given or predicted); a statute-only,
boolean-keyword or 案例关联 search, or one without any cause, is not cut."""
FLOOR_CHANNELS = frozenset({"keyword:facts", "keyword:full", "keyword:facts:likelihood", "semantic"})
# Method weights in the fusion; chosen on the LeCaRD dev labels (bench/lecard.py).
FUSION_WEIGHTS = {
    "keyword:facts": 0.5,
    "keyword:full": 0.3,
    "keyword:facts:likelihood": 2.0,
    "semantic": 0.3,
    "statute": 0.3,
    "case": 1.0,
}


@dataclass
class SearchResult:
    document: Document
    score: float  # final score (after rerank when on)
    fused_score: float
    methods: dict[str, int] = field(default_factory=dict)  # method → rank within it
    tier: Tier | None = None
    recent: bool = False
    effect: str = MAY_REFER  # tiers.effect_label before any mark: a guiding case is a candidate
    agreement: LegalAgreement | None = None
    explanation: Explanation | None = None


@dataclass
class SearchResponse:
    results: list[SearchResult]
    methods: list[str]  # the methods actually run
    causes_used: list[str]
    causes_predicted: bool
    predicted_causes: list[PredictedCause]
    first_tier_with_results: Tier | None
    tier_counts: dict[int, int]
    seed_doc_id: str | None
    index: dict[str, object]
    timings_ms: dict[str, float]
    # Art. 4 tiers (1–4) with no result at or above the floor: each says 未检索到类案.
    tiers_without_similar: list[Tier] = field(default_factory=list)
    below_floor: int = 0  # results left out for being under SIMILARITY_FLOOR
    similarity_floor: float | None = None  # the floor applied; None: none (untiered or asked for all)


def _blocked(store: IndexStore, request: SearchRequest, seed: SeedCase | None) -> np.ndarray | None:
    """Rows no method may return: left out by the filters, the candidate pool or citability, and the seed."""
    allowed = store.attributes.allowed(request.filters, store.metadata)
    if request.restrict_to is not None:
        pool = store.attributes.rows_for(request.restrict_to)
        allowed = pool if allowed is None else (allowed & pool)
    blocked = None if allowed is None else ~allowed
    # Not citable (no 案号, court or date): left out of what a judge is shown unless asked for.
    # Similarity-only scoring (tiering off: the benchmarks) measures similarity, not citability.
    if request.tiering and not request.filters.include_uncitable:
        uncitable = store.attributes.uncitable()
        if uncitable is not None:
            blocked = uncitable if blocked is None else (blocked | uncitable)
    if seed is not None:
        seed_block = np.zeros(store.size, dtype=bool)
        seed_block[seed.row] = True
        blocked = seed_block if blocked is None else (blocked | seed_block)
    return blocked


def _facts_keyword_hits(
    store: IndexStore, facts: str, depth: int, blocked: np.ndarray | None, bm25_fields: tuple[str, ...]
) -> list[list[Hit]]:
    """A case's facts as a keyword query: BM25 over ``bm25_fields`` and query likelihood over the facts
    (a published build always has the tf store the likelihood needs: the manifest lists it)."""
    tokens = store.segmenter.tokens(facts)
    lists = [keyword_hits(store, tokens, depth, field, blocked) for field in bm25_fields]
    lists.append(keyword_hits(store, tokens, depth, "facts", blocked, Scoring.LIKELIHOOD))
    return lists


def _recall(
    store: IndexStore, query: QueryPlan, blocked: np.ndarray | None
) -> tuple[list[list[Hit]], list[str]]:
    """Run each planned method that has something to search with; hit lists and the names of those run."""
    hit_lists: list[list[Hit]] = []
    names: list[str] = []
    depth = RECALL_DEPTH
    facts = query.facts
    if query.seed is not None:
        seed_facts = query.seed.document.searchable_facts()
        vector = store.vectors.reconstruct(query.seed.row)
        if vector is None:
            vector = store.embedder.encode_passages([seed_facts])[0]
        case_hits = [
            Hit(h.row, h.score, "case", h.rank) for h in semantic_hits(store, vector, depth, blocked)
        ]
        hit_lists.append(case_hits)
        hit_lists.extend(_facts_keyword_hits(store, seed_facts, depth, blocked, ("facts",)))
        names.append(Method.CASE.value)
    if Method.KEYWORD in query.methods:
        if not query.keywords.is_empty():
            hits = boolean_keyword_hits(
                store, query.keywords, depth, store.segmenter.tokens(facts) if facts else (), blocked
            )
            hit_lists.append(hits)
        elif facts:
            hit_lists.extend(_facts_keyword_hits(store, facts, depth, blocked, ("facts", "full")))
        names.append(Method.KEYWORD.value)
    if Method.SEMANTIC in query.methods and facts.strip():
        vector = store.embedder.encode_queries([facts])[0]
        hit_lists.append(semantic_hits(store, vector, depth, blocked))
        names.append(Method.SEMANTIC.value)
    if Method.STATUTE in query.methods and query.provisions:
        hit_lists.append(statute_hits(store, query.provisions, depth, store.article_df, blocked))
        names.append(Method.STATUTE.value)
    return hit_lists, names


def pending_category(request: SearchRequest) -> str | None:
    """The 案件类别 the cause prediction must stay in: the 案号's type code (民初 → 民事), else the one
    category the judge filtered on, else None (unknown: the classifier decides)."""
    if request.case_number:
        try:
            return parse_case_number(request.case_number).category.value
        except ValueError:
            pass  # an unreadable 案号 restricts nothing; the request is not refused for it
    if len(request.filters.categories) == 1:
        return CaseCategory(request.filters.categories[0]).value
    return None


def rerank_category(request: SearchRequest, causes: list[str]) -> str | None:
    """The 案件类别 whose rerank weights apply: from the 案号 or filter, else from the first cause
    searched on (given or predicted); civil and criminal weights were chosen on different data."""
    category = pending_category(request)
    if category is None and causes:
        category = cause_category(causes[0])
    return category


def search(
    store: IndexStore,
    request: SearchRequest,
    weights: RerankWeights | None = None,
    cause_model: CauseModel | None = None,
) -> SearchResponse:
    """Run a similar-case search. Raises ValueError (naming the field) on a bad request.

    ``weights`` replaces the rerank weights of the case's category (``rerank_category``).

    ``cause_model`` replaces the index's own classifier (``store.cause_model``) for this search: the
    benchmark's cross-validation predicts each fold with a model that never saw it.
    """
    request.validate()
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    query = plan(store, request)
    hit_lists, method_names = _recall(store, query, _blocked(store, request, query.seed))
    timings["recall"] = (time.perf_counter() - clock) * 1000

    clock = time.perf_counter()
    fusion_weights = [FUSION_WEIGHTS.get(hits[0].method, 1.0) if hits else 1.0 for hits in hit_lists]
    depth = max(CANDIDATE_DEPTH, request.k) if request.legal_rerank or request.tiering else request.k
    candidates = reciprocal_rank_fusion(hit_lists, fusion_weights)[:depth]
    cards = store.metadata.cards(c.row for c in candidates)
    candidates = [replace(c, document=cards[c.row]) for c in candidates]
    features = {cards[row].doc_id: f for row, f in store.metadata.legal_features(cards).items()}
    timings["fuse"] = (time.perf_counter() - clock) * 1000

    clock = time.perf_counter()
    causes = list(dict.fromkeys(normalise_cause(c) for c in request.charges if c.strip()))
    predicted: list[PredictedCause] = []
    if not causes and candidates:
        neighbours = [c.document for c in candidates[:PREDICTION_NEIGHBOURS]]
        category = pending_category(request)
        # The rerank keeps the neighbours' vote: with the classifier's guesses instead (right 37 % of
        # the time on CJRC civil, cross-validated) a wrong cause pulled other cases up and P@10 fell
        # from 0.529 to 0.478 (bench/README.md). The classifier's top 3 are what the judge is shown.
        vote = predict(query.facts, neighbours, category=category)
        causes = [p.name for p in vote]
        model = cause_model if cause_model is not None else store.cause_model
        predicted = (
            vote if model is None else predict(query.facts, neighbours, model=model, category=category)
        )
    pending = pending_features(query.facts, causes, query.provisions, store.segmenter)
    weights = weights if weights is not None else weights_for(rerank_category(request, causes))
    ranked = _final_order(pending, candidates, features, request, weights)
    timings["rerank"] = (time.perf_counter() - clock) * 1000

    clock = time.perf_counter()
    tier_counts: dict[int, int] = {}
    first_tier = None
    placed: list[tuple[Candidate, Tier | None, bool]]  # (candidate, tier, recent)
    floor = None
    below_floor = 0
    without_similar: list[Tier] = []
    if request.tiering:
        today = request.today or dt.date.today()
        offered = _with_authorities(ranked, request)
        channels = {hits[0].method for hits in hit_lists if hits}
        # The floor asks for agreement on a cause: without any cause to agree on (none given, none
        # predicted, as in a corpus whose documents carry none) it would cut everything.
        if request.legal_rerank and not request.include_dissimilar and causes and channels >= FLOOR_CHANNELS:
            floor = SIMILARITY_FLOOR
            kept = [c for c in offered if c.score >= floor]
            below_floor = len(offered) - len(kept)
            offered = kept
        order = order_by_tier(
            offered,
            lambda c: c.document,
            request.requesting_court,
            today,
            request.recency_years,
        )
        placed = order.ordered
        first_tier = order.first_tier_with_results
        tier_counts = {int(t): n for t, n in order.counts.items()}
        without_similar = [t for t in Tier if t is not Tier.OTHER and order.counts[t] == 0]
    else:
        placed = [(c, None, False) for c in ranked[: request.k] if not c.document.authority.withdrawn]
    results = _results(store, pending, placed, features)
    timings["tier_explain"] = (time.perf_counter() - clock) * 1000

    return SearchResponse(
        results=results,
        methods=method_names,
        causes_used=causes,
        causes_predicted=bool(predicted),
        predicted_causes=predicted,
        first_tier_with_results=first_tier,
        tier_counts=tier_counts,
        seed_doc_id=request.seed_doc_id,
        index=store.describe(),
        timings_ms={k: round(v, 2) for k, v in timings.items()},
        tiers_without_similar=without_similar,
        below_floor=below_floor,
        similarity_floor=floor,
    )


def _results(
    store: IndexStore,
    pending: PendingCaseFeatures,
    placed: list[tuple[Candidate, Tier | None, bool]],
    features: dict[str, LegalFeatures],
) -> list[SearchResult]:
    """The results shown, each explained: candidates were ranked as cards (no texts), results are read whole."""
    whole = store.metadata.documents(c.row for c, _, _ in placed)
    terms = query_terms(pending.tokens, store)
    results = []
    for candidate, tier, recent in placed:
        document = whole[candidate.row]
        results.append(
            SearchResult(
                document=document,
                score=candidate.score,
                fused_score=candidate.fused_score,
                methods=candidate.ranks,
                tier=tier,
                recent=recent,
                effect=effect_label(document),
                agreement=candidate.agreement,
                explanation=explain(
                    pending, document, store, features=features.get(document.doc_id), terms=terms
                ),
            )
        )
    return results


def _with_authorities(ranked: list[Candidate], request: SearchRequest) -> list[Candidate]:
    """The top k, plus guiding and SPC cases further down that share the pending case's charges.

    Art. 4 has the judge search 指导性案例 and 最高法 cases first; one of them on the same 罪名/案由
    should not be lost just because k ordinary judgments outscored it lexically.
    """
    top = ranked[: request.k]
    # Tiers 1 and 2 do not depend on the requesting court: without one, assign_tier skips the
    # court-name matching that only tiers 3 and 4 need.
    extra = [
        c
        for c in ranked[request.k :]
        if c.agreement is not None and c.agreement.causes > 0 and assign_tier(c.document, None) <= Tier.SPC
    ]
    return top + extra[:AUTHORITY_EXTRA]


def _final_order(
    pending: PendingCaseFeatures,
    candidates: list[Candidate],
    features: dict[str, LegalFeatures],
    request: SearchRequest,
    weights: RerankWeights,
    rerank_depth: int = RERANK_DEPTH,
) -> list[Candidate]:
    """The fused candidates (documents read) in their final order: the head reranked, the tail below it."""
    if not request.legal_rerank:
        return candidates
    head = rerank(pending, candidates[:rerank_depth], features, weights)
    # Below the reranked head, similarity alone orders; scores are capped so they still descend.
    floor = head[-1].score if head else float("inf")
    tail = []
    for candidate in candidates[rerank_depth:]:
        floor = min(candidate.fused_score * RRF_K, floor - TAIL_SCORE_STEP)
        agreement = legal_agreement(pending, candidate.document, features[candidate.document.doc_id])
        tail.append(replace(candidate, score=floor, agreement=agreement))
    return head + tail
