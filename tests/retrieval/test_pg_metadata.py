"""The metadata store read from PostgreSQL answers every read as the build's SQLite file does.

The sample index's ``metadata.sqlite`` is copied into a fresh database the way ``leian cluster
export`` copies it (``index_build.pg_export.load_metadata``: COPY into the build's own schema), and
each read of ``MetadataStore`` is asked of both with the same arguments: keys that exist, keys that
do not, and none.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from retrieval import index_layout as layout
from retrieval.metadata import MetadataStore


def _keys(path: Path, query: str) -> list[Any]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return [row[0] for row in conn.execute(query)]


@pytest.fixture(scope="module")
def stores(sample_index: Path) -> Iterator[tuple[MetadataStore, MetadataStore, Path]]:
    """(SQLite store, PostgreSQL store, the SQLite file) of the sample index's current build."""
    from index_build.pg_export import load_metadata
    from retrieval.pg_metadata import PostgresSource
    from tests.audit_stores import postgres_problem, temp_database

    if (problem := postgres_problem()) is not None:
        pytest.fail(problem)
    build_dir = layout.resolve_current(sample_index)
    path = build_dir / layout.METADATA
    with temp_database() as url:
        loaded = load_metadata(url, build_dir.name, path, "sha-of-the-test", "leian_test")
        sqlite_store = MetadataStore(path)
        pg_store = MetadataStore(PostgresSource(url, loaded.schema))
        try:
            yield sqlite_store, pg_store, path
        finally:
            sqlite_store.close()
            pg_store.close()


def _reads(path: Path, size: int) -> dict[str, Callable[[MetadataStore], Any]]:
    """Every read of ``MetadataStore`` with arguments drawn from the file (plus missing and empty ones)."""
    rows = [*range(size), size + 5]
    doc_ids = _keys(path, "SELECT doc_id FROM docs ORDER BY row")
    articles = [*_keys(path, "SELECT DISTINCT article FROM doc_articles"), "刑法第999条"]
    causes = [*_keys(path, "SELECT DISTINCT cause FROM doc_causes"), "不存在的罪名"]
    parties = [*_keys(path, "SELECT DISTINCT name FROM doc_parties"), "无此人"]
    numbers = [
        *_keys(path, "SELECT DISTINCT case_number FROM docs WHERE case_number IS NOT NULL"),
        "（2099）无1号",
    ]
    refs = [*_keys(path, "SELECT DISTINCT case_number FROM doc_case_refs"), "（2099）无2号"]
    kinds = [*_keys(path, "SELECT DISTINCT authority_kind FROM docs"), "无此类"]
    return {
        "count": lambda s: s.count(),
        "row_of": lambda s: [s.row_of(d) for d in [*doc_ids, "no-such-doc"]],
        "document": lambda s: [s.document(r) for r in range(size)],
        "documents": lambda s: s.documents(rows),
        "documents_none": lambda s: (s.documents([]), s.cards([]), s.legal_features([]), s.count()),
        "cards": lambda s: s.cards(rows),
        "legal_features": lambda s: s.legal_features(rows),
        "iter_documents": lambda s: list(s.iter_documents()),
        "documents_of_kind": lambda s: {k: list(s.documents_of_kind(k)) for k in kinds},
        "attribute_rows": lambda s: [tuple(r) for r in s.attribute_rows()],
        "citation_rows": lambda s: [tuple(r) for r in s.citation_rows()],
        "rows_with_causes": lambda s: (s.rows_with_causes(causes), s.rows_with_causes([])),
        "article_document_frequency": lambda s: s.article_document_frequency(),
        "withdrawn_mask": lambda s: s.withdrawn_mask(size + 3).tolist(),
        "rows_citing": lambda s: (sorted(s.rows_citing(articles)), s.rows_citing([])),
        "rows_with_case_numbers": lambda s: sorted(s.rows_with_case_numbers(numbers)),
        "rows_referring_to": lambda s: sorted(s.rows_referring_to(refs)),
        "rows_with_party": lambda s: sorted(s.rows_with_party(parties)),
        "has_elements": lambda s: s.has_elements,
        "codec": lambda s: (s.codec.card_dictionary, s.codec.texts_dictionary),
    }


READS = [
    "count",
    "row_of",
    "document",
    "documents",
    "documents_none",
    "cards",
    "legal_features",
    "iter_documents",
    "documents_of_kind",
    "attribute_rows",
    "citation_rows",
    "rows_with_causes",
    "article_document_frequency",
    "withdrawn_mask",
    "rows_citing",
    "rows_with_case_numbers",
    "rows_referring_to",
    "rows_with_party",
    "has_elements",
    "codec",
]


@pytest.mark.parametrize("read", READS)
def test_postgresql_answers_every_read_as_sqlite(
    stores: tuple[MetadataStore, MetadataStore, Path], read: str
) -> None:
    sqlite_store, pg_store, path = stores
    reads = _reads(path, sqlite_store.count())
    assert set(reads) == set(READS)
    call = reads[read]
    expected = call(sqlite_store)
    assert call(pg_store) == expected
    assert expected not in (None, [], {}, set(), 0)  # the read found something to compare


