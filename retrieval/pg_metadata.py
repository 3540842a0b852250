"""The metadata store's tables in PostgreSQL: the cluster backend's documents and metadata.

``leian cluster export --database-url`` copies a build's ``metadata.sqlite`` tables into a schema
of their own (``schema_name``: ``leian_build_<build id>``), so that two builds sit side by side
while the next one loads, and then publishes the build by writing its id into ``leian_published``
(one row) in one transaction: PostgreSQL is the one authority for which build the nodes serve,
and a node opens the Milvus collection of that very build. The tables, columns and queries are
``retrieval.metadata``'s, unchanged; ``PostgresSource`` only runs them (``?`` becomes ``%s``,
BLOB is bytea).

Reads are safe from any number of threads: each takes a connection from a small pool of idle ones
(or opens one), and a connection the server dropped (a restart, a failover) is replaced once,
since every read is a single idempotent statement.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from retrieval.audit.pg_storage import redacted
from retrieval.metadata import MetadataStore
from retrieval.pg_connections import IdleConnections, discard, psycopg_style

BUILDS_TABLE = "leian_builds"
PUBLISHED_TABLE = "leian_published"
CATALOG = f"""
CREATE TABLE IF NOT EXISTS {BUILDS_TABLE}(
    build_id text PRIMARY KEY,
    schema_name text NOT NULL UNIQUE,
    documents bigint NOT NULL,
    metadata_sha256 text NOT NULL,
    collection text NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now());
-- The build the nodes serve: one row, replaced by the publishing transaction.
CREATE TABLE IF NOT EXISTS {PUBLISHED_TABLE}(
    slot integer PRIMARY KEY CHECK (slot = 0),
    build_id text NOT NULL REFERENCES {BUILDS_TABLE}(build_id),
    published_at timestamptz NOT NULL DEFAULT now());
