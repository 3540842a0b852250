"""Cluster backend parity on LeCaRD: Milvus-held channels rank as the embedded FAISS + bm25s ones.

    python bench/cluster_parity.py [--index HOME] [--milvus-uri URI] [--out FILE]

Loads the LeCaRD index's current build into Milvus (a Milvus Lite file under build/bench unless
``--milvus-uri`` names a server), then runs every LeCaRD query in both settings (``rerank``: its own
~100 candidates; ``full``: all 9,088) on both backends, and compares the run files: identical
lists, or the first position where they differ and whether the two documents there have equal
scores (an exact tie, ordered differently), and LeCaRD's metrics of both runs on the dev labels.
Also the latency per query of each backend and the export time. Prints JSON (and writes it to
``--out``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))

from _common import BENCH_BUILD, LECARD_ARCHIVE, LECARD_INDEX, emit_json  # noqa: E402
from lecard import (  # noqa: E402
    DEFAULT_LABELS,
    DEFAULT_QUERIES,
    RUN_DEPTH,
    SETTINGS,
    load_labels,
    load_pools,
    load_queries,
    open_index,
    strip_prefix,
    system_request,
)
from lecard_metrics import evaluate  # noqa: E402


def _ranked(store: Any, request: Any) -> tuple[list[tuple[str, float]], float]:
    from retrieval.search import search

    started = time.perf_counter()
    response = search(store, request)
    elapsed = time.perf_counter() - started
    return [(r.document.doc_id, r.score) for r in response.results[:RUN_DEPTH]], elapsed


def _compare(embedded: list[tuple[str, float]], cluster: list[tuple[str, float]]) -> dict[str, Any] | None:
    """None when identical; else where they first differ and whether it is an exact-tie swap."""
    if [d for d, _ in embedded] == [d for d, _ in cluster]:
        return None
    at = next(i for i, (a, b) in enumerate(zip(embedded, cluster, strict=False)) if a[0] != b[0])
    scores_embedded = {d: s for d, s in embedded}
    scores_cluster = {d: s for d, s in cluster}
    same_set = set(scores_embedded) == set(scores_cluster)
    tie = same_set and all(
        abs(scores_embedded[d] - scores_cluster[d]) <= 1e-5 * max(1.0, abs(scores_embedded[d]))
        for d in scores_embedded
    )
    return {"first_difference": at, "same_documents": same_set, "scores_equal_within_1e-5": tie}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=LECARD_INDEX)
    parser.add_argument("--archive", type=Path, default=LECARD_ARCHIVE)
    parser.add_argument("--milvus-uri", default=str(BENCH_BUILD / "milvus-lecard.db"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from api.service.cluster import milvus_client
    from index_build.milvus_export import export_build
    from retrieval.milvus_channels import attach_milvus

    store, _ = open_index(args.index, args.archive)
    Path(args.milvus_uri).parent.mkdir(parents=True, exist_ok=True) if "://" not in args.milvus_uri else None
    client = milvus_client(args.milvus_uri)
    started = time.perf_counter()
    exported = export_build(store, client)
    export_seconds = time.perf_counter() - started
    cluster = attach_milvus(store, client, exported.collection)

    queries = load_queries(DEFAULT_QUERIES)
    pools = load_pools(args.archive)
    labels = load_labels(DEFAULT_LABELS)
    report: dict[str, Any] = {
        "index": store.version,
        "documents": store.size,
        "milvus_uri": args.milvus_uri if "://" in args.milvus_uri else "milvus-lite file",
        "export_seconds": round(export_seconds, 1),
        "settings": {},
    }
    for setting in SETTINGS:
        differing: dict[str, Any] = {}
        embedded_s: list[float] = []
        cluster_s: list[float] = []
        runs: dict[str, dict[str, list[str]]] = {"embedded": {}, "cluster": {}}
        for query in queries:
            pool = pools[query["ridx"]] if setting == "rerank" else None
            request = system_request(query, pool)
            a, ta = _ranked(store, request)
            b, tb = _ranked(cluster, request)
            embedded_s.append(ta)
            cluster_s.append(tb)
            runs["embedded"][query["ridx"]] = [strip_prefix(d) for d, _ in a]
            runs["cluster"][query["ridx"]] = [strip_prefix(d) for d, _ in b]
            difference = _compare(a, b)
            if difference is not None:
                differing[str(query["ridx"])] = difference
        report["settings"][setting] = {
            "queries": len(queries),
            "identical_runs": len(queries) - len(differing),
            "differing": differing,
            "embedded_ms": {"p50": _percentile(embedded_s, 0.5), "p95": _percentile(embedded_s, 0.95)},
            "cluster_ms": {"p50": _percentile(cluster_s, 0.5), "p95": _percentile(cluster_s, 0.95)},
            # LeCaRD's metrics over the dev labels: what the differing tie orders cost, if anything
            "metrics_embedded": evaluate(runs["embedded"], labels),
            "metrics_cluster": evaluate(runs["cluster"], labels),
        }
    client.close()
    emit_json(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
