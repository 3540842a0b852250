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


# -- the metadata in PostgreSQL, which publishes the build -------------------------------------------


def _cluster_settings(home: Path, root: Path, milvus_uri: str, database_url: str) -> Settings:
    return Settings(
        index_home=home,
        data_dir=root / "data",
        create_signing_key=True,
        verify_index_checksums=False,
        backend="cluster",
        milvus_uri=milvus_uri,
        database_url=database_url,
    )


def _schemas(database_url: str) -> set[str]:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        return {
            str(name)
            for (name,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'leian_build_%'")
        }


def _export(home: Path, milvus_uri: str, database_url: str) -> int:
    from api.cli.main import main as leian

    return leian(
        [
            "cluster",
            "export",
            "--index",
            str(home),
            "--milvus-uri",
            milvus_uri,
            "--database-url",
            database_url,
        ]
    )


@pytest.mark.slow
def test_postgresql_publishes_the_build_and_a_failed_load_publishes_nothing(
    sample_index: Path,
    tmp_path: Path,
    pg_database: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Build A is loaded and published; loading build B then fails in PostgreSQL's COPY, and again in
    Milvus: each time PostgreSQL still publishes A, no schema of B is left, and a node on B's index home
    refuses to serve while a node on A's serves A's documents from PostgreSQL. Once B loads, it is B."""
    import sqlite3

    import index_build.pg_export as pg_export
    from api.service.cluster import milvus_client
    from index_build.build import BuildOptions, build
    from index_build.milvus_export import collection_name
    from retrieval.index_layout import resolve_current
    from retrieval.milvus_channels import MilvusChannelError, published_collection
    from retrieval.pg_metadata import read_published, schema_name
    from tests.conftest import SAMPLE_INPUTS

    home_b = tmp_path / "index-b"
    build(BuildOptions(inputs=SAMPLE_INPUTS, home=home_b, progress=False))
    a, b = resolve_current(sample_index).name, resolve_current(home_b).name
    assert a != b
    uri = str(tmp_path / "milvus.db")

    assert _export(sample_index, uri, pg_database) == 0
    assert read_published(pg_database).build_id == a  # type: ignore[union-attr]
    assert _schemas(pg_database) == {schema_name(a)}
    milvus = milvus_client(uri)
    with pytest.raises(MilvusChannelError):  # PostgreSQL is the one pointer: Milvus's is not written
        published_collection(milvus)
    milvus.close()

    copy_rows = pg_export._sqlite_rows

    def failing_midway(source: sqlite3.Connection, table: str, columns: list[str]):  # type: ignore[no-untyped-def]
        rows = copy_rows(source, table, columns)
        if table != "doc_texts":
            return rows

        def some_then_fail():  # type: ignore[no-untyped-def]
            yield next(rows)
            yield next(rows)
            raise sqlite3.OperationalError("disk I/O error")

        return some_then_fail()

    monkeypatch.setattr(pg_export, "_sqlite_rows", failing_midway)
    capsys.readouterr()
    assert _export(home_b, uri, pg_database) == 1
    err = capsys.readouterr().err
    assert "disk I/O error" in err and "nothing published" in err
    assert read_published(pg_database).build_id == a  # type: ignore[union-attr]
    assert _schemas(pg_database) == {schema_name(a)}  # the failed load's schema rolled back whole
    monkeypatch.undo()

    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    def insert_fails(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise MilvusException(message="insert refused: disk quota exceeded")

    monkeypatch.setattr(MilvusClient, "insert", insert_fails)
    assert _export(home_b, uri, pg_database) == 1
    assert "disk quota exceeded" in capsys.readouterr().err
    assert read_published(pg_database).build_id == a  # type: ignore[union-attr]
    assert _schemas(pg_database) == {schema_name(a)}
    monkeypatch.undo()

    with TestClient(create_app(_cluster_settings(home_b, tmp_path / "node-b", uri, pg_database))) as node:
        ready = node.get("/readyz")
        assert ready.status_code == 503
        problem = ready.json()["error"]["checks"]["index"]["error"]
        assert f"PostgreSQL publishes build {a}, the index home is build {b}" in problem
    app = create_app(_cluster_settings(sample_index, tmp_path / "node-a", uri, pg_database))
    with TestClient(app) as node:
        ready = node.get("/readyz")
        assert ready.status_code == 200, ready.text
        metadata = ready.json()["checks"]["metadata"]
        assert metadata["ok"] and metadata["store"] == "postgresql" and metadata["published_build"] == a
        store = app.state.services.store
        assert store.describe()["vector_index"]["collection"] == collection_name(a)
        _, document = next(iter(store.metadata.iter_documents()))
        assert store.document_by_id(document.doc_id) == document

    assert _export(home_b, uri, pg_database) == 0
    assert read_published(pg_database).build_id == b  # type: ignore[union-attr]
    assert _schemas(pg_database) == {schema_name(a), schema_name(b)}  # A's stays for nodes still on it
    assert _export(home_b, uri, pg_database) == 0  # again: already published, nothing reloaded
    assert "already published" in capsys.readouterr().out
    with TestClient(
        create_app(_cluster_settings(sample_index, tmp_path / "node-a2", uri, pg_database))
    ) as node:
        assert node.get("/readyz").status_code == 503
    with TestClient(create_app(_cluster_settings(home_b, tmp_path / "node-b2", uri, pg_database))) as node:
        ready = node.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["index"]["build_id"] == b


@pytest.mark.slow
def test_a_node_refuses_postgresql_that_publishes_no_build(
    sample_index: Path, tmp_path: Path, pg_database: str
) -> None:
    from api.cli.main import main as leian

    uri = str(tmp_path / "milvus.db")
    assert leian(["cluster", "export", "--index", str(sample_index), "--milvus-uri", uri]) == 0  # Milvus only
    with TestClient(create_app(_cluster_settings(sample_index, tmp_path, uri, pg_database))) as node:
        ready = node.get("/readyz")
        assert ready.status_code == 503
        assert "publishes no build" in ready.json()["error"]["checks"]["index"]["error"]


@pytest.mark.slow
def test_a_database_restored_without_the_build_schema_is_refused_then_reloaded(
    sample_index: Path, tmp_path: Path, pg_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """pg_dump --exclude-schema 'leian_build_*' keeps the catalog, not the tables: nodes refuse the
    build, `leian cluster status` says so, and the same export reloads the tables (Milvus untouched)."""
    import psycopg
    from psycopg import sql

    from api.cli.main import main as leian
    from retrieval.index_layout import resolve_current
    from retrieval.pg_metadata import read_published, schema_name

    uri = str(tmp_path / "milvus.db")
    status = ["cluster", "status", "--milvus-uri", uri, "--database-url", pg_database]
    assert _export(sample_index, uri, pg_database) == 0
    assert leian(status) == 0
    build_id = resolve_current(sample_index).name
    assert f"published in PostgreSQL (what nodes serve): build {build_id}" in capsys.readouterr().out
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema_name(build_id))))
    assert leian(status) == 1
    assert "missing: run leian cluster export again" in capsys.readouterr().out
    with TestClient(create_app(_cluster_settings(sample_index, tmp_path / "n1", uri, pg_database))) as node:
        ready = node.get("/readyz")
        assert ready.status_code == 503
        assert "is missing" in ready.json()["error"]["checks"]["index"]["error"]
    assert _export(sample_index, uri, pg_database) == 0
    out = capsys.readouterr().out
    assert f"PostgreSQL schema {schema_name(build_id)}" in out and "Milvus collection" not in out
    assert read_published(pg_database).intact  # type: ignore[union-attr]
    with TestClient(create_app(_cluster_settings(sample_index, tmp_path / "n2", uri, pg_database))) as node:
        assert node.get("/readyz").status_code == 200
