"""The peers of ``bench/perf.py``, each in its own process, so its memory is its own and not ours.

    python bench/perf_peers.py --index HOME --peer jieba_bm25s [--queries 107] [--peer-cache DIR]
    python bench/perf_peers.py --index HOME --peer rank_bm25 [--queries 30] [--rank-bm25-docs 20000]
    python bench/perf_peers.py --index HOME --peer faiss_exact [--queries 107]

Prints one JSON object: latency over the first ``--queries`` LeCaRD queries, top 10, and the
process's memory (peak RSS, and peak anonymous / file-backed RSS sampled while it ran).

- ``jieba_bm25s``: pure-Python ``jieba.lcut`` at query time, ``bm25s`` (its defaults: Lucene,
  k1 1.5, b 0.75) over the build's facts tokens (our segmenter's: pure-Python jieba would need
  ~20 minutes per 100k judgments). ``bm25s.BM25.index`` needs every document's token ids as Python
  lists (peak 483 MB at 10k, so ~48 GB at 1M), so the index is built by ``streamed_bm25s``: the
  same score matrix, computed as bm25s computes it, from one pass over the token lines (1.33 GB
  peak and 56 CPU-s at 101k, so ~10 GB and ~10 minutes at 1M), then queried by bm25s itself. The
  scores are bm25s's to the bit (``tests/test_perf_bench.py``).
- ``rank_bm25``: ``BM25Okapi`` keeps a dict per document and scores every document in Python per
  query, so it indexes at most ``--rank-bm25-docs`` documents (20,000: ~2.7 s a query there) and
  runs ``--queries`` of them; both are in the JSON.
- ``faiss_exact``: ``IndexFlatIP`` over the build's own vectors (from the exact index, or from the
  full vectors an IVF index keeps for its re-rank), one thread, with and without query embedding.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import perf_ann  # noqa: E402
from procmem import PeakSampler, memory_mb  # noqa: E402

from retrieval import index_layout as layout  # noqa: E402

PEERS = ("jieba_bm25s", "rank_bm25", "faiss_exact")
PEER_K = 10
RANK_BM25_MAX_DOCS = 20_000  # a dict per document: beyond this it needs >10 GB and ~3 s a query
RANK_BM25_QUERIES = 30
_CHUNK_DOCS = 4096


def facts_token_lines(build_dir: Path) -> Iterator[str]:
    """The build's facts tokens, one space-joined line per row, in row order.

    The one place the peers read the build's token files: ``tokens/facts.txt`` up to index format
    3, the gzip parts of ``index_build.token_store`` from format 4.
    """
    legacy = build_dir / layout.TOKENS / "facts.txt"
    if legacy.exists():
        with legacy.open(encoding="utf-8") as handle:
            yield from handle
        return
    from index_build.token_store import iter_token_lines

    yield from iter_token_lines(build_dir, "facts")


def timed(fn: Callable[[str], object], queries: list[str], warmup: int = 3) -> list[float]:
    for query in queries[:warmup]:
        fn(query)
    seconds = []
    for query in queries:
        started = time.perf_counter()
        fn(query)
        seconds.append(time.perf_counter() - started)
    return seconds


def summary(seconds: list[float]) -> dict[str, float]:
    return perf_ann.latency_summary(seconds) | {"per_second": round(len(seconds) / sum(seconds), 2)}


class _Ids(dict):
    """Token → id in order of first sight; a lookup is one C-level dict access (~20 % faster)."""

    def __missing__(self, key: str) -> int:
        value = self[key] = len(self)
        return value


def streamed_bm25s(lines: Iterable[str], k1: float = 1.5, b: float = 0.75):
    """A ``bm25s.BM25`` (Lucene variant) over space-joined token lines, built without token lists.

    One pass keeps, per document, its distinct terms and their counts (6 bytes a pair); then the
    CSC score matrix is filled column by column slot, chunk by chunk, as ``BM25.index`` would
    compute it (tf part in float64, idf in float32, scores stored as float32).
    """
    import bm25s

    vocab = _Ids()
    lengths: list[int] = []
    term_chunks: list[np.ndarray] = []
    tf_chunks: list[np.ndarray] = []
    pairs_per_doc: list[int] = []
    terms: list[int] = []
    tfs: list[int] = []
    for line in lines:
        counts = Counter(line.split())
        lengths.append(counts.total())
        pairs_per_doc.append(len(counts))
        terms.extend(map(vocab.__getitem__, counts))
        tfs.extend(counts.values())
        if len(lengths) % _CHUNK_DOCS == 0:  # chunks hold whole documents: _CHUNK_DOCS each
            term_chunks.append(np.array(terms, dtype=np.int32))
            tf_chunks.append(_counts_array(tfs))
            terms, tfs = [], []
    if terms:
        term_chunks.append(np.array(terms, dtype=np.int32))
        tf_chunks.append(_counts_array(tfs))
    del terms, tfs
    n_docs, n_vocab = len(lengths), len(vocab)
    doc_lengths = np.array(lengths, dtype=np.float64)
    avg_doc_len = np.array(lengths).mean()  # as bm25s computes it: np.float64
    del lengths
    df = np.zeros(n_vocab, dtype=np.int64)
    for chunk in term_chunks:
        df += np.bincount(chunk, minlength=n_vocab)
    idf = np.array([math.log(1 + (n_docs - d + 0.5) / (d + 0.5)) for d in df.tolist()], dtype=np.float32)
    indptr = np.zeros(n_vocab + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    data = np.empty(int(indptr[-1]), dtype=np.float32)
    indices = np.empty(int(indptr[-1]), dtype=np.int32)
    cursor = indptr[:-1].copy()
    pairs = np.array(pairs_per_doc, dtype=np.int64)
    del pairs_per_doc
    first = 0
    while term_chunks:
        chunk_terms, chunk_tfs = term_chunks.pop(0), tf_chunks.pop(0).astype(np.float64)
        stop = min(n_docs, first + _CHUNK_DOCS)
        docs = np.repeat(np.arange(first, stop, dtype=np.int32), pairs[first:stop])
        first = stop
        tfc = chunk_tfs / (k1 * ((1 - b) + b * doc_lengths[docs] / avg_doc_len) + chunk_tfs)
        scores = (idf[chunk_terms] * tfc).astype(np.float32)
        order = np.argsort(chunk_terms, kind="stable")  # within a term, documents stay ascending
        sorted_terms = chunk_terms[order]
        starts = np.flatnonzero(np.r_[True, sorted_terms[1:] != sorted_terms[:-1]])
        sizes = np.diff(np.r_[starts, len(sorted_terms)])
        rank = np.arange(len(sorted_terms)) - np.repeat(starts, sizes)
        slots = cursor[sorted_terms] + rank
        data[slots] = scores[order]
        indices[slots] = docs[order]
        cursor[sorted_terms[starts]] += sizes
    model = bm25s.BM25(k1=k1, b=b, method="lucene")
    vocab.setdefault("", len(vocab))  # as BM25.index(create_empty_token=True)
    model.scores = {"data": data, "indices": indices, "indptr": indptr, "num_docs": n_docs}
    model.vocab_dict = dict(vocab)
    model.unique_token_ids_set = set(vocab.values())
    model.nonoccurrence_array = None
    return model


def _counts_array(counts: list[int]) -> np.ndarray:
    return np.array(counts, dtype=np.uint16 if max(counts, default=0) < 1 << 16 else np.uint32)


def cached_bm25s(build_dir: Path, cache: Path | None) -> tuple[object, str]:
    """The peer's index of ``build_dir``: from ``cache/<build id>/`` when there, else built (and saved).

    At 1M the one pass over the token lines takes ~6–10 minutes of one core, so a benchmark run
    can load an index built beforehand; a loaded one is memory-mapped, as the service maps its own.
    """
    import bm25s

    folder = cache / build_dir.name if cache is not None else None
    if folder is not None and (folder / "params.index.json").exists():
        return bm25s.BM25.load(str(folder), mmap=True, show_progress=False), f"loaded (mmap) from {folder}"
    model = streamed_bm25s(facts_token_lines(build_dir))
    if folder is None:
        return model, "built in this process"
    partial = folder.with_name(folder.name + ".partial")
    model.save(str(partial), show_progress=False)
    partial.replace(folder)
    return model, f"built in this process, saved to {folder}"


def jieba_bm25s(build_dir: Path, queries: list[str], cache: Path | None = None) -> dict[str, object]:
    from lecard import peer_tokenize

    started = time.perf_counter()
    model, origin = cached_bm25s(build_dir, cache)
    built = time.perf_counter() - started
    gc.collect()
    after_index = memory_mb()
    peer_tokenize("被告人")  # jieba's dictionary loads here, not in the first timed query
    seconds = timed(lambda q: model.retrieve([peer_tokenize(q)], k=PEER_K, show_progress=False), queries)
    return summary(seconds) | {
        "documents": int(model.scores["num_docs"]),
        "postings": len(model.scores["data"]),
        "index_seconds": round(built, 1),
        "index": origin,
        "memory_after_index": after_index,
        "indexing": "streamed_bm25s: bm25s's score matrix built in one pass (BM25.index needs token lists)",
    }


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
    return summary(seconds) | {
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
        "with_embedding": summary(with_embedding),
        "search_only": summary(search_only),
        "documents": int(exact.ntotal),
    }


def run_peer(
    name: str,
    build_dir: Path,
    queries: list[str],
    rank_bm25_docs: int = RANK_BM25_MAX_DOCS,
    cache: Path | None = None,
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
        else:
            raise ValueError(f"unknown peer {name!r}; one of {PEERS}")
    return out | {
        "queries": len(queries),
        "seconds": round(time.perf_counter() - started, 1),
        "process_memory": sampler.report(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True, help="index home or build folder")
    parser.add_argument("--peer", choices=PEERS, required=True)
    parser.add_argument("--queries", type=int, help="the first N LeCaRD queries (default: all 107)")
    parser.add_argument("--rank-bm25-docs", type=int, default=RANK_BM25_MAX_DOCS)
    parser.add_argument("--peer-cache", type=Path, help="folder of jieba_bm25s indexes, one per build id")
    args = parser.parse_args(argv)
    queries = perf_ann.lecard_queries()[: args.queries]
    build_dir = layout.resolve_current(args.index)
    out = run_peer(args.peer, build_dir, queries, args.rank_bm25_docs, args.peer_cache)
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
