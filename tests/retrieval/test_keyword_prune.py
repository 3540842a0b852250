"""KeywordIndex.top prunes (MaxScore) yet returns the exhaustive top k: same rows, same scores.

The reference scores every posting of every query term by another path than ``top``'s: bm25s's own
``get_scores_from_ids`` for BM25, the sparse product of ``document_weights`` with the query's term
counts for query likelihood. The pruning's knobs are set so that every path runs on these small
indexes (the threshold's seed, the dense scoring past the MaxScore split, the per-candidate lookups).
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index_build.bm25_build import build_bm25
from retrieval import keyword_index
from retrieval.keyword_index import KeywordIndex, Scoring, top_rows

COMMON = [f"常{i}" for i in range(40)]  # in most documents: long postings lists
RARE = [f"罕{i}" for i in range(600)]
WORDS = COMMON + RARE
TOLERANCE = 1e-5  # float32 sums in another order


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> tuple[KeywordIndex, list[str]]:
    rng = random.Random(17)
    lines = []
    for n in range(2500):
        if n % 211 == 0:
            lines.append("")  # an empty row: no postings, never a hit
            continue
        words = rng.sample(COMMON, rng.randint(5, 30)) + rng.sample(RARE, rng.randint(1, 15))
        words += rng.choices(words, k=rng.randint(0, 60))  # repeats: term frequencies above 1
        rng.shuffle(words)
        lines.append(" ".join(words))
    folder = tmp_path_factory.mktemp("prune") / "idx"
    build_bm25(lines, folder)
    return KeywordIndex.load(folder), lines


def exhaustive(index: KeywordIndex, tokens: list[str], scoring: Scoring) -> np.ndarray:
    """Every row's score, every posting scored, by a path that ``top`` does not take."""
    if scoring is Scoring.BM25:
        return index.scores(tokens)
    counts = index.query_term_counts(tokens)
    out = np.zeros(index.size, dtype=np.float64)
    if counts:
        weights = index.document_weights(Scoring.LIKELIHOOD).tocsc()
        terms = np.array(list(counts))
        out = weights[:, terms] @ np.array([counts[t] for t in terms], dtype=np.float64)
    return np.asarray(out, dtype=np.float64)


def assert_exhaustive_top(
    ranked: list[tuple[int, float]], scores: np.ndarray, k: int, blocked: np.ndarray
) -> None:
    """``ranked`` is the exhaustive top ``k`` up to ties: the same scores in the same order, each
    row's own score, no blocked row, and no row left out that scores above the last one kept."""
    allowed = np.where(blocked, 0.0, scores)
    expected = np.sort(allowed[allowed > 0])[::-1][:k]
    assert len(ranked) == len(expected)
    rows = np.array([row for row, _ in ranked], dtype=np.int64)
    got = np.array([score for _, score in ranked])
    assert len(set(rows.tolist())) == len(rows) and not blocked[rows].any()
    np.testing.assert_allclose(got, scores[rows], rtol=TOLERANCE, atol=1e-6)
    np.testing.assert_allclose(got, expected, rtol=TOLERANCE, atol=1e-6)
    assert np.all(np.diff(got) <= 0)
    if len(ranked):
        above = np.flatnonzero(allowed > got[-1] * (1 + 2 * TOLERANCE) + 1e-6)
        assert set(above.tolist()) <= set(rows.tolist())


