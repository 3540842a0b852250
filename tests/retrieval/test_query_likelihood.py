"""Query likelihood (Jelinek-Mercer) over the tf store: the formula, the channel (pruning: test_keyword_prune)."""

from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import pytest

from index_build.bm25_build import build_bm25
from retrieval.keyword_index import (
    LIKELIHOOD_SMOOTHING,
    KeywordIndex,
    Scoring,
    build_keyword_index,
    top_rows,
)

WORDS = [f"词{i}" for i in range(300)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[KeywordIndex, list[str]]:
    rng = random.Random(5)
    lines = []
    for n in range(1500):
        # a Zipf-like vocabulary: a few words in most documents, many rare ones; some rows empty
        words = (
            []
            if n % 97 == 0
            else rng.choices(WORDS, weights=[1 / (i + 1) for i in range(300)], k=rng.randint(5, 80))
        )
        lines.append(" ".join(words))
    folder = tmp_path_factory.mktemp("lm") / "idx"
    build_bm25(lines, folder)
    return KeywordIndex.load(folder), lines


def reference_log_likelihood(lines: list[str], query: list[str]) -> tuple[np.ndarray, float]:
    """log P(q|d) with Jelinek-Mercer smoothing, textbook form, for every document (a query word
    unknown to the collection is skipped, as in LeCaRD's LMIR), and that of a document holding
    none of the query's words: the constant Σ log λP(w|C) that the index leaves out."""
    counts = [Counter(line.split()) for line in lines]
    collection = Counter(token for line in lines for token in line.split())
    total = sum(collection.values())
    lam = LIKELIHOOD_SMOOTHING
    constant = sum(math.log(lam * collection[t] / total) for t in query if t in collection)
    out = np.zeros(len(lines))
    for row, doc in enumerate(counts):
        length = sum(doc.values())
        for token in query:
            if token not in collection:
                continue
            p_doc = doc[token] / length if length else 0.0
            out[row] += math.log((1 - lam) * p_doc + lam * collection[token] / total)
    return out, constant


@pytest.mark.slow
def test_the_ranking_is_the_textbook_likelihood_ranking(corpus) -> None:
    keyword, lines = corpus
    none_blocked = np.zeros(keyword.size, dtype=bool)
    rng = random.Random(9)
    for seed in range(15):
        query = lines[seed * 7 + 1].split()[:25] + rng.sample(WORDS, 3) + ["不在词表"]
        ranked = keyword.top(query, 30, none_blocked, scoring=Scoring.LIKELIHOOD)
        reference, constant = reference_log_likelihood(lines, query)
        # every matching row scores above every row sharing no query word (the constant Σ log λP(w|C))
        matching = {row for row, line in enumerate(lines) if set(line.split()) & set(query)}
        expected = sorted(matching, key=lambda row: -reference[row])[:30]
        assert [row for row, _ in ranked] == expected
        for row, score in ranked:
            assert score == pytest.approx(reference[row] - constant, rel=1e-4)


def test_likelihood_prefers_covering_the_query_where_bm25_prefers_a_repeated_rare_word(tmp_path) -> None:
    lines = ["甲 乙 丙 丁 戊 己", "罕 罕 罕 罕 罕 罕 罕 罕 己", "庚 辛 壬 癸 子 丑"] + [
        "甲 乙 丙 丁 戊 庚"
    ] * 20
    folder = tmp_path / "idx"
    build_bm25(lines, folder)
    keyword = KeywordIndex.load(folder)
    query = ["甲", "乙", "丙", "丁", "戊", "己", "罕"]
    none_blocked = np.zeros(keyword.size, dtype=bool)
    likelihood = keyword.top(query, 3, none_blocked, scoring=Scoring.LIKELIHOOD)
    bm25 = keyword.top(query, 3, none_blocked)
    assert bm25[0][0] == 1  # the rare word repeated wins BM25
    assert likelihood[0][0] == 0  # covering six of the seven words wins the likelihood


def test_blocked_rows_never_come_back(corpus) -> None:
    keyword, lines = corpus
    blocked = np.zeros(keyword.size, dtype=bool)
    blocked[::2] = True
    rows = [row for row, _ in keyword.top(lines[4].split(), 40, blocked, scoring=Scoring.LIKELIHOOD)]
    assert rows and not blocked[rows].any()


def test_an_index_without_a_tf_store_refuses_likelihood(tmp_path) -> None:
    build_keyword_index(["盗窃 手机", "诈骗"], tmp_path / "bm25s")
    keyword = KeywordIndex.load(tmp_path / "bm25s")
    blocked = np.zeros(keyword.size, dtype=bool)
    assert top_rows(keyword.scores(["盗窃"]), 1, blocked)[0][0] == 0  # BM25 still works
    with pytest.raises(ValueError, match="tf store"):
        keyword.top(["盗窃"], 1, blocked, scoring=Scoring.LIKELIHOOD)
