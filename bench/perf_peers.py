"""The peers of ``bench/perf.py``, each in its own process, so its memory is its own and not ours.

    python bench/perf_peers.py --index HOME --peer jieba_bm25s [--queries 107] [--peer-cache DIR]
    python bench/perf_peers.py --index HOME --peer rank_bm25 [--queries 30] [--rank-bm25-docs 20000]
    python bench/perf_peers.py --index HOME --peer faiss_exact [--queries 107]
    python bench/perf_peers.py --index HOME --peer tantivy [--queries 107] [--peer-cache DIR] [--rows]
    python bench/perf_peers.py --token-lines FILE --peer tantivy ...   # rows' token lines instead

Prints one JSON object: latency over the first ``--queries`` LeCaRD queries, top 10, and the
process's memory (peak RSS, and peak anonymous / file-backed RSS sampled while it ran).

- ``jieba_bm25s``: pure-Python ``jieba.lcut`` at query time, ``bm25s`` (its defaults: Lucene,
  k1 1.5, b 0.75) over the build's facts tokens (our segmenter's: pure-Python jieba would need
  ~20 minutes per 100k judgments). ``bm25s.BM25.index`` needs every document's token ids as Python
  lists (peak 483 MB at 10k, so ~48 GB at 1M), so the index is built by the service's streaming
  builder (``index_build.bm25_build``) with bm25s's parameters: the same score matrix to the bit
  (``tests/test_keyword_index_stream.py``, ``tests/test_perf_bench.py``), then queried by bm25s.
- ``rank_bm25``: ``BM25Okapi`` keeps a dict per document and scores every document in Python per
  query, so it indexes at most ``--rank-bm25-docs`` documents (20,000: ~2.7 s a query there) and
  runs ``--queries`` of them; both are in the JSON.
- ``tantivy``: the Rust engine of Lucene's design (block-max WAND; BM25 k1 1.2, b 0.75 as ours,
  document lengths rounded to a byte) over the same facts tokens the build holds, whitespace-joined,
  with its ``whitespace`` tokenizer and frequencies without positions; the query is our segmenter's
  tokens, one SHOULD term clause per token (a repeated token counts again, as in ours), top 10
  without counting the matches (counting would score every match). One writer thread, then its
  merges awaited; ``index_mb`` is the folder's size.
- ``faiss_exact``: ``IndexFlatIP`` over the build's own vectors (from the exact index, or from the
  full vectors an IVF index keeps for its re-rank), one thread, with and without query embedding.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import importlib.metadata
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import perf_ann  # noqa: E402
from _common import emit_json, latency_and_rate, lecard_query_texts, timed  # noqa: E402
from procmem import PeakSampler, memory_mb  # noqa: E402

from retrieval import index_layout as layout  # noqa: E402

PEERS = ("jieba_bm25s", "rank_bm25", "faiss_exact", "tantivy")
PEER_K = 10
RANK_BM25_MAX_DOCS = 20_000  # a dict per document: beyond this it needs >10 GB and ~3 s a query
RANK_BM25_QUERIES = 30


def facts_token_lines(build_dir: Path) -> Iterator[str]:
    """The build's facts tokens, one space-joined line per row, in row order (index format ≥ 4)."""
    from index_build.token_store import iter_token_lines

    return iter_token_lines(build_dir, "facts")


PEER_BM25_PARAMS = {"k1": 1.5, "b": 0.75, "method": "lucene"}  # bm25s's own defaults


def cached_bm25s(build_dir: Path, cache: Path | None) -> tuple[object, str]:
    """The peer's index of ``build_dir``: from ``cache/<build id>/`` when there, else built and saved.

    Built by the service's own streaming builder with bm25s's default parameters, then loaded
    (memory-mapped) and queried by bm25s itself; without ``cache`` it goes to a temporary folder.
    """
    import tempfile

    import bm25s

    from index_build.bm25_build import build_bm25

    if cache is not None and (cache / build_dir.name / "params.index.json").exists():
        folder = cache / build_dir.name
        return bm25s.BM25.load(str(folder), mmap=True, show_progress=False), f"loaded (mmap) from {folder}"
    if cache is None:
        folder = Path(tempfile.mkdtemp(prefix="peer-bm25s-")) / build_dir.name
        origin = "built in this process (index_build.bm25_build, bm25s defaults)"
    else:
        folder = cache / build_dir.name
        origin = f"built in this process (index_build.bm25_build, bm25s defaults), saved to {folder}"
    partial = folder.with_name(folder.name + ".partial")
    build_bm25(facts_token_lines(build_dir), partial, params=PEER_BM25_PARAMS)
    partial.replace(folder)
    return bm25s.BM25.load(str(folder), mmap=True, show_progress=False), origin


