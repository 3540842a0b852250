"""ANN recall and latency against exact search, and synthetic-corpus vectors without a full build.

Used by ``bench/perf.py``; also runnable alone over an index's vectors or a synthetic corpus:

    python bench/perf_ann.py --index build/scale/idx-100k            # the index's own vectors
    python bench/perf_ann.py --index build/scale/idx-100k --synthetic 1000000   # 1M, same embedder

Recall@100 is |ANN top 100 ∩ exact top 100| / 100 for each of the 107 real LeCaRD queries embedded
by the index's embedder, averaged. Latency is one query per call, as the service searches.

The ``--synthetic`` vectors are those the static embedder gives the facts of ``bench/scale_corpus``
documents 0..N-1 (same seed), computed as the normalised sum of per-sentence token-vector sums
(mean pooling is a normalised sum, and the corpus recombines whole sentences), so 1M vectors take
minutes instead of a 2-hour build; new names and shifted years are the only tokens it misses
(``fidelity`` reports the cosine to the real build's vectors where they overlap).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import faiss
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from _common import emit_json, latency_summary, lecard_query_texts, timed_calls  # noqa: E402

from retrieval import index_layout as layout  # noqa: E402
from retrieval.embedder import Embedder  # noqa: E402
from retrieval.index_store import read_manifest  # noqa: E402
from retrieval.segmenter import default_segmenter  # noqa: E402
from retrieval.vector_index import (  # noqa: E402
    VectorIndexSpec,
    build_vector_index,
    configure,
    single_thread,
)

RECALL_K = 100


def index_vectors(build_dir: Path) -> np.ndarray:
    """All vectors of a build, row order (the build adds rows 0..n-1 in order).

    From the exact index itself (``IDMap2,Flat``) or, above ``EXACT_SEARCH_LIMIT``, from the full
    vectors that an IVF index's exact re-rank (``RFlat``) keeps: the build's vector spool is gone.
    """
    index = faiss.read_index(str(build_dir / layout.VECTORS))
    flat = _flat_vectors(faiss.downcast_index(index.index))
    if flat is None:
        raise ValueError(
            f"{build_dir}: no full vectors in {type(faiss.downcast_index(index.index)).__name__}"
        )
    ids = faiss.vector_to_array(index.id_map)
    if not np.array_equal(ids, np.arange(len(ids))):
        raise ValueError(f"{build_dir}: ids are not rows 0..n-1 in order")
    return flat.reconstruct_n(0, flat.ntotal)


def _flat_vectors(inner: faiss.Index) -> faiss.IndexFlat | None:
    if isinstance(inner, faiss.IndexFlat):
        return inner
    if isinstance(inner, faiss.IndexRefine):
        refine = faiss.downcast_index(inner.refine_index)
        return refine if isinstance(refine, faiss.IndexFlat) else None
    return None


def timed_search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, list[float]]:
    """One query per call on one thread, as ``VectorIndex.search`` runs a search."""
    with single_thread():
        rows, seconds = timed_calls(lambda query: index.search(query.reshape(1, -1), k)[1][0], queries)
    return np.stack(rows), seconds


def recall_at(found: np.ndarray, truth: np.ndarray, k: int = RECALL_K) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth, strict=True)]))


DEFAULT_GRID: dict[str, list[dict[str, float]]] = {
    "IVF{nlist},SQ8,RFlat": [{"nprobe": p, "k_factor_rf": 2} for p in (16, 32, 64, 128)],
    "IVF{nlist},PQ32,RFlat": [{"nprobe": p, "k_factor_rf": 4} for p in (32, 64, 128)],
    "HNSW32,Flat": [{"efSearch": ef} for ef in (128, 256, 512)],  # slowest to build: last
}


def ann_sweep(
    vectors: np.ndarray,
    queries: np.ndarray,
    grid: dict[str, list[dict[str, float]]] | None = None,
    build_params: dict[str, float] | None = None,
) -> dict[str, object]:
    """Exact search, then each factory of ``grid`` built once and searched with each parameter set."""
    grid = DEFAULT_GRID if grid is None else grid
    n, dim = vectors.shape
    nlist = int(4 * np.sqrt(n)) // 256 * 256 or 256  # faiss' rule of thumb 4·√N, in steps of 256
    exact = faiss.IndexFlatIP(dim)
    exact.add(vectors)
    truth, seconds = timed_search(exact, queries, RECALL_K)
    out: dict[str, object] = {
        "vectors": n,
        "dimension": dim,
        "queries": len(queries),
        "search_threads": 1,
        "build_threads": faiss.omp_get_max_threads(),
        "exact": {"factory": "Flat", "latency_ms": latency_summary(seconds)},
        "ann": [],
    }
    del exact
    for template, settings in grid.items():
        factory = "IDMap2," + template.format(nlist=nlist)
        started = time.perf_counter()
        index = build_vector_index(VectorIndexSpec(factory, dict(build_params or {})), vectors)
        built = time.perf_counter() - started
        for params in settings:
            configure(index, params)
            found, seconds = timed_search(index, queries, RECALL_K)
            out["ann"].append(
                {
                    "factory": factory,
                    "params": params,
                    "build_s": round(built, 1),
                    "recall@100": round(recall_at(found, truth), 4),
                    "latency_ms": latency_summary(seconds),
                }
            )
            print(json.dumps(out["ann"][-1]), file=sys.stderr, flush=True)
        del index
    return out


def _static_parts(embedder_folder: Path) -> tuple[np.ndarray, object]:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(embedder_folder), device="cpu", local_files_only=True)
    static = model[0]
    return static.embedding.weight.detach().numpy(), static.tokenizer


def sentence_sums(pool_sentences: list[str], weights: np.ndarray, tokenizer: object) -> np.ndarray:
    """Σ of token vectors of each sentence, as the static embedder sees its tokens."""
    segmenter = default_segmenter()
    out = np.zeros((len(pool_sentences), weights.shape[1]), dtype=np.float32)
    for start in range(0, len(pool_sentences), 4096):
        chunk = pool_sentences[start : start + 4096]
        lines = [" ".join(segmenter.tokens(s.replace("\x01", " "))) for s in chunk]
        for offset, encoding in enumerate(tokenizer.encode_batch(lines, add_special_tokens=False)):
            if encoding.ids:
                out[start + offset] = weights[encoding.ids].sum(axis=0)
    return out


def synthetic_vectors(n: int, seed: int, embedder_folder: Path, chunk: int = 4096) -> np.ndarray:
    """Vectors of the facts of scale-corpus documents 0..n-1 (see the module docstring)."""
    import scale_corpus

    sources = scale_corpus.load_sources()
    weights, tokenizer = _static_parts(embedder_folder)
    offsets: dict[str, int] = {}
    sentences: list[str] = []
    for charge in sources.charges:
        offsets[charge] = len(sentences)
        sentences.extend(sources.pools[charge].sentences)
    sums = sentence_sums(sentences, weights, tokenizer)
    vectors = np.zeros((n, weights.shape[1]), dtype=np.float32)
    for start in range(0, n, chunk):
        picks: list[int] = []
        bounds: list[int] = []
        for i in range(start, min(n, start + chunk)):
            case = scale_corpus.recipe(sources, seed, i)
            bounds.append(len(picks))
            picks.extend(offsets[case.charge] + s for s in case.fact_sentences)
        vectors[start : start + len(bounds)] = np.add.reduceat(sums[np.asarray(picks)], bounds, axis=0)
    faiss.normalize_L2(vectors)
    return vectors


def _holds_synthetic(build_dir: Path, seed: int) -> bool:
    from retrieval.metadata import MetadataStore

    store = MetadataStore(build_dir / layout.METADATA)
    try:
        return store.document(0).doc_id == f"SYN-{seed}-0000000"
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True, help="index home or build folder")
    parser.add_argument("--synthetic", type=int, help="N scale-corpus vectors instead of the index's own")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--grid", type=Path, help="JSON {factory template: [params, ...]}")
    parser.add_argument("--efConstruction", type=int, default=80)
    args = parser.parse_args(argv)
    build_dir = layout.resolve_current(args.index)
    manifest = read_manifest(build_dir)
    location = Path(manifest["embedder"]["location"])
    folder = location if location.is_absolute() else build_dir / location
    queries = Embedder(folder).encode_queries(lecard_query_texts())
    started = time.perf_counter()
    report: dict[str, object] = {"benchmark": "ann", "embedder": manifest["embedder"]["name"]}
    if args.synthetic:
        cache = (
            REPO
            / "build"
            / "scale"
            / f"vectors-{args.synthetic}-s{args.seed}-{manifest['embedder']['sha256'][:12]}.npy"
        )
        if cache.exists():
            vectors = np.load(cache, mmap_mode="r")
        else:
            vectors = synthetic_vectors(args.synthetic, args.seed, folder)
            np.save(cache, vectors)
        report["source"] = f"scale_corpus seed={args.seed}, sentence-sum vectors"
        if _holds_synthetic(build_dir, args.seed):  # the same documents built for real: compare
            own = index_vectors(build_dir)
            cosine = np.sum(own * vectors[: len(own)], axis=1)
            report["fidelity"] = {
                "documents": len(own),
                "cosine_mean": round(float(cosine.mean()), 4),
                "cosine_p5": round(float(np.percentile(cosine, 5)), 4),
            }
    else:
        vectors = index_vectors(build_dir)
        report["source"] = str(build_dir)
    report["vectors_s"] = round(time.perf_counter() - started, 1)
    grid = json.loads(args.grid.read_text()) if args.grid else None
    report |= ann_sweep(vectors, queries, grid, {"efConstruction": args.efConstruction})
    emit_json(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
