"""bench/civil.py's choice of the 案件要素 rerank weight: k-fold CV over queries beside in-sample."""

from __future__ import annotations

import pytest

from tests.conftest import bench_module


def test_cv_picks_per_fold_and_reports_in_sample_beside_it() -> None:
    civil = bench_module("civil")
    # weight 1 helps every query a little; None marks a query without same-cause documents
    per_weight = {
        0.0: [0.2, 0.4, None, 0.6, 0.0, 0.5, 0.3, 0.1, 0.2, 0.4],
        1.0: [0.3, 0.5, None, 0.7, 0.1, 0.6, 0.4, 0.2, 0.3, 0.5],
    }
    result = civil.choose_element_weight(per_weight, folds=3)
    assert result["queries_scored"] == 9
    assert result["in_sample_best_weight"] == 1.0
    assert result["cv_weights_chosen"] == [1.0, 1.0, 1.0]
    assert result["cv_P@10"] == pytest.approx(result["in_sample_P@10"])
    assert result["weight_0_P@10"] == pytest.approx(
        sum(v for v in per_weight[0.0] if v is not None) / 9, abs=1e-4
    )


def test_ties_go_to_the_smaller_weight_and_a_fold_can_disagree() -> None:
    civil = bench_module("civil")
    tied = civil.choose_element_weight({0.0: [0.5] * 6, 2.0: [0.5] * 6}, folds=2)
    assert tied["in_sample_best_weight"] == 0.0 and tied["cv_weights_chosen"] == [0.0, 0.0]
    # one query carries all the gain: the fold that holds it out never sees a reason for weight 1
    lucky = civil.choose_element_weight({0.0: [0.0] * 6, 1.0: [1.0] + [0.0] * 5}, folds=6)
    assert lucky["in_sample_best_weight"] == 1.0
    assert lucky["cv_P@10"] == 0.0 < lucky["in_sample_P@10"]
