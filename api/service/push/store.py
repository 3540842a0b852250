"""The push store (``DATA/push.sqlite``): pending cases, inbox items, the webhook outbox, webhooks.

One SQLite file, WAL, ``synchronous=FULL``, one connection behind a lock, like the accounts. An
inbox item and its outbox row are written in one transaction, so a push is either delivered later
(the outbox survives a kill) or was never made; ``UNIQUE(case_id, kind, doc_id)`` is what makes a
push happen once per case and document whatever re-runs.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.service.sqlite_file import SqliteFile

PUSH_DB = "push.sqlite"

OPEN = "在办"
CLOSED = "结案"
STATUSES = (OPEN, CLOSED)

# Inbox item kinds: the registration search's results, a new document, a 不再参照 alert.
RESULTS = "results"
PUSH = "push"
ALERT = "alert"

UNREAD, READ, ACCEPTED, DISMISSED = "unread", "read", "accepted", "dismissed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending_cases (
    id INTEGER PRIMARY KEY,
    court TEXT NOT NULL,
    case_number TEXT NOT NULL,
    judge TEXT NOT NULL,
    category TEXT,
    causes TEXT NOT NULL,
    facts TEXT NOT NULL,
    articles TEXT NOT NULL,
    dispute_focus TEXT,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    closed_at TEXT,
    search_id INTEGER,
    causes_used TEXT NOT NULL DEFAULT '[]',
    has_higher_tier INTEGER NOT NULL DEFAULT 0,
    UNIQUE (court, case_number)
);
CREATE TABLE IF NOT EXISTS case_docs (
    case_id INTEGER NOT NULL REFERENCES pending_cases(id),
    doc_id TEXT NOT NULL,
    origin TEXT NOT NULL,
    PRIMARY KEY (case_id, doc_id)
);
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES pending_cases(id),
    kind TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    build_id TEXT,
    body TEXT NOT NULL,
    audit_seq INTEGER,
    created_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'unread',
    decided_by TEXT,
    decided_at REAL,
    reason TEXT,
    UNIQUE (case_id, kind, doc_id)
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    inbox_id INTEGER NOT NULL REFERENCES inbox(id),
    court TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL,
    delivered_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_at);
CREATE TABLE IF NOT EXISTS delivery_attempts (
    id INTEGER PRIMARY KEY,
    outbox_id INTEGER NOT NULL REFERENCES outbox(id),
    attempt INTEGER NOT NULL,
    at REAL NOT NULL,
    status INTEGER,
    error TEXT
);
CREATE TABLE IF NOT EXISTS webhooks (
    court TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    secret_id INTEGER NOT NULL,
    previous_secret TEXT,
    rotated_at REAL
);
CREATE TABLE IF NOT EXISTS push_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class PendingCaseRow:
    id: int
    court: str
    case_number: str
    judge: str
    category: str | None
    causes: list[str]
    facts: str
    articles: list[str]
    dispute_focus: str | None
    status: str
    created_at: str
    closed_at: str | None
    search_id: int | None
    causes_used: list[str]
    has_higher_tier: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "court": self.court,
            "case_number": self.case_number,
            "judge": self.judge,
            "category": self.category,
            "causes": self.causes,
            "facts": self.facts,
            "articles": self.articles,
            "dispute_focus": self.dispute_focus,
            "status": self.status,
            "created_at": self.created_at,
            "closed_at": self.closed_at,
            "search_id": self.search_id,
            "causes_used": self.causes_used,
        }


_CASE_COLUMNS = (
    "id, court, case_number, judge, category, causes, facts, articles, dispute_focus, status, "
    "created_at, closed_at, search_id, causes_used, has_higher_tier"
)


def _case(row: tuple[Any, ...]) -> PendingCaseRow:
    return PendingCaseRow(
        id=int(row[0]),
        court=row[1],
        case_number=row[2],
        judge=row[3],
        category=row[4],
        causes=json.loads(row[5]),
        facts=row[6],
        articles=json.loads(row[7]),
        dispute_focus=row[8],
        status=row[9],
        created_at=row[10],
        closed_at=row[11],
        search_id=row[12],
        causes_used=json.loads(row[13]),
        has_higher_tier=bool(row[14]),
    )


@dataclass(frozen=True)
class NewItem:
    """An inbox item about to be written, with its webhook payload when the court has a webhook."""

    case_id: int
    kind: str
    doc_id: str
    build_id: str | None
    body: dict[str, Any]


class PushStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db = SqliteFile(self.path, _SCHEMA, timeout=10.0)
        self._lock, self._conn = self._db.lock, self._db.conn

    def close(self) -> None:
        self._db.close()

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT; anything raised inside (an audit failure) rolls it all back."""
        return self._db.transaction()

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # -- pending cases ---------------------------------------------------------------------------

    def case_by_number(self, court: str, case_number: str) -> PendingCaseRow | None:
        rows = self._query(
            f"SELECT {_CASE_COLUMNS} FROM pending_cases WHERE court = ? AND case_number = ?",
            (court, case_number),
        )
        return _case(rows[0]) if rows else None

    def case(self, case_id: int) -> PendingCaseRow | None:
        rows = self._query(f"SELECT {_CASE_COLUMNS} FROM pending_cases WHERE id = ?", (case_id,))
        return _case(rows[0]) if rows else None

    def cases(
        self, *, court: str | None = None, judge: str | None = None, status: str | None = None
    ) -> list[PendingCaseRow]:
        where, params = [], []
        for column, value in (("court", court), ("judge", judge), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._query(f"SELECT {_CASE_COLUMNS} FROM pending_cases{clause} ORDER BY id", tuple(params))
        return [_case(r) for r in rows]

    def insert_case(self, conn: sqlite3.Connection, values: dict[str, Any]) -> int:
        cur = conn.execute(
            "INSERT INTO pending_cases(court, case_number, judge, category, causes, facts, articles, "
            "dispute_focus, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                values["court"],
                values["case_number"],
                values["judge"],
                values.get("category"),
                json.dumps(values.get("causes") or [], ensure_ascii=False),
                values["facts"],
                json.dumps(values.get("articles") or [], ensure_ascii=False),
                values.get("dispute_focus"),
                OPEN,
                values["created_at"],
            ),
        )
        return int(cur.lastrowid or 0)

    def set_search(
        self, conn: sqlite3.Connection, case_id: int, search_id: int, causes_used: list[str], higher: bool
    ) -> None:
        conn.execute(
            "UPDATE pending_cases SET search_id = ?, causes_used = ?, has_higher_tier = ? WHERE id = ?",
            (search_id, json.dumps(causes_used, ensure_ascii=False), int(higher), case_id),
        )

    def close_case(self, conn: sqlite3.Connection, case_id: int, at: str) -> None:
        conn.execute("UPDATE pending_cases SET status = ?, closed_at = ? WHERE id = ?", (CLOSED, at, case_id))

    def add_case_docs(self, conn: sqlite3.Connection, case_id: int, doc_ids: list[str], origin: str) -> None:
        conn.executemany(
            "INSERT OR IGNORE INTO case_docs(case_id, doc_id, origin) VALUES (?, ?, ?)",
            [(case_id, d, origin) for d in doc_ids],
        )

    def case_docs(self, origin: str | None = None) -> dict[int, list[str]]:
        """Documents each case was shown or pushed (alerts are about these; pushes skip them);
        ``origin="search"``: only those its registration search showed."""
        out: dict[int, list[str]] = {}
        where = " WHERE origin = ?" if origin is not None else ""
        params = (origin,) if origin is not None else ()
        for case_id, doc_id in self._query(
            f"SELECT case_id, doc_id FROM case_docs{where} ORDER BY rowid", params
        ):
            out.setdefault(int(case_id), []).append(doc_id)
        return out

    def dismissed(self) -> dict[int, set[str]]:
        out: dict[int, set[str]] = {}
        for case_id, doc_id in self._query("SELECT case_id, doc_id FROM inbox WHERE state = ?", (DISMISSED,)):
            out.setdefault(int(case_id), set()).add(doc_id)
        return out

    # -- inbox -----------------------------------------------------------------------------------

    def insert_item(self, conn: sqlite3.Connection, item: NewItem, audit_seq: int | None) -> int | None:
        """The item's id, or None when the case already had this kind of item for this document."""
        cur = conn.execute(
            "INSERT OR IGNORE INTO inbox(case_id, kind, doc_id, build_id, body, audit_seq, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                item.case_id,
                item.kind,
                item.doc_id,
                item.build_id,
                json.dumps(item.body, ensure_ascii=False),
                audit_seq,
                time.time(),
            ),
        )
        return int(cur.lastrowid) if cur.rowcount else None

    def has_item(self, case_id: int, kind: str, doc_id: str) -> bool:
        return bool(
            self._query(
                "SELECT 1 FROM inbox WHERE case_id = ? AND kind = ? AND doc_id = ?", (case_id, kind, doc_id)
            )
        )

    def items(self, case_ids: list[int], *, since_id: int = 0, limit: int = 200) -> list[dict[str, Any]]:
        if not case_ids:
            return []
        marks = ",".join("?" * len(case_ids))
        rows = self._query(
            "SELECT i.id, i.case_id, i.kind, i.doc_id, i.build_id, i.body, i.audit_seq, i.created_at, i.state, "
            "i.decided_by, i.reason, p.case_number, p.court, p.judge FROM inbox i "
            f"JOIN pending_cases p ON p.id = i.case_id WHERE i.case_id IN ({marks}) AND i.id > ? "
            "ORDER BY i.id DESC LIMIT ?",
            (*case_ids, since_id, limit),
        )
        return [_item(r) for r in rows]

    def item(self, item_id: int) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT i.id, i.case_id, i.kind, i.doc_id, i.build_id, i.body, i.audit_seq, i.created_at, i.state, "
            "i.decided_by, i.reason, p.case_number, p.court, p.judge FROM inbox i "
            "JOIN pending_cases p ON p.id = i.case_id WHERE i.id = ?",
            (item_id,),
        )
        return _item(rows[0]) if rows else None

    def unread(self, case_ids: list[int]) -> int:
        if not case_ids:
            return 0
        marks = ",".join("?" * len(case_ids))
        rows = self._query(
            f"SELECT COUNT(*) FROM inbox WHERE state = ? AND case_id IN ({marks})", (UNREAD, *case_ids)
        )
        return int(rows[0][0])

    def latest_item_id(self) -> int:
        return int(self._query("SELECT COALESCE(MAX(id), 0) FROM inbox")[0][0])

    def mark_read(self, item_id: int) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE inbox SET state = ? WHERE id = ? AND state = ?", (READ, item_id, UNREAD)
            )

    def decide(self, conn: sqlite3.Connection, item_id: int, state: str, user: str, reason: str) -> None:
        conn.execute(
            "UPDATE inbox SET state = ?, decided_by = ?, decided_at = ?, reason = ? WHERE id = ?",
            (state, user, time.time(), reason, item_id),
        )

    # -- outbox ----------------------------------------------------------------------------------

    def enqueue(
        self, conn: sqlite3.Connection, inbox_id: int, court: str, key: str, payload: dict[str, Any]
    ) -> None:
        now = time.time()
        conn.execute(
            "INSERT OR IGNORE INTO outbox(inbox_id, court, idempotency_key, payload, next_at, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (inbox_id, court, key, json.dumps(payload, ensure_ascii=False, sort_keys=True), now, now),
        )

    def due(self, now: float, limit: int = 20) -> list[tuple[int, str, str, str, int]]:
        """(id, court, idempotency key, payload, attempts) of pending deliveries whose time has come."""
        return [
            (int(r[0]), r[1], r[2], r[3], int(r[4]))
            for r in self._query(
                "SELECT id, court, idempotency_key, payload, attempts FROM outbox "
                "WHERE state = 'pending' AND next_at <= ? ORDER BY next_at, id LIMIT ?",
                (now, limit),
            )
        ]

    def next_due_at(self) -> float | None:
        rows = self._query("SELECT MIN(next_at) FROM outbox WHERE state = 'pending'")
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    def attempt_done(
        self,
        outbox_id: int,
        attempt: int,
        status: int | None,
        error: str | None,
        *,
        delivered: bool,
        dead: bool,
        next_at: float,
    ) -> None:
        now = time.time()
        state = "delivered" if delivered else ("dead" if dead else "pending")
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO delivery_attempts(outbox_id, attempt, at, status, error) VALUES (?, ?, ?, ?, ?)",
                (outbox_id, attempt, now, status, error),
            )
            conn.execute(
                "UPDATE outbox SET state = ?, attempts = ?, next_at = ?, last_error = ?, delivered_at = ? "
                "WHERE id = ?",
                (state, attempt, next_at, error, now if delivered else None, outbox_id),
            )

    def outbox_rows(self, court: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        where, params = [], []
        if court is not None:
            where.append("court = ?")
            params.append(court)
        if state is not None:
            where.append("state = ?")
            params.append(state)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._query(
            "SELECT id, inbox_id, court, idempotency_key, state, attempts, next_at, last_error, created_at, "
            f"delivered_at FROM outbox{clause} ORDER BY id",
            tuple(params),
        )
        keys = ("id", "inbox_id", "court", "idempotency_key", "state", "attempts", "next_at", "last_error")
        return [dict(zip((*keys, "created_at", "delivered_at"), r, strict=True)) for r in rows]

    def attempts(self, outbox_id: int) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT attempt, at, status, error FROM delivery_attempts WHERE outbox_id = ? ORDER BY id",
            (outbox_id,),
        )
        return [{"attempt": a, "at": t, "status": s, "error": e} for a, t, s, e in rows]

    # -- webhooks --------------------------------------------------------------------------------

    def webhook(self, court: str) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT court, url, secret, secret_id, previous_secret, rotated_at FROM webhooks WHERE court = ?",
            (court,),
        )
        if not rows:
            return None
        keys = ("court", "url", "secret", "secret_id", "previous_secret", "rotated_at")
        return dict(zip(keys, rows[0], strict=True))

    def set_webhook(self, court: str, url: str, secret: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO webhooks(court, url, secret, secret_id) VALUES (?, ?, ?, 1) "
                "ON CONFLICT(court) DO UPDATE SET url = excluded.url",
                (court, url, secret),
            )

    def rotate_secret(self, court: str, secret: str) -> int:
        with self.transaction() as conn:
            row = conn.execute("SELECT secret, secret_id FROM webhooks WHERE court = ?", (court,)).fetchone()
            if row is None:
                raise KeyError(court)
            conn.execute(
                "UPDATE webhooks SET previous_secret = ?, secret = ?, secret_id = ?, rotated_at = ? WHERE court = ?",
                (row[0], secret, int(row[1]) + 1, time.time(), court),
            )
            return int(row[1]) + 1

    # -- state -----------------------------------------------------------------------------------

    def get_state(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM push_state WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_state(self, conn: sqlite3.Connection, key: str, value: str) -> None:
        conn.execute(
            "INSERT INTO push_state(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


def _item(r: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "id": int(r[0]),
        "pending_id": int(r[1]),
        "kind": r[2],
        "doc_id": r[3] or None,
        "build_id": r[4],
        **json.loads(r[5]),
        "audit_seq": r[6],
        "created_at": r[7],
        "state": r[8],
        "decided_by": r[9],
        "reason": r[10],
        "case_number": r[11],
        "court": r[12],
        "judge": r[13],
    }
