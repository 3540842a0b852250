"""k-fold cross-validation over queries, for choosing a weight or a threshold honestly.

The best point of a grid scored on every development query is an optimistic figure: it was chosen
on the very queries it is reported on. Here each fold's point is chosen on the other folds only and
scored on the fold, and the pooled out-of-fold figures are the ones to report beside the in-sample
figure of the committed default (see bench/README.md, "Why the defaults are what they are").

Folds are a seeded permutation of the sorted query ids (``numpy.random.default_rng(seed)``), so the
same ids, ``folds`` and ``seed`` always give the same split, whatever order the ids came in.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

SEED = 7
FOLDS = 5

Q = TypeVar("Q", bound=Hashable)
P = TypeVar("P")


def kfold(ids: Sequence[Q], folds: int = FOLDS, seed: int = SEED) -> list[list[Q]]:
    """``ids`` split into ``folds`` disjoint folds of sizes differing by at most one, each sorted.

    Raises ValueError when there are fewer ids than folds or fewer than two folds, or ids repeat.
    """
    unique = sorted(set(ids), key=str)
    if len(unique) != len(ids):
        raise ValueError("kfold: query ids must be distinct")
    if folds < 2 or folds > len(unique):
        raise ValueError(f"kfold: need 2 <= folds <= {len(unique)} queries, got {folds}")
    order = np.random.default_rng(seed).permutation(len(unique))
    return [sorted((unique[i] for i in order[f::folds]), key=str) for f in range(folds)]


@dataclass(frozen=True)
class FoldChoice(Generic[Q, P]):
    fold: int
    held_out: list[Q]
    chosen: int  # index into the candidate points
    point: P
    training_score: float  # the objective of the chosen point on the other folds


def choose_per_fold(
    ids: Sequence[Q],
    points: Sequence[P],
    objective: Callable[[P, Sequence[Q]], float],
    folds: int = FOLDS,
    seed: int = SEED,
) -> list[FoldChoice[Q, P]]:
    """For each fold, the point with the highest ``objective`` over the other folds' queries.

    Ties go to the earlier point, so listing the committed default first makes it win a tie. The
    caller scores each fold's ``held_out`` queries with its ``point`` and pools them.
    """
    if not points:
        raise ValueError("choose_per_fold: no candidate points")
    split = kfold(ids, folds, seed)
    choices = []
    for number, held_out in enumerate(split):
        training = [q for other, part in enumerate(split) if other != number for q in part]
        scores = [objective(point, training) for point in points]
        best = int(np.argmax(scores))  # first maximum
        choices.append(FoldChoice(number, held_out, best, points[best], float(scores[best])))
    return choices
