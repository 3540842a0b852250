"""The audit log's tables in PostgreSQL: one chain that API nodes on several machines append to.

The log logic is ``AuditLog``'s (``retrieval.audit.store``), unchanged; this is only where the rows
live. Three things make a shared database safe for it:

- **One writer at a time, everywhere.** ``exclusive()`` takes ``pg_advisory_xact_lock`` as the first
  statement of the transaction that reads the tail and inserts the next record; every node takes the
  same lock, so seq numbers (leaf indexes) follow each other with no gap and no fork. The lock is
  released by COMMIT or ROLLBACK, also when a node dies mid-append (its connection closes).
- **Append-only twice over.** Triggers refuse UPDATE, DELETE and TRUNCATE for everybody, the table
  owner included; and the service should connect as an application role that was only granted
  INSERT and SELECT on the log (``setup_database(admin_url, app_role=…)``), so that even with a
  trigger dropped it cannot change a row. A superuser can still do anything: that is what the tree,
  the signed checkpoints and the witness catch (``leian audit check``).
- **Durable commits.** Each connection runs with ``synchronous_commit=on``: an append returns only
  after its WAL record is flushed, as SQLite's synchronous=FULL.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from retrieval.audit.records import utc_timestamp
from retrieval.audit.storage import PROBE_BYTES, CheckpointRow, StorageError
from retrieval.pg_connections import IdleConnections, discard

LOCK_KEY = int.from_bytes(b"leianAud", "big")
"""The advisory lock every appender takes (advisory locks are per database: one key per log)."""

LOG_TABLES = ("audit_records", "audit_checkpoints", "audit_meta")
PROBE_TABLE = "audit_write_probe"
READ_SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
IDLE_READERS = 4
"""Reader connections kept open between reads (a connection costs milliseconds, a read less)."""
TRIGGERS = (
    "audit_records_contiguous",
    *(f"{table}_append_only" for table in LOG_TABLES),
    *(f"{table}_no_truncate" for table in LOG_TABLES),
)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS audit_meta(key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS audit_records(
    seq bigint PRIMARY KEY CHECK (seq >= 0),
    leaf_hash bytea NOT NULL CHECK (length(leaf_hash) = 32),
    data bytea NOT NULL);
CREATE TABLE IF NOT EXISTS audit_checkpoints(
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tree_size bigint NOT NULL, root bytea NOT NULL, at text NOT NULL,
    signature bytea NOT NULL, key_id text NOT NULL);
-- The write probe's scratch row, deleted in the transaction that wrote it: not part of the log.
CREATE TABLE IF NOT EXISTS {PROBE_TABLE}(data bytea NOT NULL);

CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit % are append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
-- A record's seq is its leaf index: no gaps, whoever inserts (the advisory lock keeps appenders in line).
CREATE OR REPLACE FUNCTION audit_records_contiguous() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq <> (SELECT COALESCE(MAX(seq), -1) + 1 FROM audit_records) THEN
        RAISE EXCEPTION 'audit records: seq must follow the last record';
    END IF;
    RETURN NEW;
END $$;
CREATE OR REPLACE TRIGGER audit_records_contiguous BEFORE INSERT ON audit_records
    FOR EACH ROW EXECUTE FUNCTION audit_records_contiguous();
""" + "".join(
    f"CREATE OR REPLACE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
    " FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();\n"
    f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
    " FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();\n"
    for table in LOG_TABLES
)


@dataclass
class Enclosing:
    """A caller's open transaction that audit appends to the same database join (``enclosing``)."""

    conn: psycopg.Connection[Any]
    after_commit: list[Callable[[], None]] = field(default_factory=list)


_ENCLOSING: contextvars.ContextVar[Enclosing | None] = contextvars.ContextVar(
    "leian_audit_enclosing", default=None
)


@contextlib.contextmanager
def enclosing(conn: psycopg.Connection[Any]) -> Iterator[Enclosing]:
    """Within: ``conn`` is inside a transaction whose rows must agree with their audit records (an
    account change). An append made in this thread to a log in the same database joins it — the
    appenders' advisory lock taken on ``conn``, held until it ends — so the row and its record
    commit together or not at all. The caller runs ``after_commit`` once it has committed (the
    log's tree and witness then take the record in) and drops it on rollback."""
    tx = Enclosing(conn)
    token = _ENCLOSING.set(tx)
    try:
        yield tx
    finally:
        _ENCLOSING.reset(token)


