"""The recall channels held in Milvus: dense vectors and the keyword fields as sparse vectors.

One Milvus collection per build holds, per document row, the dense vector and three sparse
vectors that our own scorers computed (``KeywordIndex.document_weights``): BM25 over the facts,
BM25 over the full text, and query likelihood over the facts. A keyword query is the sparse vector
of its term counts (``KeywordIndex.query_term_counts``), and Milvus's inner product over a
``SPARSE_INVERTED_INDEX`` (exact, nothing dropped) is the very sum the embedded index computes,
so both backends rank alike (``bench/cluster_parity.py`` checks it on LeCaRD). The same client
code speaks to Milvus Lite (a local file), Standalone or Distributed by URI.

What stays with the node: the vocabulary (term → id) and, for boolean keyword search (which
matches vocabulary entries by substring and checks texts verbatim), the build's own postings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from retrieval.keyword_index import KeywordIndex, Scoring

ROW_FIELD = "row"
DENSE_FIELD = "dense"
SPARSE_FIELDS: dict[tuple[str, Scoring], str] = {
    ("facts", Scoring.BM25): "facts_bm25",
    ("full", Scoring.BM25): "full_bm25",
    ("facts", Scoring.LIKELIHOOD): "facts_likelihood",
}
PUBLISHED_POINTER = "leian_published"  # one row: the collection of the build being served
# Milvus answers at most this many hits per search and takes filter lists of about this length; a
# filter that allows and blocks more rows than this is split into several searches (``row_filters``).
MAX_LIMIT = 16_384
MAX_FILTER_LIST = MAX_LIMIT  # the longest ``in`` / ``not in`` list one search sends
# Exact sparse search: no posting is dropped from the query or the index.
SPARSE_SEARCH_PARAMS = {"metric_type": "IP", "params": {"drop_ratio_search": 0.0}}
DENSE_SEARCH_PARAMS = {"metric_type": "IP", "params": {}}


class MilvusChannelError(RuntimeError):
    """Milvus cannot answer the way the embedded index would (e.g. a filter it cannot express)."""


@dataclass(frozen=True)
class RowSlice:
    """The rows one search may return: those of ``rows`` (``listed_allowed``), or those in
    ``[lo, hi)`` except ``rows`` (blocked). None of ``lo``/``hi``: no range."""

    rows: np.ndarray
    listed_allowed: bool
    lo: int | None = None
    hi: int | None = None

    def expression(self) -> str:
        listed = f"{ROW_FIELD} {'in' if self.listed_allowed else 'not in'} {self.rows.tolist()}"
        if self.lo is None:
            return listed
        return f"{ROW_FIELD} >= {self.lo} and {ROW_FIELD} < {self.hi} and {listed}"

    def allows(self, size: int) -> np.ndarray:
        """The mask of rows this slice allows, out of ``size`` (for tests and checks)."""
        mask = np.zeros(size, dtype=bool)
        if self.listed_allowed:
            mask[self.rows] = True
            return mask
        mask[self.lo or 0 : size if self.hi is None else self.hi] = True
        mask[self.rows] = False
        return mask


def row_slices(blocked: np.ndarray, longest: int | None = None) -> list[RowSlice] | None:
    """Disjoint slices whose union is the rows not ``blocked``, each one list of at most
    ``longest`` rows (``MAX_FILTER_LIST``); None when nothing is blocked, [] when nothing is allowed.

    The shorter side is listed: a judge's restriction to a few candidates as ``in``, withdrawn
    documents or the pending case's own judgment as ``not in``. A side longer than one list is cut:
    allowed rows into lists of ``longest``; blocked rows into row ranges that each hold ``longest``
    of them (``row >= lo and row < hi and row not in [...]``). The top k over the union is the top k
    of the slices' top k's, so several searches answer exactly what one would.
    """
    longest = MAX_FILTER_LIST if longest is None else longest
    blocked = np.asarray(blocked, dtype=bool)
    blocked_rows = np.flatnonzero(blocked)
    if len(blocked_rows) == 0:
        return None
    allowed = np.flatnonzero(~blocked)
    if len(allowed) <= len(blocked_rows):
        return [RowSlice(allowed[i : i + longest], True) for i in range(0, len(allowed), longest)]
    if len(blocked_rows) <= longest:
        return [RowSlice(blocked_rows, False)]
    slices = []
    for i in range(0, len(blocked_rows), longest):
        lo = 0 if i == 0 else int(blocked_rows[i])
        hi = int(blocked_rows[i + longest]) if i + longest < len(blocked_rows) else len(blocked)
        slices.append(RowSlice(blocked_rows[i : i + longest], False, lo, hi))
    return slices


@dataclass(frozen=True)
class MilvusCollection:
    """A client and the collection of one build."""

    client: Any  # pymilvus.MilvusClient: imported where used, so the embedded default needs no pymilvus
    name: str

    def search(
        self, field: str, query: Any, limit: int, params: dict[str, Any], blocked: np.ndarray
    ) -> list[tuple[int, float]]:
        """The top ``limit`` rows not ``blocked``: one search per slice (``row_slices``), merged."""
        slices = row_slices(blocked)
        if slices is None:
            return self._search(field, query, limit, params, None)
        hits = [
            hit for part in slices for hit in self._search(field, query, limit, params, part.expression())
        ]
        if len(slices) > 1:
            hits.sort(key=lambda hit: -hit[1])  # stable: each slice's own order among equal scores
        return hits[:limit]

    def _search(
        self, field: str, query: Any, limit: int, params: dict[str, Any], expression: str | None
    ) -> list[tuple[int, float]]:
        answer = self.client.search(
            self.name,
            data=[query],
            anns_field=field,
            limit=limit,
            search_params=params,
            filter=expression or "",
            output_fields=[],
        )
        return [(int(hit["id"]), float(hit["distance"])) for hit in answer[0]]


class MilvusKeywordChannel:
    """A keyword field whose scoring happens in Milvus; vocabulary and boolean search stay local."""

    def __init__(self, collection: MilvusCollection, field: str, local: KeywordIndex) -> None:
        self._collection = collection
        self._field = field  # "facts" or "full"
        self._local = local
        self.size = local.size

    def top(
        self,
        tokens: Sequence[str],
        k: int,
        blocked: np.ndarray,
        scoring: Scoring = Scoring.BM25,
    ) -> list[tuple[int, float]]:
        """As ``KeywordIndex.top``: the same top k, Milvus scoring every posting."""
        sparse_field = SPARSE_FIELDS.get((self._field, scoring))
        if sparse_field is None:
            raise ValueError(f"no {scoring.value} channel over the {self._field} field")
        counts = self._local.query_term_counts(tokens)
        if not counts or k <= 0:
            return []
        query = {term: float(count) for term, count in counts.items()}
        hits = self._collection.search(sparse_field, query, min(k, MAX_LIMIT), SPARSE_SEARCH_PARAMS, blocked)
        return [(row, score) for row, score in hits if score > 0]

    def rows_containing(self, fragment: str) -> np.ndarray:
        return self._local.rows_containing(fragment)

    def document_frequency(self, token: str) -> int:
        return self._local.document_frequency(token)

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        return self._local.scores(tokens)


class MilvusVectorChannel:
    """Dense vectors in Milvus (FLAT: exact inner product, as the embedded ``IDMap2,Flat``)."""

    def __init__(self, collection: MilvusCollection, size: int, dimension: int, index_type: str) -> None:
        self._collection = collection
        self._size = size
        self._dimension = dimension
        self._index_type = index_type

    @property
    def size(self) -> int:
        return self._size

    @property
    def dimension(self) -> int:
        return self._dimension

    def describe(self) -> dict[str, object]:
        return {
            "factory": f"milvus:{self._index_type}",
            "metric": "inner_product",
            "params": {},
            "collection": self._collection.name,
            "dimension": self._dimension,
            "ntotal": self._size,
            "exact": self._index_type == "FLAT",
        }

    def search_allowed(self, query: np.ndarray, k: int, blocked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vector = np.asarray(query, dtype=np.float32).reshape(-1).tolist()
        hits = self._collection.search(
            DENSE_FIELD, vector, max(1, min(k, MAX_LIMIT)), DENSE_SEARCH_PARAMS, blocked
        )
        scores = np.array([score for _, score in hits], dtype=np.float32)
        rows = np.array([row for row, _ in hits], dtype=np.int64)
        return scores, rows

    def ping(self) -> int:
        """The collection's row count, asked of Milvus now (a readiness probe); raises if unreachable."""
        return int(self._collection.client.get_collection_stats(self._collection.name).get("row_count", -1))

    def reconstruct(self, row: int) -> np.ndarray | None:
        found = self._collection.client.query(
            self._collection.name, filter=f"{ROW_FIELD} == {int(row)}", output_fields=[DENSE_FIELD]
        )
        if not found:
            return None
        return np.asarray(found[0][DENSE_FIELD], dtype=np.float32)