"""
CATALOG_LOCK = int.from_bytes(b"leianMet", "big")
"""The advisory lock of every load and publish (the audit log's appenders and the accounts take others)."""
IDLE_CONNECTIONS = 8
STREAM_ROWS = 1_000  # rows per round trip when a whole table is read (``iter_documents``)
_SCHEMA_PREFIX = "leian_build_"
BUILD_SCHEMAS = _SCHEMA_PREFIX + "*"
"""Every build's schema as a ``pg_dump --exclude-schema`` pattern: derived data a backup leaves out."""
_SCHEMA_NAME = re.compile(r"^[a-z0-9_]{1,63}$")


class MetadataPublishError(RuntimeError):
    """PostgreSQL cannot serve this build's metadata (none published, another build, unreachable)."""


@dataclass(frozen=True)
class LoadedBuild:
    """A row of ``leian_builds``: a build whose tables are complete in ``schema``."""

    build_id: str
    schema: str
    documents: int
    metadata_sha256: str
    collection: str
    intact: bool = True  # False: the schema is gone (a database restored without the build schemas)


def schema_name(build_id: str) -> str:
    """The schema of a build's tables, e.g. leian_build_20261127t120609z_1c7c43 (≤ 63 characters)."""
    name = _SCHEMA_PREFIX + re.sub(r"[^0-9a-z_]", "_", build_id.lower())
    if len(name) > 63:
        raise ValueError(f"build id {build_id!r} is too long for a PostgreSQL schema name")
    return name


def has_catalog(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (PUBLISHED_TABLE,)).fetchone()
    return bool(row and row[0])


def loaded_build(conn: psycopg.Connection[Any], build_id: str) -> LoadedBuild | None:
    if not has_catalog(conn):
        return None
    row = conn.execute(
        f"SELECT build_id, schema_name, documents, metadata_sha256, collection FROM {BUILDS_TABLE}"
        " WHERE build_id = %s",
        (build_id,),
    ).fetchone()
    if row is None:
        return None
    schema = str(row[1])
    return LoadedBuild(
        str(row[0]), schema, int(row[2]), str(row[3]), str(row[4]), schema_present(conn, schema)
    )


def schema_present(conn: psycopg.Connection[Any], schema: str) -> bool:
    """Whether the build's schema is there (a database restored without the build schemas lacks it)."""
    return conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is not None


def published_build(conn: psycopg.Connection[Any]) -> LoadedBuild | None:
    """The build PostgreSQL publishes, or None when none was ever published."""
    if not has_catalog(conn):
        return None
    row = conn.execute(f"SELECT build_id FROM {PUBLISHED_TABLE} WHERE slot = 0").fetchone()
    return None if row is None else loaded_build(conn, str(row[0]))


def read_published(url: str, *, connect_timeout_s: int = 10) -> LoadedBuild | None:
    """``published_build`` over a connection of its own (``leian cluster status``, a node starting)."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout_s) as conn:
            return published_build(conn)
    except psycopg.Error as exc:
        raise MetadataPublishError(f"PostgreSQL at {redacted(url)} unavailable: {str(exc).strip()}") from exc


class PostgresSource:
    """A build's schema in the database at ``url``, read by ``MetadataStore`` (``MetadataSource``)."""

    def __init__(self, url: str, schema: str, *, connect_timeout_s: int = 10) -> None:
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(f"not a build schema name: {schema!r}")
        self.url = url
        self.schema = schema
        self.name = redacted(url)
        self.connect_timeout_s = connect_timeout_s
        self._pool = IdleConnections(self._connect, IDLE_CONNECTIONS)
        self._pool.give_back(self._connect())  # an unreachable database fails here, at start-up

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout_s)
        # The build's schema first, the database's usual path after it (where the catalog is).
        conn.execute(
            "SELECT set_config('search_path', %s || ',' || current_setting('search_path'), false)",
            (self.schema,),
        )
        return conn

    @contextlib.contextmanager
    def _lease(self) -> Iterator[psycopg.Connection[Any]]:
        if self._pool.closed:
            raise MetadataPublishError(f"{self.name}: the metadata store is closed")
        conn = self._pool.take()
        try:
            yield conn
        except BaseException:  # also a stream left half read: the connection is mid-query
            discard(conn)
            raise
        self._pool.give_back(conn)

    def rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._lease() as conn:
                return conn.execute(psycopg_style(query), tuple(params)).fetchall()
        except psycopg.OperationalError:
            pass  # a connection the server dropped: one more try on a new one
        with self._lease() as conn:
            return conn.execute(psycopg_style(query), tuple(params)).fetchall()

    def stream(self, query: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        with self._lease() as conn, conn.cursor() as cur:
            yield from cur.stream(psycopg_style(query), tuple(params), size=STREAM_ROWS)

    def has_table(self, table: str) -> bool:
        found = self.rows(
            "SELECT 1 FROM pg_tables WHERE schemaname = ? AND tablename = ?", (self.schema, table)
        )
        return bool(found)

    def describe(self) -> dict[str, Any]:
        return {"store": "postgresql", "database": self.name, "schema": self.schema}

    def check(self) -> dict[str, Any]:
        """Asked of PostgreSQL now (a readiness probe): the build it publishes; raises if unreachable."""
        found = self.rows(f"SELECT build_id FROM {PUBLISHED_TABLE} WHERE slot = 0")
        return {"published_build": str(found[0][0]) if found else None}

    def close(self) -> None:
        self._pool.close()


def open_published(url: str, build_id: str, metadata_sha256: str | None) -> MetadataStore:
    """The metadata of ``build_id`` in PostgreSQL, refused unless it is the build PostgreSQL publishes
    and its tables were loaded from the ``metadata.sqlite`` (``metadata_sha256``) the manifest lists."""
    export = "run leian cluster export --index HOME --milvus-uri URI --database-url URL"
    published = read_published(url)
    if published is None:
        raise MetadataPublishError(f"PostgreSQL at {redacted(url)} publishes no build: {export}")
    if published.build_id != build_id:
        raise MetadataPublishError(
            f"PostgreSQL publishes build {published.build_id}, the index home is build {build_id}: "
            f"{export}, or serve the index home of build {published.build_id}"
        )
    if not published.intact:
        raise MetadataPublishError(
            f"PostgreSQL publishes build {build_id} but its schema {published.schema} is missing "
            f"(a database restored without the build schemas?): {export}"
        )
    if metadata_sha256 is not None and published.metadata_sha256 != metadata_sha256:
        raise MetadataPublishError(
            f"build {build_id}: the metadata in PostgreSQL was loaded from another metadata.sqlite "
            f"than the manifest lists: {export}"
        )
    try:
        return MetadataStore(PostgresSource(url, published.schema))
    except psycopg.Error as exc:
        raise MetadataPublishError(f"PostgreSQL at {redacted(url)}: {str(exc).strip()}") from exc
