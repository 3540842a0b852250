"""One SQLite file of the service's own state (accounts, pushes) behind one connection and a lock.

The stores are small and written rarely: one connection in autocommit mode, shared by the threads
of a process under a re-entrant lock, WAL so that other processes' readers are not blocked, and
``synchronous=FULL`` because an account or a push must survive a power cut once acknowledged.

The accounts and the ledger may instead live in PostgreSQL (``api.service.pg_file.PgFile``, the
same methods): their SQL is written once, with ``?`` placeholders, for both.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol


class Rows(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Statements(Protocol):
    """What a transaction offers: sqlite3's connection, or ``PgFile``'s adapter."""

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Rows: ...

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> object: ...


class StateFile(Protocol):
    """A store's database: ``SqliteFile`` (the default) or ``PgFile`` (LEIAN_DATABASE_URL)."""

    lock: threading.RLock

    def transaction(self, *, join_audit: bool = True) -> contextlib.AbstractContextManager[Statements]: ...

    def reading(self) -> contextlib.AbstractContextManager[Statements]: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None: ...

    def writable(self) -> bool: ...

    def close(self) -> None: ...


class SqliteFile:
    def __init__(self, path: Path, schema: str, *, timeout: float, foreign_keys: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=timeout)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        if foreign_keys:
            self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.executescript(schema)

    @contextlib.contextmanager
    def transaction(self, *, join_audit: bool = True) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT under the lock; anything raised inside (an audit failure) rolls
        it all back, so a change is never kept without its record. (``join_audit``: PostgreSQL's;
        a log never joins a SQLite file's transaction.)"""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """Statements in autocommit under the lock: no change of this process between them."""
        with self.lock:
            yield self.conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """One statement on its own (autocommit), under the lock; its rows."""
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        with self.lock:
            self.conn.executemany(sql, params)

    def writable(self) -> bool:
        """Whether a write transaction can start now (for /readyz)."""
        try:
            with self.lock:
                self.conn.execute("BEGIN IMMEDIATE")
                self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            return False
        return True

    def close(self) -> None:
        with self.lock:
            self.conn.close()
