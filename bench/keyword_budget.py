"""How the keyword method's postings budget trades recall of the exhaustive BM25 ranking for speed.

    python bench/keyword_budget.py --index HOME [--budgets 500000 1000000 2000000] [--depth 200]

For each of the 107 LeCaRD queries (segmented as the service segments them) and each field, the
exhaustive ranking (every posting of every query term scored) is compared with
``KeywordIndex.top`` at each budget: overlap of the top ``depth`` (the recall depth the search
uses) and of the top 10, the share of queries the budget pruned, and latency. Prints JSON.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from _common import emit_json, latency_and_rate, lecard_query_texts, timed_calls  # noqa: E402

from retrieval.index_store import IndexStore  # noqa: E402
from retrieval.keyword_index import KeywordIndex, top_rows  # noqa: E402


def _postings(index: KeywordIndex, tokens: list[str]) -> int:
    ids = np.unique(index._retriever.get_tokens_ids(tokens))
    indptr = index._retriever.scores["indptr"]
    return int((indptr[ids + 1] - indptr[ids]).sum())


def measure(index: KeywordIndex, queries: list[list[str]], budgets: list[int], depth: int) -> dict:
    unblocked = np.zeros(index.size, dtype=bool)
    exhaustive, seconds = timed_calls(
        lambda tokens: top_rows(index.scores(tokens), depth, unblocked), queries
    )
    postings = [_postings(index, tokens) for tokens in queries]
    out: dict[str, object] = {
        "postings_per_query": {p: float(np.percentile(postings, p)) for p in (50, 90, 100)},
        "exhaustive": latency_and_rate(seconds),
    }
    for budget in budgets:
        overlap, overlap10 = [], []
        budgeted, seconds = timed_calls(
            lambda tokens, b=budget: index.top(tokens, depth, unblocked, budget=b), queries
        )
        for truth, ranked in zip(exhaustive, budgeted, strict=True):
            truth_rows = [row for row, _ in truth]
            rows = [row for row, _ in ranked]
            overlap.append(len(set(truth_rows) & set(rows)) / max(1, len(truth_rows)))
            overlap10.append(len(set(truth_rows[:10]) & set(rows[:10])) / max(1, len(truth_rows[:10])))
        out[str(budget)] = latency_and_rate(seconds) | {
            "pruned_share": round(float(np.mean([p > budget for p in postings])), 3),
            f"overlap@{depth}": round(float(np.mean(overlap)), 4),
            f"overlap@{depth}_min": round(float(np.min(overlap)), 4),
            "overlap@10": round(float(np.mean(overlap10)), 4),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--budgets", type=int, nargs="+", default=[500_000, 1_000_000, 2_000_000])
    parser.add_argument("--depth", type=int, default=200)
    parser.add_argument("--queries", type=int, help="the first N queries (default: all 107)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    store = IndexStore.open(args.index, verify_checksums=False)
    texts = lecard_query_texts()[: args.queries]
    queries = [store.segmenter.tokens(text) for text in texts]
    result = {
        "benchmark": "keyword_budget",
        "documents": store.size,
        "queries": len(queries),
        "depth": args.depth,
        "fields": {
            "facts": measure(store.keyword_facts, queries, args.budgets, args.depth),
            "full": measure(store.keyword_full, queries, args.budgets, args.depth),
        },
    }
    emit_json(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
