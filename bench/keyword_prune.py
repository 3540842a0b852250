"""The keyword channel's exact pruning against exhaustive scoring, with the tantivy peer beside it.

    python bench/keyword_prune.py --index HOME [--depths 10 200] [--queries N] [--tantivy]
        [--peer-cache DIR] [--out FILE]
    python bench/keyword_prune.py --bm25 FOLDER --tokens FILE ...   # one bare keyword folder

For the LeCaRD queries (segmented as the service segments them), each field (facts, full), each
scoring (BM25, query likelihood) and each depth k: ``KeywordIndex.top`` (MaxScore, exact) against
the exhaustive ranking (every posting of every query term scored, ``KeywordIndex.scores``, then the
top k), run alternately query by query: wall p50/p95/mean and CPU ms per query of each, the pruned ranking's overlap with the
exhaustive one at k and at 10 (as rows, and up to ties: a row scoring as the last one kept counts),
and its largest relative score difference. ``cold`` is the first pass over the queries in a fresh
process, where each term's maximum impact is computed at its first query.

``--baseline FILE`` times an earlier version's ``retrieval/keyword_index.py`` alongside, at its own
defaults (``git show a0e19ef:retrieval/keyword_index.py > build/keyword_index_budget.py``: the
postings budget that pruning replaced), with its agreement with the exhaustive ranking.

``--tantivy`` runs ``bench/perf_peers.py --peer tantivy`` in its own process over the same facts
tokens (``--tokens FILE``: one space-joined line per row, for a bare folder) and compares its top
10 with our exhaustive BM25 over the facts. ``--bm25`` measures one folder built by
``index_build.bm25_build`` (no index home needed). Prints JSON; the machine's load average is in it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from _common import emit_json, latency_and_rate, lecard_query_texts  # noqa: E402

from retrieval.keyword_index import KeywordIndex, Scoring, top_rows  # noqa: E402

TIE_TOLERANCE = 1e-5


def timed_cpu(
    fns: dict[str, Callable[[list[str]], object]], queries: Sequence[list[str]]
) -> tuple[dict[str, list], dict[str, dict]]:
    """Each of ``fns`` on each query, interleaved query by query so that the machine's load falls
    on all alike: their results, wall latency figures and CPU ms per query (p50, mean)."""
    results: dict[str, list] = {name: [] for name in fns}
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for tokens in queries:
        for name, fn in fns.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            results[name].append(fn(tokens))
            cpu[name].append(time.process_time() - cpu_started)
            wall[name].append(time.perf_counter() - started)
    figures = {
        name: latency_and_rate(wall[name])
        | {
            "cpu_ms_p50": round(float(np.median(cpu[name])) * 1000, 3),
            "cpu_ms_mean": round(float(np.mean(cpu[name])) * 1000, 3),
        }
        for name in fns
    }
    return results, figures


def agreement(
    index: KeywordIndex, queries: Sequence[list[str]], truth: list, ranked: list, k: int, scoring: Scoring
) -> dict[str, float]:
    """How far ``ranked`` is from the exhaustive ``truth``, per query averaged."""
    rows_k, rows_10, ties_k, ties_10, worst = [], [], [], [], 0.0
    for tokens, exact, pruned in zip(queries, truth, ranked, strict=True):
        scores = index.scores(tokens, scoring)
        for depth, plain, tied in ((k, rows_k, ties_k), (10, rows_10, ties_10)):
            want, got = exact[:depth], pruned[:depth]
            if not want:
                plain.append(1.0 if not got else 0.0)
                tied.append(plain[-1])
                continue
            last = want[-1][1]
            truth_rows = {row for row, _ in want}
            plain.append(len(truth_rows & {row for row, _ in got}) / len(want))
            same = [row for row, _ in got if row in truth_rows or scores[row] >= last * (1 - TIE_TOLERANCE)]
            tied.append(len(same) / len(want))
        for row, score in pruned:
            worst = max(worst, abs(score - float(scores[row])) / max(abs(float(scores[row])), 1e-12))
    return {
        f"overlap@{k}": round(float(np.mean(rows_k)), 4),
        "overlap@10": round(float(np.mean(rows_10)), 4),
        f"overlap@{k}_up_to_ties": round(float(np.mean(ties_k)), 4),
        "overlap@10_up_to_ties": round(float(np.mean(ties_10)), 4),
        "overlap@10_up_to_ties_min": round(float(np.min(ties_10)), 4),
        "max_relative_score_difference": float(f"{worst:.3g}"),
    }


def load_baseline(path: Path) -> ModuleType:
    """An earlier version's ``retrieval/keyword_index.py``, loaded as a module of its own."""
    spec = importlib.util.spec_from_file_location("baseline_keyword_index", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def measure_field(
    folder: Path, queries: Sequence[list[str]], depths: Sequence[int], baseline: ModuleType | None = None
) -> dict[str, object]:
    index = KeywordIndex.load(folder)
    base = None if baseline is None else baseline.KeywordIndex.load(folder)
    unblocked = np.zeros(index.size, dtype=bool)
    indptr = index._indptr
    postings = []
    for tokens in queries:
        terms = np.unique(index._retriever.get_tokens_ids(tokens))
        terms = terms[terms + 1 < len(indptr)]
        postings.append(int((indptr[terms + 1] - indptr[terms]).sum()))
    out: dict[str, object] = {
        "documents": index.size,
        "postings_per_query": {p: float(np.percentile(postings, p)) for p in (50, 90, 100)},
        "index_mb": round(sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) / 1e6, 1),
    }
    deepest = max(depths)
    for scoring in Scoring:
        per: dict[str, object] = {}
        cold = {"pruned": lambda t, s=scoring: index.top(t, deepest, unblocked, scoring=s)}
        per["cold"] = timed_cpu(cold, queries)[1]["pruned"]
        for k in depths:
            fns = {
                "exhaustive": lambda t, s=scoring, k=k: top_rows(index.scores(t, s), k, unblocked),
                "pruned": lambda t, s=scoring, k=k: index.top(t, k, unblocked, scoring=s),
            }
            if base is not None:  # the earlier version's own defaults (its postings budget)
                fns["baseline"] = lambda t, s=scoring, k=k: base.top(
                    t, k, unblocked, scoring=baseline.Scoring(s.value)
                )
            results, figures = timed_cpu(fns, queries)
            per[f"k={k}"] = (
                figures
                | {
                    "speedup_p50": round(figures["exhaustive"]["p50"] / figures["pruned"]["p50"], 2),
                    "speedup_cpu_p50": round(
                        figures["exhaustive"]["cpu_ms_p50"] / figures["pruned"]["cpu_ms_p50"], 2
                    ),
                }
                | agreement(index, queries, results["exhaustive"], results["pruned"], k, scoring)
            )
            if base is not None:
                per[f"k={k}"]["baseline_agreement"] = agreement(
                    index, queries, results["exhaustive"], results["baseline"], k, scoring
                )
        out[scoring.value] = per
    return out