def jieba_bm25s(build_dir: Path, queries: list[str], cache: Path | None = None) -> dict[str, object]:
    from lecard import peer_tokenize

    started = time.perf_counter()
    model, origin = cached_bm25s(build_dir, cache)
    built = time.perf_counter() - started
    gc.collect()
    after_index = memory_mb()
    peer_tokenize("被告人")  # jieba's dictionary loads here, not in the first timed query
    seconds = timed(lambda q: model.retrieve([peer_tokenize(q)], k=PEER_K, show_progress=False), queries)
    return latency_and_rate(seconds) | {
        "documents": int(model.scores["num_docs"]),
        "postings": len(model.scores["data"]),
        "index_seconds": round(built, 1),
        "index": origin,
        "memory_after_index": after_index,
        "indexing": "index_build.bm25_build with bm25s's defaults (BM25.index needs every token list in memory)",
    }


TANTIVY_FIELD = "body"
TANTIVY_HEAP = 512 * 1024 * 1024  # the writer's buffer: fewer, larger segments


def cached_tantivy(
    lines: Callable[[], Iterable[str]], name: str, cache: Path | None
) -> tuple[object, Path, str]:
    """The tantivy index of the token ``lines`` (one row each): from ``cache/tantivy-<name>/`` when
    there, else built (into a temporary folder without ``cache``)."""
    import tempfile

    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field(TANTIVY_FIELD, stored=False, tokenizer_name="whitespace", index_option="freq")
    builder.add_unsigned_field("row", stored=False, indexed=False, fast=True)
    schema = builder.build()
    parent = Path(tempfile.mkdtemp(prefix="peer-tantivy-")) if cache is None else cache
    folder = parent / f"tantivy-{name}"
    if (folder / "meta.json").exists():
        return tantivy.Index(schema, path=str(folder), reuse=True), folder, "loaded"
    partial = folder.with_name(folder.name + ".partial")
    if partial.exists():
        import shutil

        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    index = tantivy.Index(schema, path=str(partial), reuse=False)
    writer = index.writer(TANTIVY_HEAP, 1)
    for row, line in enumerate(lines()):
        document = tantivy.Document()
        document.add_text(TANTIVY_FIELD, line)
        document.add_unsigned("row", row)
        writer.add_document(document)
    writer.commit()
    writer.wait_merging_threads()
    del writer, index
    partial.replace(folder)
    return tantivy.Index(schema, path=str(folder), reuse=True), folder, "built in this process"


def tantivy_peer(
    build_dir: Path | None,
    queries: list[str],
    cache: Path | None = None,
    rows: bool = False,
    token_lines: Path | None = None,
) -> dict[str, object]:
    """tantivy over ``build_dir``'s facts tokens, or over the lines of ``token_lines``."""
    import tantivy

    from retrieval.segmenter import default_segmenter

    started = time.perf_counter()
    if token_lines is not None:

        def lines() -> Iterator[str]:
            opener = gzip.open if token_lines.suffix == ".gz" else open
            with opener(token_lines, "rt", encoding="utf-8") as handle:
                yield from (line.rstrip("\n") for line in handle)

        index, folder, origin = cached_tantivy(lines, token_lines.name.split(".")[0], cache)
    else:
        assert build_dir is not None
        index, folder, origin = cached_tantivy(lambda: facts_token_lines(build_dir), build_dir.name, cache)
    built = time.perf_counter() - started
    index.reload()
    searcher = index.searcher()
    schema = index.schema
    gc.collect()
    after_index = memory_mb()
    segmenter = default_segmenter()
    tokenized = [segmenter.tokens(q) for q in queries]

    def search(tokens: list[str]) -> object:
        clauses = [(tantivy.Occur.Should, tantivy.Query.term_query(schema, TANTIVY_FIELD, t)) for t in tokens]
        return searcher.search(tantivy.Query.boolean_query(clauses), PEER_K, count=False)

    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    cpu_started = time.process_time()
    seconds = timed(search, tokenized)
    cpu_ms = (time.process_time() - cpu_started) * 1000 / (len(tokenized) + min(3, len(tokenized)))
    with_segmentation = timed(lambda q: search(segmenter.tokens(q)), queries)
    out = latency_and_rate(seconds) | {
        "cpu_ms_per_query": round(cpu_ms, 3),
        "with_segmentation": latency_and_rate(with_segmentation),
        "documents": int(searcher.num_docs),
        "segments": int(searcher.num_segments),
        "index_bytes": size,
        "index_mb": round(size / 1e6, 1),
        "index_seconds": round(built, 1),
        "index": f"{origin} ({folder})",
        "memory_after_index": after_index,
        "tantivy": importlib.metadata.version("tantivy"),
        "timed": "search only, the query's tokens given (our segmenter's); with_segmentation: both",
    }
    if rows:  # each query's top 10 as our rows, to compare rankings (bench/keyword_prune.py)
        top = []
        for tokens in tokenized:
            hits = search(tokens).hits
            top.append(searcher.fast_field_values("row", [address for _, address in hits]))
        out["top_rows"] = top
    return out


