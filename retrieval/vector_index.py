"""FAISS vector index over L2-normalised vectors (inner product = cosine), ids = metadata rows.

The index structure is one ``faiss.index_factory`` string recorded in the manifest, chosen by
corpus size: exact ``Flat`` while brute force is cheap, HNSW beyond.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

# Up to here exact search of 256-dim float32 vectors stays within tens of milliseconds on 2 cores.
EXACT_SEARCH_LIMIT = 200_000
HNSW_EF_SEARCH = 128


@dataclass(frozen=True)
class VectorIndexSpec:
    factory: str
    params: dict[str, int]

    def as_dict(self) -> dict[str, object]:
        return {"factory": self.factory, "metric": "inner_product", "params": dict(self.params)}


def choose_index_spec(n_docs: int) -> VectorIndexSpec:
    if n_docs <= EXACT_SEARCH_LIMIT:
        return VectorIndexSpec("IDMap2,Flat", {})
    return VectorIndexSpec("IDMap2,HNSW32,Flat", {"efSearch": HNSW_EF_SEARCH, "efConstruction": 80})


def new_vector_index(spec: VectorIndexSpec, dimension: int) -> faiss.Index:
    index = faiss.index_factory(dimension, spec.factory, faiss.METRIC_INNER_PRODUCT)
    _apply_params(index, spec.params)
    return index


def _apply_params(index: faiss.Index, params: dict[str, int]) -> None:
    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    if isinstance(inner, faiss.IndexHNSW):
        if "efSearch" in params:
            inner.hnsw.efSearch = int(params["efSearch"])
        if "efConstruction" in params:
            inner.hnsw.efConstruction = int(params["efConstruction"])


class VectorIndex:
    def __init__(self, index: faiss.Index, spec: VectorIndexSpec) -> None:
        self._index = index
        self.spec = spec

    @classmethod
    def load(cls, path: Path, spec: VectorIndexSpec) -> VectorIndex:
        index = faiss.read_index(str(path))
        _apply_params(index, spec.params)
        return cls(index, spec)

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of shape (n_queries, k); rows are -1 where fewer than k exist."""
        k = max(1, min(k, self.size)) if self.size else 1
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self.size == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        return self._index.search(queries, k)

    def reconstruct(self, row: int) -> np.ndarray | None:
        """The stored vector of a row (for 案例关联 search from a corpus case), None if absent."""
        try:
            return self._index.reconstruct(int(row))
        except RuntimeError:
            return None
