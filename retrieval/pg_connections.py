"""The idle connections a PostgreSQL store's readers take and give back, and the placeholder style
of the SQL that the stores write once for SQLite and PostgreSQL.

A store serves request threads at once, each read on a connection of its own; opening one per read
costs a round trip and a server process, so a few are kept open between reads. One small class for
the audit log's readers (``retrieval.audit.pg_storage``) and the metadata's (``retrieval.pg_metadata``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import psycopg


def psycopg_style(query: str) -> str:
    """SQL written once for SQLite and PostgreSQL (``?`` placeholders; the stores' SQL has no literal
    ``?`` or ``%``) in psycopg's ``%s`` style."""
    return query.replace("?", "%s")


class IdleConnections:
    """Connections made by ``connect``, at most ``keep`` of them kept idle; none kept once closed."""

    def __init__(self, connect: Callable[[], psycopg.Connection[Any]], keep: int) -> None:
        self._connect = connect
        self._keep = keep
        self._idle: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self.closed = False

    def take(self) -> psycopg.Connection[Any]:
        """An idle connection, or a new one where none is left or the server dropped it."""
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None or conn.closed:
            conn = self._connect()
        return conn

    def give_back(self, conn: psycopg.Connection[Any]) -> None:
        """``conn``, done with and outside any transaction, kept for the next reader or closed."""
        with self._lock:
            if not self.closed and len(self._idle) < self._keep:
                self._idle.append(conn)
                return
        discard(conn)

    def close(self) -> None:
        with self._lock:
            self.closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            discard(conn)


def discard(conn: psycopg.Connection[Any]) -> None:
    """Close ``conn`` whatever state it is in (mid-query, or already dropped by the server)."""
    with contextlib.suppress(psycopg.Error):
        conn.close()
