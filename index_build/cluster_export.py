"""Load a published build into the cluster stores and publish it: Milvus, then PostgreSQL.

With a database: the recall channels go into the build's own Milvus collection (not published in
Milvus), the metadata tables into the build's own PostgreSQL schema (``index_build.pg_export``),
and only then is the build published, by one transaction in PostgreSQL. PostgreSQL is the one
authority for which build the nodes serve — a node opens ``collection_name(build_id)`` of the build
PostgreSQL names — so the two-system publish is a single atomic step, and a load that fails midway
(in Milvus or in PostgreSQL) publishes nothing: nodes go on serving the previous build, whose
collection and schema are left as they were.

Without a database (``database_url`` None) the metadata stays in the build folder and the build is
published in Milvus itself (``milvus_export.publish_collection``), as before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from index_build.milvus_export import MilvusExport, collection_name, export_build
from index_build.pg_export import PgExportError, PgLoad, load_metadata, publish_build
from retrieval import index_layout as layout
from retrieval.index_store import IndexStore
from retrieval.pg_metadata import read_published


@dataclass(frozen=True)
class ClusterExport:
    milvus: MilvusExport | None  # None: already published, nothing loaded
    metadata: PgLoad | None  # None: no database (the metadata stays in the build folder)
    published: bool
    seconds: float


def export_cluster(
    store: IndexStore,
    client: Any,
    database_url: str | None = None,
    *,
    publish: bool = True,
    reader_role: str | None = None,
) -> ClusterExport:
    """Load ``store``'s build into Milvus (and PostgreSQL with ``database_url``), then publish it.

    ``reader_role``: the nodes' PostgreSQL role, granted read access to the build's tables.
    Raises (``PgExportError``, a Milvus error) with nothing published when any step fails.
    """
    started = time.perf_counter()
    if database_url is None:
        milvus = export_build(store, client, publish=publish)
        return ClusterExport(milvus, None, publish, time.perf_counter() - started)
    current = read_published(database_url)
    name = collection_name(store.version)
    milvus_whole = client.has_collection(name) and _rows(client, name) == store.size
    if current is not None and current.build_id == store.version:
        # Published already: reload only what a restore lost (the schema, the collection), if anything.
        milvus = export_build(store, client, publish=False) if not milvus_whole else None
        loaded = None if current.intact else _load(store, database_url, name, reader_role)
        if milvus is None and loaded is None:
            return ClusterExport(None, None, True, time.perf_counter() - started)
        return ClusterExport(milvus, loaded, True, time.perf_counter() - started)
    milvus = export_build(store, client, publish=False)
    loaded = _load(store, database_url, milvus.collection, reader_role)
    if publish:
        rows = _rows(client, milvus.collection)
        if rows != store.size:  # the collection must be whole before PostgreSQL names it
            raise PgExportError(f"collection {milvus.collection} holds {rows} rows, the build {store.size}")
        publish_build(database_url, store.version)
    return ClusterExport(milvus, loaded, publish, time.perf_counter() - started)


def _rows(client: Any, collection: str) -> int:
    return int(client.get_collection_stats(collection).get("row_count", -1))


def _load(store: IndexStore, database_url: str, collection: str, reader_role: str | None) -> PgLoad:
    checksum = str(store.manifest["files"][layout.METADATA]["sha256"])
    metadata = store.build_dir / layout.METADATA
    return load_metadata(database_url, store.version, metadata, checksum, collection, reader_role=reader_role)
