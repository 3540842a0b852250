"""Civil rerank weights and the "no similar case" floor, chosen by k-fold CV on CJRC, leave-one-out.

    python bench/civil_grid.py [--index HOME] [--folds 5] [--seed 7] [--limit N] [--check N]
                               [--out bench/results/civil-grid.json]

Each CJRC text's recall runs once, as ``bench/civil.py`` runs it (facts only, its own document left
out through ``restrict_to``, tiering off), then the fused candidates are reranked with every point
of ``CIVIL_GRID`` (``RerankWeights``) by the service's own ``_final_order``.

1. **Civil weights.** The objective is civil P@10 (``bench/civil.py``'s normalisation). The
   in-sample best point is printed, and beside it the CV figure: each fold's civil queries ranked
   with the point chosen on the other folds (``bench/cv.py``, seeded). Criminal queries keep the
   criminal weights (LeCaRD's); their P@10 is printed for both.
2. **The floor** (``retrieval.search.SIMILARITY_FLOOR``). With each query ranked with the weights
   search() gives it, a result is offered as a similar case when its final score reaches the floor;
   a query whose top 10 then holds none answers 未检索到类案. The floor maximises, over the
   training folds' queries (civil and criminal together), the F1 of the kept results against
   "same cause as the query" (hiding a real similar case from a mandatory search costs as much as
   showing a dissimilar one). The F1 of the 未检索到类案 answer itself (truth: no same-cause text in
   the top 10) was tried first and rejected: 40 % of the queries have none, so it chose a floor
   that answered 未检索到类案 to 93 % of them. Reported: the pooled out-of-fold precision / recall
   of the kept results and of the 未检索到类案 answer, and a curve over the floor in-sample.

``--check N`` first verifies that the committed point ranks the first N queries as ``search()``
does (exit 1 otherwise).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))

import civil  # noqa: E402
import cv  # noqa: E402
from _common import emit_json  # noqa: E402

from retrieval import search as service  # noqa: E402
from retrieval.charge_prediction import predict  # noqa: E402
from retrieval.explain import pending_features  # noqa: E402
from retrieval.fusion import reciprocal_rank_fusion  # noqa: E402
from retrieval.query_plan import plan  # noqa: E402
from retrieval.request import SearchRequest  # noqa: E402
from retrieval.rerank import CRIMINAL_WEIGHTS, RerankWeights, weights_for  # noqa: E402

TOP = civil.TOP
CIVIL_GRID = [
    RerankWeights(causes=c, articles=a, circumstances=s)
    for c in (1.5, 0.5, 1.0, 2.0, 3.0)
    for a in (0.0, 0.5)
    for s in (0.1, 0.0)
]
FLOORS = [round(0.1 * i, 1) for i in range(0, 61)]  # 0.0 … 6.0 in the final score's units
CURVE = (0.0, 1.0, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0)


def log(message: str) -> None:
    print(f"[civil-grid] {message}", file=sys.stderr, flush=True)


@dataclass
class Recalled:
    """One query's fused candidates and pending-case features: what the rerank starts from."""

    request: SearchRequest
    candidates: list[Any]
    features: dict[str, Any]
    pending: Any
    category: str | None  # whose rerank weights search() applies (search.rerank_category)

    def weights(self, civil_point: RerankWeights) -> RerankWeights:
        """``civil_point`` where search() would apply the civil weights, else the criminal ones."""
        return CRIMINAL_WEIGHTS if self.category in (None, "刑事") else civil_point


def recall(store: Any, row: civil.Row, others: frozenset[str]) -> Recalled:
    """``search()`` up to the rerank (same steps, same constants)."""
    request = SearchRequest(facts=row["facts"], k=TOP, tiering=False, recency_years=None, restrict_to=others)
    request.validate()
    query = plan(store, request)
    hit_lists, _ = service._recall(store, query, service._blocked(store, request, query.seed))
    weights = [service.FUSION_WEIGHTS.get(h[0].method, 1.0) if h else 1.0 for h in hit_lists]
    candidates = reciprocal_rank_fusion(hit_lists, weights)[: service.CANDIDATE_DEPTH]
    cards = store.metadata.cards(c.row for c in candidates)
    candidates = [dataclasses.replace(c, document=cards[c.row]) for c in candidates]
    features = {cards[r].doc_id: f for r, f in store.metadata.legal_features(cards).items()}
    neighbours = [c.document for c in candidates[: service.PREDICTION_NEIGHBOURS]]
    causes = [p.name for p in predict(query.facts, neighbours, category=service.pending_category(request))]
    pending = pending_features(query.facts, causes, query.provisions, store.segmenter)
    return Recalled(request, candidates, features, pending, service.rerank_category(request, causes))


