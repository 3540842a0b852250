"""Accounts (users, roles, tokens) in SQLite; the ledger of searches shares the file (``ledger``).

Every change to accounts or tokens goes through ``_changing``: the row is written inside a
transaction, then the audit callback runs, and only if it succeeds is the transaction committed. A
token that the audit log does not know about can therefore never exist. Each record carries the whole
row it leaves (token hashes, never tokens), so the accounts can be rebuilt from the log and a
database edited behind the service's back is caught (``retrieval.audit.accounts_replay``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from api.service import security
from api.service.ledger import SearchLedger
from api.service.sqlite_file import SqliteFile
from retrieval.audit.accounts_replay import AccountsState, TokenRow, UserRow
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

    def record(self, action: str, previous: User | None = None) -> AccountRecord:
        """The audit record of this user's row as it now stands, after ``action``."""
        return AccountRecord(
            action=action,
            user=self.to_dict(),
            user_id=self.id,
            created_at=self.created_at,
            disabled=self.disabled,
            previous={"role": previous.role.value, "court": previous.court} if previous else None,
        )


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
        self._db = SqliteFile(self.path, _SCHEMA, timeout=5.0, foreign_keys=True)
        self._lock, self._conn = self._db.lock, self._db.conn
        self.ledger = SearchLedger(self._conn, self._lock)

    def close(self) -> None:
        self._db.close()

    def _changing(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return self._db.transaction()

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
            audit(user.record("create_user"))
        return user

    def change_user(
        self, name: str, audit: AuditCallback, *, role: Role | None = None, court: str | None = None
    ) -> User:
        """A new role and/or court for ``name`` (recorded with both, and the previous ones)."""
        with self._changing() as conn:
            before = self._user_in(conn, name)
            new_role = role or before.role
            new_court = _checked_court(new_role, court if court is not None else before.court)
            if new_role is Role.ADMIN and court is None:
                new_court = None  # an admin reads every court's records: no court of its own
            if (new_role, new_court) == (before.role, before.court):
                raise AccountError(f"user {name!r} is already {new_role.value} of {new_court or '全部法院'}")
            conn.execute(
                "UPDATE users SET role = ?, court = ? WHERE id = ?", (new_role.value, new_court, before.id)
            )
            after = User(before.id, before.name, new_role, new_court, before.created_at, before.disabled)
            audit(after.record("change_user", previous=before))
        return after

    def set_disabled(self, name: str, disabled: bool, audit: AuditCallback) -> User:
        """Disable (every token stops working) or enable a user again."""
        with self._changing() as conn:
            before = self._user_in(conn, name)
            if before.disabled == disabled:
                raise AccountError(f"user {name!r} is already {'disabled' if disabled else 'enabled'}")
            conn.execute("UPDATE users SET disabled = ? WHERE id = ?", (int(disabled), before.id))
            after = User(before.id, before.name, before.role, before.court, before.created_at, disabled)
            audit(after.record("disable_user" if disabled else "enable_user"))
        return after

    def _user_in(self, conn: sqlite3.Connection, name: str) -> User:
        row = conn.execute(
            "SELECT id, name, role, court, created_at, disabled FROM users WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise AccountError(f"user: no user {name!r}")
        return _user(row)

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
        token_hash = security.hash_token(token)
        with self._changing() as conn:
            conn.execute(
                "INSERT INTO tokens(token_id, user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                (token_id, user.id, token_hash, info.created_at, info.expires_at),
            )
            audit(
                TokenRecord(
                    action="issue",
                    token_id=token_id,
                    user=user.to_dict(),
                    expires_at=info.expires_at,
                    user_id=user.id,
                    token_hash=token_hash,
                    created_at=info.created_at,
                )
            )
        return info, token

    def revoke_token(self, token_id: str, audit: AuditCallback) -> TokenInfo:
        with self._changing() as conn:
            row = conn.execute(
                "SELECT t.token_id, u.name, t.created_at, t.expires_at, t.revoked_at, u.role, u.court, u.id"
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
                    action="revoke",
                    token_id=token_id,
                    user={"name": row[1], "role": row[5], "court": row[6]},
                    user_id=row[7],
                    revoked_at=at,
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

    def state(self) -> AccountsState:
        """Every user and token row, to compare with the accounts rebuilt from the audit log."""
        with self._lock:
            return accounts_state(self._conn)

    def snapshot_into(self, audit: AuditCallback, reason: str) -> AccountsState:
        """Record every row as an ``accounts`` snapshot, holding the write lock so no change slips between."""
        with self._changing() as conn:
            state = accounts_state(conn)
            audit(state.snapshot(reason))
        return state

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


def accounts_state(conn: sqlite3.Connection) -> AccountsState:
    users = conn.execute("SELECT id, name, role, court, created_at, disabled FROM users").fetchall()
    tokens = conn.execute(
        "SELECT token_id, user_id, token_hash, created_at, expires_at, revoked_at FROM tokens"
    ).fetchall()
    return AccountsState.of(
        (UserRow(int(i), n, r, c, at, bool(d)) for i, n, r, c, at, d in users),
        (TokenRow(*row) for row in tokens),
    )


def read_accounts_state(path: Path) -> AccountsState:
    """The rows of an accounts database opened read-only (a backup's copy is never written to)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return accounts_state(conn)
    finally:
        conn.close()


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
