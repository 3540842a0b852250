"""Accounts (users, roles, tokens) in SQLite; the ledger of searches shares the file (``ledger``).

Every change to accounts or tokens goes through ``_changing``: the row is written inside a
transaction, then the audit callback runs, and only if it succeeds is the transaction committed. A
token that the audit log does not know about can therefore never exist.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from api.service import security
from api.service.ledger import SearchLedger
from retrieval.audit.records import AccountRecord, TokenRecord, TypedRecord, utc_timestamp
from retrieval.parsing.courts import parse_court


class Role(StrEnum):
    """Roles of a court's users; the values are what records and the page show."""

    JUDGE = "承办法官"
    ASSISTANT = "法官助理"
    PRESIDENT = "院长/庭长"
    AUDITOR = "审判管理"  # 审判管理办公室: reads and exports its court's audit records
    ADMIN = "admin"  # operations: every court's records, no casework


ROLE_ALIASES = {
    "judge": Role.JUDGE,
    "assistant": Role.ASSISTANT,
    "president": Role.PRESIDENT,
    "院长": Role.PRESIDENT,
    "庭长": Role.PRESIDENT,
    "auditor": Role.AUDITOR,
    "审管办": Role.AUDITOR,
}
SEARCH_ROLES = frozenset({Role.JUDGE, Role.ASSISTANT, Role.PRESIDENT})
"""Who works on cases: may search and mark results."""


def parse_role(value: str) -> Role:
    text = value.strip()
    try:
        return Role(text)
    except ValueError:
        pass
    alias = ROLE_ALIASES.get(text.lower()) or ROLE_ALIASES.get(text)
    if alias is not None:
        return alias
    choices = ", ".join([r.value for r in Role] + sorted(ROLE_ALIASES))
    raise ValueError(f"role: {value!r} is not one of {choices}")


class AccountError(ValueError):
    """A request about accounts that cannot be honoured (unknown user, duplicate name, bad court)."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: Role
    court: str | None
    created_at: str
    disabled: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role.value, "court": self.court}


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    user: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    user: User
    token_id: str


AuditCallback = Callable[[TypedRecord], object]
"""Called with the audit record inside the transaction; raising aborts the change."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    court TEXT,
    created_at TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tokens (
    token_id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    token_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
);
"""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class AccountStore:
    """One SQLite file, one connection guarded by a lock (look-ups are tiny; WAL keeps readers apart)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=5.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(_SCHEMA)
        self.ledger = SearchLedger(self._conn, self._lock)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def _changing(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # -- users ---------------------------------------------------------------------------------

    def create_user(self, name: str, role: Role, court: str | None, audit: AuditCallback) -> User:
        name = name.strip()
        if not name:
            raise AccountError("name: required")
        court = _checked_court(role, court)
        at = utc_timestamp()
        with self._changing() as conn:
            if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise AccountError(f"name: user {name!r} exists")
            cur = conn.execute(
                "INSERT INTO users(name, role, court, created_at) VALUES (?, ?, ?, ?)",
                (name, role.value, court, at),
            )
            user = User(int(cur.lastrowid or 0), name, role, court, at)
            audit(AccountRecord(action="create_user", user=user.to_dict()))
        return user

    def user(self, name: str) -> User | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT id, name, role, court, created_at, disabled FROM users WHERE name = ?", (name,)
            ).fetchone()
        return _user(row) if row else None

    def users(self) -> list[User]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, name, role, court, created_at, disabled FROM users ORDER BY id"
            ).fetchall()
        return [_user(r) for r in rows]

    # -- tokens --------------------------------------------------------------------------------

    def issue_token(
        self, user_name: str, expires_at: dt.datetime | None, audit: AuditCallback
    ) -> tuple[TokenInfo, str]:
        """(info, token): the token is returned once; only its hash is kept."""
        user = self.user(user_name)
        if user is None:
            raise AccountError(f"user: no user {user_name!r}")
        token_id, token = security.new_token()
        info = TokenInfo(
            token_id, user.name, utc_timestamp(), utc_timestamp(expires_at) if expires_at else None, None
        )
        with self._changing() as conn:
            conn.execute(
                "INSERT INTO tokens(token_id, user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                (token_id, user.id, security.hash_token(token), info.created_at, info.expires_at),
            )
            audit(
                TokenRecord(
                    action="issue", token_id=token_id, user=user.to_dict(), expires_at=info.expires_at
                )
            )
        return info, token

    def revoke_token(self, token_id: str, audit: AuditCallback) -> TokenInfo:
        with self._changing() as conn:
            row = conn.execute(
                "SELECT t.token_id, u.name, t.created_at, t.expires_at, t.revoked_at, u.role, u.court"
                " FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_id = ?",
                (token_id,),
            ).fetchone()
            if row is None:
                raise AccountError(f"token_id: no token {token_id!r}")
            if row[4] is not None:
                raise AccountError(f"token_id: {token_id} was already revoked at {row[4]}")
            at = utc_timestamp()
            conn.execute("UPDATE tokens SET revoked_at = ? WHERE token_id = ?", (at, token_id))
            audit(
                TokenRecord(
                    action="revoke", token_id=token_id, user={"name": row[1], "role": row[5], "court": row[6]}
                )
            )
        return TokenInfo(row[0], row[1], row[2], row[3], at)

    def tokens(self, user_name: str | None = None) -> list[TokenInfo]:
        query = (
            "SELECT t.token_id, u.name, t.created_at, t.expires_at, t.revoked_at"
            " FROM tokens t JOIN users u ON u.id = t.user_id"
        )
        args: tuple[str, ...] = ()
        if user_name:
            query += " WHERE u.name = ?"
            args = (user_name,)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY t.created_at", args).fetchall()
        return [TokenInfo(*r) for r in rows]

    def authenticate(self, token: str, now: dt.datetime | None = None) -> Principal | None:
        """The principal of a valid token; None for unknown, wrong, revoked or expired tokens alike."""
        token_id = security.split_token(token)
        if token_id is None:
            return None
        with self._lock:
            row = self._conn.execute(
                "SELECT t.token_hash, t.expires_at, t.revoked_at,"
                " u.id, u.name, u.role, u.court, u.created_at, u.disabled"
                " FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_id = ?",
                (token_id,),
            ).fetchone()
        if row is None:
            security.token_matches(token, "0" * 64)  # same work whether or not the id exists
            return None
        token_hash, expires_at, revoked_at, *user_row = row
        if not security.token_matches(token, token_hash):
            return None
        if revoked_at is not None or user_row[-1]:
            return None
        if expires_at is not None and utc_timestamp(now or _now()) >= expires_at:
            return None
        return Principal(_user(tuple(user_row)), token_id)

    def writable(self) -> bool:
        """Whether a write transaction can start now (for /readyz)."""
        try:
            with self._lock:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            return False
        return True


def _user(row: tuple[Any, ...]) -> User:
    return User(int(row[0]), row[1], Role(row[2]), row[3], row[4], bool(row[5]))


def _checked_court(role: Role, court: str | None) -> str | None:
    """The court name as normalised for tiering; casework roles need a court whose level is known."""
    if not court or not court.strip():
        if role is Role.ADMIN:
            return None
        raise AccountError("court: required for every role but admin")
    parsed = parse_court(court)
    if parsed.level is None:
        raise AccountError(
            f"court: cannot tell the level of {court!r} (write the full name, e.g. 浙江省杭州市西湖区人民法院)"
        )
    return parsed.name
