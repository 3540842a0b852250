"""The cluster backend for the service: the published build served from Milvus (and PostgreSQL).

``LEIAN_BACKEND=cluster`` with ``LEIAN_MILVUS_URI`` (a Milvus Lite file, or ``http://host:19530``
for Standalone/Distributed) makes the service search the vectors and keyword fields in Milvus.
With ``LEIAN_DATABASE_URL`` too, the documents and metadata are read from PostgreSQL
(``retrieval.pg_metadata``), and PostgreSQL alone says which build is served: a node starts only
when the build PostgreSQL publishes is its index home's, and then searches that build's collection.
Without a database the metadata is read from the build folder (``LEIAN_INDEX``) and Milvus's own
pointer names the collection. Either way a node never serves an index home with another build's
vectors or documents; the build folder still gives the small query-side files (vocabularies,
embedder, statistics, the boolean-search postings).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval import index_layout as layout
from retrieval.index_store import IndexStore, MetadataOpener
from retrieval.metadata import MetadataStore

EMBEDDED = "embedded"
CLUSTER = "cluster"
BACKENDS = (EMBEDDED, CLUSTER)


class ClusterBackendError(RuntimeError):
    """The cluster backend cannot serve this build (not exported, another build published, Milvus down)."""


@dataclass(frozen=True)
class ClusterSettings:
    milvus_uri: str
    database_url: str | None = None  # documents and metadata in PostgreSQL, which publishes the build


def milvus_client(uri: str) -> Any:
    """A pymilvus client for ``uri``; pymilvus is imported here so the embedded default never needs it."""
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:  # pragma: no cover — the cluster extra is not installed
        raise ClusterBackendError(
            "LEIAN_BACKEND=cluster needs pymilvus: pip install -e '.[cluster]'"
        ) from exc
    try:
        return MilvusClient(uri)
    except Exception as exc:
        raise ClusterBackendError(f"Milvus at {uri} unavailable: {exc}") from exc


def metadata_opener(settings: ClusterSettings) -> MetadataOpener | None:
    """How ``IndexStore.open`` reads the metadata on this backend: from PostgreSQL when there is a
    database (refused unless PostgreSQL publishes the index home's build), else from the build folder."""
    url = settings.database_url
    if url is None:
        return None

    def open_metadata(build_dir: Path, manifest: dict) -> MetadataStore:
        from retrieval.pg_metadata import MetadataPublishError, open_published

        checksum = ((manifest.get("files") or {}).get(layout.METADATA) or {}).get("sha256")
        try:
            return open_published(url, str(manifest["build_id"]), checksum)
        except MetadataPublishError as exc:
            raise ClusterBackendError(str(exc)) from exc

    return open_metadata


def with_cluster_channels(store: IndexStore, settings: ClusterSettings) -> IndexStore:
    """``store`` answering its vector and keyword searches from Milvus."""
    from index_build.milvus_export import collection_name
    from retrieval.milvus_channels import MilvusChannelError, attach_milvus, published_collection

    client = milvus_client(settings.milvus_uri)
    try:
        expected = collection_name(store.version)
        if settings.database_url is not None:  # PostgreSQL published this build (``metadata_opener``)
            if not client.has_collection(expected):
                raise ClusterBackendError(
                    f"Milvus has no collection {expected} of build {store.version}, which PostgreSQL "
                    f"publishes: run leian cluster export --index HOME --milvus-uri URI --database-url URL"
                )
            return attach_milvus(store, client, expected)
        published = published_collection(client)
        if published != expected:
            raise ClusterBackendError(
                f"Milvus serves {published}, the index home is build {store.version}: "
                f"run leian cluster export --index HOME --milvus-uri URI"
            )
        return attach_milvus(store, client, published)
    except MilvusChannelError as exc:
        raise ClusterBackendError(str(exc)) from exc


def recall_status(store: IndexStore | None, backend: str) -> dict[str, Any]:
    """/readyz's view of the recall channels: on the cluster backend, Milvus answers for the collection."""
    if backend != CLUSTER or store is None:
        return {"ok": True, "backend": backend}
    ping = getattr(store.vectors, "ping", None)
    if ping is None:
        return {"ok": False, "backend": backend, "error": "the index is not served from Milvus"}
    try:
        rows = ping()
    except Exception as exc:
        return {"ok": False, "backend": backend, "error": f"Milvus unavailable: {type(exc).__name__}"}
    if rows != store.size:
        return {"ok": False, "backend": backend, "error": f"Milvus holds {rows} rows, the build {store.size}"}
    return {"ok": True, "backend": backend, "rows": rows}


def metadata_status(store: IndexStore | None) -> dict[str, Any]:
    """/readyz's view of the documents and metadata: which store, and (PostgreSQL) that it answers now.

    A build published after this node started does not make it unready: it serves its own build,
    whose schema and collection stay, until restarted on the new build's index home.
    """
    if store is None:
        return {"ok": True}
    described = store.metadata.describe()
    try:
        checked = store.metadata.check()
    except Exception as exc:
        return {"ok": False, **described, "error": f"{described['store']} unavailable: {type(exc).__name__}"}
    return {"ok": True, **described, "build_id": store.version, **checked}
