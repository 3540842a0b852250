"""Recall methods. Each returns the same ``Hit`` list, so fusion and rerank work on any mix.

Withdrawn documents are masked here, at the source, so no method can ever return one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.index_store import IndexStore


@dataclass(frozen=True)
class Hit:
    row: int
    score: float
    method: str
    rank: int  # 1-based within its method


def top_rows(scores: np.ndarray, k: int, blocked: np.ndarray) -> list[tuple[int, float]]:
    """Best ``k`` rows by score among rows with a positive score that are not blocked."""
    scores = np.where(blocked, -np.inf, scores)
    k = min(k, int(np.count_nonzero(scores > 0)))
    if k <= 0:
        return []
    picked = np.argpartition(-scores, k - 1)[:k]
    picked = picked[np.argsort(-scores[picked], kind="stable")]
    return [(int(r), float(scores[r])) for r in picked]


def keyword_hits(
    store: IndexStore, tokens: Sequence[str], k: int, field: str = "facts", blocked: np.ndarray | None = None
) -> list[Hit]:
    """关键词检索: BM25 over the facts field or the full text."""
    index = store.keyword_facts if field == "facts" else store.keyword_full
    mask = store.withdrawn if blocked is None else (store.withdrawn | blocked)
    ranked = top_rows(index.scores(tokens), k, mask)
    return [Hit(row, score, f"keyword:{field}", i) for i, (row, score) in enumerate(ranked, start=1)]


def semantic_hits(
    store: IndexStore, query_vector: np.ndarray, k: int, blocked: np.ndarray | None = None
) -> list[Hit]:
    """Nearest neighbours of the embedded facts. Over-fetches so masked rows do not shorten the list."""
    mask = store.withdrawn if blocked is None else (store.withdrawn | blocked)
    n_masked = int(mask.sum())
    scores, rows = store.vectors.search(query_vector.reshape(1, -1), k + n_masked)
    hits: list[Hit] = []
    for score, row in zip(scores[0], rows[0], strict=True):
        if row < 0 or mask[row]:
            continue
        hits.append(Hit(int(row), float(score), "semantic", len(hits) + 1))
        if len(hits) == k:
            break
    return hits
