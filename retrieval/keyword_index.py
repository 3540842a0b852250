"""Keyword index over segmented text (bm25s), one per field (facts, full text).

The build writes these folders with ``index_build.bm25_build`` (bounded memory, incremental add);
they are in bm25s's own layout, so querying goes through ``bm25s.BM25.load``. Besides BM25 the
index scores query likelihood from the tf store kept beside bm25s's files. ``KeywordIndex.top``
finds the exhaustive top k of either scoring by dynamic pruning (MaxScore) over each term's largest
impact, computed from the columns at a term's first query, so the index needs no extra file. The
likelihood's per-posting values of the long columns are kept in memory once computed (bounded).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import bm25s
import numpy as np
from scipy import sparse

from retrieval.index_layout import DOC_LENGTHS_FILE, TF_FILE

BM25_PARAMS = {"k1": 1.2, "b": 0.75, "method": "lucene"}

# ``KeywordIndex.top`` returns the exhaustive top k without scoring every posting (MaxScore; the
# figures behind these settings are in bench/README.md, "Keyword pruning").
#
# A query with at most this many postings in a field is scored exhaustively, as ``scores`` sums: there
# pruning saves less than it costs, and the rankings stay those of every earlier version to the bit
# (LeCaRD's 9k judgments reach ~0.46M: its run files do not change).
EXHAUSTIVE_POSTINGS = 1_000_000
# The highest-bound (rarest) terms first score every row, up to this many postings per row of the
# index; the best SEED_FACTOR × k rows they find set the threshold θ.
SEED_POSTINGS_PER_ROW = 0.25
SEED_FACTOR = 2
# Bounds and partial sums are float32 sums in another order than a row's exhaustive score: a row is
# dropped only when its bound falls short of the threshold by more than this share of it.
PRUNING_TOLERANCE = 1e-4
# Costs in postings scored (a scatter-add, ~3 ns): a binary-search step of a lookup (LOOKUP_COST), a
# numpy call per term (CALL_COST, ~10 µs). Past the MaxScore split a term is looked up per candidate
# rather than scored over its column when that costs less; candidates are counted on every
# CANDIDATE_SAMPLE_STRIDE-th row.
LOOKUP_COST = 1.0
CALL_COST = 3_000
CANDIDATE_SAMPLE_STRIDE = 16
# Up to this many (term, row) pairs are looked up in one vectorised binary search rather than a
# searchsorted call per term (~1 µs per 20 pairs against ~10 µs a call).
BATCH_PAIRS = 4_000
# θ is made exact (the shortlist's other terms looked up) when that costs less than this share of the
# postings left after the seed, about what an exact θ spares against one from partial scores.
THETA_GAIN = 0.2
# Query likelihood's per-posting score, log1p(tf/|d| · ratio), costs a gather, two products and a
# log per posting where BM25 reads a stored float: the columns of terms with at least
# LIKELIHOOD_CACHE_MIN_POSTINGS postings are kept once computed, up to LIKELIHOOD_CACHE_BYTES per
# index (the same floats as computing them afresh). The common terms that make up most of a query's
# postings recur in nearly every query. When full, a column displaces the least used of the
# LIKELIHOOD_EVICTION_SAMPLE least recently used ones only if its term has been asked for more often:
# plain LRU dropped the columns a cycle of queries needed next (100k: 64 MiB LRU 7.5 ms CPU p50,
# bench/README.md "Query likelihood: kept columns").
LIKELIHOOD_CACHE_BYTES = 128 * 2**20
LIKELIHOOD_EVICTION_SAMPLE = 16
USES_HALVED_AT = 2**30  # the use counts are halved, all at once, before one could overflow
LIKELIHOOD_CACHE_MIN_POSTINGS = 512


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
        self._maxima: dict[Scoring, np.ndarray] = {}  # per term, NaN until its first query
        # plain ndarray views of bm25s's (memory-mapped) CSC arrays: slicing a np.memmap costs more
        # than the small slices ``top`` takes from it
        scores = retriever.scores
        self._data = np.asarray(scores["data"])
        self._indices = np.asarray(scores["indices"])
        self._indptr = np.asarray(scores["indptr"])
        self._tf = None if frequencies is None else np.asarray(frequencies.tf)
        self._likelihood_columns: OrderedDict[int, np.ndarray] = OrderedDict()  # term → its values
        self._likelihood_bytes = 0
        self._likelihood_uses: np.ndarray | None = None  # per term: how often its column was asked for
        self._cache_lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path, mmap: bool = True) -> KeywordIndex:
        folder = Path(folder)
        retriever = bm25s.BM25.load(str(folder), mmap=mmap, show_progress=False, verbosity=0)
        size = int(json.loads((folder / "params.index.json").read_text())["num_docs"])
        return cls(retriever, size, TermFrequencies.load(folder, mmap))

    def scores(self, tokens: Sequence[str], scoring: Scoring = Scoring.BM25) -> np.ndarray:
        """Every row's score, every posting scored (0 where nothing matches); unknown tokens are
        ignored. BM25 is bm25s's own summation; ``top`` returns the best of these without it."""
        if scoring is Scoring.BM25:
            return self._scores_of_ids(self._retriever.get_tokens_ids(list(tokens)))
        if self._frequencies is None:
            raise ValueError("this keyword index has no tf store, so it cannot score query likelihood")
        return self._accumulate(*self._query_terms(tokens), scoring)

    def _scores_of_ids(self, ids: list[int]) -> np.ndarray:
        """bm25s's ``get_scores_from_ids`` to the bit: each occurrence's column added in query order
        (a repeated term once per occurrence), without concatenating the columns first (~2× faster)."""
        total = np.zeros(self.size, dtype=np.float32)
        postings = len(self._indptr) - 1
        for term in ids:
            if term < postings:  # bm25s's "" (an unknown token) has an id but no column
                start, stop = int(self._indptr[term]), int(self._indptr[term + 1])
                np.add.at(total, self._indices[start:stop], self._data[start:stop])
        return total

    def _bounds(self, terms: np.ndarray) -> tuple[list[int], list[int]]:
        """Where each term's column starts and stops in the CSC arrays."""
        if len(terms) == 1:  # the pruning's one term at a time: no fancy indexing
            term = int(terms[0])
            return [int(self._indptr[term])], [int(self._indptr[term + 1])]
        return self._indptr[terms].tolist(), self._indptr[terms + 1].tolist()

    def top(
        self,
        tokens: Sequence[str],
        k: int,
        blocked: np.ndarray,
        scoring: Scoring = Scoring.BM25,
    ) -> list[tuple[int, float]]:
        """The ``k`` best (row, score) with a positive score among rows not ``blocked``, best first.

        Exact: the rows and scores of scoring every posting of every query term (``scores``), up to
        ties and float32 rounding, without scoring them all. Both scorings are a sum over the shared
        terms of count × a non-negative per-posting impact, so count × a term's largest impact
        (``_max_impacts``) bounds what it can add to any row (MaxScore, Turtle & Flood 1995). Terms
        go by bound, highest (rarest) first:

        1. the first terms, up to ``SEED_POSTINGS_PER_ROW`` postings per row, score every row; the
           k-th best score among the ``SEED_FACTOR × k`` rows they rank best is a threshold θ that the
           final k-th reaches (their exact scores when the lookups are cheap, else their partial
           scores, which grow as more terms are scored);
        2. further terms score every row until the bounds of the terms left sum below θ (no row holding
           none of the scored terms can reach the top k) and looking the next term up for the rows
           still able to reach θ costs less than scoring its column;
        3. those candidates get the remaining terms by binary search in each column, highest bound
           first, each candidate dropped once its partial score plus the bounds still to come falls
           below θ (raised to the k-th partial score as they grow); the rest in one vectorised
           search once few pairs are left; the survivors are ranked by their exact scores.

        Within ``EXHAUSTIVE_POSTINGS`` every posting is scored, as before pruning.
        """
        if scoring is Scoring.LIKELIHOOD and self._frequencies is None:
            raise ValueError("this keyword index has no tf store, so it cannot score query likelihood")
        terms, counts = self._query_terms(tokens)
        if len(terms) == 0 or k <= 0:
            return []
        lengths = (self._indptr[terms + 1] - self._indptr[terms]).astype(np.int64)
        if int(lengths.sum()) <= EXHAUSTIVE_POSTINGS:  # every posting, summed as ``scores`` sums them
            if scoring is Scoring.BM25:
                return top_rows(self.scores(tokens), k, blocked)
            return top_rows(self._accumulate(terms, counts, scoring), k, blocked)
        bounds = counts * self._max_impacts(terms, scoring).astype(np.float64)
        order = np.lexsort((lengths, -bounds))  # highest bound first; of equal bounds the rarer
        terms, counts, lengths, bounds = terms[order], counts[order], lengths[order], bounds[order]
        # bounds[i:].sum() for every i: what the terms from i on can add to any row at most
        after = np.concatenate([np.cumsum(bounds[::-1])[::-1], [0.0]])
        seed = SEED_POSTINGS_PER_ROW * self.size
        seeded = max(1, int(np.searchsorted(np.cumsum(lengths), seed, side="right")))
        total = self._accumulate(terms[:seeded], counts[:seeded], scoring)
        if seeded == len(terms):
            return top_rows(total, k, blocked)
        # θ, a score that k rows reach: the k-th best score of the rows the rarest terms rank best,
        # exact (the other terms looked up for them) when the lookups cost less than the postings a
        # high θ spares, else their partial score, which grows as more terms are scored
        shortlist = _top_indices(total, SEED_FACTOR * k, blocked)
        theta = exact_theta = 0.0
        if len(shortlist) >= k:
            rest = lengths[seeded:]
            cost = LOOKUP_COST * len(shortlist) * float(np.log2(rest + 1).sum())
            if len(shortlist) * len(rest) > BATCH_PAIRS:
                cost += CALL_COST * len(rest)
            if cost < THETA_GAIN * float(rest.sum()):
                exact = total[shortlist] + self._lookup(terms[seeded:], counts[seeded:], shortlist, scoring)
                exact_theta = float(np.partition(exact, len(exact) - k)[len(exact) - k])
        split = seeded
        while split < len(terms):
            if len(shortlist) >= k:
                heads = total[shortlist]
                theta = max(exact_theta, float(np.partition(heads, len(heads) - k)[len(heads) - k]))
            slack = PRUNING_TOLERANCE * theta
            floor = theta - slack - after[split]
            if floor > 0:  # the terms from ``split`` on cannot lift a row holding none of the others
                sample = total[::CANDIDATE_SAMPLE_STRIDE]
                expected = np.count_nonzero(sample >= floor) * CANDIDATE_SAMPLE_STRIDE
                if expected * np.log2(lengths[split] + 1) * LOOKUP_COST < lengths[split]:
                    break  # looking the term up for the candidates is cheaper than scoring its column
            self._accumulate(terms[split : split + 1], counts[split : split + 1], scoring, out=total)
            split += 1
        if len(shortlist) >= k:
            heads = total[shortlist]
            theta = max(exact_theta, float(np.partition(heads, len(heads) - k)[len(heads) - k]))
        slack = PRUNING_TOLERANCE * theta
        floor = theta - slack - after[split]
        candidates = np.flatnonzero((total > 0) & (total >= floor))
        candidates = candidates[~blocked[candidates]]
        partial = total[candidates]
        for i in range(split, len(terms)):
            if len(candidates) * (len(terms) - i) <= BATCH_PAIRS:  # the rest in one search
                partial += self._lookup(terms[i:], counts[i:], candidates, scoring)
                break
            partial += np.float32(counts[i]) * self._column_scores(int(terms[i]), candidates, scoring)
            if len(partial) > k:  # the k-th partial score: k rows reach at least that
                theta = max(theta, float(np.partition(partial, len(partial) - k)[len(partial) - k]))
            keep = partial >= theta - PRUNING_TOLERANCE * theta - after[i + 1]
            candidates, partial = candidates[keep], partial[keep]
        return _best(candidates, partial, k)

    def _query_terms(self, tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The query's distinct term ids that have postings, and how often each occurs in it."""
        ids = self._retriever.get_tokens_ids(list(tokens))
        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        terms, counts = np.unique(np.asarray(ids, dtype=np.int64), return_counts=True)
        has_postings = terms + 1 < len(self._indptr)  # bm25s's "" has an id but no postings
        return terms[has_postings], counts[has_postings]

    def _max_impacts(self, terms: np.ndarray, scoring: Scoring) -> np.ndarray:
        """The largest score one posting of each term adds (its bound in ``top``).

        Computed per term at its first query and kept (one float32 per vocabulary entry): a process
        pays one pass over a term's column once, and an index needs no new file or rebuild for it.
        """
        maxima = self._maxima.get(scoring)
        if maxima is None:
            maxima = np.full(len(self._indptr) - 1, np.nan, dtype=np.float32)
            self._maxima[scoring] = maxima
        for term in terms[np.isnan(maxima[terms])].tolist():
            start, stop = int(self._indptr[term]), int(self._indptr[term + 1])
            maxima[term] = self._values(term, start, stop, scoring).max(initial=0.0)
        return maxima[terms]

    def _values(
        self, term: int, start: int, stop: int, scoring: Scoring, at: np.ndarray | None = None
    ) -> np.ndarray:
        """The score each posting of ``term`` (positions ``start:stop``) adds to its row; only the
        postings at offsets ``at`` within the column when given."""
        if scoring is Scoring.BM25:
            column = self._data[start:stop]
            return column if at is None else column[at]
        if at is None:
            return self._likelihood_values(np.array([term]), [start], [stop])[0]
        cached = self._likelihood_columns.get(term)
        if cached is not None:
            return cached[at]
        frequencies, tf = self._frequencies, self._tf
        assert frequencies is not None and tf is not None  # checked in top()
        values = frequencies.inverse_lengths[self._indices[start:stop][at]]  # as _likelihood_values
        values *= tf[start:stop][at]
        values *= self._ratios(np.array([term]))[0]
        return np.log1p(values, out=values)

    def _likelihood_values(self, terms: np.ndarray, starts: list[int], stops: list[int]) -> list[np.ndarray]:
        """The likelihood score of every posting of each of ``terms``: log1p(1/|d| · tf · ratio) in
        float32, in that order, so the same floats for a column however it is reached. Kept columns
        are read back (read-only), the others computed in one pass over them all."""
        cache = self._likelihood_columns
        if self._likelihood_uses is None:  # int32: 2 MB per 500k terms
            self._likelihood_uses = np.zeros(len(self._indptr) - 1, dtype=np.int32)
        uses = self._likelihood_uses
        np.add.at(uses, terms, 1)
        if uses[terms].max() >= USES_HALVED_AT:  # halved, not wrapped: the order of the counts stays
            uses >>= 1
        parts: list[np.ndarray | None] = [cache.get(term) for term in terms.tolist()]
        missing = [i for i, part in enumerate(parts) if part is None]
        if missing:
            fresh = self._compute_likelihood(
                terms[missing], [starts[i] for i in missing], [stops[i] for i in missing]
            )
            offset = 0
            for i in missing:
                length = stops[i] - starts[i]
                parts[i] = fresh[offset : offset + length]
                offset += length
            self._keep_likelihood(terms[missing], [parts[i] for i in missing])
        if len(missing) < len(parts):
            with self._cache_lock:
                for term in terms.tolist():
                    if term in cache:
                        cache.move_to_end(term)
        return parts  # type: ignore[return-value]  # every part filled above

    def _compute_likelihood(self, terms: np.ndarray, starts: list[int], stops: list[int]) -> np.ndarray:
        """``_likelihood_values`` of ``terms`` computed, their columns one after the other."""
        frequencies, tf = self._frequencies, self._tf
        assert frequencies is not None and tf is not None  # checked in top()
        rows = _columns(self._indices, starts, stops)
        lengths = np.subtract(stops, starts)
        values = frequencies.inverse_lengths[rows]  # a gather: a new array, safe to scale in place
        values *= _columns(tf, starts, stops)
        values *= np.repeat(self._ratios(terms), lengths)
        return np.log1p(values, out=values)

    def _keep_likelihood(self, terms: np.ndarray, columns: list[np.ndarray]) -> None:
        """Keep the long ones of freshly computed columns within ``LIKELIHOOD_CACHE_BYTES``, each
        displacing less used ones (see ``LIKELIHOOD_EVICTION_SAMPLE``) or left out."""
        cache, uses = self._likelihood_columns, self._likelihood_uses
        assert uses is not None  # counted in _likelihood_values
        with self._cache_lock:
            for term, column in zip(terms.tolist(), columns, strict=True):
                if len(column) < LIKELIHOOD_CACHE_MIN_POSTINGS or column.nbytes > LIKELIHOOD_CACHE_BYTES:
                    continue
                if term in cache:
                    continue
                while self._likelihood_bytes + column.nbytes > LIKELIHOOD_CACHE_BYTES:
                    oldest = list(itertools.islice(cache, LIKELIHOOD_EVICTION_SAMPLE))
                    victim = min(oldest, key=lambda kept: uses[kept])
                    if uses[victim] >= uses[term]:
                        break
                    self._likelihood_bytes -= cache.pop(victim).nbytes
                if self._likelihood_bytes + column.nbytes > LIKELIHOOD_CACHE_BYTES:
                    continue
                kept = column.copy()  # not a view: that would keep the whole batch alive
                kept.flags.writeable = False  # handed out as is: no caller may scale it in place
                cache[term] = kept
                self._likelihood_bytes += kept.nbytes

    def _ratios(self, terms: np.ndarray) -> np.ndarray:
        """Query likelihood's (1-λ)·|C| / (λ·cf) of each term, float32; a term's collection count
        cf is summed from its tf column at its first use and kept."""
        frequencies, tf = self._frequencies, self._tf
        assert frequencies is not None and tf is not None  # checked in top()
        if self._collection_counts is None:
            self._collection_counts = np.full(len(self._indptr) - 1, -1.0)
        for term in terms[self._collection_counts[terms] < 0].tolist():
            start, stop = int(self._indptr[term]), int(self._indptr[term + 1])
            self._collection_counts[term] = float(tf[start:stop].sum(dtype=np.float64))
        smoothing = LIKELIHOOD_SMOOTHING
        collection = self._collection_counts[terms]
        return ((1 - smoothing) * frequencies.total_tokens / (smoothing * collection)).astype(np.float32)

    def _lookup(
        self, terms: np.ndarray, counts: np.ndarray, rows: np.ndarray, scoring: Scoring
    ) -> np.ndarray:
        """Σ count × score of ``terms`` in each of ``rows``, by binary search in the terms' columns:
        up to ``BATCH_PAIRS`` (term, row) pairs all at once, vectorised across the pairs (a call per
        term would cost more than its search), else a search per term."""
        n_rows = len(rows)
        if len(terms) == 0 or n_rows == 0:
            return np.zeros(n_rows, dtype=np.float32)
        if len(terms) * n_rows > BATCH_PAIRS:
            out = np.zeros(n_rows, dtype=np.float32)
            for term, count in zip(terms.tolist(), counts.tolist(), strict=True):
                out += np.float32(count) * self._column_scores(term, rows, scoring)
            return out
        starts = self._indptr[terms].astype(np.int64)
        stops = self._indptr[terms + 1].astype(np.int64)
        low, high = np.repeat(starts, n_rows), np.repeat(stops, n_rows)
        end = high.copy()
        target = np.tile(rows, len(terms)).astype(self._indices.dtype)
        last = len(self._indices) - 1
        for _ in range(int((stops - starts).max()).bit_length()):  # lower bound of target in each column
            middle = (low + high) >> 1
            below = self._indices[np.minimum(middle, last)] < target
            still = low < high
            low = np.where(still & below, middle + 1, low)
            high = np.where(still & ~below, middle, high)
        found = low < end
        found[found] = self._indices[low[found]] == target[found]
        at = low[found]
        if scoring is Scoring.BM25:
            values = self._data[at]
        else:
            frequencies, tf = self._frequencies, self._tf
            assert frequencies is not None and tf is not None  # checked in top()
            values = frequencies.inverse_lengths[target[found]]  # as ``_values`` computes them
            values *= tf[at]
            values *= np.repeat(self._ratios(terms), n_rows)[found]
            np.log1p(values, out=values)
        out = np.zeros(len(low), dtype=np.float32)
        out[found] = values * np.repeat(counts.astype(np.float32), n_rows)[found]
        return out.reshape(len(terms), n_rows).sum(axis=0)

    def _accumulate(
        self, terms: np.ndarray, counts: np.ndarray, scoring: Scoring, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Σ count × score over the postings of ``terms``, for every row, added to ``out`` if given;
        term by term in the order given (the float32 sums depend on it)."""
        total = np.zeros(self.size, dtype=np.float32) if out is None else out
        if len(terms) == 0:
            return total
        starts, stops = self._bounds(terms)
        if scoring is Scoring.BM25:
            columns = [self._data[start:stop] for start, stop in zip(starts, stops, strict=True)]
        else:  # all the terms' values at once: a numpy call per term would cost more than the work
            columns = self._likelihood_values(terms, starts, stops)
        for start, stop, values, count in zip(starts, stops, columns, counts.tolist(), strict=True):
            # a row occurs once per column; np.add.at is numpy's fastest scatter-add (≈3× ``+=``)
            np.add.at(total, self._indices[start:stop], values if count == 1 else values * np.float32(count))
        return total

    def _column_scores(self, term: int, rows: np.ndarray, scoring: Scoring) -> np.ndarray:
        """The score of ``term`` in each of the sorted ``rows`` (0 where it does not occur)."""
        start, stop = int(self._indptr[term]), int(self._indptr[term + 1])
        column = self._indices[start:stop]
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


def _columns(source: np.ndarray, starts: list[int], stops: list[int]) -> np.ndarray:
    """``source[start:stop]`` of each column, one after the other (a view for a single column)."""
    if len(starts) == 1:
        return source[starts[0] : stops[0]]
    return np.concatenate([source[start:stop] for start, stop in zip(starts, stops, strict=True)])


def _best(rows: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` best of ``rows`` (sorted) by ``scores``, positive only; ties by row."""
    positive = scores > 0
    rows, scores = rows[positive], scores[positive]
    if len(rows) > k:
        picked = np.argpartition(-scores, k - 1)[:k]
        rows, scores = rows[picked], scores[picked]
    order = np.lexsort((rows, -scores))
    return [(int(rows[i]), float(scores[i])) for i in order]


def _top_indices(scores: np.ndarray, k: int, blocked: np.ndarray) -> np.ndarray:
    """The rows of the ``k`` best positive scores among rows not blocked, unordered."""
    rows = np.flatnonzero(scores > 0)
    rows = rows[~blocked[rows]]
    if len(rows) <= k:
        return rows
    return rows[np.argpartition(-scores[rows], k - 1)[:k]]


def top_rows(scores: np.ndarray, k: int, blocked: np.ndarray) -> list[tuple[int, float]]:
    """Best ``k`` rows by score among rows with a positive score that are not blocked (ties in the
    order a partition of the whole array leaves them, as every version before pruning had them)."""
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
