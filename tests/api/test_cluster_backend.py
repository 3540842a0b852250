"""Choosing the cluster backend: settings refused clearly, a node never serves another build's channels."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.http.app import create_app
from api.service.config import Settings, SettingsError


def test_an_unknown_backend_is_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="LEIAN_BACKEND"):
        Settings.from_env({"LEIAN_BACKEND": "elastic"})


def test_the_cluster_backend_needs_a_milvus_uri() -> None:
    with pytest.raises(SettingsError, match="LEIAN_MILVUS_URI"):
        Settings.from_env({"LEIAN_BACKEND": "cluster"})
    settings = Settings.from_env({"LEIAN_BACKEND": "Cluster", "LEIAN_MILVUS_URI": "http://milvus:19530"})
    assert (settings.backend, settings.milvus_uri) == ("cluster", "http://milvus:19530")
    assert Settings.from_env({}).backend == "embedded"


@pytest.mark.slow
def test_a_node_refuses_a_milvus_that_serves_no_or_another_build(sample_index: Path, tmp_path: Path) -> None:
    from api.service.cluster import milvus_client
    from index_build.milvus_export import publish_collection

    uri = str(tmp_path / "milvus.db")
    settings = Settings(
        index_home=sample_index,
        data_dir=tmp_path / "data",
        create_signing_key=True,
        verify_index_checksums=False,
        backend="cluster",
        milvus_uri=uri,
    )
    with TestClient(create_app(settings)) as client:  # nothing exported yet
        response = client.get("/readyz")
        assert response.status_code == 503
        assert "leian cluster export" in response.text
    milvus = milvus_client(uri)
    publish_collection(milvus, "leian_some_other_build")
    milvus.close()
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert "leian_some_other_build" in response.text
        assert client.post("/api/v1/searches", json={}).status_code in (401, 503)


@pytest.mark.slow
def test_readyz_reports_milvus_going_away(sample_index: Path, tmp_path: Path) -> None:
    from api.service.cluster import milvus_client
    from index_build.milvus_export import export_build
    from retrieval.index_store import IndexStore

    uri = str(tmp_path / "milvus.db")
    client = milvus_client(uri)
    store = IndexStore.open(sample_index, verify_checksums=False)
    export_build(store, client)
    store.close()
    client.close()
    settings = Settings(
        index_home=sample_index,
        data_dir=tmp_path / "data",
        create_signing_key=True,
        verify_index_checksums=False,
        backend="cluster",
        milvus_uri=uri,
    )
    app = create_app(settings)
    with TestClient(app) as client_:
        ready = client_.get("/readyz")
        assert ready.status_code == 200, ready.text
        rows = app.state.services.store.size
        assert ready.json()["checks"]["recall"] == {"ok": True, "backend": "cluster", "rows": rows}
        app.state.services.store.vectors._collection.client.close()  # Milvus gone under the node
        gone = client_.get("/readyz")
        assert gone.status_code == 503
        assert not gone.json()["error"]["checks"]["recall"]["ok"]