def ranked(item: Recalled, weights: RerankWeights) -> list[tuple[str, float]]:
    order = service._final_order(item.pending, item.candidates, item.features, item.request, weights)
    return [(c.document.doc_id, c.score) for c in order[:TOP]]


def precision(
    rankings: dict[str, list[tuple[str, float]]], rows: dict[str, civil.Row], counts: Counter
) -> float:
    """Mean P@10 over the queries with another same-cause text (bench/civil.py)."""
    values = []
    for qid, top in rankings.items():
        available = counts[rows[qid]["cause"]] - 1
        if available > 0:
            hits = sum(rows[d]["cause"] == rows[qid]["cause"] for d, _ in top)
            values.append(hits / min(TOP, available))
    return round(statistics.fmean(values), 4) if values else float("nan")


def floor_counts(
    rankings: dict[str, list[tuple[str, float]]],
    rows: dict[str, civil.Row],
    queries: Sequence[str],
    floor: float,
) -> Counter:
    """tp / fp / fn of 未检索到类案 (no result at or above ``floor``) against "the top 10 holds no
    same-cause text", and kept / same / kept_same results."""
    counts: Counter = Counter()
    for qid in queries:
        cause = rows[qid]["cause"]
        labels = [rows[d]["cause"] == cause for d, _ in rankings[qid]]
        shown = [s >= floor for _, s in rankings[qid]]
        none_answer, none_truth = not any(shown), not any(labels)
        counts["tp"] += none_answer and none_truth
        counts["fp"] += none_answer and not none_truth
        counts["fn"] += none_truth and not none_answer
        counts["kept"] += sum(shown)
        counts["same"] += sum(labels)
        counts["kept_same"] += sum(s and lab for s, lab in zip(shown, labels, strict=True))
        counts["queries"] += 1
    return counts


def outcome(counts: Counter) -> dict[str, float]:
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    kp = counts["kept_same"] / counts["kept"] if counts["kept"] else 0.0
    kr = counts["kept_same"] / counts["same"] if counts["same"] else 0.0
    return {
        "none_precision": round(p, 4),
        "none_recall": round(r, 4),
        "none_f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
        "none_answers": tp + fp,
        "none_truth": tp + fn,
        "kept_precision": round(kp, 4),
        "kept_recall": round(kr, 4),
        "kept_f1": round(2 * kp * kr / (kp + kr), 4) if kp + kr else 0.0,
        "results_kept": counts["kept"],
        "queries": counts["queries"],
    }


