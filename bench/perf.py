"""Speed, memory and scale of one index, side by side with the peers a user would otherwise pick.

    python bench/perf.py --index build/scale/idx-100k [--build build/scale/build-100k.json]
        [--add-input build/scale/add-1k.jsonl] [--http-seconds 60] --out bench/results/perf-100k.json
    python bench/perf.py --index build/scale/idx-1m --build build/scale/build-1m.json --query-limit 50
        --http-seconds 45 --rank-bm25-queries 10 --peer-cache build/scale/peer-cache --out …/perf-1m.json
    python bench/perf.py --fit bench/results/perf-10k.json bench/results/perf-100k.json …/perf-1m.json

One run measures, over the real LeCaRD queries (all 107, or the first ``--query-limit``):
in-process latency of ``retrieval.search.search`` (default hybrid, keyword only, semantic only) and
of the raw keyword recall; the served vector index's recall@100 against exact search; the peers on
the same corpus and queries (jieba + bm25s, rank_bm25, FAISS exact over the index's own vectors),
each in its own process (``bench/perf_peers.py``) with its own peak memory, and the ratios; audited
searches over HTTP (1 client, ``--clients`` concurrent clients for ``--http-seconds``, the server's
memory as total, anonymous and file-backed RSS: the BM25 arrays are memory-mapped); an ANN sweep
up to ``--ann-sweep-max-docs``; optionally the build figures (JSON of ``bench/build.py``) and an
incremental add. Skipped parts say why in the JSON. ``--fit`` prints the exponent b of cost ∝ N^b
over two or more runs at different N (least squares on logs, and between neighbouring runs).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import perf_ann  # noqa: E402
import perf_http  # noqa: E402
import perf_peers  # noqa: E402
from _common import (  # noqa: E402
    emit_json,
    latency_and_rate,
    latency_summary,
    lecard_query_texts,
    leian,
    timed,
    timed_calls,
)
from procmem import PeakSampler, memory_mb  # noqa: E402

from retrieval import index_layout as layout  # noqa: E402
from retrieval.index_store import IndexStore  # noqa: E402
from retrieval.methods import keyword_hits  # noqa: E402
from retrieval.request import Method, SearchRequest  # noqa: E402
from retrieval.search import search  # noqa: E402

PEER_K = perf_peers.PEER_K
ANN_SWEEP_MAX_DOCS = 200_000  # the sweep rebuilds IVF and HNSW: minutes at 1M (bench/results/ann-1m.json)
ANN_GRID = {
    "IVF{nlist},SQ8,RFlat": [{"nprobe": p, "k_factor_rf": 2} for p in (32, 64)],
    "HNSW32,Flat": [{"efSearch": 256}],
}
SKIPPABLE = ("peers", "jieba_bm25s", "rank_bm25", "faiss_exact", "tantivy", "http", "ann", "ann_sweep")


def in_process(store: IndexStore, queries: list[str]) -> dict[str, object]:
    stages: list[dict[str, float]] = []
    cpu_seconds: list[float] = []  # the wall figures carry the machine's load; CPU time less so

    def hybrid(q: str) -> None:
        started = time.process_time()
        stages.append(search(store, SearchRequest(facts=q, k=10)).timings_ms)
        cpu_seconds.append(time.process_time() - started)

    def only(method: Method) -> Callable[[str], object]:
        return lambda q: search(store, SearchRequest(facts=q, k=10, methods=(method,)))

    out: dict[str, object] = {"hybrid": latency_and_rate(timed(hybrid, queries))}
    out["hybrid_stage_ms_mean"] = {
        name: round(float(np.mean([s[name] for s in stages])), 2) for name in stages[-1]
    }
    measured = cpu_seconds[-len(queries) :]  # without the untimed warm-up calls
    out["hybrid_cpu_ms"] = {
        "p50": round(float(np.median(measured)) * 1000, 3),
        "mean": round(float(np.mean(measured)) * 1000, 3),
    }
    out["keyword"] = latency_and_rate(timed(only(Method.KEYWORD), queries))
    out["semantic"] = latency_and_rate(timed(only(Method.SEMANTIC), queries))
    out["keyword_recall_only"] = latency_and_rate(
        timed(lambda q: keyword_hits(store, store.segmenter.tokens(q), PEER_K, "facts"), queries)
    )
    return out


def served_ann(store: IndexStore, queries: list[str]) -> dict[str, object]:
    """Recall@100 of the index as served (IVF above EXACT_SEARCH_LIMIT) against exact search."""
    import faiss

    vectors = perf_ann.index_vectors(store.build_dir)
    query_vectors = store.embedder.encode_queries(queries)
    _, truth = faiss.knn(query_vectors, vectors, perf_ann.RECALL_K, metric=faiss.METRIC_INNER_PRODUCT)
    del vectors
    found, seconds = timed_calls(
        lambda query: store.vectors.search(query.reshape(1, -1), perf_ann.RECALL_K)[1][0], query_vectors
    )
    return {
        "index": store.vectors.describe(),
        "recall@100": round(perf_ann.recall_at(np.stack(found), truth), 4),
        "latency_ms": latency_summary(seconds),
    }


def run_peer(name: str, args: argparse.Namespace, build_dir: Path, queries: int) -> dict[str, object]:
    """One peer in a fresh process (its memory its own); a failure is recorded, not raised."""
    command = [sys.executable, str(REPO / "bench" / "perf_peers.py"), "--index", str(build_dir)]
    command += ["--peer", name, "--queries", str(queries), "--rank-bm25-docs", str(args.rank_bm25_docs)]
    if args.peer_cache:
        command += ["--peer-cache", str(args.peer_cache)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    wall = round(time.perf_counter() - started, 1)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-5:]
        return {"error": f"exit status {done.returncode} after {wall} s", "stderr_tail": tail}
    return json.loads(done.stdout.strip().splitlines()[-1]) | {"process_wall_seconds": wall}


def peers(args: argparse.Namespace, build_dir: Path, queries: int, size: int) -> dict[str, object]:
    """jieba + bm25s, rank_bm25, tantivy and FAISS exact search over the same corpus and queries, top 10.

    The peers index the build's facts tokens (our segmenter's: pure-Python jieba needs ~20
    minutes per 100k judgments); at query time jieba + bm25s and rank_bm25 tokenise with jieba as a
    user would, tantivy is given our segmenter's tokens (the engine alone, as our keyword recall).
    """
    out: dict[str, object] = {}
    for name in ("jieba_bm25s", "rank_bm25", "tantivy", "faiss_exact"):
        if name in args.skip:
            out[name] = {"skipped": "--skip " + name}
        elif name == "rank_bm25" and args.rank_bm25_queries <= 0:
            out[name] = {"skipped": "--rank-bm25-queries 0"}
        elif name == "rank_bm25" and size > args.rank_bm25_max_n:
            out[name] = {"skipped": f"corpus of {size} > --rank-bm25-max-n {args.rank_bm25_max_n}"}
        else:
            count = min(queries, args.rank_bm25_queries) if name == "rank_bm25" else queries
            print(f"peer {name}: {count} queries, own process …", file=sys.stderr, flush=True)
            out[name] = run_peer(name, args, build_dir, count)
            print(f"peer {name}: {json.dumps(out[name])[:300]}", file=sys.stderr, flush=True)
    if "with_segmentation" in out["tantivy"]:  # as our keyword_recall_only: segment, then search
        out["tantivy_with_segmentation"] = out["tantivy"].pop("with_segmentation")
    exact = out.pop("faiss_exact")
    out["faiss_exact_with_embedding"] = exact.get("with_embedding", exact)
    out["faiss_exact_search_only"] = exact.get("search_only", exact)
    out["faiss_exact_process"] = {
        k: v for k, v in exact.items() if k not in ("with_embedding", "search_only")
    }
    return out


def ratios(ours: dict, theirs: dict) -> dict[str, float]:
    """p50 ratios ours ÷ theirs; a peer that was skipped or failed leaves its ratios out."""
    pairs = {
        "keyword_recall_vs_jieba_bm25s": ("keyword_recall_only", "jieba_bm25s"),
        "keyword_search_vs_jieba_bm25s": ("keyword", "jieba_bm25s"),
        "keyword_recall_vs_tantivy": ("keyword_recall_only", "tantivy_with_segmentation"),
        "hybrid_vs_jieba_bm25s": ("hybrid", "jieba_bm25s"),
        "hybrid_vs_rank_bm25": ("hybrid", "rank_bm25"),
        "semantic_search_vs_faiss_exact": ("semantic", "faiss_exact_with_embedding"),
    }
    out = {}
    for name, (mine, peer) in pairs.items():
        if "p50" in theirs.get(peer, {}):
            out[name] = round(float(ours[mine]["p50"]) / float(theirs[peer]["p50"]), 2)
    return out


def http(home: Path, queries: list[str], seconds: float, clients: int, data: Path) -> dict[str, object]:
    """Audited searches through the real service; its memory sampled throughout (total, anon, file).

    ``data`` (accounts, audit log) is wiped and made afresh.
    """
    started = time.perf_counter()
    with perf_http.running_service(home, data, clients) as (base, tokens, pid):
        ready = time.perf_counter() - started
        at_start = memory_mb(pid)
        sampler = PeakSampler(pid)
        with sampler.running():
            single = perf_http.sequential(base, tokens[0], queries)
            many, wall = perf_http.concurrent(base, tokens, queries, seconds)
        at_end = memory_mb(pid)
        rss = perf_http.peak_rss_mb(pid)
    return {
        "audit": "on (every search recorded before it is answered)",
        "start_seconds": round(ready, 1),
        "clients_1": latency_and_rate(single),
        f"clients_{clients}": latency_summary(many)
        | {
            "searches": len(many),
            "seconds": round(wall, 1),
            "searches_per_second": round(len(many) / wall, 2),
        },
        "server_peak_rss_mb": rss,
        "server_memory": {"ready": at_start, "end": at_end, "during": sampler.report()},
    }


def incremental_add(home: Path, inputs: list[Path]) -> dict[str, object]:
    started = time.perf_counter()
    leian("add", "--index", str(home), "--input", *map(str, inputs), "--quiet")
    wall = time.perf_counter() - started
    manifest = json.loads((layout.resolve_current(home) / layout.MANIFEST).read_text())
    return {"seconds": round(wall, 1), "stages": manifest["stages"], "documents_after": manifest["counts"]}


FIT_METRICS: dict[str, Callable[[dict], object]] = {
    "inprocess_hybrid_p50": lambda r: r["in_process"]["hybrid"]["p50"],
    "inprocess_keyword_p50": lambda r: r["in_process"]["keyword"]["p50"],
    "inprocess_semantic_p50": lambda r: r["in_process"]["semantic"]["p50"],
    "keyword_recall_only_p50": lambda r: r["in_process"]["keyword_recall_only"]["p50"],
    "http_1_client_p50": lambda r: r["http"]["clients_1"]["p50"],
    "http_16_clients_p50": lambda r: r["http"]["clients_16"]["p50"],
    "serving_peak_rss_mb": lambda r: r["http"]["server_peak_rss_mb"],
    "serving_max_anon_mb": lambda r: r["http"]["server_memory"]["during"]["max_anon_mb"],
    "store_rss_mb": lambda r: r["memory"]["after_open"]["rss_mb"],
    "store_anon_mb_after_queries": lambda r: r["memory"]["after_queries"]["anon_mb"],
    "build_peak_rss_mb": lambda r: r["build"]["peak_rss_mb"],
    "build_cpu_seconds": lambda r: r["build"]["cpu_seconds"],
    "index_bytes": lambda r: r["corpus"]["index_bytes"],
    "jieba_bm25s_p50": lambda r: r["peers"]["jieba_bm25s"]["p50"],
    "tantivy_p50": lambda r: r["peers"]["tantivy"]["p50"],
    "tantivy_index_bytes": lambda r: r["peers"]["tantivy"]["index_bytes"],
    "faiss_exact_search_only_p50": lambda r: r["peers"]["faiss_exact_search_only"]["p50"],
}


def fit(paths: list[Path]) -> dict[str, object]:
    """Exponent b of y ∝ N^b for each cost measured in every run.

    ``exponents``: least squares on logs over all runs; with three or more, also ``r2`` of that
    line and ``segments``, the exponent between neighbouring sizes (growth that speeds up with N
    shows as a rising segment exponent, which one fitted line hides).
    """
    runs = sorted((json.loads(p.read_text()) for p in paths), key=lambda r: r["corpus"]["documents"])
    sizes = [r["corpus"]["documents"] for r in runs]
    n = np.log(sizes)
    out: dict[str, object] = {"N": sizes, "exponents": {}}
    if len(runs) >= 3:
        out["r2"], out["segments"] = {}, {}
    for name, get in FIT_METRICS.items():
        try:
            y = np.log([float(get(r)) for r in runs])
        except (KeyError, TypeError, ValueError):
            continue
        slope, intercept = np.polyfit(n, y, 1)
        out["exponents"][name] = round(float(slope), 3)
        if len(runs) >= 3:
            residual = y - (slope * n + intercept)
            total = float(np.sum((y - y.mean()) ** 2))
            out["r2"][name] = round(1 - float(np.sum(residual**2)) / total, 3) if total else 1.0
            out["segments"][name] = [round(float(b), 3) for b in np.diff(y) / np.diff(n)]
    return out


def load_build_json(path: Path) -> dict[str, object]:
    """The JSON ``bench/build.py`` printed: the whole file, or the last object in a captured log."""
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        start = text.rfind("\n{\n")
        if start < 0:
            raise
        return json.loads(text[start + 1 :])


def _build_matches(build: dict, store: IndexStore) -> bool:
    """Whether the build JSON describes this index's current build (not an earlier one)."""
    return Path(str(build.get("build_dir", ""))).name == store.version


