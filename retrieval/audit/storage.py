"""Where the audit log's rows live: the storage interface and its SQLite implementation.

``AuditLog`` (``retrieval.audit.store``) owns everything that makes the rows a log — canonical
records, leaf hashes, the tree, the witness, signed checkpoints, verification and exports. A
storage owns only the tables: it appends a row, reads rows, holds checkpoints and the log's id,
and gives the log transactions with the guarantee it needs: inside ``exclusive()`` no other writer,
in this process or any other, can append until it ends, so the tail read there is the tail the
insert follows. SQLite (one file, ``BEGIN IMMEDIATE``) is the default; PostgreSQL
(``retrieval.audit.pg_storage``, an advisory lock) lets API nodes on several machines write one log.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol

from retrieval.audit.records import utc_timestamp

CheckpointRow = tuple[int, bytes, str, bytes, str]
"""(tree_size, root, at, signature, key_id) as stored, in the order they were written."""

PROBE_BYTES = 8192
"""Size of the write probe's scratch row: more than a typical search record, so it needs new pages too."""


class StorageError(Exception):
    """The storage cannot be used as a log (not WAL, not durable, the wrong schema); not a driver error."""


class LogReader(Protocol):
    """The log's tables inside one transaction: every call sees the same snapshot or the same lock."""

    def size(self) -> int:
        """Number of records: the last seq plus one (gaps are the log's to find, not the storage's)."""
        ...

    def leaves(self, start: int = 0, stop: int | None = None) -> Iterable[tuple[int, bytes]]:
        """(seq, leaf hash) with ``start <= seq < stop``, in seq order."""
        ...

    def rows(
        self, start: int = 0, stop: int | None = None, limit: int | None = None
    ) -> Iterable[tuple[int, bytes, bytes]]:
        """(seq, leaf hash, record bytes) with ``start <= seq < stop``, in seq order, at most ``limit``."""
        ...

    def row(self, seq: int) -> tuple[bytes, bytes] | None:
        """(leaf hash, record bytes) of ``seq``, or None."""
        ...

    def data_containing(self, needles: list[bytes], stop: int) -> Iterable[bytes]:
        """Record bytes with ``seq < stop`` that contain any of ``needles``, in seq order (a pre-filter)."""
        ...

    def checkpoints(self, latest_only: bool = False) -> list[CheckpointRow]:
        """Stored checkpoints, oldest first (only the last one with ``latest_only``)."""
        ...


class LogWriter(LogReader, Protocol):
    def insert_record(self, seq: int, leaf: bytes, data: bytes) -> None: ...

    def insert_checkpoint(self, row: CheckpointRow) -> None: ...

    def when_committed(self, publish: Callable[[], None]) -> None:
        """After ``exclusive()`` ended: run ``publish`` now that the transaction committed, or, when it
        was joined to an enclosing one (``pg_storage.enclosing``), once that commits; never if it
        rolls back."""
        ...


class LogStorage(Protocol):
    """The tables of one log. Driver errors are raised as they are; ``errors`` names their types."""

    name: str  # for messages: the file, or the database without its password
    errors: tuple[type[BaseException], ...]

    def init(self, new_log_id: str) -> str:
        """Create the tables if needed; the stored log id (``new_log_id`` stored when there was none)."""
        ...

    def snapshot(self) -> contextlib.AbstractContextManager[LogReader]:
        """A consistent read that never blocks appends (its own connection)."""
        ...

    def held(self) -> contextlib.AbstractContextManager[LogReader]:
        """A read on the writer's connection, rolled back after: what the log catches up from."""
        ...

    def exclusive(self) -> contextlib.AbstractContextManager[LogWriter]:
        """A write transaction no other writer can interleave with; committed on exit, else rolled back."""
        ...

    def probe_write(self) -> None:
        """Commit a record-sized scratch row and its deletion: raises unless an append could commit now."""
        ...

    def close(self) -> None: ...


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS records("
    " seq INTEGER PRIMARY KEY CHECK (seq >= 0),"
    " leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32),"
    " data BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS checkpoints("
    " tree_size INTEGER NOT NULL, root BLOB NOT NULL, at TEXT NOT NULL,"
    " signature BLOB NOT NULL, key_id TEXT NOT NULL)",
    # The write probe's scratch row, deleted in the transaction that wrote it: not part of the log.
    "CREATE TABLE IF NOT EXISTS write_probe(data BLOB NOT NULL)",
    # A record's seq is its leaf index: no gaps, whoever inserts.
    "CREATE TRIGGER IF NOT EXISTS records_contiguous BEFORE INSERT ON records"
    " WHEN NEW.seq != (SELECT COALESCE(MAX(seq), -1) + 1 FROM records)"
    " BEGIN SELECT RAISE(ABORT, 'audit records: seq must follow the last record'); END",
    *(
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}"
        f" BEGIN SELECT RAISE(ABORT, 'audit {table} are append-only'); END"
        for table in ("records", "checkpoints", "meta")
        for op in ("UPDATE", "DELETE")
    ),
)


