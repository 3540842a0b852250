"""What the query-likelihood channel costs next to BM25 on the same keyword index.

    python bench/likelihood_cost.py --index HOME [--field facts] [--queries 107] [--depth 200]

Times ``KeywordIndex.top(tokens, depth)`` with each scoring for the LeCaRD queries, segmented as
the service segments them (exact, pruned: bench/keyword_prune.py). The BM25 folder is opened directly
(not through ``IndexStore``), so an index built by an older segmenter can still be timed: its
vocabulary then differs a little from the queries' tokens, which changes the work very little.
Prints CPU milliseconds per query (p50 / p95 / mean); the likelihood is timed a second time once
every query term's collection count is known (``likelihood_warm``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from _common import emit_json, lecard_query_texts  # noqa: E402

from retrieval import index_layout as layout  # noqa: E402
from retrieval.keyword_index import KeywordIndex, Scoring  # noqa: E402
from retrieval.segmenter import default_segmenter  # noqa: E402


def cpu_ms(index: KeywordIndex, queries: list[list[str]], depth: int, scoring: Scoring) -> dict[str, float]:
    unblocked = np.zeros(index.size, dtype=bool)
    times = []
    for tokens in queries:
        started = time.process_time()
        index.top(tokens, depth, unblocked, scoring=scoring)
        times.append((time.process_time() - started) * 1000)
    times.sort()
    return {
        "p50": round(statistics.median(times), 2),
        "p95": round(times[int(0.95 * (len(times) - 1))], 2),
        "mean": round(statistics.mean(times), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True, help="index home or build folder")
    parser.add_argument("--field", choices=("facts", "full"), default="facts")
    parser.add_argument("--queries", type=int, help="the first N LeCaRD queries (default: all 107)")
    parser.add_argument("--depth", type=int, default=200)
    args = parser.parse_args(argv)
    field = layout.BM25_FACTS if args.field == "facts" else layout.BM25_FULL
    index = KeywordIndex.load(layout.resolve_current(args.index) / field)
    segmenter = default_segmenter()
    queries = [segmenter.tokens(text) for text in lecard_query_texts()[: args.queries]]
    for tokens in queries[:3]:  # page in the arrays the first queries touch
        index.top(tokens, args.depth, np.zeros(index.size, dtype=bool))
    result: dict[str, object] = {"documents": index.size, "field": args.field, "queries": len(queries)}
    for scoring in Scoring:
        result[scoring.value] = cpu_ms(index, queries, args.depth, scoring)
    result["likelihood_warm"] = cpu_ms(index, queries, args.depth, Scoring.LIKELIHOOD)
    emit_json(result, ensure_ascii=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
