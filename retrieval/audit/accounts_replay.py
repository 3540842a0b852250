"""The accounts (users and tokens) rebuilt from the audit log: the log is the truth, the database a copy.

Every change to an account or a token is an audit record that carries the row it leaves in the
accounts database (``AccountRecord``, ``TokenRecord`` of schema 2; token hashes, never tokens).
Replaying a verified record sequence therefore yields the accounts that the database must hold, and
a database that differs (a token row planted, a role raised to admin, a user moved to another court)
is caught by comparing the two, whoever recomputed the checksums of a backup around it.

Records of schema 1 name the change but not the whole row; a log that holds them cannot be replayed
until an ``accounts`` snapshot (``leian accounts adopt``) records the rows as they then stood. Replay
starts again from the latest snapshot.

Pure functions over records: no database, no files (the accounts store reads its own rows into an
``AccountsState``), so that the verifier, the restore and the service share one definition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from retrieval.audit.records import (
    ACCOUNTS_SCHEMA,
    AccountRecord,
    AccountsSnapshotRecord,
    AuditRecord,
    InvalidRecord,
    RecordKind,
    TokenRecord,
    TypedRecord,
    payload_schema,
)

ACCOUNT_KINDS = (RecordKind.ACCOUNT.value, RecordKind.TOKEN.value, RecordKind.ACCOUNTS.value)
"""The kinds replay reads; a log can hand over just these (``AuditLog.iter_kinds``)."""
USER_ACTIONS = frozenset({"create_user", "change_user", "disable_user", "enable_user"})
TOKEN_ACTIONS = frozenset({"issue", "revoke"})


class ReplayError(ValueError):
    """The log's account records contradict one another (a token of an unknown user, a user made twice)."""