def tantivy(index_home: Path | None, tokens_file: Path | None, n_queries: int, cache: Path | None) -> dict:
    """The tantivy peer in its own process (``bench/perf_peers.py``), its top-10 rows included."""
    command = [sys.executable, str(REPO / "bench" / "perf_peers.py"), "--peer", "tantivy", "--rows"]
    command += ["--queries", str(n_queries)]
    command += ["--index", str(index_home)] if index_home else ["--token-lines", str(tokens_file)]
    if cache is not None:
        command += ["--peer-cache", str(cache)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env, cwd=REPO)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--index", type=Path, help="index home: its facts and full keyword folders")
    where.add_argument("--bm25", type=Path, help="one keyword folder (index_build.bm25_build)")
    parser.add_argument("--tokens", type=Path, help="with --bm25 and --tantivy: its rows' token lines")
    parser.add_argument("--depths", type=int, nargs="+", default=[10, 200])
    parser.add_argument("--queries", type=int, help="the first N queries (default: all 107)")
    parser.add_argument("--tantivy", action="store_true", help="the tantivy peer over the facts tokens")
    parser.add_argument("--peer-cache", type=Path)
    parser.add_argument(
        "--baseline", type=Path, help="an earlier retrieval/keyword_index.py, timed alongside"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    texts = lecard_query_texts()[: args.queries]
    if args.index is not None:
        from retrieval import index_layout as layout
        from retrieval.index_store import read_manifest
        from retrieval.segmenter import default_segmenter

        build_dir = layout.resolve_current(args.index)
        folders = {"facts": build_dir / layout.BM25_FACTS, "full": build_dir / layout.BM25_FULL}
        source = {"index": str(build_dir), "segmenter": read_manifest(build_dir).get("segmenter")}
    else:
        from retrieval.segmenter import default_segmenter

        folders = {"facts": args.bm25}
        source = {"bm25": str(args.bm25), "tokens": str(args.tokens)}
    segmenter = default_segmenter()
    queries = [segmenter.tokens(text) for text in texts]
    baseline = None if args.baseline is None else load_baseline(args.baseline)
    result: dict[str, object] = {
        "benchmark": "keyword_prune",
        "source": source,
        "queries": len(queries),
        "depths": args.depths,
        "load_average_before": os.getloadavg(),
        "baseline": None if args.baseline is None else str(args.baseline),
        "fields": {
            name: measure_field(folder, queries, args.depths, baseline) for name, folder in folders.items()
        },
    }
    if args.tantivy:
        peer = tantivy(args.index, args.tokens, len(queries), args.peer_cache)
        facts = KeywordIndex.load(folders["facts"])
        unblocked = np.zeros(facts.size, dtype=bool)
        overlaps = []
        for tokens, theirs in zip(queries, peer.pop("top_rows"), strict=True):
            ours = [row for row, _ in top_rows(facts.scores(tokens), 10, unblocked)]
            overlaps.append(len(set(ours) & set(theirs)) / max(1, len(ours)))
        peer["overlap@10_with_our_exhaustive_bm25"] = round(float(np.mean(overlaps)), 4)
        result["tantivy"] = peer
    result["load_average_after"] = os.getloadavg()
    emit_json(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
