"""LeCaRD's evaluation metrics, reimplemented from the definitions in ``metrics.py`` of myx666/LeCaRD.

Every function scores one query: ``ranking`` is the system's list of candidate ids, best first, and
``labels`` maps the query's labelled candidates to their graded relevance 0–3 (``label_top30_dev.json``
gives 30 per query, a few queries 32–33). A candidate with no label counts as relevance 0, as the
LeCaRD README says. A ranking must not repeat an id (``ValueError``).

NDCG@k (k = 10, 20, 30)
    Linear gain: DCG@k = sum over the top k ranks i = 1..k of rel_i / log2(i + 1), rel_i = 0 for an
    unlabelled candidate or when the ranking is shorter than k. The ideal DCG@k sorts the query's
    labels (all of them, unlabelled candidates being 0) in decreasing order. NDCG = DCG / IDCG; 0.0
    when the query has no positive label (upstream skips such a query but still divides by it).

MAP (relevant = label 3)
    As upstream, the ranking is first restricted to the query's labelled candidates, in the system's
    order (unlabelled candidates are removed, not counted as misses). AP = sum, over the positions
    i of label-3 candidates in that restricted list, of (label-3 candidates in its top i) / i,
    divided by the number of label-3 candidates in ``labels``. A label-3 candidate missing from the
    ranking therefore contributes precision 0 (it counts in the divisor). Upstream divided by the
    label-3 candidates *found* in the ranking, which is the same when the whole pool is ranked (the
    rerank setting) but would reward a short full-corpus ranking for dropping relevant cases.
    A query without label-3 candidates scores 0.0.

P@k (k = 5, 10; relevant = label 3)
    |label-3 candidates among the top k of the ranking restricted to labelled candidates| / k. Upstream
    ``metrics.py`` meant exactly this (the same restriction as MAP), but its P and MAP branches crash:
    ``label_dic[key][:30]`` slices a dict. We apply the fix the NDCG branch shows,
    ``list(label_dic[key])[:30]``. The divisor is always k, also when fewer than k labelled candidates
    were ranked. ``labelled_only=False`` gives the plain top-k precision of the raw ranking
    (unlabelled candidates count as not relevant), reported beside it as ``P@k_raw``.

NDCG@k_labelled
    NDCG@k of the ranking restricted to labelled candidates. This is how LeCaRD's published table was
    made ("top-30 candidates": each model reranks only the 30 labelled ones); it is not a
    retrieval measure — a random order of the 30 labelled candidates already scores NDCG@30 ≈ 0.87
    on the dev labels — and is reported only to compare with the paper.

judged@10, judged@30
    Diagnostic only: the share of the top k that is labelled at all (divisor k).

One deliberate difference: upstream looks a candidate up in the first 30 keys of the query's label dict
only, so in the 3 dev queries with 32–33 labels the extra label-3 cases (ids 500xx) score 0 in the DCG
while their 3s still enter the ideal DCG. Here every labelled candidate counts in both.

``evaluate`` averages each metric over the queries that have labels; a labelled query with no run
scores 0 on every metric (an empty ranking), and the count is reported.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

RELEVANT = 3  # the label LeCaRD's MAP and P@k count as relevant
NDCG_KS = (10, 20, 30)
P_KS = (5, 10)


def _check(ranking: Sequence[str]) -> None:
    seen: set[str] = set()
    for doc in ranking:
        if doc in seen:
            raise ValueError(f"ranking repeats candidate {doc!r}")
        seen.add(doc)


def _dcg(gains: Iterable[float]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def _labelled(ranking: Sequence[str], labels: Mapping[str, int]) -> list[str]:
    return [doc for doc in ranking if doc in labels]


def ndcg_at_k(
    ranking: Sequence[str], labels: Mapping[str, int], k: int, *, labelled_only: bool = False
) -> float:
    """NDCG@k with linear gain over the system's ranking; the ideal ranks the labelled candidates.

    ``labelled_only`` first restricts the ranking to labelled candidates: the protocol of LeCaRD's
    published table ("top-30 candidates"), reported as ``NDCG@k_labelled``.
    """
    if k < 1:
        raise ValueError("k: must be at least 1")
    _check(ranking)
    ideal = _dcg(sorted(labels.values(), reverse=True)[:k])
    if ideal <= 0:
        return 0.0
    ranked = _labelled(ranking, labels) if labelled_only else ranking
    return _dcg(labels.get(doc, 0) for doc in ranked[:k]) / ideal


def average_precision(ranking: Sequence[str], labels: Mapping[str, int]) -> float:
    """AP over the ranking restricted to labelled candidates; relevant = label 3 (see module doc)."""
    _check(ranking)
    total = sum(1 for rel in labels.values() if rel >= RELEVANT)
    if total == 0:
        return 0.0
    hits = 0
    precision_sum = 0.0
    for position, doc in enumerate(_labelled(ranking, labels), start=1):
        if labels[doc] >= RELEVANT:
            hits += 1
            precision_sum += hits / position
    return precision_sum / total


def precision_at_k(
    ranking: Sequence[str], labels: Mapping[str, int], k: int, *, labelled_only: bool = True
) -> float:
    """|label-3 candidates in the top k| / k, of the ranking restricted to labelled ones by default."""
    if k < 1:
        raise ValueError("k: must be at least 1")
    _check(ranking)
    ranked = _labelled(ranking, labels) if labelled_only else list(ranking)
    return sum(1 for doc in ranked[:k] if labels.get(doc, 0) >= RELEVANT) / k


def judged_at_k(ranking: Sequence[str], labels: Mapping[str, int], k: int) -> float:
    """Share of the top k that carry a label (any grade): a diagnostic, not a LeCaRD metric. Low
    values mean NDCG counts many unjudged candidates as 0 (pool bias against non-lexical rankers)."""
    if k < 1:
        raise ValueError("k: must be at least 1")
    _check(ranking)
    top = ranking[:k]
    return sum(1 for doc in top if doc in labels) / k


def query_metrics(ranking: Sequence[str], labels: Mapping[str, int]) -> dict[str, float]:
    """All reported metrics for one query."""
    out = {f"NDCG@{k}": ndcg_at_k(ranking, labels, k) for k in NDCG_KS}
    out["MAP"] = average_precision(ranking, labels)
    for k in P_KS:
        out[f"P@{k}"] = precision_at_k(ranking, labels, k)
    for k in P_KS:
        out[f"P@{k}_raw"] = precision_at_k(ranking, labels, k, labelled_only=False)
    for k in NDCG_KS:
        out[f"NDCG@{k}_labelled"] = ndcg_at_k(ranking, labels, k, labelled_only=True)
    for k in (10, 30):
        out[f"judged@{k}"] = judged_at_k(ranking, labels, k)
    return out


def evaluate(
    runs: Mapping[str, Sequence[str]], labels: Mapping[str, Mapping[str, int]], digits: int | None = 4
) -> dict[str, float | int]:
    """Mean of each metric over the queries in ``labels``; keys are compared as strings.

    Returns the metrics plus ``queries`` (labelled queries scored) and ``queries_without_run``.
    """
    by_query = {str(q): [str(d) for d in r] for q, r in runs.items()}
    totals: dict[str, float] = {}
    missing = 0
    for query, query_labels in labels.items():
        ranking = by_query.get(str(query))
        if ranking is None:
            missing += 1
            ranking = []
        scores = query_metrics(ranking, {str(d): int(v) for d, v in query_labels.items()})
        for name, value in scores.items():
            totals[name] = totals.get(name, 0.0) + value
    n = len(labels)
    out: dict[str, float | int] = {
        name: (round(value / n, digits) if digits is not None else value / n)
        for name, value in totals.items()
    }
    out["queries"] = n
    out["queries_without_run"] = missing
    return out
