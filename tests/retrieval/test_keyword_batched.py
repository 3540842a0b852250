"""The keyword index scores a query's terms in one pass (one scatter-add over all their columns, the
query likelihood's long columns kept between queries), yet every row gets the float32 sum that a
scatter-add per term in term order gives: the per-term reference below is the code before batching,
so rankings and run files stay the same to the bit, ties included.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from index_build.bm25_build import build_bm25
from retrieval import keyword_index
from retrieval.keyword_index import LIKELIHOOD_SMOOTHING, KeywordIndex, Scoring, top_rows

COMMON = [f"常{i}" for i in range(30)]
RARE = [f"罕{i}" for i in range(400)]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, list[str]]:
    rng = random.Random(5)
    lines = []
    for n in range(1500):
        if n % 97 == 0:
            lines.append("")
            continue
        words = rng.sample(COMMON, rng.randint(3, 25)) + rng.sample(RARE, rng.randint(1, 12))
        words += rng.choices(words, k=rng.randint(0, 40))
        rng.shuffle(words)
        lines.append(" ".join(words))
    folder = tmp_path_factory.mktemp("batched") / "idx"
    build_bm25(lines, folder)
    return folder, lines


def per_term(index: KeywordIndex, tokens: list[str], scoring: Scoring) -> np.ndarray:
    """Every row's score as the per-term code computed it: BM25 each occurrence's column in query
    order; query likelihood each distinct term in id order, log1p(1/|d| · tf · ratio) × count."""
    ids = index._retriever.get_tokens_ids(tokens)
    indptr, indices = index._indptr, index._indices
    total = np.zeros(index.size, dtype=np.float32)
    postings = len(indptr) - 1
    if scoring is Scoring.BM25:
        for term in ids:
            if term < postings:
                start, stop = int(indptr[term]), int(indptr[term + 1])
                np.add.at(total, indices[start:stop], index._data[start:stop])
        return total
    frequencies = index._frequencies
    terms, counts = np.unique(np.asarray(ids, dtype=np.int64), return_counts=True)
    for term, count in zip(terms.tolist(), counts.tolist(), strict=True):
        if term >= postings:
            continue
        start, stop = int(indptr[term]), int(indptr[term + 1])
        tf = index._tf[start:stop]
        collection = float(tf.sum(dtype=np.float64))
        smoothing = LIKELIHOOD_SMOOTHING
        ratio = np.float32((1 - smoothing) * frequencies.total_tokens / (smoothing * collection))
        values = frequencies.inverse_lengths[indices[start:stop]]
        values *= tf
        values *= ratio
        np.log1p(values, out=values)
        np.add.at(total, indices[start:stop], values if count == 1 else values * np.float32(count))
    return total


def _queries(lines: list[str]) -> list[list[str]]:
    rng = random.Random(9)
    out = [[], ["不在词表"], lines[3].split()[:1]]
    for seed in range(1, 15):
        tokens = lines[seed * 53].split()[:50] + rng.sample(COMMON, 6)
        out.append([*tokens, *rng.choices(tokens, k=8), "不在词表"])  # repeats and an unknown term
    return out


@pytest.mark.parametrize(
    ("budget", "min_postings"),
    [(64 * 2**20, 512), (64 * 2**20, 0), (3_000, 0), (0, 0)],
    ids=["default", "every-column-kept", "evicting", "nothing-kept"],
)
def test_batched_scores_are_the_per_term_sums_to_the_bit(built, monkeypatch, budget, min_postings) -> None:
    monkeypatch.setattr(keyword_index, "LIKELIHOOD_CACHE_BYTES", budget)
    monkeypatch.setattr(keyword_index, "LIKELIHOOD_CACHE_MIN_POSTINGS", min_postings)
    folder, lines = built
    index = KeywordIndex.load(folder)  # a fresh index: its cache starts empty
    none_blocked = np.zeros(index.size, dtype=bool)
    for _ in range(2):  # the second pass reads the kept columns back
        for tokens in _queries(lines):
            for scoring in Scoring:
                expected = per_term(index, tokens, scoring)
                got = index.scores(tokens, scoring)
                assert got.dtype == np.float32 and np.array_equal(got, expected)
                assert index.top(tokens, 40, none_blocked, scoring=scoring) == top_rows(
                    expected, 40, none_blocked
                )
    kept = index._likelihood_columns
    assert index._likelihood_bytes == sum(column.nbytes for column in kept.values()) <= budget
    if budget == 0:
        assert not kept
    elif min_postings == 0:
        assert kept  # the other cases did keep columns: the equality above covered reading them back


def test_kept_columns_cannot_be_changed_by_a_caller(built, monkeypatch) -> None:
    monkeypatch.setattr(keyword_index, "LIKELIHOOD_CACHE_MIN_POSTINGS", 0)
    folder, lines = built
    index = KeywordIndex.load(folder)
    tokens = lines[1].split()
    index.scores(tokens, Scoring.LIKELIHOOD)
    column = next(iter(index._likelihood_columns.values()))
    with pytest.raises(ValueError):
        column *= 2


def test_a_full_cache_keeps_the_more_used_column(built, monkeypatch) -> None:
    """Room for one column: a term asked for once does not displace one asked for three times,
    and does once it has been asked for more often (plain LRU let a cycle of queries evict the
    columns it needed next)."""
    folder, _ = built
    index = KeywordIndex.load(folder)
    often, once = (index._retriever.get_tokens_ids([word])[0] for word in COMMON[:2])
    sizes = [4 * int(index._indptr[t + 1] - index._indptr[t]) for t in (often, once)]
    monkeypatch.setattr(keyword_index, "LIKELIHOOD_CACHE_MIN_POSTINGS", 0)
    monkeypatch.setattr(keyword_index, "LIKELIHOOD_CACHE_BYTES", max(sizes) + min(sizes) - 1)
    for _ in range(3):
        index.scores([COMMON[0]], Scoring.LIKELIHOOD)
    assert list(index._likelihood_columns) == [often]
    index.scores([COMMON[1]], Scoring.LIKELIHOOD)
    assert list(index._likelihood_columns) == [often]
    for _ in range(3):
        index.scores([COMMON[1]], Scoring.LIKELIHOOD)
    assert list(index._likelihood_columns) == [once]
    assert index._likelihood_bytes == sizes[1]


def test_use_counts_are_halved_before_they_overflow(built, monkeypatch) -> None:
    monkeypatch.setattr(keyword_index, "USES_HALVED_AT", 8)
    folder, _ = built
    index = KeywordIndex.load(folder)
    often, rare = (index._retriever.get_tokens_ids([word])[0] for word in COMMON[:2])
    index.scores([COMMON[1]], Scoring.LIKELIHOOD)
    for _ in range(8):
        index.scores([COMMON[0]], Scoring.LIKELIHOOD)
    assert index._likelihood_uses[often] == 4 and index._likelihood_uses[rare] == 0
