"""Recall methods. Each returns the same ``Hit`` list, so fusion and rerank work on any mix.

Withdrawn documents are masked here, at the source, so no method can ever return one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.cited_article import CitedArticle
from retrieval.index_store import IndexStore
from retrieval.keyword_index import Scoring, top_rows
from retrieval.request import KeywordQuery

SAME_PROVISION_WEIGHT = 1.5
"""A shared article counts this many times its IDF when the pending case's 款/项 is cited too."""
VERBATIM_FETCH_FACTOR = 4
"""Boolean keyword search fetches this many candidates per wanted hit for the verbatim check, and this
many times more each round until enough pass: the index admits too many (a term inside a longer word)."""
ADMITTED_SCORE_FLOOR = 1e-6
"""The least score of a document the boolean query admits, so that one at BM25 zero still ranks."""


@dataclass(frozen=True)
class Hit:
    row: int
    score: float
    method: str
    rank: int  # 1-based within its method


def keyword_hits(
    store: IndexStore,
    tokens: Sequence[str],
    k: int,
    field: str = "facts",
    blocked: np.ndarray | None = None,
    scoring: Scoring = Scoring.BM25,
) -> list[Hit]:
    """关键词检索: BM25 (or query likelihood) over the facts field or the full text."""
    index = store.keyword_facts if field == "facts" else store.keyword_full
    mask = store.withdrawn if blocked is None else (store.withdrawn | blocked)
    ranked = index.top(tokens, k, mask, scoring=scoring)
    name = f"keyword:{field}" if scoring is Scoring.BM25 else f"keyword:{field}:{scoring.value}"
    return [Hit(row, score, name, i) for i, (row, score) in enumerate(ranked, start=1)]


def semantic_hits(
    store: IndexStore, query_vector: np.ndarray, k: int, blocked: np.ndarray | None = None
) -> list[Hit]:
    """Nearest neighbours of the embedded facts among the rows that are neither withdrawn nor filtered out."""
    mask = store.withdrawn if blocked is None else (store.withdrawn | blocked)
    scores, rows = store.vectors.search_allowed(query_vector, k, mask)
    hits: list[Hit] = []
    for score, row in zip(scores, rows, strict=True):
        if row < 0 or mask[row]:
            continue
        hits.append(Hit(int(row), float(score), "semantic", len(hits) + 1))
        if len(hits) == k:
            break
    return hits


def statute_hits(
    store: IndexStore,
    provisions: Sequence[str],
    k: int,
    article_df: dict[str, int],
    blocked: np.ndarray | None = None,
) -> list[Hit]:
    """法条关联检索: documents citing the given provisions, ranked by how many and how specific.

    Each shared article (条) adds its IDF: 刑法 第67条, cited in most criminal judgments, adds
    little; a rare article adds much. Citing the same 款/项 as asked adds half as much again.
    """
    wanted = [CitedArticle.from_key(p) for p in provisions]
    # a provision's other versions count as it (民法典 第675条 finds judgments citing 合同法 第206条)
    articles = {key for a in wanted for key in a.equivalent_article_keys()}
    detailed = {a.key() for a in wanted} - articles
    if not articles:
        return []
    n_docs = max(store.size, 1)
    idf = {a: max(float(np.log((n_docs + 1) / (article_df.get(a, 0) + 0.5))), 0.0) for a in articles}
    matched: dict[int, dict[str, float]] = {}
    for row, article, provision in store.metadata.rows_citing(articles):
        per_row = matched.setdefault(row, {})
        weight = SAME_PROVISION_WEIGHT if provision in detailed else 1.0
        per_row[article] = max(per_row.get(article, 0.0), weight)
    scores = np.zeros(store.size, dtype=np.float32)
    for row, per_article in matched.items():
        scores[row] = sum(idf[a] * w for a, w in per_article.items())
    mask = store.withdrawn if blocked is None else (store.withdrawn | blocked)
    ranked = top_rows(scores, k, mask)
    return [Hit(row, score, "statute", i) for i, (row, score) in enumerate(ranked, start=1)]


def _may_contain(store: IndexStore, term: str) -> np.ndarray:
    """Rows whose full text may contain ``term``: every token of it occurs inside some indexed token."""
    present = np.ones(store.size, dtype=bool)
    for token in store.segmenter.tokens(term):
        present &= store.keyword_full.rows_containing(token)
    return present


def boolean_keyword_hits(
    store: IndexStore,
    query: KeywordQuery,
    k: int,
    extra_tokens: Sequence[str] = (),
    blocked: np.ndarray | None = None,
) -> list[Hit]:
    """关键词检索 with must / should / must-not terms and verbatim phrases, ranked by BM25 on the full text.

    The index narrows the candidates (a term may sit inside a longer word: 盗窃 in 盗窃罪); the
    final say is a verbatim check of each candidate's text, so every result really contains each
    must term and phrase and no must-not term.
    """
    mask = store.withdrawn.copy() if blocked is None else (store.withdrawn | blocked)
    for term in (*query.must, *query.phrases):
        mask |= ~_may_contain(store, term)
    for term in query.must_not:
        mask |= store.keyword_full.rows_containing(term)  # a token containing the term: surely present
    tokens = list(extra_tokens)
    for term in (*query.must, *query.should, *query.phrases):
        tokens.extend(store.segmenter.tokens(term))
    scores = store.keyword_full.scores(tokens)
    # every admitted document ranks, even one whose BM25 score is zero (a must term that is a stopword)
    scores = np.where(mask, 0.0, np.maximum(scores, ADMITTED_SCORE_FLOOR)).astype(np.float32)
    required = (*query.must, *query.phrases)
    hits: list[tuple[int, float]] = []
    fetch = k * VERBATIM_FETCH_FACTOR
    while True:
        ranked = top_rows(scores, fetch, mask)
        docs = store.metadata.documents(row for row, _ in ranked)
        hits = [
            (row, score)
            for row, score in ranked
            if all(t in docs[row].text() for t in required)
            and not any(t in docs[row].text() for t in query.must_not)
        ]
        if len(hits) >= k or len(ranked) < fetch:
            break
        fetch *= VERBATIM_FETCH_FACTOR
    return [Hit(row, score, "keyword:full", i) for i, (row, score) in enumerate(hits[:k], start=1)]
