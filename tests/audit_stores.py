"""The audit log's two storages for tests: a SQLite file, and a PostgreSQL database made per test.

``audit_store`` (the fixture in tests/conftest.py) runs a test once on each. PostgreSQL is the real
server at ``LEIAN_TEST_DATABASE_URL`` (default postgresql://postgres@127.0.0.1:5432/test, the
machine's); every test gets a database of its own, dropped at the end. ``backdoor()`` is the
attacker with a shell (SQLite) or a superuser's connection (PostgreSQL): the append-only triggers
out of the way, any row changed.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

ADMIN_URL = os.environ.get("LEIAN_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
STORES = ("sqlite", "postgresql")


def database_url(name: str, *, user: str | None = None) -> str:
    """ADMIN_URL with another database (and user)."""
    parts = urlsplit(ADMIN_URL)
    netloc = parts.netloc if user is None else f"{user}@{parts.netloc.rsplit('@', 1)[-1]}"
    return urlunsplit((parts.scheme, netloc, "/" + name, parts.query, ""))


def postgres_problem() -> str | None:
    """Why the PostgreSQL tests cannot run here, or None."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[dev]')"
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL unreachable at {ADMIN_URL} (LEIAN_TEST_DATABASE_URL): {exc}"


def admin_execute(statement: Any, url: str = ADMIN_URL) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


@contextlib.contextmanager
def temp_database(prefix: str = "leian_test") -> Iterator[str]:
    """A fresh database (unique name) for one test; dropped after, connections or not."""
    from psycopg import sql

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin_execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url(name)
    finally:
        admin_execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


class Backdoor(Protocol):
    def data(self, seq: int) -> bytes: ...

    def update(self, seq: int, data: bytes | None = None, leaf: bytes | None = None) -> None: ...

    def delete(self, seq: int) -> None: ...


class SqliteBackdoor:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        for table in ("records", "checkpoints"):
            for op in ("update", "delete"):
                conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op}")

    def data(self, seq: int) -> bytes:
        return bytes(self.conn.execute("SELECT data FROM records WHERE seq = ?", (seq,)).fetchone()[0])

    def update(self, seq: int, data: bytes | None = None, leaf: bytes | None = None) -> None:
        if data is not None:
            self.conn.execute("UPDATE records SET data = ? WHERE seq = ?", (data, seq))
        if leaf is not None:
            self.conn.execute("UPDATE records SET leaf_hash = ? WHERE seq = ?", (leaf, seq))

    def delete(self, seq: int) -> None:
        self.conn.execute("DELETE FROM records WHERE seq = ?", (seq,))


class PostgresBackdoor:
    """A superuser: the triggers disabled (they stay disabled until the owner opens the log again)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        for table in ("audit_records", "audit_checkpoints"):
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")

    def data(self, seq: int) -> bytes:
        return bytes(self.conn.execute("SELECT data FROM audit_records WHERE seq = %s", (seq,)).fetchone()[0])

    def update(self, seq: int, data: bytes | None = None, leaf: bytes | None = None) -> None:
        if data is not None:
            self.conn.execute("UPDATE audit_records SET data = %s WHERE seq = %s", (data, seq))
        if leaf is not None:
            self.conn.execute("UPDATE audit_records SET leaf_hash = %s WHERE seq = %s", (leaf, seq))

    def delete(self, seq: int) -> None:
        self.conn.execute("DELETE FROM audit_records WHERE seq = %s", (seq,))


@dataclass(frozen=True)
class AuditStore:
    """Where a test's audit log lives: ``location`` is what ``AuditLog`` opens."""

    kind: str
    location: str | Path

    @contextlib.contextmanager
    def backdoor(self) -> Iterator[Backdoor]:
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.location, isolation_level=None)
            try:
                yield SqliteBackdoor(conn)
            finally:
                conn.close()
            return
        import psycopg

        with psycopg.connect(str(self.location), autocommit=True) as pg:
            yield PostgresBackdoor(pg)


@contextlib.contextmanager
def audit_store(kind: str, folder: Path) -> Iterator[AuditStore]:
    if kind == "sqlite":
        yield AuditStore(kind, folder / "audit.sqlite")
        return
    with temp_database() as url:
        yield AuditStore(kind, url)