def redacted(url: str) -> str:
    """The database as messages may name it: no password."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.Error:
        return "postgresql://(unparsable URL)"
    user = f"{info['user']}@" if info.get("user") else ""
    port = f":{info['port']}" if info.get("port") else ""
    return f"postgresql://{user}{info.get('host', '')}{port}/{info.get('dbname', '')}"


class _PgTables:
    """``LogWriter`` over one connection already inside a transaction."""

    def __init__(self, conn: psycopg.Connection[Any], joined: Enclosing | None = None) -> None:
        self.conn = conn
        self.joined = joined

    def _stream(self, query: str, params: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        """Rows as the server sends them (libpq's single-row mode): an export of millions of records
        is never all in memory, and a catch-up of a few records costs one round trip (a named
        cursor's DECLARE, FETCH and CLOSE cost three, on every append another node preceded)."""
        with self.conn.cursor() as cur:
            yield from cur.stream(query, params)

    def size(self) -> int:
        row = self.conn.execute("SELECT MAX(seq) FROM audit_records").fetchone()
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    def leaves(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
        for seq, leaf in self._stream(
            "SELECT seq, leaf_hash FROM audit_records WHERE seq >= %s AND seq < %s ORDER BY seq",
            (start, _stop(stop)),
        ):
            yield seq, bytes(leaf)

    def rows(
        self, start: int = 0, stop: int | None = None, limit: int | None = None
    ) -> Iterator[tuple[int, bytes, bytes]]:
        for seq, leaf, data in self._stream(
            "SELECT seq, leaf_hash, data FROM audit_records WHERE seq >= %s AND seq < %s ORDER BY seq LIMIT %s",
            (start, _stop(stop), limit),
        ):
            yield seq, bytes(leaf), bytes(data)

    def row(self, seq: int) -> tuple[bytes, bytes] | None:
        row = self.conn.execute("SELECT leaf_hash, data FROM audit_records WHERE seq = %s", (seq,)).fetchone()
        return None if row is None else (bytes(row[0]), bytes(row[1]))

    def data_containing(self, needles: list[bytes], stop: int) -> Iterator[bytes]:
        where = " OR ".join("position(%s IN data) > 0" for _ in needles)
        for (data,) in self._stream(
            f"SELECT data FROM audit_records WHERE seq < %s AND ({where}) ORDER BY seq", (stop, *needles)
        ):
            yield bytes(data)

    def checkpoints(self, latest_only: bool = False) -> list[CheckpointRow]:
        order = "ORDER BY id DESC LIMIT 1" if latest_only else "ORDER BY id"
        return [
            (int(n), bytes(root), at, bytes(sig), kid)
            for n, root, at, sig, kid in self.conn.execute(
                f"SELECT tree_size, root, at, signature, key_id FROM audit_checkpoints {order}"
            )
        ]

    def insert_record(self, seq: int, leaf: bytes, data: bytes) -> None:
        self.conn.execute(
            "INSERT INTO audit_records(seq, leaf_hash, data) VALUES (%s, %s, %s)", (seq, leaf, data)
        )

    def insert_checkpoint(self, row: CheckpointRow) -> None:
        self.conn.execute(
            "INSERT INTO audit_checkpoints(tree_size, root, at, signature, key_id) VALUES (%s, %s, %s, %s, %s)",
            row,
        )

    def when_committed(self, publish: Callable[[], None]) -> None:
        if self.joined is not None:
            self.joined.after_commit.append(publish)
        else:
            publish()


def _stop(stop: int | None) -> int:
    return (1 << 63) - 1 if stop is None else stop


class PostgresLogStorage:
    """The log's tables in the database at ``url``; one writer connection, reader connections reused."""

    errors: tuple[type[BaseException], ...] = (psycopg.Error, StorageError)

    def __init__(self, url: str, *, busy_timeout_s: float = 5.0, connect_timeout_s: int = 10) -> None:
        self.url = url
        self.name = redacted(url)
        self.busy_timeout_s = busy_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._readers = IdleConnections(self._connect, IDLE_READERS)
        self.conn: psycopg.Connection[Any] | None = None
        try:
            self.conn = self._connect()
        except psycopg.Error as exc:
            raise StorageError(str(exc).strip()) from exc

    def _connect(self) -> psycopg.Connection[Any]:
        # lock_timeout bounds the wait for the advisory lock, as busy_timeout does for SQLite's
        options = f"-c lock_timeout={int(self.busy_timeout_s * 1000)} -c synchronous_commit=on"
        return psycopg.connect(
            self.url, autocommit=True, connect_timeout=self.connect_timeout_s, options=options
        )

    def _writer(self) -> psycopg.Connection[Any]:
        if self.conn is None:
            raise StorageError(f"{self.name}: the audit log is closed")
        if self.conn.closed:  # the server went away: reconnect, the log state is all in the tables
            self.conn = self._connect()
        return self.conn

    def _begin(self, conn: psycopg.Connection[Any], statement: str) -> psycopg.Connection[Any]:
        """``statement`` (a BEGIN) on ``conn``, or on a new connection when the server dropped that one
        (a restart, a failover): nothing was done on it yet, so trying again on a new one is safe."""
        try:
            conn.execute(statement)
            return conn
        except psycopg.OperationalError:
            if not conn.closed:
                raise
        fresh = self._connect()
        fresh.execute(statement)
        return fresh

    def has_schema(self, conn: psycopg.Connection[Any]) -> bool:
        """All tables and every trigger there: a node never writes to a log whose triggers were dropped."""
        row = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relname = ANY(%s) AND n.nspname = current_schema()",
            (list((*LOG_TABLES, PROBE_TABLE)),),
        ).fetchone()
        triggers = conn.execute(
            "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE t.tgname = ANY(%s) AND n.nspname = current_schema() AND t.tgenabled <> 'D'",
            (list(TRIGGERS),),
        ).fetchone()
        return (
            row is not None
            and row[0] == len(LOG_TABLES) + 1
            and triggers is not None
            and triggers[0] == len(TRIGGERS)
        )

    def init(self, new_log_id: str) -> str:
        with self.exclusive() as tables:  # the advisory lock: nodes starting together create it once
            conn = tables.conn
            if not self.has_schema(conn):
                conn.execute(SCHEMA)  # needs the owner's rights: the app role finds it made by setup
            row = conn.execute("SELECT value FROM audit_meta WHERE key = 'log_id'").fetchone()
            if row is not None:
                return str(row[0])
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO audit_meta(key, value) VALUES (%s, %s)",
                    [("log_id", new_log_id), ("schema", "1"), ("created_at", utc_timestamp())],
                )
            return new_log_id

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[_PgTables]:
        conn = self._readers.take()
        try:
            conn = self._begin(conn, READ_SNAPSHOT)
            yield _PgTables(conn)
            conn.execute("ROLLBACK")
        except BaseException:
            discard(conn)
            raise
        self._readers.give_back(conn)

    @contextlib.contextmanager
    def held(self) -> Iterator[_PgTables]:
        conn = self.conn = self._begin(self._writer(), READ_SNAPSHOT)
        try:
            yield _PgTables(conn)
        finally:
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")

    def _joinable(self) -> Enclosing | None:
        """The enclosing transaction of this thread, when it is on this very database."""
        outer = _ENCLOSING.get()
        if outer is None or self.conn is None or outer.conn.closed:
            return None
        mine, theirs = self.conn.info, outer.conn.info
        same = (mine.host, mine.port, mine.dbname) == (theirs.host, theirs.port, theirs.dbname)
        return outer if same else None

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[_PgTables]:
        outer = self._joinable()
        if outer is not None:  # one transaction with the caller's rows: it commits or rolls back both
            outer.conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            yield _PgTables(outer.conn, outer)
            return
        # READ COMMITTED: every statement after the lock sees all appends committed before it
        conn = self.conn = self._begin(self._writer(), "BEGIN ISOLATION LEVEL READ COMMITTED")
        try:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            yield _PgTables(conn)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
            raise

    def probe_write(self) -> None:
        """The lock an append takes, a record-sized row and its deletion, committed: a read-only or
        full database, a lost connection or a lock held too long all fail here as an append would."""
        with self.exclusive() as tables:
            tables.conn.execute(
                sql.SQL("INSERT INTO {}(data) VALUES (%s)").format(sql.Identifier(PROBE_TABLE)),
                (bytes(PROBE_BYTES),),
            )
            tables.conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(PROBE_TABLE)))

    def close(self) -> None:
        self._readers.close()
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
            self.conn = None


