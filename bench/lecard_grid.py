"""Score fusion weights, rerank weight and rerank depth on LeCaRD without re-running recall.

``bench/lecard.py`` scores the service as configured; choosing that configuration needs many
variants of the same searches. This script runs each query's recall once (every channel of the
default methods, as ``retrieval.search`` runs them, in both settings), then for each point of the
grid fuses and reranks with the service's own functions and scores the rankings with
``bench/lecard_metrics.py``. The default point of the grid reproduces ``bench/lecard.py``'s
``hybrid`` figures exactly (the test of that is ``--check``).

    python bench/lecard_grid.py --index build/bench/lecard-index \\
        --weights keyword:facts=0.5,keyword:full=0.3,keyword:facts:likelihood=2,semantic=0.3 \\
        --weights keyword:facts=1,keyword:full=0.6,semantic=0.3 --causes 0.6 1.5 --depth 35 50

Prints one JSON object per point (weights, causes, depth, both settings' metrics), dev labels
only by default, as bench/lecard.py. Tune on dev: the held-out labels are for the final check.

``--folds K`` (5 in bench/README.md; seed ``--seed``) then cross-validates the choice over queries
(``bench/cv.py``): for each fold, the point with the best ``--select`` metric on the other folds'
queries ranks the fold's queries, and the pooled out-of-fold rankings are scored. It prints one
more JSON object, ``cross_validated`` (also written to ``--out``): the committed default's in-sample
figures, the best point's in-sample figures, the points each fold chose and the CV figures; the
best in-sample point is optimistic, the CV figure is the one to report. ``--standard-grid`` scans
the grid the defaults were chosen from (``STANDARD_GRID``) instead of naming points.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))  # for lecard and lecard_metrics

import cv
import lecard
import lecard_metrics
from _common import emit_json

from retrieval import keyword_index
from retrieval import search as service
from retrieval.explain import pending_features
from retrieval.fusion import reciprocal_rank_fusion
from retrieval.index_store import IndexStore
from retrieval.methods import Hit
from retrieval.parsing.causes import normalise_cause
from retrieval.query_plan import plan
from retrieval.rerank import DEFAULT_WEIGHTS, RerankWeights

SETTINGS = ("rerank", "full")
# The neighbourhood of the committed defaults that --standard-grid scans (3 × 3 × 3 × 3 = 81 points):
# the semantic channel's and the likelihood channel's fusion weights, the charge weight, the depth.
STANDARD_SEMANTIC = (0.3, 0.0, 0.6)
STANDARD_LIKELIHOOD = (2.0, 1.0, 3.0)
STANDARD_CAUSES = (1.5, 1.0, 2.0)
STANDARD_DEPTH = (35, 30, 50)


def standard_grid() -> list[tuple[dict[str, float], float, int]]:
    """(fusion weights, charge weight, depth) around the defaults, the committed default first."""
    points = []
    for semantic, likelihood, causes, depth in itertools.product(
        STANDARD_SEMANTIC, STANDARD_LIKELIHOOD, STANDARD_CAUSES, STANDARD_DEPTH
    ):
        weights = dict(service.FUSION_WEIGHTS)
        weights.update({"semantic": semantic, "keyword:facts:likelihood": likelihood})
        points.append((weights, causes, depth))
    return points


def parse_weights(text: str) -> dict[str, float]:
    weights = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        if not name or not value:
            raise argparse.ArgumentTypeError(f"--weights: expected channel=weight, got {part!r}")
        weights[name.strip()] = float(value)
    return weights


class Grid:
    """Recall of every labelled query in both settings, held once; rankings for any configuration."""

    def __init__(self, store: IndexStore, queries: list[lecard.Query], pools: dict[str, list[str]]):
        self.store = store
        self.queries = queries
        self.recalls: dict[tuple[str, str], list[list[Hit]]] = {}
        self._cards: dict[int, Any] = {}
        self._pending: dict[str, Any] = {}
        for setting, query in itertools.product(SETTINGS, queries):
            pool = pools[query["ridx"]] if setting == "rerank" else None
            request = lecard.system_request(query, pool)
            request.validate()
            planned = plan(store, request)
            hit_lists, _ = service._recall(store, planned, service._blocked(store, request, planned.seed))
            self.recalls[(setting, query["ridx"])] = hit_lists

    def ranking(
        self, setting: str, query: lecard.Query, weights: dict[str, float], rerank: RerankWeights, depth: int
    ) -> list[str]:
        """What ``search()`` would rank with these weights and rerank depth (tiering off)."""
        lists = [
            hits for hits in self.recalls[(setting, query["ridx"])] if hits and weights.get(hits[0].method)
        ]
        fused = reciprocal_rank_fusion(lists, [weights[hits[0].method] for hits in lists])
        fused = fused[: max(service.CANDIDATE_DEPTH, lecard.RUN_DEPTH)]
        missing = [c.row for c in fused if c.row not in self._cards]
        if missing:
            cards = self.store.metadata.cards(missing)
            features = self.store.metadata.legal_features(cards)
            self._cards.update({row: (cards[row], features[row]) for row in missing})
        candidates = [dataclasses.replace(c, document=self._cards[c.row][0]) for c in fused]
        features = {self._cards[c.row][0].doc_id: self._cards[c.row][1] for c in fused}
        pending = self._pending.get(query["ridx"])
        if pending is None:
            causes = [normalise_cause(c) for c in query["crime"]]
            pending = self._pending[query["ridx"]] = pending_features(
                query["q"], causes, [], self.store.segmenter
            )
        request = lecard.system_request(query, None)
        results = service._final_order(pending, candidates, features, request, rerank, depth)
        return [lecard.strip_prefix(r.document.doc_id) for r in results][: lecard.RUN_DEPTH]

    def runs(
        self, weights: dict[str, float], rerank: RerankWeights, depth: int
    ) -> dict[str, dict[str, list[str]]]:
        """{setting: {query: ranking}} for one point."""
        return {
            setting: {q["ridx"]: self.ranking(setting, q, weights, rerank, depth) for q in self.queries}
            for setting in SETTINGS
        }

    def score(
        self, labels: dict[str, dict[str, int]], weights: dict[str, float], rerank: RerankWeights, depth: int
    ) -> dict[str, dict[str, float]]:
        return {
            setting: lecard_metrics.evaluate(
                {q["ridx"]: self.ranking(setting, q, weights, rerank, depth) for q in self.queries}, labels
            )
            for setting in SETTINGS
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=lecard.DEFAULT_INDEX)
    parser.add_argument("--labels", type=Path, default=lecard.DEFAULT_LABELS)
    parser.add_argument("--queries", type=Path, default=lecard.DEFAULT_QUERIES)
    parser.add_argument("--archive", type=Path, default=lecard.DEFAULT_ARCHIVE)
    parser.add_argument(
        "--weights", type=parse_weights, action="append",
        help="channel=weight,... (channels: keyword:facts, keyword:full, keyword:facts:likelihood, "
        "semantic); repeatable; default: the service's FUSION_WEIGHTS",
    )  # fmt: skip
    parser.add_argument("--causes", type=float, nargs="+", default=[DEFAULT_WEIGHTS.causes])
    parser.add_argument("--depth", type=int, nargs="+", default=[service.RERANK_DEPTH], help="rerank depth")
    parser.add_argument(
        "--smoothing", type=float, help="λ of the query likelihood channel (default: the service's)"
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 unless the default point equals search()"
    )
    parser.add_argument("--folds", type=int, default=0, help="cross-validate the choice over K folds")
    parser.add_argument("--seed", type=int, default=cv.SEED, help="seed of the folds")
    parser.add_argument(
        "--select", default="full:NDCG@30", help="SETTING:METRIC the folds choose by (default full:NDCG@30)"
    )
    parser.add_argument("--standard-grid", action="store_true", help="scan STANDARD_GRID's 81 points")
    parser.add_argument("--out", type=Path, help="write the cross_validated JSON here")
    args = parser.parse_args(argv)
    select_setting, _, select_metric = args.select.partition(":")
    if select_setting not in SETTINGS or not select_metric:
        parser.error("--select: SETTING:METRIC with SETTING rerank or full, e.g. full:NDCG@30")

    labels = lecard.load_labels(args.labels)
    queries = [q for q in lecard.load_queries(args.queries) if q["ridx"] in labels]
    pools = lecard.load_pools(args.archive)
    if args.smoothing is not None:
        if not 0 < args.smoothing < 1:
            parser.error("--smoothing must be between 0 and 1")
        keyword_index.LIKELIHOOD_SMOOTHING = args.smoothing  # read at query time, before recall runs
    store = IndexStore.open(args.index, verify_checksums=False)
    grid = Grid(store, queries, pools)
    if args.check:
        for setting, query in itertools.product(SETTINGS, queries):
            pool = pools[query["ridx"]] if setting == "rerank" else None
            expected = lecard.rank_with_system(store, query, pool)
            got = grid.ranking(
                setting, query, dict(service.FUSION_WEIGHTS), DEFAULT_WEIGHTS, service.RERANK_DEPTH
            )
            if got != expected:
                print(f"ranking differs from search(): {setting} query {query['ridx']}", file=sys.stderr)
                return 1
        lecard.log("the default point ranks as search() does")
    if args.standard_grid:
        points = standard_grid()
    else:
        points = list(
            itertools.product(args.weights or [dict(service.FUSION_WEIGHTS)], args.causes, args.depth)
        )
    runs = []
    for weights, causes, depth in points:
        rerank = dataclasses.replace(DEFAULT_WEIGHTS, causes=causes)
        runs.append(grid.runs(weights, rerank, depth))
        metrics = {s: lecard_metrics.evaluate(runs[-1][s], labels) for s in SETTINGS}
        emit_json({**describe((weights, causes, depth)), **metrics}, indent=None)
    if args.folds:
        report = cross_validate(points, runs, labels, args.folds, args.seed, select_setting, select_metric)
        emit_json({"cross_validated": report}, args.out)
    return 0


def describe(point: tuple[dict[str, float], float, int]) -> dict[str, object]:
    weights, causes, depth = point
    return {
        "weights": weights,
        "causes": causes,
        "depth": depth,
        "smoothing": keyword_index.LIKELIHOOD_SMOOTHING,
    }


def cross_validate(
    points: list[tuple[dict[str, float], float, int]],
    runs: list[dict[str, dict[str, list[str]]]],
    labels: dict[str, dict[str, int]],
    folds: int,
    seed: int,
    setting: str,
    metric: str,
) -> dict[str, object]:
    """Each fold ranked by the point chosen on the other folds; pooled out-of-fold metrics."""

    def objective(index: int, queries: list[str]) -> float:
        return float(lecard_metrics.evaluate(runs[index][setting], {q: labels[q] for q in queries})[metric])

    choices = cv.choose_per_fold(sorted(labels), list(range(len(points))), objective, folds, seed)
    pooled = {
        s: {q: runs[choice.point][s][q] for choice in choices for q in choice.held_out} for s in SETTINGS
    }
    default = next(
        (
            i
            for i, (w, c, d) in enumerate(points)
            if w == dict(service.FUSION_WEIGHTS) and c == DEFAULT_WEIGHTS.causes and d == service.RERANK_DEPTH
        ),
        None,
    )
    best = max(range(len(points)), key=lambda i: (objective(i, sorted(labels)), -i))
    in_sample = {
        i: {s: lecard_metrics.evaluate(runs[i][s], labels) for s in SETTINGS} for i in {best, default}
    }
    return {
        "folds": folds,
        "seed": seed,
        "select": f"{setting}:{metric}",
        "points": len(points),
        "smoothing": keyword_index.LIKELIHOOD_SMOOTHING,
        "default": None
        if default is None
        else {**describe(points[default]), "in_sample": in_sample[default]},
        "best_in_sample": {**describe(points[best]), "in_sample": in_sample[best]},
        "fold_choices": [
            {
                "fold": c.fold,
                "queries": len(c.held_out),
                "chosen_is_default": c.point == default,
                "training_score": round(c.training_score, 4),
                **describe(points[c.point]),
            }
            for c in choices
        ],
        "cv": {s: lecard_metrics.evaluate(pooled[s], labels) for s in SETTINGS},
    }


if __name__ == "__main__":
    raise SystemExit(main())