def rank_bm25(build_dir: Path, queries: list[str], max_docs: int) -> dict[str, object]:
    from lecard import peer_tokenize
    from rank_bm25 import BM25Okapi

    lines = []
    for number, line in enumerate(facts_token_lines(build_dir)):
        if number >= max_docs:
            break
        lines.append(line.split())
    started = time.perf_counter()
    model = BM25Okapi(lines)
    built = time.perf_counter() - started
    seconds = timed(lambda q: np.argsort(-model.get_scores(peer_tokenize(q)))[:PEER_K], queries, 1)
    return latency_and_rate(seconds) | {
        "documents": len(lines),
        "index_seconds": round(built, 1),
        "limit": f"indexes the first {max_docs} documents (a dict per document; linear per query)",
    }


def faiss_exact(build_dir: Path, queries: list[str]) -> dict[str, object]:
    import faiss

    from retrieval.embedder import Embedder
    from retrieval.index_store import read_manifest
    from retrieval.vector_index import single_thread

    location = Path(read_manifest(build_dir)["embedder"]["location"])
    embedder = Embedder(location if location.is_absolute() else build_dir / location)
    vectors = perf_ann.index_vectors(build_dir)
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    del vectors
    encoded = embedder.encode_queries(queries)
    rows = [str(i) for i in range(len(queries))]
    with single_thread():  # as VectorIndex.search runs one query
        with_embedding = timed(lambda q: exact.search(embedder.encode_queries([q]), PEER_K), queries)
        search_only = timed(lambda i: exact.search(encoded[int(i) : int(i) + 1], PEER_K), rows)
    return {
        "with_embedding": latency_and_rate(with_embedding),
        "search_only": latency_and_rate(search_only),
        "documents": int(exact.ntotal),
    }


def run_peer(
    name: str,
    build_dir: Path | None,
    queries: list[str],
    rank_bm25_docs: int = RANK_BM25_MAX_DOCS,
    cache: Path | None = None,
    rows: bool = False,
    token_lines: Path | None = None,
) -> dict[str, object]:
    """One peer's figures plus this process's memory while it ran."""
    sampler = PeakSampler()
    started = time.perf_counter()
    with sampler.running():
        if name == "jieba_bm25s":
            out = jieba_bm25s(build_dir, queries, cache)
        elif name == "rank_bm25":
            out = rank_bm25(build_dir, queries, rank_bm25_docs)
        elif name == "faiss_exact":
            out = faiss_exact(build_dir, queries)
        elif name == "tantivy":
            out = tantivy_peer(build_dir, queries, cache, rows, token_lines)
        else:
            raise ValueError(f"unknown peer {name!r}; one of {PEERS}")
    return out | {
        "queries": len(queries),
        "seconds": round(time.perf_counter() - started, 1),
        "process_memory": sampler.report(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--index", type=Path, help="index home or build folder")
    where.add_argument(
        "--token-lines", type=Path, help="tantivy: index these token lines instead (one row each)"
    )
    parser.add_argument("--peer", choices=PEERS, required=True)
    parser.add_argument("--queries", type=int, help="the first N LeCaRD queries (default: all 107)")
    parser.add_argument("--rank-bm25-docs", type=int, default=RANK_BM25_MAX_DOCS)
    parser.add_argument(
        "--peer-cache", type=Path, help="folder of jieba_bm25s and tantivy indexes, one per build id"
    )
    parser.add_argument("--rows", action="store_true", help="tantivy: each query's top-10 rows too")
    args = parser.parse_args(argv)
    queries = lecard_query_texts()[: args.queries]
    if args.token_lines is not None and args.peer != "tantivy":
        parser.error("--token-lines is for --peer tantivy")
    build_dir = None if args.index is None else layout.resolve_current(args.index)
    out = run_peer(
        args.peer, build_dir, queries, args.rank_bm25_docs, args.peer_cache, args.rows, args.token_lines
    )
    emit_json(out, indent=None)  # one line: bench/perf.py reads the last line of the output
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
