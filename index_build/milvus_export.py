"""Load a published build's recall channels into Milvus: the cluster backend's vector store.

One collection per build (``collection_name``), written in full before anything reads it and
then pointed at by the one row readers look up (``publish_collection``), so that, as with the embedded ``current``
pointer, a failed load publishes nothing. The sparse vectors are our own scores
(``KeywordIndex.document_weights``), not Milvus's BM25 function: the segmenter, IDF and length
normalisation are the build's, so rankings equal the embedded index's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from retrieval.index_store import IndexStore
from retrieval.milvus_channels import DENSE_FIELD, PUBLISHED_POINTER, ROW_FIELD, SPARSE_FIELDS

INSERT_BATCH = 1_000  # rows per insert: a few MB of sparse vectors per call


def collection_name(build_id: str) -> str:
    """A Milvus collection name (letters, digits, underscores) for a build id such as 20261127T120609Z-1c7c43."""
    return "leian_" + re.sub(r"[^0-9A-Za-z_]", "_", build_id)


@dataclass(frozen=True)
class MilvusExport:
    collection: str
    rows: int
    dimension: int


def _sparse_rows(matrix: sparse.csr_matrix, start: int, stop: int) -> Iterator[dict[int, float]]:
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    for row in range(start, stop):
        lo, hi = int(indptr[row]), int(indptr[row + 1])
        yield {int(t): float(v) for t, v in zip(indices[lo:hi], data[lo:hi], strict=True)}


def _create_collection(client: Any, name: str, dimension: int) -> None:
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, description="leian build recall channels")
    schema.add_field(ROW_FIELD, DataType.INT64, is_primary=True)
    schema.add_field(DENSE_FIELD, DataType.FLOAT_VECTOR, dim=dimension)
    index_params = client.prepare_index_params()
    index_params.add_index(DENSE_FIELD, index_type="FLAT", metric_type="IP")
    for field in SPARSE_FIELDS.values():
        schema.add_field(field, DataType.SPARSE_FLOAT_VECTOR)
        index_params.add_index(field, index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    client.create_collection(name, schema=schema, index_params=index_params, consistency_level="Strong")


def export_build(store: IndexStore, client: Any, *, publish: bool = True) -> MilvusExport:
    """Write ``store``'s vectors and keyword weights into a new collection; point the alias at it.

    An existing collection of the same build is replaced (a re-run after a failed load).
    """
    name = collection_name(store.version)
    if client.has_collection(name):
        client.drop_collection(name)
    dimension = store.vectors.dimension
    _create_collection(client, name, dimension)
    weights = {
        field: (store.keyword_facts if source == "facts" else store.keyword_full).document_weights(scoring)
        for (source, scoring), field in SPARSE_FIELDS.items()
    }
    for start in range(0, store.size, INSERT_BATCH):
        stop = min(store.size, start + INSERT_BATCH)
        columns = {field: _sparse_rows(matrix, start, stop) for field, matrix in weights.items()}
        batch = []
        for row in range(start, stop):
            vector = store.vectors.reconstruct(row)
            if vector is None:
                vector = np.zeros(dimension, dtype=np.float32)
            entity: dict[str, Any] = {ROW_FIELD: row, DENSE_FIELD: np.asarray(vector, np.float32).tolist()}
            entity.update({field: next(rows) for field, rows in columns.items()})
            batch.append(entity)
        client.insert(name, batch)
    client.flush(name)
    if publish:
        publish_collection(client, name)
    return MilvusExport(collection=name, rows=store.size, dimension=dimension)


def publish_collection(client: Any, name: str) -> None:
    """Point readers at ``name``: one row in ``PUBLISHED_POINTER``, replaced by an upsert.

    Milvus Distributed also has collection aliases, but Milvus Lite does not implement them; a
    pointer row works on every deployment, and the upsert is atomic for the one row readers look up.
    """
    from pymilvus import DataType

    if not client.has_collection(PUBLISHED_POINTER):
        schema = client.create_schema(auto_id=False, description="the collection leian serves")
        schema.add_field("slot", DataType.INT64, is_primary=True)
        schema.add_field("collection", DataType.VARCHAR, max_length=255)
        schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants one vector field
        index_params = client.prepare_index_params()
        index_params.add_index("unused", index_type="FLAT", metric_type="L2")
        client.create_collection(
            PUBLISHED_POINTER, schema=schema, index_params=index_params, consistency_level="Strong"
        )
    client.upsert(PUBLISHED_POINTER, [{"slot": 0, "collection": name, "unused": [0.0, 0.0]}])
