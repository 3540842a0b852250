"""The cluster backend's recall channels (Milvus) rank as the embedded FAISS + bm25s ones do.

The sparse weights are our own scores, so the first tests need no Milvus: the inner product of
``document_weights`` with ``query_term_counts`` must reproduce the embedded scores. The Milvus Lite
tests then load the sample build into a local Milvus and compare whole searches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval import milvus_channels
from retrieval.index_store import IndexStore
from retrieval.keyword_index import KeywordIndex, Scoring
from retrieval.milvus_channels import MAX_FILTER_LIST, row_slices
from retrieval.request import Method, SearchRequest
from retrieval.search import search
from tests.conftest import SAMPLES, read_jsonl

PENDING = read_jsonl(SAMPLES / "pending" / "pending_cases.jsonl")


def _dot(store: IndexStore, field: str, scoring: Scoring, facts: str) -> np.ndarray:
    index = store.keyword_facts if field == "facts" else store.keyword_full
    counts = index.query_term_counts(store.segmenter.tokens(facts))
    query = np.zeros(index.document_weights(scoring).shape[1], dtype=np.float32)
    for term, count in counts.items():
        query[term] = count
    return np.asarray(index.document_weights(scoring) @ query).ravel()


@pytest.mark.parametrize("field", ["facts", "full"])
def test_bm25_weights_times_query_counts_are_the_bm25_scores(store: IndexStore, field: str) -> None:
    index = store.keyword_facts if field == "facts" else store.keyword_full
    for pending in PENDING:
        expected = index.scores(store.segmenter.tokens(pending["facts"]))
        assert np.allclose(_dot(store, field, Scoring.BM25, pending["facts"]), expected, rtol=1e-5, atol=1e-6)
        assert expected.max() > 0  # the comparison is not over all-zero vectors


def test_likelihood_weights_reproduce_the_likelihood_ranking(store: IndexStore) -> None:
    nothing_blocked = np.zeros(store.size, dtype=bool)
    for pending in PENDING:
        tokens = store.segmenter.tokens(pending["facts"])
        embedded = store.keyword_facts.top(tokens, 10, nothing_blocked, scoring=Scoring.LIKELIHOOD)
        dot = _dot(store, "facts", Scoring.LIKELIHOOD, pending["facts"])
        for row, score in embedded:
            assert dot[row] == pytest.approx(score, rel=1e-5)
        assert len(embedded) > 0


def test_the_likelihood_weights_need_a_tf_store(store: IndexStore) -> None:
    facts = store.keyword_facts
    bare = KeywordIndex(facts._retriever, facts.size, None)  # as bm25s alone writes it: no tf store
    with pytest.raises(ValueError, match="tf store"):
        bare.document_weights(Scoring.LIKELIHOOD)


def _expressions(blocked: np.ndarray) -> list[str] | None:
    slices = row_slices(blocked)
    return None if slices is None else [s.expression() for s in slices]


def test_row_filter_lists_the_shorter_side() -> None:
    blocked = np.zeros(10, dtype=bool)
    assert _expressions(blocked) is None
    blocked[[2, 5]] = True
    assert _expressions(blocked) == ["row not in [2, 5]"]
    only = np.ones(10, dtype=bool)
    only[[1, 7]] = False
    assert _expressions(only) == ["row in [1, 7]"]
    assert _expressions(np.ones(10, dtype=bool)) == []  # nothing allowed: no search at all


@pytest.mark.parametrize(
    "size, blocked_share", [(3 * MAX_FILTER_LIST, 0.4), (3 * MAX_FILTER_LIST, 0.6), (100, 0.5)]
)
def test_long_filters_on_both_sides_become_disjoint_slices_covering_the_allowed_rows(
    size: int, blocked_share: float
) -> None:
    """What was refused (more than 16,384 rows allowed and blocked): slices whose lists fit, which
    allow exactly the allowed rows, each once."""
    rng = np.random.default_rng(7)
    blocked = rng.random(size) < blocked_share
    longest = MAX_FILTER_LIST if size > 1000 else 7
    assert min(blocked.sum(), (~blocked).sum()) > longest  # both sides too long for one list
    slices = row_slices(blocked, longest)
    assert slices is not None and len(slices) > 1
    assert all(len(s.rows) <= longest for s in slices)
    coverage = np.sum([s.allows(size) for s in slices], axis=0)
    assert np.array_equal(coverage, (~blocked).astype(int))  # disjoint, and exactly the allowed rows


@pytest.fixture(scope="module")
def milvus_store(store: IndexStore, tmp_path_factory: pytest.TempPathFactory):
    import pymilvus

    from index_build.milvus_export import export_build
    from retrieval.milvus_channels import attach_milvus, published_collection

    uri = str(Path(tmp_path_factory.mktemp("milvus")) / "leian.db")
    client = pymilvus.MilvusClient(uri)
    exported = export_build(store, client)
    assert exported.rows == store.size
    assert published_collection(client) == exported.collection
    yield attach_milvus(store, client, exported.collection)
    client.close()


def _ranked(response) -> list[tuple[str, float]]:
    return [(r.document.doc_id, round(r.score, 4)) for r in response.results]


@pytest.mark.slow
@pytest.mark.parametrize("methods", [None, (Method.KEYWORD,), (Method.SEMANTIC,)])
def test_a_search_on_milvus_equals_the_embedded_search(store: IndexStore, milvus_store, methods) -> None:
    for pending in PENDING:
        request = SearchRequest(facts=pending["facts"], k=20, methods=methods, tiering=False)
        embedded = search(store, request)
        clustered = search(milvus_store, request)
        assert _ranked(clustered) == _ranked(embedded)
        assert embedded.results


@pytest.mark.slow
def test_a_restricted_search_on_milvus_stays_in_the_pool(store: IndexStore, milvus_store) -> None:
    first = search(store, SearchRequest(facts=PENDING[0]["facts"], k=5, tiering=False))
    pool = frozenset(r.document.doc_id for r in first.results[1:])  # the best one left out
    request = SearchRequest(facts=PENDING[0]["facts"], k=10, restrict_to=pool, tiering=False)
    clustered = search(milvus_store, request)
    assert {r.document.doc_id for r in clustered.results} <= pool
    assert _ranked(clustered) == _ranked(search(store, request))


@pytest.mark.slow
@pytest.mark.parametrize("blocked_share", [0.3, 0.7])
def test_filters_split_into_several_searches_answer_as_the_embedded_channels(
    store: IndexStore, milvus_store, blocked_share: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lists cut at 3 rows instead of 16,384, so that the sample build's filters take several
    searches on both sides: every channel's top k equals the embedded one, row for row."""
    monkeypatch.setattr(milvus_channels, "MAX_FILTER_LIST", 3)
    rng = np.random.default_rng(11)
    blocked = rng.random(store.size) < blocked_share
    slices = row_slices(blocked)
    assert slices is not None and len(slices) >= 3
    for pending in PENDING:
        tokens = store.segmenter.tokens(pending["facts"])
        for field in ("keyword_facts", "keyword_full"):
            for scoring in (
                (Scoring.BM25, Scoring.LIKELIHOOD) if field == "keyword_facts" else (Scoring.BM25,)
            ):
                embedded = getattr(store, field).top(tokens, 15, blocked, scoring=scoring)
                clustered = getattr(milvus_store, field).top(tokens, 15, blocked, scoring=scoring)
                assert [r for r, _ in clustered] == [r for r, _ in embedded], (field, scoring)
                assert np.allclose([s for _, s in clustered], [s for _, s in embedded], rtol=1e-4)
                assert embedded and not blocked[[r for r, _ in clustered]].any()
        query = store.embedder.encode_queries([pending["facts"]])[0]
        e_scores, e_rows = store.vectors.search_allowed(query, 15, blocked)
        c_scores, c_rows = milvus_store.vectors.search_allowed(query, 15, blocked)
        assert c_rows.tolist() == e_rows.tolist()
        assert np.allclose(c_scores, e_scores, rtol=1e-4) and not blocked[c_rows].any()