def attach_milvus(store: Any, client: Any, collection: str) -> Any:
    """``store`` (an ``IndexStore``) with its recall channels served from ``collection``.

    Metadata, features and the vocabulary stay the build's; the collection must hold that build
    (``index_build.milvus_export``), which its row count checks.
    """
    import dataclasses

    stats = client.get_collection_stats(collection)
    rows = int(stats.get("row_count", -1))
    if rows != store.size:
        raise MilvusChannelError(f"collection {collection} holds {rows} rows, the build {store.size}")
    milvus = MilvusCollection(client, collection)
    return dataclasses.replace(
        store,
        vectors=MilvusVectorChannel(milvus, store.size, store.vectors.dimension, "FLAT"),
        keyword_facts=MilvusKeywordChannel(milvus, "facts", store.keyword_facts),
        keyword_full=MilvusKeywordChannel(milvus, "full", store.keyword_full),
    )


def published_collection(client: Any) -> str:
    """The collection ``index_build.milvus_export.publish_collection`` last pointed readers at."""
    if not client.has_collection(PUBLISHED_POINTER):
        raise MilvusChannelError("no build has been published to this Milvus (run leian cluster export)")
    rows = client.query(PUBLISHED_POINTER, filter="slot == 0", output_fields=["collection"])
    if not rows:
        raise MilvusChannelError("no build has been published to this Milvus (run leian cluster export)")
    return str(rows[0]["collection"])