class _SqliteTables:
    """``LogWriter`` over one SQLite connection already inside a transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def size(self) -> int:
        (max_seq,) = self.conn.execute("SELECT MAX(seq) FROM records").fetchone()
        return 0 if max_seq is None else max_seq + 1

    def leaves(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
        for seq, leaf in self.conn.execute(
            "SELECT seq, leaf_hash FROM records WHERE seq >= ? AND seq < ? ORDER BY seq",
            (start, _stop(stop)),
        ):
            yield seq, bytes(leaf)

    def rows(
        self, start: int = 0, stop: int | None = None, limit: int | None = None
    ) -> Iterator[tuple[int, bytes, bytes]]:
        for seq, leaf, data in self.conn.execute(
            "SELECT seq, leaf_hash, data FROM records WHERE seq >= ? AND seq < ? ORDER BY seq LIMIT ?",
            (start, _stop(stop), -1 if limit is None else limit),
        ):
            yield seq, bytes(leaf), bytes(data)

    def row(self, seq: int) -> tuple[bytes, bytes] | None:
        row = self.conn.execute("SELECT leaf_hash, data FROM records WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else (bytes(row[0]), bytes(row[1]))

    def data_containing(self, needles: list[bytes], stop: int) -> Iterator[bytes]:
        where = " OR ".join("instr(data, ?) > 0" for _ in needles)
        for (data,) in self.conn.execute(
            f"SELECT data FROM records WHERE seq < ? AND ({where}) ORDER BY seq", (stop, *needles)
        ):
            yield bytes(data)

    def checkpoints(self, latest_only: bool = False) -> list[CheckpointRow]:
        order = "ORDER BY rowid DESC LIMIT 1" if latest_only else "ORDER BY rowid"
        return [
            (n, bytes(root), at, bytes(sig), kid)
            for n, root, at, sig, kid in self.conn.execute(
                f"SELECT tree_size, root, at, signature, key_id FROM checkpoints {order}"
            )
        ]

    def insert_record(self, seq: int, leaf: bytes, data: bytes) -> None:
        self.conn.execute("INSERT INTO records(seq, leaf_hash, data) VALUES (?, ?, ?)", (seq, leaf, data))

    def insert_checkpoint(self, row: CheckpointRow) -> None:
        self.conn.execute(
            "INSERT INTO checkpoints(tree_size, root, at, signature, key_id) VALUES (?, ?, ?, ?, ?)", row
        )

    def when_committed(self, publish: Callable[[], None]) -> None:
        publish()  # SQLite transactions are the log's own: committed when exclusive() returned


def _stop(stop: int | None) -> int:
    return (1 << 63) - 1 if stop is None else stop


class SqliteLogStorage:
    """One SQLite file (WAL, synchronous=FULL): processes on one machine share it, ``BEGIN IMMEDIATE``
    serialises their appends. The triggers stop accidental edits; deliberate ones are the log's to catch."""

    errors: tuple[type[BaseException], ...] = (sqlite3.Error, StorageError)

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        self.busy_timeout_s = busy_timeout_s
        self.conn: sqlite3.Connection | None = None  # the writer's connection
        try:
            self.conn = self._connect()
            mode = self.conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StorageError(f"cannot switch to WAL (journal_mode={mode})")
            if self.conn.execute("PRAGMA synchronous").fetchone()[0] != 2:
                raise StorageError("synchronous=FULL was not accepted")
        except sqlite3.Error as exc:  # the connection's errors are known only once it is open
            self.close()
            raise StorageError(str(exc)) from exc
        except BaseException:
            self.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def _writer(self) -> sqlite3.Connection:
        if self.conn is None:
            raise StorageError(f"{self.path}: the audit log is closed")
        return self.conn

    def init(self, new_log_id: str) -> str:
        with self.exclusive() as tables:
            conn = tables.conn
            for statement in _SCHEMA:
                conn.execute(statement)
            row = conn.execute("SELECT value FROM meta WHERE key = 'log_id'").fetchone()
            if row is not None:
                return str(row[0])
            conn.executemany(
                "INSERT INTO meta(key, value) VALUES (?, ?)",
                [("log_id", new_log_id), ("schema", "1"), ("created_at", utc_timestamp())],
            )
            return new_log_id

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[_SqliteTables]:
        conn = self._connect()
        try:
            conn.execute("BEGIN")
            yield _SqliteTables(conn)
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            conn.close()

    @contextlib.contextmanager
    def held(self) -> Iterator[_SqliteTables]:
        conn = self._writer()
        conn.execute("BEGIN")
        try:
            yield _SqliteTables(conn)
        finally:
            conn.execute("ROLLBACK")

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[_SqliteTables]:
        conn = self._writer()
        conn.execute("BEGIN IMMEDIATE")  # the write lock first: concurrent writers serialise here
        try:
            yield _SqliteTables(conn)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def probe_write(self) -> None:
        """A lock probe on another connection cannot see a disk that is full or refuses writes, nor a
        writer connection that went read-only: this goes through the writer's own connection and needs
        the write lock, new pages, the write-ahead log growing and the fsync, as an append does."""
        conn = self._writer()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("INSERT INTO write_probe(data) VALUES (zeroblob(?))", (PROBE_BYTES,))
            conn.execute("DELETE FROM write_probe")
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:  # failed before or at COMMIT (SQLite may have rolled back)
                conn.execute("ROLLBACK")

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self.conn.close()
            self.conn = None


DATABASE_URL_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(location: object) -> bool:
    """A PostgreSQL URL (``LEIAN_DATABASE_URL``), as opposed to a SQLite file's path."""
    return isinstance(location, str) and location.startswith(DATABASE_URL_SCHEMES)


def parse_location(text: str) -> str | Path:
    """A command line's ``--db``: a PostgreSQL URL kept as is, anything else a SQLite file's path."""
    return text if is_database_url(text) else Path(text)


def missing(location: str | Path) -> bool:
    """A SQLite file that is not there (opening it would create an empty log); a URL is never missing."""
    return not is_database_url(location) and not Path(location).exists()