def setup_database(admin_url: str, *, app_role: str | None = None) -> list[str]:
    """Create the log's tables and triggers as their owner; with ``app_role``, let it append and read only.

    Run once per database by its administrator (``leian audit setup-db``). The service then connects
    as ``app_role`` (LEIAN_DATABASE_URL=postgresql://app_role@host/db): INSERT and SELECT on the log's
    tables, SELECT/INSERT/DELETE on the write probe's scratch table, nothing else — no UPDATE, DELETE,
    TRUNCATE, ALTER or DROP on the log, whatever the triggers. The role is created (LOGIN, no
    password: set one, or use the server's authentication) when it does not exist. Returns the
    statements run on the role, for the operator's record.
    """
    done: list[str] = []
    with psycopg.connect(admin_url, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute(SCHEMA)
        if app_role is None:
            return done
        role = sql.Identifier(app_role)
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (app_role,)).fetchone()
        statements = [] if exists else [sql.SQL("CREATE ROLE {} LOGIN").format(role)]
        log_tables = sql.SQL(", ").join(sql.Identifier(t) for t in LOG_TABLES)
        probe = sql.Identifier(PROBE_TABLE)
        statements += [
            sql.SQL("REVOKE ALL ON {}, {} FROM PUBLIC, {}").format(log_tables, probe, role),
            sql.SQL("GRANT SELECT, INSERT ON {} TO {}").format(log_tables, role),
            sql.SQL("GRANT SELECT, INSERT, DELETE ON {} TO {}").format(probe, role),
        ]
        for statement in statements:
            conn.execute(statement)
            done.append(statement.as_string(conn))
    return done
