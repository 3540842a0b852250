"""What search asks of its recall channels, whichever engine holds them.

The embedded default keeps the vectors in FAISS files and the keyword postings in bm25s folders
(``retrieval.vector_index``, ``retrieval.keyword_index``); the cluster backend keeps both in Milvus
(``retrieval.milvus_channels``). Search, fusion, rerank, tiers and explanations see only these
protocols, so they cannot tell which one runs, and the keyword scores are computed by our own
scorers in both, so the rankings are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from retrieval.keyword_index import Scoring


class VectorChannel(Protocol):
    """Nearest neighbours by inner product over L2-normalised vectors; ids are metadata rows."""

    @property
    def size(self) -> int: ...

    @property
    def dimension(self) -> int: ...

    def describe(self) -> dict[str, object]:
        """The structure and search parameters in force, as an audit record states them."""
        ...

    def search_allowed(self, query: np.ndarray, k: int, blocked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of the best ``k`` rows not ``blocked``; rows -1 where fewer exist."""
        ...

    def reconstruct(self, row: int) -> np.ndarray | None:
        """The stored vector of ``row`` (案例关联 from a corpus case), None if absent."""
        ...


class KeywordChannel(Protocol):
    """A keyword field (facts or full text) scored by BM25 or query likelihood."""

    size: int

    def top(
        self,
        tokens: Sequence[str],
        k: int,
        blocked: np.ndarray,
        scoring: Scoring = Scoring.BM25,
    ) -> list[tuple[int, float]]:
        """The ``k`` best (row, score) with a positive score among rows not ``blocked``, best first."""
        ...

    def rows_containing(self, fragment: str) -> np.ndarray:
        """Rows having an indexed token that contains ``fragment`` (boolean keyword search)."""
        ...

    def document_frequency(self, token: str) -> int: ...

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every row (boolean keyword search ranks the rows it admits by it)."""
        ...
