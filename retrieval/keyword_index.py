"""Keyword index over segmented text (bm25s), one per field (facts, full text).

The build writes these folders with ``index_build.bm25_build`` (bounded memory, incremental add);
they are in bm25s's own layout, so querying goes through ``bm25s.BM25.load``. Besides BM25 the
index scores query likelihood from the tf store kept beside bm25s's files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import bm25s
import numpy as np
from scipy import sparse

from retrieval.index_layout import DOC_LENGTHS_FILE, TF_FILE

BM25_PARAMS = {"k1": 1.2, "b": 0.75, "method": "lucene"}

# A pending case's facts are a long query whose common terms have postings as long as the corpus: up
# to this many postings per query and field everything is scored (every LeCaRD query is, so rankings
# there are exhaustive); beyond, the rarest terms pick a shortlist (``KeywordIndex.top``) so that a
# million judgments stay fast (see bench/README.md).
POSTINGS_BUDGET = 2_000_000
SHORTLIST_FACTOR = 4  # shortlist = this × k rows, rescored exactly


class Scoring(StrEnum):
    """How a keyword index ranks documents for a token query."""

    BM25 = "bm25"
    # Query likelihood with Jelinek-Mercer smoothing: Σ_w log((1-λ)·tf/|d| + λ·P(w|C)) over the
    # query's tokens, ranked by the terms the document holds (the others add the same to every
    # document). With light smoothing a document must cover many of the query's terms to score
    # well, where BM25 lets a few rare terms repeated many times dominate (bench/README.md).
    LIKELIHOOD = "likelihood"


# λ of the likelihood scoring: the value that ranks best fused with the other channels and reranked,
# as the service runs it, on the LeCaRD dev labels (see bench/README.md).
LIKELIHOOD_SMOOTHING = 0.2


@dataclass(frozen=True)
class TermFrequencies:
    """The tf store beside a BM25 folder: the count behind each posting and each row's length."""

    tf: np.ndarray  # aligned with bm25s's ``indices``
    inverse_lengths: np.ndarray  # float32 1/|d| per row (0 for an empty row, which has no postings)
    total_tokens: float

    @classmethod
    def load(cls, folder: Path, mmap: bool) -> TermFrequencies | None:
        """None for a folder without one (bm25s's own ``build_keyword_index``)."""
        if not (folder / TF_FILE).exists():
            return None
        mode = "r" if mmap else None
        tf = np.load(folder / TF_FILE, mmap_mode=mode)
        lengths = np.load(folder / DOC_LENGTHS_FILE).astype(np.float32)
        inverse = np.divide(1.0, lengths, out=np.zeros_like(lengths), where=lengths > 0)
        return cls(tf, inverse, float(lengths.sum(dtype=np.float64)))


