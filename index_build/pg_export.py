"""Load a build's metadata tables into PostgreSQL with COPY, and publish a build there.

The load is one transaction: the build's schema (``retrieval.pg_metadata.schema_name``) is made,
each table of ``metadata.sqlite`` is streamed into it with ``COPY … FROM STDIN (FORMAT BINARY)``,
the indexes are built after the rows (faster than keeping them up to date row by row), and the
build is entered in ``leian_builds``. A load that fails anywhere — a broken connection, a full
disk, an error in the source — leaves no schema and no row behind. Publishing is a second, short
transaction that replaces the one row of ``leian_published``: nodes see the old build or the new
one, never part of one.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from retrieval.metadata import SCHEMA
from retrieval.pg_metadata import (
    BUILDS_TABLE,
    CATALOG,
    CATALOG_LOCK,
    PUBLISHED_TABLE,
    LoadedBuild,
    loaded_build,
    schema_name,
    schema_present,
)


class PgExportError(RuntimeError):
    """The metadata cannot be loaded or published (nothing was published)."""


@dataclass(frozen=True)
class PgLoad:
    build_id: str
    schema: str
    documents: int
    rows: dict[str, int]  # rows copied per table
    seconds: float


def postgres_statements() -> tuple[list[str], list[str]]:
    """``retrieval.metadata.SCHEMA`` as PostgreSQL runs it: (CREATE TABLEs, CREATE INDEXes).

    The text is SQLite's and PostgreSQL's alike but for BLOB, which is bytea; the comments go first
    (one has a semicolon).
    """
    text = "\n".join(line for line in SCHEMA.splitlines() if not line.strip().startswith("--"))
    statements = [s.strip() for s in text.split(";") if s.strip()]
    tables = [s.replace(" BLOB", " bytea") for s in statements if s.upper().startswith("CREATE TABLE")]
    indexes = [s for s in statements if s.upper().startswith("CREATE INDEX")]
    if len(tables) + len(indexes) != len(statements):
        raise PgExportError("retrieval.metadata.SCHEMA has a statement the PostgreSQL load does not know")
    return tables, indexes


def _table_name(create: str) -> str:
    return create.split("(", 1)[0].split()[-1]


def _column_types(conn: psycopg.Connection[Any], schema: str, table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s",
        (schema, table),
    ).fetchall()
    return {str(name): str(kind) for name, kind in rows}


def _sqlite_rows(source: sqlite3.Connection, table: str, columns: list[str]) -> Any:
    """A table's rows as SQLite streams them (a cursor: never all in memory)."""
    listed = ", ".join(f'"{c}"' for c in columns)
    return source.execute(f'SELECT {listed} FROM "{table}"')


def load_metadata(
    url: str,
    build_id: str,
    metadata_path: Path,
    metadata_sha256: str,
    collection: str,
    *,
    reader_role: str | None = None,
) -> PgLoad:
    """COPY ``metadata_path`` (a build's metadata.sqlite) into the schema of ``build_id``, in one transaction.

    A build loaded before (a re-run after a failed publish) is loaded again from scratch; the build
    PostgreSQL publishes is refused (reloading it would change what the nodes are reading).
    ``reader_role``: the nodes' role (their ``LEIAN_DATABASE_URL`` user, e.g. the application role of
    ``leian audit setup-db``), granted SELECT on the build's tables and the catalog, nothing more.
    """
    started = time.perf_counter()
    schema = schema_name(build_id)
    tables, indexes = postgres_statements()
    source: sqlite3.Connection | None = None
    copied: dict[str, int] = {}
    try:
        source = sqlite3.connect(f"file:{metadata_path}?mode=ro", uri=True)
        present = {name for (name,) in source.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        with psycopg.connect(url, connect_timeout=10) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (CATALOG_LOCK,))
            conn.execute(CATALOG)
            published = conn.execute(f"SELECT build_id FROM {PUBLISHED_TABLE} WHERE slot = 0").fetchone()
            if published is not None and published[0] == build_id and schema_present(conn, schema):
                raise PgExportError(f"build {build_id} is the one PostgreSQL publishes: not loaded again")
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            # the build's schema first for the tables' statements; the catalog is found after it
            conn.execute(
                "SELECT set_config('search_path', %s || ',' || current_setting('search_path'), true)",
                (schema,),
            )
            for create in tables:
                conn.execute(create)
            with conn.cursor() as cur:
                for create in tables:
                    table = _table_name(create)
                    if table not in present:  # an older build without this table: it stays empty
                        continue
                    types = _column_types(conn, schema, table)
                    columns = [str(c[1]) for c in source.execute(f'PRAGMA table_info("{table}")')]
                    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                        sql.Identifier(schema, table), sql.SQL(", ").join(map(sql.Identifier, columns))
                    )
                    count = 0
                    with cur.copy(statement) as copy:
                        copy.set_types([types[c] for c in columns])
                        for row in _sqlite_rows(source, table, columns):
                            copy.write_row(row)
                            count += 1
                    copied[table] = count
            for index in indexes:
                conn.execute(index)
            if reader_role is not None:
                role, build_schema = sql.Identifier(reader_role), sql.Identifier(schema)
                for grant in (
                    sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(build_schema, role),
                    sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(build_schema, role),
                    sql.SQL("GRANT SELECT ON {}, {} TO {}").format(
                        sql.Identifier(BUILDS_TABLE), sql.Identifier(PUBLISHED_TABLE), role
                    ),
                ):
                    conn.execute(grant)
            for create in tables:
                conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, _table_name(create))))
            documents = copied.get("docs", 0)
            conn.execute(  # a row of an earlier load of this build (maybe the published one) is replaced
                f"INSERT INTO {BUILDS_TABLE}(build_id, schema_name, documents, metadata_sha256, collection)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (build_id) DO UPDATE SET"
                " schema_name = EXCLUDED.schema_name, documents = EXCLUDED.documents,"
                " metadata_sha256 = EXCLUDED.metadata_sha256, collection = EXCLUDED.collection, loaded_at = now()",
                (build_id, schema, documents, metadata_sha256, collection),
            )
    except (psycopg.Error, sqlite3.Error, OSError) as exc:  # the target or the source: rolled back
        raise PgExportError(f"loading build {build_id} into PostgreSQL failed: {str(exc).strip()}") from exc
    finally:
        if source is not None:
            source.close()
    return PgLoad(build_id, schema, documents, copied, time.perf_counter() - started)


def publish_build(url: str, build_id: str) -> LoadedBuild:
    """Make ``build_id`` (loaded whole by ``load_metadata``) the build every node serves: one row, one transaction."""
    try:
        with psycopg.connect(url, connect_timeout=10) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (CATALOG_LOCK,))
            conn.execute(CATALOG)
            loaded = loaded_build(conn, build_id)
            if loaded is None:
                raise PgExportError(f"build {build_id} is not loaded into PostgreSQL: nothing published")
            conn.execute(
                f"INSERT INTO {PUBLISHED_TABLE}(slot, build_id) VALUES (0, %s)"
                " ON CONFLICT (slot) DO UPDATE SET build_id = EXCLUDED.build_id, published_at = now()",
                (build_id,),
            )
            return loaded
    except psycopg.Error as exc:
        raise PgExportError(f"publishing build {build_id} failed: {str(exc).strip()}") from exc


def build_bytes(url: str, build_id: str) -> int:
    """Bytes the build's tables take in PostgreSQL, indexes and TOAST included (``pg_total_relation_size``)."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
            (schema_name(build_id),),
        ).fetchone()
    return int(row[0]) if row else 0
