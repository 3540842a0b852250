"""The service's ledger of searches and Art. 6 marks: what the audit log holds, queryable by search id.

The ledger duplicates what the audit log already holds (who searched, which results, which marks)
in a form that can be queried by ``search_id``: the audit log is append-only and read in order,
which suits an auditor, not the check "may this user mark result X of search N" on every request.
The audit log stays the record of truth; the ledger is written only after its record succeeded.

It lives in the accounts database (its rows reference users) and shares that store's connection
and lock; ``AccountStore.ledger`` is the one instance.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

LEDGER_SCHEMA = """
CREATE TABLE IF NOT EXISTS searches (
    search_id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    role TEXT NOT NULL,
    court TEXT,
    case_number TEXT,
    trigger TEXT NOT NULL,
    at TEXT NOT NULL,
    doc_ids TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    search_id INTEGER NOT NULL REFERENCES searches(search_id),
    doc_id TEXT NOT NULL,
    label TEXT NOT NULL,
    reason TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    at TEXT NOT NULL,
    audit_seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_search ON decisions(search_id);
"""


@dataclass(frozen=True)
class SearchEntry:
    search_id: int
    user_id: int
    user_name: str
    role: str
    court: str | None
    case_number: str | None
    trigger: str
    at: str
    doc_ids: list[str]


@dataclass(frozen=True)
class DecisionEntry:
    search_id: int
    doc_id: str
    label: str
    reason: str
    user_name: str
    at: str
    audit_seq: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "label": self.label,
            "reason": self.reason,
            "user": self.user_name,
            "at": self.at,
            "audit_seq": self.audit_seq,
        }


class LedgerUser(Protocol):
    """What the ledger needs of an account (``api.service.accounts.User``), without importing it."""

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def court(self) -> str | None: ...


class SearchLedger:
    """Searches and marks by search id, in the accounts database."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock) -> None:
        self._conn = conn
        self._lock = lock
        self._conn.executescript(LEDGER_SCHEMA)

    def record_search(
        self,
        search_id: int,
        user: LedgerUser,
        case_number: str | None,
        trigger: str,
        at: str,
        doc_ids: Sequence[str],
    ) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO searches(search_id, user_id, role, court, case_number, trigger, at, doc_ids)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    search_id,
                    user.id,
                    str(user.role),
                    user.court,
                    case_number,
                    trigger,
                    at,
                    json.dumps(list(doc_ids), ensure_ascii=False),
                ),
            )

    def search(self, search_id: int) -> SearchEntry | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT s.search_id, s.user_id, u.name, s.role, s.court, s.case_number, s.trigger, s.at,"
                " s.doc_ids FROM searches s JOIN users u ON u.id = s.user_id WHERE s.search_id = ?",
                (search_id,),
            ).fetchone()
        if row is None:
            return None
        return SearchEntry(*row[:8], doc_ids=json.loads(row[8]))

    def record_decisions(
        self, search_id: int, user: LedgerUser, marks: Sequence[tuple[str, str, str]], at: str, audit_seq: int
    ) -> list[DecisionEntry]:
        with self._lock:
            self._conn.executemany(
                "INSERT INTO decisions(search_id, doc_id, label, reason, user_id, at, audit_seq)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(search_id, doc, label, reason, user.id, at, audit_seq) for doc, label, reason in marks],
            )
        return [DecisionEntry(search_id, d, lab, r, user.name, at, audit_seq) for d, lab, r in marks]

    def decisions(self, search_id: int) -> list[DecisionEntry]:
        """The latest mark of each result (a judge may change a mark; every change is audited)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT d.search_id, d.doc_id, d.label, d.reason, u.name, d.at, d.audit_seq"
                " FROM decisions d JOIN users u ON u.id = d.user_id WHERE d.search_id = ? ORDER BY d.id",
                (search_id,),
            ).fetchall()
        latest: dict[str, DecisionEntry] = {}
        for row in rows:
            latest[row[1]] = DecisionEntry(*row)
        return list(latest.values())
