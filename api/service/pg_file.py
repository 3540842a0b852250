"""The accounts and the ledger in PostgreSQL (LEIAN_DATABASE_URL): ``SqliteFile``'s methods over one
psycopg connection, so that every API node reads and changes the same users, tokens and searches.

The stores' SQL is written once with ``?`` placeholders (none of it has a literal ``?`` or ``%``);
here they become psycopg's ``%s``. Every write transaction first takes one advisory lock, so that
changes to the accounts are serialised across nodes as ``BEGIN IMMEDIATE`` serialises them on one
SQLite file: a row read and then changed cannot be changed by another node in between, and the
order of their audit records is the order of the changes. And the audit record of a change joins
its transaction (``retrieval.audit.pg_storage.enclosing``): the row and the record commit together.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg

from retrieval.audit.pg_storage import Enclosing, enclosing
from retrieval.pg_connections import psycopg_style

T = TypeVar("T")

WRITE_LOCK = int.from_bytes(b"leianAcc", "big")
"""The advisory lock of every write transaction (the audit log's appenders take another)."""


class _Statements:
    """sqlite3's ``execute``/``executemany`` on a psycopg connection inside a transaction."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        return self.conn.execute(psycopg_style(sql), tuple(params))

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(psycopg_style(sql), [tuple(p) for p in params])


class PgFile:
    """One connection (autocommit, ``synchronous_commit=on``) shared by a process's threads under a lock."""

    def __init__(
        self, url: str, schema: str, *, tables: Sequence[str], timeout: float, lock_key: int = WRITE_LOCK
    ) -> None:
        """``schema`` is run when one of ``tables`` is missing: an application role without the
        right to create tables opens what ``leian audit setup-db`` made for it. ``lock_key``: the
        advisory lock of this store's write transactions (the push store has its own, so that its
        writes and the accounts' never wait on each other)."""
        self.url = url
        self.timeout = timeout
        self.lock_key = lock_key
        self.lock = threading.RLock()
        self.conn = self._connect()
        with self.transaction() as tx:  # under the lock: nodes starting together create the tables once
            (present,) = tx.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relname = ANY(?) AND n.nspname = current_schema()",
                (list(tables),),
            ).fetchone()
            if present != len(tables):
                tx.conn.execute(schema)

    def _connect(self) -> psycopg.Connection[Any]:
        options = f"-c lock_timeout={int(self.timeout * 1000)} -c synchronous_commit=on"
        return psycopg.connect(self.url, autocommit=True, connect_timeout=10, options=options)

    def _live(self) -> psycopg.Connection[Any]:
        if self.conn.closed:  # the server dropped it (restart, failover): nothing was in flight
            self.conn = self._connect()
        return self.conn

    def _on_live(self, run: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``run`` on the connection, or once more on a new one when the server had dropped it (a
        restart, a failover) unnoticed: ``run`` is one BEGIN or one autocommit statement, which the
        server does not keep when the connection goes (a lost answer to a committed INSERT is met by
        the tables' keys)."""
        conn = self._live()
        try:
            return run(conn)
        except psycopg.OperationalError:
            if not conn.closed:
                raise
        self.conn = self._connect()
        return run(self.conn)

    def _begin(self, statement: str) -> psycopg.Connection[Any]:
        def begin(conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
            conn.execute(statement)
            return conn

        return self._on_live(begin)

    @contextlib.contextmanager
    def transaction(self, *, join_audit: bool = True) -> Iterator[_Statements]:
        """BEGIN … COMMIT under the lock; anything raised inside (an audit failure) rolls it back.

        ``join_audit=False``: an audit record appended inside commits on its own, at once, as
        outside any transaction (a search's, whose ledger row another connection writes next)."""
        with self.lock:
            conn = self._begin("BEGIN")
            try:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_key,))
                # an audit record appended inside (to the log in this database) commits with the rows
                with enclosing(conn) if join_audit else contextlib.nullcontext(Enclosing(conn)) as joined:
                    yield _Statements(conn)
            except BaseException:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            for publish in joined.after_commit:
                publish()

    @contextlib.contextmanager
    def reading(self) -> Iterator[_Statements]:
        """Statements in one read-only snapshot (other nodes write too), under the lock."""
        with self.lock:
            conn = self._begin("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            try:
                yield _Statements(conn)
            finally:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        def run(conn: psycopg.Connection[Any]) -> list[Any]:
            cur = conn.execute(psycopg_style(sql), tuple(params))
            return cur.fetchall() if cur.description is not None else []

        with self.lock:
            return self._on_live(run)

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        rows = [tuple(p) for p in params]

        def run(conn: psycopg.Connection[Any]) -> None:
            with conn.cursor() as cur:
                cur.executemany(psycopg_style(sql), rows)

        with self.lock:
            self._on_live(run)

    def writable(self) -> bool:
        try:
            with self.transaction() as tx:
                tx.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def close(self) -> None:
        with self.lock, contextlib.suppress(psycopg.Error):
            self.conn.close()