def _options(args: argparse.Namespace, queries: int) -> dict[str, object]:
    return {
        "queries": queries,
        "http_seconds": args.http_seconds,
        "clients": args.clients,
        "rank_bm25_queries": args.rank_bm25_queries,
        "rank_bm25_docs": args.rank_bm25_docs,
        "skip": args.skip,
        "checksums_verified_on_open": not args.skip_checksums,
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="index home")
    parser.add_argument("--build", type=Path, help="JSON printed by bench/build.py for this index")
    parser.add_argument("--add-input", type=Path, nargs="*", help="judgments to add incrementally, last")
    parser.add_argument("--query-limit", type=int, help="the first N of the 107 LeCaRD queries (default all)")
    parser.add_argument("--http-seconds", type=float, default=60, help="length of the concurrent phase")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--http-data", type=Path, default=REPO / "build" / "perf-http-data", help="service data (wiped)"
    )
    parser.add_argument("--rank-bm25-queries", type=int, default=perf_peers.RANK_BM25_QUERIES)
    parser.add_argument("--rank-bm25-docs", type=int, default=perf_peers.RANK_BM25_MAX_DOCS)
    parser.add_argument(
        "--rank-bm25-max-n", type=int, default=10**9, help="skip rank_bm25 for a larger corpus (recorded)"
    )
    parser.add_argument("--peer-cache", type=Path, help="keep/load the jieba_bm25s index here (per build)")
    parser.add_argument("--ann-sweep-max-docs", type=int, default=ANN_SWEEP_MAX_DOCS)
    parser.add_argument(
        "--skip-checksums", action="store_true", help="open without sha256 of every file (store and server)"
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=SKIPPABLE)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--fit", type=Path, nargs="+", help="perf JSON files at different N")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.fit:
        emit_json(fit(args.fit), ensure_ascii=True)
        return 0
    if args.index is None:
        parser.error("--index is required (or --fit)")
    if args.skip_checksums:  # the server reads its settings from the environment
        os.environ["LEIAN_VERIFY_INDEX_CHECKSUMS"] = "false"
    queries = lecard_query_texts()[: args.query_limit]
    started_all = time.perf_counter()
    report: dict[str, object] = {
        "benchmark": "perf",
        "machine": {
            "cpus": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "load_average_start": os.getloadavg(),
            "note": "shared 2-core machine; other work ran beside this benchmark (CPU contention)",
        },
        "queries": {"source": "LeCaRD query.json (107 real queries), k=10", "count": len(queries)},
        "options": _options(args, len(queries)),
    }
    if args.build:
        report["build"] = load_build_json(args.build)
    before = memory_mb()
    started = time.perf_counter()
    store = IndexStore.open(args.index, verify_checksums=not args.skip_checksums)
    manifest = store.manifest
    report["corpus"] = {
        "documents": store.size,
        "build_id": store.version,
        "embedder": manifest["embedder"]["name"],
        "vector_index": store.vectors.describe(),
        "index_bytes": manifest["size_bytes"],
        "index_bytes_per_doc": round(manifest["size_bytes"] / store.size),
    }
    if args.build:
        report["corpus"]["build_json_matches_index"] = _build_matches(report["build"], store)
    report["memory"] = {"before_open": before, "open_seconds": round(time.perf_counter() - started, 1)}
    report["memory"]["after_open"] = memory_mb()
    report["in_process"] = in_process(store, queries)
    report["memory"]["after_queries"] = memory_mb()
    _stage("in-process", started_all)
    if "ann" not in args.skip:
        report["ann_served"] = served_ann(store, queries)
        if "ann_sweep" in args.skip or store.size > args.ann_sweep_max_docs:
            why = "--skip ann_sweep" if "ann_sweep" in args.skip else f"N > {args.ann_sweep_max_docs}"
            report["ann"] = {"skipped": f"{why}; see bench/results/ann-1m.json for the sweep at 1M"}
        else:
            vectors = perf_ann.index_vectors(store.build_dir)
            query_vectors = store.embedder.encode_queries(queries)
            report["ann"] = perf_ann.ann_sweep(vectors, query_vectors, ANN_GRID, {"efConstruction": 80})
            del vectors
        _stage("ann", started_all)
    build_dir, size = store.build_dir, store.size
    store.close()
    del store
    gc.collect()
    if "peers" not in args.skip:
        report["peers"] = peers(args, build_dir, len(queries), size)
        report["ratios_p50"] = ratios(report["in_process"], report["peers"])
        _stage("peers", started_all)
    if "http" not in args.skip:
        report["http"] = http(args.index, queries, args.http_seconds, args.clients, args.http_data)
        _stage("http", started_all)
    if args.add_input:
        report["incremental_add"] = incremental_add(args.index, args.add_input)
    report["machine"]["load_average_end"] = os.getloadavg()
    report["seconds"] = round(time.perf_counter() - started_all, 1)
    emit_json(report, args.out)
    return 0


def _stage(name: str, started: float) -> None:
    print(f"perf: {name} done at {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
