"""The cluster backend's recall channels for the service: the published build served from Milvus.

``LEIAN_BACKEND=cluster`` with ``LEIAN_MILVUS_URI`` (a Milvus Lite file, or ``http://host:19530``
for Standalone/Distributed) makes the service search the vectors and keyword fields in Milvus,
while metadata and features are still read from the build folder (``LEIAN_INDEX``). The collection
must be the one ``leian cluster export`` loaded for that very build: a node never serves an index
home with another build's vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from retrieval.index_store import IndexStore

EMBEDDED = "embedded"
CLUSTER = "cluster"
BACKENDS = (EMBEDDED, CLUSTER)


class ClusterBackendError(RuntimeError):
    """The cluster backend cannot serve this build (not exported, another build published, Milvus down)."""


@dataclass(frozen=True)
class ClusterSettings:
    milvus_uri: str


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


def with_cluster_channels(store: IndexStore, settings: ClusterSettings) -> IndexStore:
    """``store`` answering its vector and keyword searches from Milvus."""
    from index_build.milvus_export import collection_name
    from retrieval.milvus_channels import MilvusChannelError, attach_milvus, published_collection

    client = milvus_client(settings.milvus_uri)
    try:
        published = published_collection(client)
        expected = collection_name(store.version)
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