class KeywordIndex:
    """Scores every document of the index for a token query; array-based like bm25s itself."""

    def __init__(self, retriever: bm25s.BM25, size: int, frequencies: TermFrequencies | None = None) -> None:
        self._retriever = retriever
        self.size = size
        self._frequencies = frequencies
        # each term's count in the collection, P(w|C)·|C|, summed from its column at first use
        # (-1: not yet); one float per term, so it stays bounded however long the process serves
        self._collection_counts: np.ndarray | None = None
        self._vocabulary: list[tuple[str, int]] | None = None

    @classmethod
    def load(cls, folder: Path, mmap: bool = True) -> KeywordIndex:
        folder = Path(folder)
        retriever = bm25s.BM25.load(str(folder), mmap=mmap, show_progress=False, verbosity=0)
        size = int(json.loads((folder / "params.index.json").read_text())["num_docs"])
        return cls(retriever, size, TermFrequencies.load(folder, mmap))

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every row (0 where nothing matches); unknown tokens are ignored."""
        return self._scores_of_ids(self._retriever.get_tokens_ids(list(tokens)))

    def _scores_of_ids(self, ids: list[int]) -> np.ndarray:
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores_from_ids(ids), dtype=np.float32)

    def top(
        self,
        tokens: Sequence[str],
        k: int,
        blocked: np.ndarray,
        budget: int = POSTINGS_BUDGET,
        scoring: Scoring = Scoring.BM25,
    ) -> list[tuple[int, float]]:
        """The ``k`` best (row, score) among rows not ``blocked``, best first.

        Exact when the query's postings fit ``budget``. Otherwise the rarest terms that fit it
        score every row; the best ``SHORTLIST_FACTOR × k`` of those get their exact score (the
        common terms looked up per row by binary search in each column, rows being sorted there)
        and are ranked by it. A document that only the common terms would lift into the top ``k``
        is missed: ``bench/keyword_budget.py`` measures how often against the exact ranking.
        """
        if scoring is Scoring.LIKELIHOOD and self._frequencies is None:
            raise ValueError("this keyword index has no tf store, so it cannot score query likelihood")
        ids = self._retriever.get_tokens_ids(list(tokens))
        if not ids:
            return []
        terms, counts = np.unique(np.asarray(ids, dtype=np.int64), return_counts=True)
        indptr = self._retriever.scores["indptr"]
        has_postings = terms + 1 < len(indptr)  # bm25s's "" has an id but no postings
        terms, counts = terms[has_postings], counts[has_postings]
        lengths = indptr[terms + 1] - indptr[terms]
        if int(lengths.sum()) <= budget:
            if scoring is Scoring.BM25:
                return top_rows(self._scores_of_ids(ids), k, blocked)
            return top_rows(self._accumulate(terms, counts, scoring), k, blocked)
        order = np.argsort(lengths, kind="stable")  # rarest first
        n_scored = max(1, int(np.searchsorted(np.cumsum(lengths[order]), budget, side="right")))
        scored, rest = order[:n_scored], order[n_scored:]
        partial = self._accumulate(terms[scored], counts[scored], scoring)
        shortlist = np.array(
            [row for row, _ in top_rows(partial, SHORTLIST_FACTOR * k, blocked)], dtype=np.int64
        )
        if len(shortlist) == 0:
            return []
        shortlist.sort()
        exact = partial[shortlist]
        for term, count in zip(terms[rest].tolist(), counts[rest].tolist(), strict=True):
            exact += count * self._column_scores(term, shortlist, scoring)
        ranked = np.argsort(-exact, kind="stable")[:k]
        return [(int(shortlist[i]), float(exact[i])) for i in ranked if exact[i] > 0]

    def _values(
        self, term: int, start: int, stop: int, scoring: Scoring, at: np.ndarray | None = None
    ) -> np.ndarray:
        """The score each posting of ``term`` (positions ``start:stop``) adds to its row; only the
        postings at offsets ``at`` within the column when given."""
        scores = self._retriever.scores
        if scoring is Scoring.BM25:
            column = scores["data"][start:stop]
            return column if at is None else column[at]
        frequencies = self._frequencies
        assert frequencies is not None  # checked in top()
        tf = frequencies.tf[start:stop]
        if self._collection_counts is None:
            self._collection_counts = np.full(len(scores["indptr"]) - 1, -1.0)
        collection = float(self._collection_counts[term])
        if collection < 0:
            collection = float(tf.sum(dtype=np.float64))
            self._collection_counts[term] = collection
        smoothing = LIKELIHOOD_SMOOTHING
        ratio = np.float32((1 - smoothing) * frequencies.total_tokens / (smoothing * collection))
        rows = scores["indices"][start:stop]
        if at is not None:
            tf, rows = tf[at], rows[at]
        values = frequencies.inverse_lengths[rows]  # a gather: a new array, safe to scale in place
        values *= tf
        values *= ratio
        return np.log1p(values, out=values)

    def _accumulate(self, terms: np.ndarray, counts: np.ndarray, scoring: Scoring) -> np.ndarray:
        """Σ count × score over the postings of ``terms``, for every row (bm25s's own summation)."""
        scores = self._retriever.scores
        indices, indptr = scores["indices"], scores["indptr"]
        total = np.zeros(self.size, dtype=np.float32)
        for term, count in zip(terms.tolist(), counts.tolist(), strict=True):
            start, stop = int(indptr[term]), int(indptr[term + 1])
            # a row occurs once per column, so a fancy-indexed add is the same as np.add.at
            total[indices[start:stop]] += self._values(term, start, stop, scoring) * np.float32(count)
        return total

    def _column_scores(self, term: int, rows: np.ndarray, scoring: Scoring) -> np.ndarray:
        """The score of ``term`` in each of the sorted ``rows`` (0 where it does not occur)."""
        scores = self._retriever.scores
        start, stop = int(scores["indptr"][term]), int(scores["indptr"][term + 1])
        column = scores["indices"][start:stop]
        at = np.searchsorted(column, rows)
        inside = at < len(column)
        found = np.zeros(len(rows), dtype=bool)
        found[inside] = column[at[inside]] == rows[inside]
        out = np.zeros(len(rows), dtype=np.float32)
        out[found] = self._values(term, start, stop, scoring, at[found])
        return out

    def query_term_counts(self, tokens: Sequence[str]) -> dict[int, int]:
        """The query side of the sparse dot product: term id → count, for terms with postings.

        ``top`` scores Σ count × (the document's weight of the term); an engine storing
        ``document_weights`` as sparse vectors and searching by inner product with these counts
        computes the same sum (``retrieval.milvus_channels``).
        """
        ids = self._retriever.get_tokens_ids(list(tokens))
        if not ids:
            return {}
        terms, counts = np.unique(np.asarray(ids, dtype=np.int64), return_counts=True)
        postings = len(self._retriever.scores["indptr"]) - 1
        return {int(t): int(c) for t, c in zip(terms, counts, strict=True) if t < postings}

    def document_weights(self, scoring: Scoring = Scoring.BM25) -> sparse.csr_matrix:
        """Every document's weight of every term it holds (rows = documents, columns = term ids).

        The same float32 values ``top`` adds up: bm25s's stored BM25 impacts, or the query
        likelihood's log(1 + (1-λ)·tf·|C| / (λ·|d|·cf)), which depends on the document and the
        term only (the query-only part is the same for every document and drops out of the
        ranking). Exported into an engine's sparse vector field, an inner product with
        ``query_term_counts`` reproduces the ranking.
        """
        scores = self._retriever.scores
        indices, indptr = np.asarray(scores["indices"]), np.asarray(scores["indptr"], dtype=np.int64)
        n_terms = len(indptr) - 1
        if scoring is Scoring.BM25:
            values = np.asarray(scores["data"], dtype=np.float32)
        else:
            frequencies = self._frequencies
            if frequencies is None:
                raise ValueError("this keyword index has no tf store, so it cannot score query likelihood")
            tf = np.asarray(frequencies.tf)
            running = np.concatenate([[0.0], np.cumsum(tf, dtype=np.float64)])
            collection = running[indptr[1:]] - running[indptr[:-1]]  # integer counts: exact in float64
            smoothing = LIKELIHOOD_SMOOTHING
            with np.errstate(divide="ignore"):
                ratio = ((1 - smoothing) * frequencies.total_tokens / (smoothing * collection)).astype(
                    np.float32
                )
            term_of_posting = np.repeat(np.arange(n_terms), np.diff(indptr))
            values = frequencies.inverse_lengths[indices]
            values *= tf
            values *= ratio[term_of_posting]
            np.log1p(values, out=values)
        by_term = sparse.csc_matrix((values, indices, indptr), shape=(self.size, n_terms))
        return by_term.tocsr()

    def rows_containing(self, fragment: str) -> np.ndarray:
        """Rows having any indexed token that contains ``fragment`` (盗窃 → 盗窃, 盗窃罪, 入户盗窃 …).

        A judge's keyword may sit inside a longer dictionary word; matching vocabulary entries by
        substring finds those documents without scanning their text.
        """
        if self._vocabulary is None:
            self._vocabulary = list(self._retriever.vocab_dict.items())
        scores = self._retriever.scores
        indptr, indices = scores["indptr"], scores["indices"]
        mask = np.zeros(self.size, dtype=bool)
        postings = len(indptr) - 1  # bm25s adds "" to the vocabulary without a postings list
        for token, token_id in self._vocabulary:
            if token_id < postings and fragment in token:
                mask[indices[indptr[token_id] : indptr[token_id + 1]]] = True
        return mask

    def document_frequency(self, token: str) -> int:
        """How many documents contain ``token`` (used to pick a case's distinctive terms)."""
        token_id = self._retriever.vocab_dict.get(token)
        indptr = self._retriever.scores["indptr"]
        if token_id is None or token_id + 1 >= len(indptr):
            return 0
        return int(indptr[token_id + 1] - indptr[token_id])


def top_rows(scores: np.ndarray, k: int, blocked: np.ndarray) -> list[tuple[int, float]]:
    """Best ``k`` rows by score among rows with a positive score that are not blocked."""
    scores = np.where(blocked, -np.inf, scores)
    k = min(k, int(np.count_nonzero(scores > 0)))
    if k <= 0:
        return []
    picked = np.argpartition(-scores, k - 1)[:k]
    picked = picked[np.argsort(-scores[picked], kind="stable")]
    return [(int(r), float(scores[r])) for r in picked]


def build_keyword_index(token_lines: Iterable[str], out_dir: Path) -> int:
    """Index space-joined token lines (row order = line order) with bm25s itself, in memory.

    For small in-process indexes (test fixtures) and as the reference that
    ``index_build.bm25_build`` is tested against; its memory grows with the corpus (~50 kB per
    judgment), so index builds use the streaming builder instead.
    """
    vocab: dict[str, int] = {}
    ids: list[list[int]] = []
    for line in token_lines:
        ids.append([vocab.setdefault(tok, len(vocab)) for tok in line.split()])
    retriever = bm25s.BM25(**BM25_PARAMS)
    retriever.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
    retriever.save(str(out_dir), show_progress=False)
    return len(ids)
