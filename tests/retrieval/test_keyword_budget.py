"""KeywordIndex.top: exact within the postings budget; beyond it, a shortlist rescored exactly."""

from __future__ import annotations

import random

import numpy as np
import pytest

from index_build.bm25_build import build_bm25
from retrieval.keyword_index import KeywordIndex, top_rows

COMMON = [f"常{i}" for i in range(40)]  # in most documents: long postings lists
RARE = [f"罕{i}" for i in range(400)]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> tuple[KeywordIndex, list[str]]:
    rng = random.Random(11)
    lines = []
    for _ in range(3000):
        words = rng.sample(COMMON, 25) + rng.sample(RARE, rng.randint(2, 12))
        words += rng.choices(words, k=rng.randint(0, 40))  # repeats: term frequencies above 1
        rng.shuffle(words)
        lines.append(" ".join(words))
    folder = tmp_path_factory.mktemp("bm25") / "idx"
    build_bm25(lines, folder)
    return KeywordIndex.load(folder), lines


def _query(lines: list[str], seed: int) -> list[str]:
    return lines[seed].split()[:30] + COMMON[:10]


def _postings(index: KeywordIndex, tokens: list[str]) -> int:
    ids = np.unique(index._retriever.get_tokens_ids(tokens))
    indptr = index._retriever.scores["indptr"]
    return int((indptr[ids + 1] - indptr[ids]).sum())


def test_within_the_budget_the_ranking_is_the_exhaustive_one(index) -> None:
    keyword, lines = index
    none_blocked = np.zeros(keyword.size, dtype=bool)
    for seed in range(10):
        tokens = _query(lines, seed)
        assert keyword.top(tokens, 20, none_blocked) == top_rows(keyword.scores(tokens), 20, none_blocked)


def test_beyond_the_budget_each_score_is_exact_and_the_head_agrees(index) -> None:
    keyword, lines = index
    none_blocked = np.zeros(keyword.size, dtype=bool)
    overlaps = []
    for seed in range(20):
        tokens = _query(lines, seed)
        budget = _postings(keyword, tokens) // 4  # the common terms cannot all be scored
        exhaustive = keyword.scores(tokens)
        ranked = keyword.top(tokens, 20, none_blocked, budget=budget)
        assert len(ranked) == 20
        assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
        for row, score in ranked:  # the shortlist's scores add every term: the exhaustive score
            assert score == pytest.approx(float(exhaustive[row]), rel=1e-5)
        assert ranked[0][0] == seed  # the document the query was taken from
        truth = {row for row, _ in top_rows(exhaustive, 20, none_blocked)}
        overlaps.append(len(truth & {row for row, _ in ranked}) / 20)
    assert np.mean(overlaps) >= 0.9


def test_blocked_rows_never_come_back_on_either_path(index) -> None:
    keyword, lines = index
    tokens = _query(lines, 3)
    blocked = np.zeros(keyword.size, dtype=bool)
    blocked[[3, *range(100, 3000, 2)]] = True
    for budget in (10**9, _postings(keyword, tokens) // 4):
        rows = [row for row, _ in keyword.top(tokens, 50, blocked, budget=budget)]
        assert rows and not blocked[rows].any()


def test_unknown_tokens_give_no_hits(index) -> None:
    keyword, _ = index
    assert keyword.top(["不在词表"], 10, np.zeros(keyword.size, dtype=bool), budget=1) == []