def floor_outcome(
    rankings: dict[str, list[tuple[str, float]]],
    rows: dict[str, civil.Row],
    queries: Sequence[str],
    floor: float,
) -> dict[str, float]:
    return outcome(floor_counts(rankings, rows, queries, floor))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=civil.CJRC_DOCS)
    parser.add_argument("--index", type=Path, default=civil.CJRC_INDEX)
    parser.add_argument("--folds", type=int, default=cv.FOLDS)
    parser.add_argument("--seed", type=int, default=cv.SEED)
    parser.add_argument("--limit", type=int, default=None, help="only the first N queries (smoke runs)")
    parser.add_argument("--check", type=int, default=0, help="verify N queries against search()")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    rows_list = civil.load_rows(args.data)
    rows = {r["id"]: r for r in rows_list}
    counts = Counter(r["cause"] for r in rows_list)
    queries = rows_list[: args.limit] if args.limit else rows_list
    store, _ = civil.open_index(rows_list, args.index, False)
    all_ids = frozenset(rows)

    if args.check:
        rank = civil.system_ranker(store)
        for row in queries[: args.check]:
            expected = rank(row, all_ids - {row["id"]})[0]
            item = recall(store, row, all_ids - {row["id"]})
            if [d for d, _ in ranked(item, weights_for(item.category))] != expected:
                log(f"ranking differs from search(): {row['id']}")
                return 1
        log(f"the committed weights rank the first {args.check} queries as search() does")

    started = time.perf_counter()
    recalled: dict[str, Recalled] = {}
    for n, row in enumerate(queries, start=1):
        recalled[row["id"]] = recall(store, row, all_ids - {row["id"]})
        if n % 100 == 0:
            log(f"recall {n}/{len(queries)}, {time.perf_counter() - started:.0f} s")
    recall_seconds = round(time.perf_counter() - started, 1)
    civil_ids = [r["id"] for r in queries if r["domain"] == "civil"]
    criminal_ids = [r["id"] for r in queries if r["domain"] == "criminal"]

    grid = [{q: ranked(recalled[q], recalled[q].weights(w)) for q in civil_ids} for w in CIVIL_GRID]

    def civil_objective(index: int, ids: Sequence[str]) -> float:
        return precision({q: grid[index][q] for q in ids}, rows, counts)

    everything = sorted(civil_ids)
    best = max(range(len(CIVIL_GRID)), key=lambda i: (civil_objective(i, everything), -i))
    choices = cv.choose_per_fold(
        civil_ids, list(range(len(CIVIL_GRID))), civil_objective, args.folds, args.seed
    )
    pooled = {q: grid[c.point][q] for c in choices for q in c.held_out}
    committed = weights_for("民事")
    committed_index = CIVIL_GRID.index(committed) if committed in CIVIL_GRID else None
    criminal = {q: ranked(recalled[q], recalled[q].weights(committed)) for q in criminal_ids}
    weights_report = {
        "grid": [dataclasses.asdict(w) for w in CIVIL_GRID],
        "objective": "civil P@10 (leave-one-out); the point applies where search() uses civil weights",
        "civil_queries_ranked_as_criminal": sum(recalled[q].category in (None, "刑事") for q in civil_ids),
        "criminal_queries_ranked_as_civil": sum(
            recalled[q].category not in (None, "刑事") for q in criminal_ids
        ),
        "in_sample": [
            {**dataclasses.asdict(w), "civil_P@10": civil_objective(i, everything)}
            for i, w in enumerate(CIVIL_GRID)
        ],
        "best_in_sample": {
            **dataclasses.asdict(CIVIL_GRID[best]),
            "civil_P@10": civil_objective(best, everything),
        },
        "committed_civil": {
            **dataclasses.asdict(committed),
            "civil_P@10_in_sample": None
            if committed_index is None
            else civil_objective(committed_index, everything),
        },
        "fold_choices": [
            {"fold": c.fold, "queries": len(c.held_out), **dataclasses.asdict(CIVIL_GRID[c.point])}
            for c in choices
        ],
        "civil_P@10_cv": precision(pooled, rows, counts),
        "criminal_weights": dataclasses.asdict(CRIMINAL_WEIGHTS),
        "criminal_P@10": precision(criminal, rows, counts),
    }

    # The floor, over each query ranked with its domain's committed weights.
    final = {q: ranked(recalled[q], recalled[q].weights(committed)) for q in civil_ids} | criminal
    ids = sorted(final)

    def floor_objective(floor: float, part: Sequence[str]) -> float:
        return floor_outcome(final, rows, part, floor)["kept_f1"]

    floor_best = max(FLOORS, key=lambda f: (floor_objective(f, ids), -f))
    floor_choices = cv.choose_per_fold(ids, FLOORS, floor_objective, args.folds, args.seed)
    pooled_counts: Counter = Counter()
    for choice in floor_choices:
        pooled_counts.update(floor_counts(final, rows, choice.held_out, choice.point))
    floor_report = {
        "objective": "F1 of the results kept (at or above the floor) against 'same cause'",
        "curve": [{"floor": f, **floor_outcome(final, rows, ids, f)} for f in CURVE],
        "committed": service.SIMILARITY_FLOOR,
        "best_in_sample": {"floor": floor_best, **floor_outcome(final, rows, ids, floor_best)},
        "committed_in_sample": floor_outcome(final, rows, ids, service.SIMILARITY_FLOOR),
        "committed_in_sample_by_domain": {
            "civil": floor_outcome(final, rows, sorted(civil_ids), service.SIMILARITY_FLOOR),
            "criminal": floor_outcome(final, rows, sorted(criminal_ids), service.SIMILARITY_FLOOR),
        },
        "fold_choices": [{"fold": c.fold, "floor": c.point} for c in floor_choices],
        "cv": outcome(pooled_counts),
    }
    report = {
        "benchmark": "civil-grid-cjrc",
        "data": str(args.data),
        "queries": len(queries),
        "folds": args.folds,
        "seed": args.seed,
        "index": {"home": str(args.index), "build_id": store.manifest.get("build_id")},
        "recall_seconds": recall_seconds,
        "weights": weights_report,
        "floor": floor_report,
    }
    store.close()
    emit_json(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
