"""Speed, memory and scale of one index, side by side with the peers a user would otherwise pick.

    python bench/perf.py --index build/scale/idx-100k [--build build/scale/build-100k.json]
        [--add-input build/scale/add-1k.jsonl] [--http-seconds 60] --out bench/results/perf-100k.json
    python bench/perf.py --fit bench/results/perf-10k.json bench/results/perf-100k.json

One run measures, over the 107 real LeCaRD queries: in-process latency of
``retrieval.search.search`` (default hybrid, keyword only, semantic only) and of the raw keyword
recall; the peers on the same corpus and queries (jieba + bm25s, rank_bm25, FAISS exact search
over the index's own vectors) with the ratios; audited searches over HTTP (1 client, 16
concurrent clients, sustained searches/s, the server's peak RSS); ANN recall@100 against exact
search on the index's vectors; optionally the build figures (JSON of ``bench/build.py``) and an
incremental add. ``--fit`` prints the exponent b of cost ∝ N^b between runs at different N.
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

import faiss
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import perf_ann  # noqa: E402
import perf_http  # noqa: E402

from retrieval import index_layout as layout  # noqa: E402
from retrieval.index_store import IndexStore  # noqa: E402
from retrieval.methods import keyword_hits  # noqa: E402
from retrieval.request import Method, SearchRequest  # noqa: E402
from retrieval.search import search  # noqa: E402
from retrieval.vector_index import single_thread  # noqa: E402

RANK_BM25_MAX_DOCS = 20_000  # rank_bm25 holds a dict per document; beyond this it needs >10 GB
PEER_K = 10
ANN_GRID = {
    "IVF{nlist},SQ8,RFlat": [{"nprobe": p, "k_factor_rf": 2} for p in (32, 64)],
    "HNSW32,Flat": [{"efSearch": 256}],
}


def _rss_mb() -> dict[str, float]:
    status = Path("/proc/self/status").read_text().splitlines()
    values = {
        line.split(":")[0]: int(line.split()[1]) for line in status if line.startswith(("VmRSS", "VmHWM"))
    }
    return {"rss_mb": round(values["VmRSS"] / 1024, 1), "peak_rss_mb": round(values["VmHWM"] / 1024, 1)}


def _timed(fn: Callable[[str], object], queries: list[str], warmup: int = 3) -> list[float]:
    for query in queries[:warmup]:
        fn(query)
    seconds = []
    for query in queries:
        started = time.perf_counter()
        fn(query)
        seconds.append(time.perf_counter() - started)
    return seconds


def _summary(seconds: list[float]) -> dict[str, float]:
    return perf_ann.latency_summary(seconds) | {"per_second": round(len(seconds) / sum(seconds), 2)}


def in_process(store: IndexStore, queries: list[str]) -> dict[str, object]:
    stages: list[dict[str, float]] = []

    def hybrid(q: str) -> None:
        stages.append(search(store, SearchRequest(facts=q, k=10)).timings_ms)

    def only(method: Method) -> Callable[[str], object]:
        return lambda q: search(store, SearchRequest(facts=q, k=10, methods=(method,)))

    out: dict[str, object] = {"hybrid": _summary(_timed(hybrid, queries))}
    out["hybrid_stage_ms_mean"] = {
        name: round(float(np.mean([s[name] for s in stages])), 2) for name in stages[-1]
    }
    out["keyword"] = _summary(_timed(only(Method.KEYWORD), queries))
    out["semantic"] = _summary(_timed(only(Method.SEMANTIC), queries))
    out["keyword_recall_only"] = _summary(
        _timed(lambda q: keyword_hits(store, store.segmenter.tokens(q), PEER_K, "facts"), queries)
    )
    return out


def _token_lines(build_dir: Path, limit: int | None = None) -> list[list[str]]:
    lines = []
    with (build_dir / layout.TOKENS / "facts.txt").open(encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if limit is not None and number >= limit:
                break
            lines.append(line.split())
    return lines


def _jieba_bm25s(build_dir: Path, queries: list[str]) -> dict[str, float]:
    import bm25s
    from lecard import peer_tokenize

    vocab: dict[str, int] = {}
    with (build_dir / layout.TOKENS / "facts.txt").open(encoding="utf-8") as handle:
        ids = [[vocab.setdefault(t, len(vocab)) for t in line.split()] for line in handle]
    model = bm25s.BM25()
    model.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
    del ids
    peer_tokenize("被告人")  # jieba's dictionary loads here, not in the first timed query
    return _summary(
        _timed(lambda q: model.retrieve([peer_tokenize(q)], k=PEER_K, show_progress=False), queries)
    )


def _rank_bm25(build_dir: Path, queries: list[str]) -> dict[str, object]:
    from lecard import peer_tokenize
    from rank_bm25 import BM25Okapi

    lines = _token_lines(build_dir, RANK_BM25_MAX_DOCS)
    model = BM25Okapi(lines)
    subset = queries[:30]  # ~1 s a query: 30 are enough for its percentiles
    seconds = _timed(lambda q: np.argsort(-model.get_scores(peer_tokenize(q)))[:PEER_K], subset, 1)
    return _summary(seconds) | {"documents": len(lines), "queries": len(subset)}


def _faiss_exact(store: IndexStore, queries: list[str]) -> dict[str, object]:
    exact = faiss.IndexFlatIP(store.vectors.dimension)
    exact.add(perf_ann.index_vectors(store.build_dir))
    vectors = store.embedder.encode_queries(queries)
    rows = [str(i) for i in range(len(queries))]
    with single_thread():  # as VectorIndex.search runs one query
        return {
            "with_embedding": _summary(
                _timed(lambda q: exact.search(store.embedder.encode_queries([q]), PEER_K), queries)
            ),
            "search_only": _summary(
                _timed(lambda i: exact.search(vectors[int(i) : int(i) + 1], PEER_K), rows)
            ),
        }


def peers(store: IndexStore, queries: list[str]) -> dict[str, object]:
    """The same queries through jieba + bm25s, rank_bm25 and FAISS exact search, top 10 each.

    The peers index the build's facts tokens (our segmenter's), because pure-Python jieba needs
    ~20 minutes per 100k judgments; at query time they tokenise with jieba as a user would.
    rank_bm25 keeps a dict per document, so it indexes at most the first 20,000 documents.
    """
    out: dict[str, object] = {"jieba_bm25s": _jieba_bm25s(store.build_dir, queries)}
    gc.collect()
    out["rank_bm25"] = _rank_bm25(store.build_dir, queries)
    gc.collect()
    exact = _faiss_exact(store, queries)
    out["faiss_exact_with_embedding"] = exact["with_embedding"]
    out["faiss_exact_search_only"] = exact["search_only"]
    return out


def ratios(ours: dict, theirs: dict) -> dict[str, float]:
    def p50(section: dict, name: str) -> float:
        return float(section[name]["p50"])

    return {
        "keyword_recall_vs_jieba_bm25s": round(
            p50(ours, "keyword_recall_only") / p50(theirs, "jieba_bm25s"), 2
        ),
        "keyword_search_vs_jieba_bm25s": round(p50(ours, "keyword") / p50(theirs, "jieba_bm25s"), 2),
        "hybrid_vs_jieba_bm25s": round(p50(ours, "hybrid") / p50(theirs, "jieba_bm25s"), 2),
        "hybrid_vs_rank_bm25": round(p50(ours, "hybrid") / p50(theirs, "rank_bm25"), 2),
        "semantic_search_vs_faiss_exact": round(
            p50(ours, "semantic") / p50(theirs, "faiss_exact_with_embedding"), 2
        ),
    }


def http(home: Path, queries: list[str], seconds: float, clients: int) -> dict[str, object]:
    data = REPO / "build" / "perf-http-data"
    with perf_http.running_service(home, data, clients) as (base, tokens, pid):
        single = perf_http.sequential(base, tokens[0], queries)
        many, wall = perf_http.concurrent(base, tokens, queries, seconds)
        rss = perf_http.peak_rss_mb(pid)
    return {
        "audit": "on (every search recorded before it is answered)",
        "clients_1": _summary(single),
        f"clients_{clients}": perf_ann.latency_summary(many)
        | {
            "searches": len(many),
            "seconds": round(wall, 1),
            "searches_per_second": round(len(many) / wall, 2),
        },
        "server_peak_rss_mb": rss,
    }


def incremental_add(home: Path, inputs: list[Path]) -> dict[str, object]:
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "api.cli",
            "add",
            "--index",
            str(home),
            "--input",
            *map(str, inputs),
            "--quiet",
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - started
    manifest = json.loads((layout.resolve_current(home) / layout.MANIFEST).read_text())
    return {"seconds": round(wall, 1), "stages": manifest["stages"], "documents_after": manifest["counts"]}


def fit(paths: list[Path]) -> dict[str, object]:
    """Exponent b of y ∝ N^b (least squares on logs) for each cost measured in every run."""
    runs = [json.loads(p.read_text()) for p in paths]
    n = np.log([r["corpus"]["documents"] for r in runs])
    metrics = {
        "inprocess_hybrid_p50": lambda r: r["in_process"]["hybrid"]["p50"],
        "inprocess_keyword_p50": lambda r: r["in_process"]["keyword"]["p50"],
        "inprocess_semantic_p50": lambda r: r["in_process"]["semantic"]["p50"],
        "http_1_client_p50": lambda r: r["http"]["clients_1"]["p50"],
        "http_16_clients_p50": lambda r: r["http"]["clients_16"]["p50"],
        "serving_peak_rss_mb": lambda r: r["http"]["server_peak_rss_mb"],
        "store_rss_mb": lambda r: r["memory"]["after_open"]["rss_mb"],
        "build_peak_rss_mb": lambda r: r["build"]["peak_rss_mb"],
        "index_bytes": lambda r: r["corpus"]["index_bytes"],
        "jieba_bm25s_p50": lambda r: r["peers"]["jieba_bm25s"]["p50"],
    }
    out: dict[str, object] = {"N": [r["corpus"]["documents"] for r in runs], "exponents": {}}
    for name, get in metrics.items():
        try:
            y = np.log([float(get(r)) for r in runs])
        except (KeyError, TypeError):
            continue
        out["exponents"][name] = round(float(np.polyfit(n, y, 1)[0]), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, help="index home")
    parser.add_argument("--build", type=Path, help="JSON printed by bench/build.py for this index")
    parser.add_argument("--add-input", type=Path, nargs="*", help="judgments to add incrementally, last")
    parser.add_argument("--http-seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--skip", nargs="*", default=[], choices=["peers", "http", "ann"])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--fit", type=Path, nargs="+", help="perf JSON files at different N")
    args = parser.parse_args(argv)
    if args.fit:
        print(json.dumps(fit(args.fit), indent=1))
        return 0
    if args.index is None:
        parser.error("--index is required (or --fit)")

    queries = perf_ann.lecard_queries()
    report: dict[str, object] = {
        "benchmark": "perf",
        "machine": {
            "cpus": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "load_average_start": os.getloadavg(),
            "note": "shared 2-core machine; other work ran beside this benchmark (CPU contention)",
        },
        "queries": {"source": "LeCaRD query.json (107 real queries), k=10", "count": len(queries)},
    }
    if args.build:
        report["build"] = json.loads(args.build.read_text())
    before = _rss_mb()
    started = time.perf_counter()
    store = IndexStore.open(args.index)
    manifest = store.manifest
    report["corpus"] = {
        "documents": store.size,
        "build_id": store.version,
        "embedder": manifest["embedder"]["name"],
        "vector_index": store.vectors.describe(),
        "index_bytes": manifest["size_bytes"],
        "index_bytes_per_doc": round(manifest["size_bytes"] / store.size),
    }
    report["memory"] = {"before_open": before, "open_seconds": round(time.perf_counter() - started, 1)}
    report["memory"]["after_open"] = _rss_mb()
    report["in_process"] = in_process(store, queries)
    report["memory"]["after_queries"] = _rss_mb()
    if "peers" not in args.skip:
        report["peers"] = peers(store, queries)
        report["ratios_p50"] = ratios(report["in_process"], report["peers"])
    if "ann" not in args.skip:
        vectors = perf_ann.index_vectors(store.build_dir)
        query_vectors = store.embedder.encode_queries(queries)
        report["ann"] = perf_ann.ann_sweep(vectors, query_vectors, ANN_GRID, {"efConstruction": 80})
        del vectors
    store.close()
    del store
    gc.collect()
    if "http" not in args.skip:
        report["http"] = http(args.index, queries, args.http_seconds, args.clients)
    if args.add_input:
        report["incremental_add"] = incremental_add(args.index, args.add_input)
    report["machine"]["load_average_end"] = os.getloadavg()
    text = json.dumps(report, ensure_ascii=False, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