@pytest.fixture(params=["seeded", "dense", "lookups", "batched"])
def pruning(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The knobs that send the search down each of its paths on a 2,500-row index."""
    monkeypatch.setattr(keyword_index, "EXHAUSTIVE_POSTINGS", 0)  # every query pruned
    monkeypatch.setattr(keyword_index, "SEED_POSTINGS_PER_ROW", 0.08)  # the rarest terms only seed θ
    if request.param == "dense":  # every term past the split scored over its column
        monkeypatch.setattr(keyword_index, "LOOKUP_COST", 1e9)
    elif request.param == "lookups":  # every term past the split looked up per candidate, term by term
        monkeypatch.setattr(keyword_index, "LOOKUP_COST", 0.0)
        monkeypatch.setattr(keyword_index, "BATCH_PAIRS", 0)
    elif request.param == "batched":  # … all at once
        monkeypatch.setattr(keyword_index, "LOOKUP_COST", 0.0)
        monkeypatch.setattr(keyword_index, "BATCH_PAIRS", 10**12)
    return request.param


def _queries(lines: list[str]) -> list[list[str]]:
    rng = random.Random(3)
    out = []
    for seed in range(1, 12):
        tokens = lines[seed * 37].split()[:60] + rng.sample(COMMON, 8)
        tokens += [*rng.choices(tokens, k=10), "不在词表"]  # repeated and unknown terms
        out.append(tokens)
    return out


@pytest.mark.parametrize("scoring", list(Scoring))
@pytest.mark.parametrize("k", [1, 10, 200])
def test_the_pruned_top_k_is_the_exhaustive_one(index, pruning: str, scoring: Scoring, k: int) -> None:
    keyword, lines = index
    none_blocked = np.zeros(keyword.size, dtype=bool)
    for tokens in _queries(lines):
        ranked = keyword.top(tokens, k, none_blocked, scoring=scoring)
        assert_exhaustive_top(ranked, exhaustive(keyword, tokens, scoring), k, none_blocked)


@pytest.mark.parametrize("scoring", list(Scoring))
def test_blocked_rows_are_skipped_and_the_next_best_take_their_place(index, pruning: str, scoring) -> None:
    keyword, lines = index
    for tokens in _queries(lines)[:4]:
        scores = exhaustive(keyword, tokens, scoring)
        blocked = np.zeros(keyword.size, dtype=bool)
        blocked[np.argsort(-scores)[:15]] = True  # the exhaustive head itself
        blocked[::3] = True
        ranked = keyword.top(tokens, 10, blocked, scoring=scoring)
        assert_exhaustive_top(ranked, scores, 10, blocked)


def test_pruning_scores_fewer_postings_than_the_query_has(index, monkeypatch) -> None:
    """Not a vacuous equality: most common-term postings are neither scored nor looked up."""
    keyword, lines = index
    monkeypatch.setattr(keyword_index, "EXHAUSTIVE_POSTINGS", 0)
    monkeypatch.setattr(keyword_index, "SEED_POSTINGS_PER_ROW", 0.08)
    monkeypatch.setattr(keyword_index, "LOOKUP_COST", 0.0)  # past the split, lookups only
    scored: list[int] = []
    accumulate = KeywordIndex._accumulate

    def counting(self, terms, counts, scoring, out=None):
        scored.append(int((self._indptr[terms + 1] - self._indptr[terms]).sum()))
        return accumulate(self, terms, counts, scoring, out)

    monkeypatch.setattr(KeywordIndex, "_accumulate", counting)
    tokens = lines[74].split()[:40]
    terms = np.unique(keyword._retriever.get_tokens_ids(tokens))
    total = int((keyword._indptr[terms + 1] - keyword._indptr[terms]).sum())
    ranked = keyword.top(tokens, 10, np.zeros(keyword.size, dtype=bool))
    assert ranked[0][0] == 74
    assert sum(scored) < total / 2


@pytest.mark.parametrize("scoring", list(Scoring))
def test_a_query_within_the_exhaustive_bound_ranks_as_every_earlier_version(index, scoring) -> None:
    """Below ``EXHAUSTIVE_POSTINGS`` the ranking is ``top_rows`` over ``scores`` to the bit, ties
    in the same order, as before pruning (LeCaRD's run files stay the same)."""
    keyword, lines = index
    none_blocked = np.zeros(keyword.size, dtype=bool)
    for tokens in _queries(lines):
        assert keyword.top(tokens, 50, none_blocked, scoring=scoring) == top_rows(
            keyword.scores(tokens, scoring), 50, none_blocked
        )


def test_empty_and_unknown_queries_and_k_zero_give_nothing(index) -> None:
    keyword, lines = index
    none_blocked = np.zeros(keyword.size, dtype=bool)
    for scoring in Scoring:
        assert keyword.top([], 10, none_blocked, scoring=scoring) == []
        assert keyword.top(["不在词表", "也不在"], 10, none_blocked, scoring=scoring) == []
        assert keyword.top(lines[5].split(), 0, none_blocked, scoring=scoring) == []


def test_every_row_blocked_gives_nothing(index, pruning: str) -> None:
    keyword, lines = index
    every = np.ones(keyword.size, dtype=bool)
    assert keyword.top(lines[9].split() + COMMON, 10, every) == []


def test_the_sample_corpus_ranks_as_exhaustively(store, monkeypatch) -> None:
    """Real segmented judgments: every pending case's facts against both fields, both scorings."""
    from tests.conftest import SAMPLES, read_jsonl

    monkeypatch.setattr(keyword_index, "EXHAUSTIVE_POSTINGS", 0)
    monkeypatch.setattr(keyword_index, "SEED_POSTINGS_PER_ROW", 0.05)
    pending = read_jsonl(SAMPLES / "pending" / "pending_cases.jsonl")
    for field in (store.keyword_facts, store.keyword_full):
        none_blocked = np.zeros(field.size, dtype=bool)
        for case in pending:
            tokens = store.segmenter.tokens(case["facts"])
            for scoring in Scoring:
                for k in (1, 10):
                    ranked = field.top(tokens, k, none_blocked, scoring=scoring)
                    assert_exhaustive_top(ranked, exhaustive(field, tokens, scoring), k, none_blocked)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    picks=st.lists(st.integers(0, len(WORDS) + 5), min_size=0, max_size=80),
    k=st.integers(1, 60),
    blocked_seed=st.integers(0, 2**16),
    blocked_share=st.sampled_from([0.0, 0.1, 0.6]),
    seed_share=st.sampled_from([0.0, 0.1, 2.0, 1e6]),
    lookup_cost=st.sampled_from([0.0, 1.0, 1e9]),
    batch_pairs=st.sampled_from([0, 2_000, 10**12]),
    exhaustive_postings=st.sampled_from([0, 0, 0, 10**12]),
    scoring=st.sampled_from(list(Scoring)),
)
def test_any_query_any_mask_any_knobs(
    index,
    monkeypatch,
    picks,
    k,
    blocked_seed,
    blocked_share,
    seed_share,
    lookup_cost,
    batch_pairs,
    exhaustive_postings,
    scoring,
) -> None:
    keyword, _ = index
    monkeypatch.setattr(keyword_index, "EXHAUSTIVE_POSTINGS", exhaustive_postings)
    monkeypatch.setattr(keyword_index, "SEED_POSTINGS_PER_ROW", seed_share)
    monkeypatch.setattr(keyword_index, "LOOKUP_COST", lookup_cost)
    monkeypatch.setattr(keyword_index, "BATCH_PAIRS", batch_pairs)
    tokens = [WORDS[i] if i < len(WORDS) else f"无{i}" for i in picks]
    blocked = np.random.default_rng(blocked_seed).random(keyword.size) < blocked_share
    ranked = keyword.top(tokens, k, blocked, scoring=scoring)
    assert_exhaustive_top(ranked, exhaustive(keyword, tokens, scoring), k, blocked)
