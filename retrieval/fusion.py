"""Reciprocal rank fusion (Cormack et al. 2009): robust to methods whose scores are not comparable."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from retrieval.candidate import Candidate
from retrieval.methods import Hit

RRF_K = 60
"""Cormack et al.'s constant: rank r adds 1 / (RRF_K + r), which damps the lead of one method's first ranks."""


def reciprocal_rank_fusion(
    hit_lists: Sequence[Sequence[Hit]], weights: Sequence[float] | None = None, k: int = RRF_K
) -> list[Candidate]:
    """One candidate per row any list holds, best fused score first; ties broken by row for determinism."""
    weights = weights or [1.0] * len(hit_lists)
    fused: dict[int, float] = defaultdict(float)
    ranks: dict[int, dict[str, int]] = defaultdict(dict)
    for hits, weight in zip(hit_lists, weights, strict=True):
        for hit in hits:
            fused[hit.row] += weight / (k + hit.rank)
            ranks[hit.row][hit.method] = hit.rank
    ordered = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
    return [Candidate(row, fused_score=score, score=score, ranks=ranks[row]) for row, score in ordered]
