"""FAISS vector index over L2-normalised vectors (inner product = cosine), ids = metadata rows.

The index structure is one ``faiss.index_factory`` string plus its parameters, recorded in the
manifest and in every audit record, and chosen by corpus size from measurements
(``bench/perf_ann.py``, figures in ``bench/README.md``): exact ``Flat`` while brute force is cheap;
beyond, IVF with 8-bit scalar quantisation whose shortlist is re-ranked exactly (``RFlat``, which
also keeps the full vectors for 案例关联 search from a stored case).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

# Up to this many vectors exact search is fast enough that exactness costs nothing a judge would notice
# (see bench/README.md).
EXACT_SEARCH_LIMIT = 200_000
# nprobe 64: recall@100 above 0.98 with margin at a million judgments (see bench/README.md).
IVF_PARAMS = {"nprobe": 64, "k_factor_rf": 2}
TRAINING_SAMPLE = 160_000  # k-means points: faiss asks for 39 per list, 149,760 at 1M (nlist 3840)
_ADD_BATCH = 65_536  # vectors copied to float32 and added at a time: bounds the copy, not the index
_BUILD_ONLY = ("efConstruction",)  # set before vectors are added; not search parameters


@dataclass(frozen=True)
class VectorIndexSpec:
    factory: str
    params: dict[str, float]

    def as_dict(self) -> dict[str, object]:
        return {"factory": self.factory, "metric": "inner_product", "params": dict(self.params)}


def ivf_lists(n_docs: int) -> int:
    """faiss' rule of thumb 4·√N inverted lists, in steps of 256."""
    return max(256, int(4 * np.sqrt(n_docs)) // 256 * 256)


def choose_index_spec(n_docs: int) -> VectorIndexSpec:
    if n_docs <= EXACT_SEARCH_LIMIT:
        return VectorIndexSpec("IDMap2,Flat", {})
    return VectorIndexSpec(f"IDMap2,IVF{ivf_lists(n_docs)},SQ8,RFlat", dict(IVF_PARAMS))


def new_vector_index(spec: VectorIndexSpec, dimension: int) -> faiss.Index:
    """An empty index; one that ``needs_training`` must see ``train_on_sample`` before any add."""
    index = faiss.index_factory(dimension, spec.factory, faiss.METRIC_INNER_PRODUCT)
    _apply_build_params(index, spec.params)
    configure(index, spec.params)
    return index


def needs_training(index: faiss.Index) -> bool:
    return not index.is_trained


def train_on_sample(index: faiss.Index, vectors: np.ndarray) -> None:
    """Train (IVF k-means, quantiser ranges) on an even sample of ``vectors`` (any order of rows)."""
    step = max(1, len(vectors) // TRAINING_SAMPLE)
    index.train(np.ascontiguousarray(vectors[::step], dtype=np.float32))


def build_vector_index(spec: VectorIndexSpec, vectors: np.ndarray, first_id: int = 0) -> faiss.Index:
    """An index of ``spec`` holding ``vectors`` with ids ``first_id``…, trained first when needed."""
    index = new_vector_index(spec, vectors.shape[1])
    if needs_training(index):
        train_on_sample(index, vectors)
    for start in range(0, len(vectors), _ADD_BATCH):
        batch = np.ascontiguousarray(vectors[start : start + _ADD_BATCH], dtype=np.float32)
        index.add_with_ids(batch, np.arange(first_id + start, first_id + start + len(batch), dtype=np.int64))
    return index


def _apply_build_params(index: faiss.Index, params: dict[str, float]) -> None:
    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    if isinstance(inner, faiss.IndexHNSW) and "efConstruction" in params:
        inner.hnsw.efConstruction = int(params["efConstruction"])


def configure(index: faiss.Index, params: dict[str, float]) -> None:
    """Set search parameters (efSearch, nprobe, k_factor_rf …) through faiss' ParameterSpace."""
    space = faiss.ParameterSpace()
    for name, value in params.items():
        if name not in _BUILD_ONLY:
            space.set_index_parameter(index, name, float(value))


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """One OpenMP thread for a one-query search (the thread setting is per calling thread).

    A single query gains nothing from a second thread, and when every core is busy (other
    requests, other work) the threads wait on each other, by orders of magnitude (see bench/README.md).
    """
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


class VectorIndex:
    def __init__(self, index: faiss.Index, spec: VectorIndexSpec) -> None:
        self._index = index
        self.spec = spec
        # FAISS position → row: searches with a selector go to the structure under the IDMap,
        # whose results and selector speak in positions, not in the rows the IDMap stores.
        self._inner = faiss.downcast_index(index.index) if hasattr(index, "id_map") else index
        self._rows = faiss.vector_to_array(index.id_map) if hasattr(index, "id_map") else None

    @classmethod
    def load(cls, path: Path, spec: VectorIndexSpec) -> VectorIndex:
        """Read-only, with the stored vectors memory-mapped from the immutable build: the service's
        worker processes share one copy in the page cache (1 GB of exact vectors at 1M)."""
        index = faiss.read_index(str(path), getattr(faiss, "IO_FLAG_MMAP_IFC", 0))
        configure(index, spec.params)
        return cls(index, spec)

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    def describe(self) -> dict[str, object]:
        """The structure and search parameters in force: what an audit record says was searched."""
        exact = self.spec.factory == "IDMap2,Flat"
        return self.spec.as_dict() | {"dimension": self.dimension, "ntotal": self.size, "exact": exact}

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of shape (n_queries, k); rows are -1 where fewer than k exist."""
        k = max(1, min(k, self.size)) if self.size else 1
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self.size == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        if len(queries) > 1:
            return self._index.search(queries, k)
        with single_thread():
            return self._index.search(queries, k)

    def search_allowed(self, query: np.ndarray, k: int, blocked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of the best ``k`` rows for one query among rows not ``blocked`` (bool per row).

        A FAISS ID selector makes the structure skip blocked rows as it scans, instead of asking
        for k + (blocked rows) results and dropping them: with a filter that keeps 1 % of 1M
        judgments that was ~1M results to rank, refine and walk. An exact index ranks as the
        over-fetch did, ties included (FAISS breaks them by position); an IVF answers as if it held
        the allowed rows alone (same nprobe and refinement). Structures without selector support
        still over-fetch.
        """
        blocked = np.asarray(blocked, dtype=bool)
        if not blocked.any() or self.size == 0:
            scores, rows = self.search(query.reshape(1, -1), k)
            return scores[0], rows[0]
        allowed = ~blocked[self._rows] if self._rows is not None else ~blocked[: self.size]
        bits = np.packbits(allowed, bitorder="little")
        selector = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
        params = _selector_params(self._inner, selector)
        if params is None:
            scores, rows = self.search(query.reshape(1, -1), k + int(blocked.sum()))
            keep = (rows[0] >= 0) & ~blocked[np.maximum(rows[0], 0)]
            return scores[0][keep][:k], rows[0][keep][:k]
        k = max(1, min(k, int(allowed.sum())))
        with single_thread():
            scores, found = self._inner.search(
                np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k, params=params
            )
        rows = found[0] if self._rows is None else np.where(found[0] >= 0, self._rows[found[0]], -1)
        del selector, bits  # the parameters point into both until the search is over
        return scores[0], rows

    def reconstruct(self, row: int) -> np.ndarray | None:
        """The stored vector of a row (for 案例关联 search from a corpus case), None if absent."""
        try:
            return self._index.reconstruct(int(row))
        except RuntimeError:
            return None


def _selector_params(index: faiss.Index, selector: faiss.IDSelector) -> faiss.SearchParameters | None:
    """Search parameters restricting ``index`` to ``selector``, with the parameters in force
    (nprobe, efSearch, k_factor_rf) carried over; None where FAISS takes no selector."""
    if isinstance(index, faiss.IndexRefine):
        base = _selector_params(faiss.downcast_index(index.base_index), selector)
        if base is None:
            return None
        return faiss.IndexRefineSearchParameters(k_factor=index.k_factor, base_index_params=base)
    if isinstance(index, faiss.IndexIVF):
        return faiss.SearchParametersIVF(sel=selector, nprobe=index.nprobe)
    if isinstance(index, faiss.IndexHNSW):
        return faiss.SearchParametersHNSW(sel=selector, efSearch=index.hnsw.efSearch)
    if isinstance(index, faiss.IndexFlat):
        return faiss.SearchParameters(sel=selector)
    return None
