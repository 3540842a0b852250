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


def test_the_lecard_grid_reports_out_of_fold_rankings_beside_in_sample_ones():
    """Two points over ten queries, each ranking one document that is relevant or not: the default
    is right on q0–q4, the other everywhere but on fold 0. Each fold must be ranked by the point
    that wins on the other folds, and the CV figure pool those out-of-fold rankings."""
    grid = bench_module("lecard_grid")
    service = grid.service
    labels = {f"q{i}": {"good": 3} for i in range(10)}
    split = cv.kfold(sorted(labels), 5, seed=7)
    right = [{f"q{i}" for i in range(5)}, set(labels) - set(split[0])]
    points = [
        (dict(service.FUSION_WEIGHTS), grid.DEFAULT_WEIGHTS.causes, service.RERANK_DEPTH),
        ({"semantic": 1.0}, 2.0, 30),
    ]
    runs = [{s: {q: ["good" if q in r else "bad"] for q in labels} for s in grid.SETTINGS} for r in right]
    report = grid.cross_validate(points, runs, labels, 5, 7, "full", "NDCG@30")

    assert report["default"]["in_sample"]["full"]["NDCG@30"] == 0.5
    assert (
        report["best_in_sample"]["causes"] == 2.0
        and report["best_in_sample"]["in_sample"]["full"]["NDCG@30"] == 0.8
    )
    out_of_fold = 0
    for number, held_out in enumerate(split):
        training = [q for q in labels if q not in held_out]
        wins = [sum(q in r for q in training) for r in right]
        chosen = 0 if wins[0] >= wins[1] else 1
        assert report["fold_choices"][number]["chosen_is_default"] == (chosen == 0)
        out_of_fold += sum(q in right[chosen] for q in held_out)
    assert report["fold_choices"][0]["chosen_is_default"] is False  # fold 0 never sees where "other" fails
    assert report["cv"]["full"]["NDCG@30"] == out_of_fold / 10
    assert report["cv"]["full"]["queries"] == 10
