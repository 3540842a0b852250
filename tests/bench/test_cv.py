"""bench/cv.py: folds over queries, and choosing a point on the other folds only."""

from __future__ import annotations

import pytest

from tests.conftest import bench_module

cv = bench_module("cv")


def test_folds_partition_the_queries_evenly_and_reproducibly():
    ids = [f"q{i}" for i in range(23)]
    folds = cv.kfold(ids, 5, seed=7)
    assert len(folds) == 5
    assert sorted(q for fold in folds for q in fold) == sorted(ids)
    assert sorted(len(f) for f in folds) == [4, 4, 5, 5, 5]
    assert cv.kfold(list(reversed(ids)), 5, seed=7) == folds  # input order does not matter
    assert cv.kfold(ids, 5, seed=8) != folds


@pytest.mark.parametrize("folds", [1, 24])
def test_impossible_fold_counts_are_refused(folds):
    with pytest.raises(ValueError, match="folds"):
        cv.kfold([f"q{i}" for i in range(23)], folds)


def test_repeated_ids_are_refused():
    with pytest.raises(ValueError, match="distinct"):
        cv.kfold(["a", "b", "a", "c"], 2)


def test_each_fold_is_chosen_without_its_own_queries():
    """A point that is best only on the queries of one fold must not be chosen for that fold."""
    ids = [f"q{i}" for i in range(10)]
    split = cv.kfold(ids, 5, seed=7)
    favourite = set(split[0])
    seen_by_objective: list[set[str]] = []

    def objective(point: str, queries):
        seen_by_objective.append(set(queries))
        if point == "overfit":  # perfect on fold 0's queries, poor elsewhere
            return sum(1.0 if q in favourite else 0.0 for q in queries)
        return 0.5 * len(queries) / 5

    choices = cv.choose_per_fold(ids, ["steady", "overfit"], objective, 5, seed=7)
    assert [c.held_out for c in choices] == split
    assert choices[0].point == "steady"  # fold 0 never sees the queries the overfit point is good on
    for choice, seen in zip(choices, seen_by_objective[::2], strict=True):
        assert not seen & set(choice.held_out)


def test_ties_go_to_the_first_point():
    choices = cv.choose_per_fold(["a", "b", "c"], ["default", "other"], lambda p, q: 1.0, 3)
    assert {c.point for c in choices} == {"default"}
