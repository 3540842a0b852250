"""One SQLite file of the service's own state (accounts, pushes) behind one connection and a lock.

The stores are small and written rarely: one connection in autocommit mode, shared by the threads
of a process under a re-entrant lock, WAL so that other processes' readers are not blocked, and
``synchronous=FULL`` because an account or a push must survive a power cut once acknowledged.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path


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
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT under the lock; anything raised inside (an audit failure) rolls
        it all back, so a change is never kept without its record."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def close(self) -> None:
        with self.lock:
            self.conn.close()