@dataclass(frozen=True, order=True)
class UserRow:
    """One row of ``users`` as the accounts database holds it."""

    id: int
    name: str
    role: str
    court: str | None
    created_at: str
    disabled: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UserRow:
        try:
            return cls(
                int(data["id"]),
                str(data["name"]),
                str(data["role"]),
                None if data.get("court") is None else str(data["court"]),
                str(data["created_at"]),
                bool(data.get("disabled")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ReplayError(f"a user row without {exc}") from exc


@dataclass(frozen=True, order=True)
class TokenRow:
    """One row of ``tokens``: the token's id and SHA-256, never the token itself."""

    token_id: str
    user_id: int
    token_hash: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenRow:
        try:
            return cls(
                str(data["token_id"]),
                int(data["user_id"]),
                str(data["token_hash"]),
                str(data["created_at"]),
                None if data.get("expires_at") is None else str(data["expires_at"]),
                None if data.get("revoked_at") is None else str(data["revoked_at"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ReplayError(f"a token row without {exc}") from exc


@dataclass(frozen=True)
class AccountsState:
    """Every user and token row, sorted (users by id, tokens by id): equal states, equal databases."""

    users: tuple[UserRow, ...] = ()
    tokens: tuple[TokenRow, ...] = ()

    @classmethod
    def of(cls, users: Iterable[UserRow], tokens: Iterable[TokenRow]) -> AccountsState:
        return cls(tuple(sorted(users)), tuple(sorted(tokens)))

    def snapshot(self, reason: str | None = None) -> AccountsSnapshotRecord:
        """The ``accounts`` record that adopts this state into the log."""
        return AccountsSnapshotRecord(
            users=tuple(u.to_dict() for u in self.users),
            tokens=tuple(t.to_dict() for t in self.tokens),
            reason=reason,
        )


@dataclass(frozen=True)
class Replay:
    """The accounts the log says exist, and whether the log could say it.

    ``legacy``: seqs of account and token records after the latest snapshot that do not carry whole
    rows (written before accounts were derived from the log); while there are any, ``state`` is not
    the accounts and a comparison reports that the folder must be adopted first.
    """

    state: AccountsState
    legacy: tuple[int, ...] = ()
    snapshot_seq: int | None = None
    records: int = 0  # account, token and snapshot records replayed

    @property
    def complete(self) -> bool:
        return not self.legacy


@dataclass
class _Builder:
    users: dict[int, UserRow] = field(default_factory=dict)
    tokens: dict[str, TokenRow] = field(default_factory=dict)

    def user_by_name(self, name: str) -> UserRow | None:
        return next((u for u in self.users.values() if u.name == name), None)

    def apply_account(self, seq: int, entry: AccountRecord) -> None:
        if entry.action not in USER_ACTIONS or entry.user_id is None:
            raise ReplayError(f"record {seq}: account action {entry.action!r} without a user row")
        row = UserRow(
            entry.user_id,
            str(entry.user.get("name")),
            str(entry.user.get("role")),
            None if entry.user.get("court") is None else str(entry.user.get("court")),
            entry.created_at or "",
            entry.disabled,
        )
        known = self.users.get(row.id)
        if entry.action == "create_user":
            if known is not None or self.user_by_name(row.name) is not None:
                raise ReplayError(f"record {seq}: user {row.name!r} (id {row.id}) is created a second time")
        elif known is None:
            raise ReplayError(f"record {seq}: {entry.action} of user id {row.id}, which no record created")
        elif known.name != row.name or known.created_at != row.created_at:
            raise ReplayError(f"record {seq}: {entry.action} renames user id {row.id} ({known.name!r})")
        self.users[row.id] = row

    def apply_token(self, seq: int, entry: TokenRecord) -> None:
        if entry.action not in TOKEN_ACTIONS or entry.user_id is None:
            raise ReplayError(f"record {seq}: token action {entry.action!r} without a token row")
        if entry.user_id not in self.users:
            raise ReplayError(f"record {seq}: token {entry.token_id} of user id {entry.user_id}, unknown")
        known = self.tokens.get(entry.token_id)
        if entry.action == "issue":
            if known is not None or entry.token_hash is None or entry.created_at is None:
                raise ReplayError(f"record {seq}: token {entry.token_id} issued twice or without its hash")
            self.tokens[entry.token_id] = TokenRow(
                entry.token_id, entry.user_id, entry.token_hash, entry.created_at, entry.expires_at
            )
            return
        if known is None or known.revoked_at is not None or entry.revoked_at is None:
            raise ReplayError(f"record {seq}: token {entry.token_id} revoked but not issued, or twice")
        self.tokens[entry.token_id] = TokenRow(
            known.token_id,
            known.user_id,
            known.token_hash,
            known.created_at,
            known.expires_at,
            entry.revoked_at,
        )

    def reset(self, entry: AccountsSnapshotRecord) -> None:
        self.users = {row.id: row for row in map(UserRow.from_dict, entry.users)}
        self.tokens = {row.token_id: row for row in map(TokenRow.from_dict, entry.tokens)}

    def state(self) -> AccountsState:
        return AccountsState.of(self.users.values(), self.tokens.values())


def replay_accounts(records: Iterable[AuditRecord]) -> Replay:
    """Rebuild the accounts from a verified record sequence (in seq order); other kinds are skipped.

    Raises ``ReplayError`` when the records contradict one another: a verified log that does is
    itself evidence of tampering by whoever held the signing key, or of a bug, and is never adopted.
    """
    builder = _Builder()
    legacy: list[int] = []
    snapshot_seq: int | None = None
    replayed = 0
    for record in records:
        kind = str(record.kind)
        if kind not in ACCOUNT_KINDS:
            continue
        replayed += 1
        try:
            if kind == RecordKind.ACCOUNTS:
                builder.reset(AccountsSnapshotRecord.from_payload(record.payload))
                legacy, snapshot_seq = [], record.seq
            elif payload_schema(record.payload) < ACCOUNTS_SCHEMA:
                legacy.append(record.seq)
            else:
                _apply(builder, record)
        except ReplayError:
            if not legacy:
                raise
            # after rows the log never carried, later changes may name users it does not know:
            # the state is incomplete anyway, and the verdict is "adopt first", not "contradiction"
        except InvalidRecord as exc:
            raise ReplayError(f"record {record.seq}: {exc}") from exc
    return Replay(builder.state(), tuple(legacy), snapshot_seq, replayed)


def _apply(builder: _Builder, record: AuditRecord) -> None:
    if str(record.kind) == RecordKind.ACCOUNT:
        builder.apply_account(record.seq, AccountRecord.from_payload(record.payload))
    else:
        builder.apply_token(record.seq, TokenRecord.from_payload(record.payload))


def differences(from_log: AccountsState, in_database: AccountsState, *, limit: int = 20) -> list[str]:
    """What the database holds that the log does not say, one line each (at most ``limit``)."""
    lines: list[str] = []
    logged_users = {u.id: u for u in from_log.users}
    held_users = {u.id: u for u in in_database.users}
    names = {**{i: u.name for i, u in logged_users.items()}, **{i: u.name for i, u in held_users.items()}}
    for uid in sorted(logged_users.keys() | held_users.keys()):
        logged, held = logged_users.get(uid), held_users.get(uid)
        if logged is None:
            assert held is not None
            lines.append(
                f"user {held.name!r} (id {uid}, {held.role}, {held.court}) is in the database, not in the log"
            )
        elif held is None:
            lines.append(f"user {logged.name!r} (id {uid}) is in the log but missing from the database")
        else:
            lines.extend(
                f"user {logged.name!r}: {name} is {getattr(held, name)!r} in the database, "
                f"the log says {getattr(logged, name)!r}"
                for name in ("name", "role", "court", "created_at", "disabled")
                if getattr(held, name) != getattr(logged, name)
            )
    logged_tokens = {t.token_id: t for t in from_log.tokens}
    held_tokens = {t.token_id: t for t in in_database.tokens}
    for tid in sorted(logged_tokens.keys() | held_tokens.keys()):
        logged_token, held_token = logged_tokens.get(tid), held_tokens.get(tid)
        if logged_token is None:
            assert held_token is not None
            owner = names.get(held_token.user_id, f"id {held_token.user_id}")
            lines.append(f"token {tid} of {owner!r} is in the database, but no audit record issued it")
        elif held_token is None:
            lines.append(f"token {tid} was issued in the log but is missing from the database")
        else:
            lines.extend(
                f"token {tid}: {name} is {getattr(held_token, name)!r} in the database, "
                f"the log says {getattr(logged_token, name)!r}"
                for name in ("user_id", "token_hash", "created_at", "expires_at", "revoked_at")
                if getattr(held_token, name) != getattr(logged_token, name)
            )
    if len(lines) > limit:
        lines = [*lines[:limit], f"… {len(lines) - limit} more"]
    return lines


@dataclass(frozen=True)
class AccountsCheck:
    """The verdict of comparing a database with the log: ``ok``, or why not, in lines for people."""

    ok: bool
    problems: tuple[str, ...] = ()
    needs_adoption: bool = False  # the log predates whole-row records: ``leian accounts adopt``

    def summary(self) -> str:
        if self.ok:
            return "the accounts database matches the accounts rebuilt from the audit log"
        return "; ".join(self.problems)


ADOPT_HINT = (
    "the audit log holds account records from before accounts were derived from it; check the "
    "accounts (leian user list, leian token list) and record them once with `leian accounts adopt`"
)


def check_accounts(records: Iterable[AuditRecord], in_database: AccountsState) -> AccountsCheck:
    """Replay ``records`` and compare with ``in_database``; never raises for a mismatch, only reports."""
    try:
        replay = replay_accounts(records)
    except ReplayError as exc:
        return AccountsCheck(False, (f"the audit log's account records do not replay: {exc}",))
    found = differences(replay.state, in_database)
    if not replay.complete:
        if not found:  # e.g. only legacy records of rows that a later change rewrote identically
            found = [f"records {', '.join(map(str, replay.legacy[:5]))}… cannot be replayed"]
        return AccountsCheck(False, (ADOPT_HINT, *found), needs_adoption=True)
    if found:
        return AccountsCheck(False, ("the accounts database differs from the audit log", *found))
    return AccountsCheck(True)


def courts_concerned(entry: TypedRecord) -> tuple[str | None, ...]:
    """The courts whose 审判管理 must see an account or token change: one record is written per court.

    Usually the user's court after the change; a user moved from one court to another concerns both
    (the court it left and the court whose records it can now read), so the change is recorded
    under each; replaying the same row twice changes nothing. Other records: no court (None).
    """
    if not isinstance(entry, AccountRecord | TokenRecord):
        return (None,)
    court = entry.user.get("court")
    after = None if court is None else str(court)
    before = entry.previous.get("court") if isinstance(entry, AccountRecord) and entry.previous else None
    if before is not None and str(before) != after:
        return (str(before), after)
    return (after,)