def test_every_public_read_of_the_store_is_compared() -> None:
    public = {
        name
        for name in vars(MetadataStore)
        if not name.startswith("_") and callable(getattr(MetadataStore, name))
    }
    assert public - {"close", "describe", "check"} <= set(READS)


def test_reads_from_many_threads_at_once(stores: tuple[MetadataStore, MetadataStore, Path]) -> None:
    """A node's request threads read without a lock of theirs: each read takes its own connection."""
    sqlite_store, pg_store, _ = stores
    size = sqlite_store.count()
    expected = sqlite_store.documents(range(size))
    answers: list[Any] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(5):
                answers.append(pg_store.documents(range(size)))
                pg_store.legal_features(range(size))
                next(iter(pg_store.iter_documents()))  # a stream left half read gives its connection up
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(answers) == 40 and all(answer == expected for answer in answers)


def test_the_store_says_where_it_reads(stores: tuple[MetadataStore, MetadataStore, Path]) -> None:
    sqlite_store, pg_store, _ = stores
    assert sqlite_store.describe() == {"store": "sqlite"}
    described = pg_store.describe()
    assert described["store"] == "postgresql" and described["schema"].startswith("leian_build_")
    assert "@" not in described["database"] or ":" not in described["database"].split("@")[0][13:]
    assert pg_store.check() == {"published_build": None}  # loaded, not published


def test_only_the_published_build_loaded_from_the_manifests_file_opens(
    sample_index: Path, pg_database: str
) -> None:
    from index_build.pg_export import PgExportError, load_metadata, publish_build
    from retrieval.pg_metadata import MetadataPublishError, open_published, read_published

    path = layout.resolve_current(sample_index) / layout.METADATA
    with pytest.raises(MetadataPublishError, match="publishes no build"):
        open_published(pg_database, "b1", "sha-1")
    load_metadata(pg_database, "b1", path, "sha-1", "leian_b1")
    with pytest.raises(MetadataPublishError, match="publishes no build"):  # loaded is not published
        open_published(pg_database, "b1", "sha-1")
    with pytest.raises(PgExportError, match="not loaded"):
        publish_build(pg_database, "b2")
    assert read_published(pg_database) is None
    publish_build(pg_database, "b1")
    store = open_published(pg_database, "b1", "sha-1")
    try:
        assert store.count() == MetadataStore(path).count()
    finally:
        store.close()
    with pytest.raises(
        MetadataPublishError, match="PostgreSQL publishes build b1, the index home is build b2"
    ):
        open_published(pg_database, "b2", "sha-1")
    with pytest.raises(MetadataPublishError, match=r"another metadata\.sqlite"):
        open_published(pg_database, "b1", "sha-of-another-file")
    with pytest.raises(PgExportError, match="the one PostgreSQL publishes"):  # nodes are reading it
        load_metadata(pg_database, "b1", path, "sha-1", "leian_b1")
    with pytest.raises(PgExportError, match=r"unable to open database file"):  # the source fails: rolled back
        load_metadata(pg_database, "b2", path.with_name("missing.sqlite"), "sha-2", "leian_b2")
    assert read_published(pg_database).build_id == "b1"  # type: ignore[union-attr]


def test_the_nodes_role_reads_the_build_it_was_granted_and_writes_nothing(
    sample_index: Path, pg_database: str
) -> None:
    """Nodes connect as an application role (``leian audit setup-db --app-role``); the export grants it
    SELECT on the build's tables and the catalog (``--app-role``), and nothing else."""
    import uuid

    import psycopg
    from psycopg import sql

    from index_build.pg_export import load_metadata, publish_build
    from retrieval.pg_metadata import MetadataPublishError, open_published
    from tests.audit_stores import admin_execute, database_url

    path = layout.resolve_current(sample_index) / layout.METADATA
    role = f"leian_node_{uuid.uuid4().hex[:10]}"
    admin_execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    node_url = database_url(pg_database.rsplit("/", 1)[1], user=role)
    try:
        load_metadata(pg_database, "b1", path, "sha-1", "leian_b1")  # no grant
        publish_build(pg_database, "b1")
        with pytest.raises(MetadataPublishError, match="permission denied"):
            open_published(node_url, "b1", "sha-1")
        load_metadata(pg_database, "b2", path, "sha-2", "leian_b2", reader_role=role)
        publish_build(pg_database, "b2")
        store = open_published(node_url, "b2", "sha-2")
        try:
            assert store.count() == MetadataStore(path).count()
            assert store.check() == {"published_build": "b2"}
        finally:
            store.close()
        with (
            psycopg.connect(node_url, autocommit=True) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute("DELETE FROM leian_build_b2.docs")
    finally:
        admin_execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)), pg_database)
        admin_execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
