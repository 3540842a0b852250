"""The audit log's writer: an append-only table whose rows are the leaves of a Merkle tree.

Fail-closed: every error while writing is raised as ``AuditUnavailable`` and the caller must then
refuse the request (a search that was not recorded must not be shown). The table lives in a
storage (``retrieval.audit.storage``: one SQLite file by default, or PostgreSQL for several
machines); its triggers stop accidental edits; deliberate ones (dropping the triggers) are caught by
the tree and the signed checkpoints, which is what an auditor checks with ``verify``.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from retrieval.audit import merkle
from retrieval.audit.beijing_time import beijing_text
from retrieval.audit.receipts import Receipt
from retrieval.audit.records import (
    Actor,
    AuditRecord,
    CaseworkFields,
    InvalidRecord,
    TypedRecord,
    canonical_json,
    utc_timestamp,
    validate_kind,
)
from retrieval.audit.signing import (
    Checkpoint,
    SignedCheckpoint,
    checkpoint_file_json,
    key_id,
    sign_checkpoint,
)
from retrieval.audit.storage import (
    LogReader,
    LogStorage,
    SqliteLogStorage,
    StorageError,
    is_database_url,
)
from retrieval.audit.witness import (
    Witness,
    WitnessError,
    parse_witness,
    read_witness,
    sync_witness,
    write_witness,
)

EXPORT_FORMAT = "leian-audit-export/v1"
INCLUSION_FORMAT = "leian-audit-inclusion/v1"
# The CSV is the table people open (审判管理 in Excel): Chinese headers, Beijing time with its offset
# stated in the header and in every cell. The JSONL export is the machine form and keeps UTC.
CSV_COLUMNS = (
    "序号",
    "时间（北京时间，UTC+08:00）",
    "记录类型",
    "用户",
    "角色",
    "法院",
    "检索情形",
    "待决案件案号",
    "检索方法",
    "结果数",
    "记录哈希",
)
KIND_NAMES = {
    "search": "检索",
    "decision": "类案标注",
    "report": "类案检索报告",
    "export": "审计导出",
    "summary": "定期汇总",
    "token": "访问令牌",
    "account": "账户",
    "accounts": "账户快照",
    "backup": "备份",
    "override": "代为操作（管理员授权）",
    "draft": "文书辅助草稿",
}


class AuditUnavailable(RuntimeError):
    """The audit log cannot record right now; the request that needed the record must fail."""


class AuditRecordRejected(AuditUnavailable):
    """The record itself is invalid (no canonical form): a caller bug, still fail-closed."""


class AuditTampered(AuditUnavailable):
    """The log no longer matches what was signed: records removed, rewritten, or edited in place.

    Not a passing outage: nothing may be appended to it or signed over it until someone has
    looked (``leian audit check``).
    """


ROOTS_REMEMBERED = 16384
"""Tree heads kept in memory, by size: the witness written by another worker is checked without a read."""


@dataclass(frozen=True)
class AppendResult:
    seq: int
    leaf_hash: str
    tree_size: int
    root: str
    receipt: Receipt | None = None  # signed when the log was opened with a signer


@dataclass(frozen=True)
class RecordFilter:
    """Selects records for review; a filtered export is for reading, not for checking against a root.

    ``since`` is inclusive and ``until`` exclusive, both UTC timestamps (strings as written in
    records, or aware datetimes).
    """

    court: str | None = None
    user: str | None = None
    case_number: str | None = None  # the pending case's 案号 (payload.case_number)
    trigger: str | None = None
    kind: str | None = None
    since: str | dt.datetime | None = None
    until: str | dt.datetime | None = None

    def _bounds(self) -> tuple[str | None, str | None]:
        def norm(v: str | dt.datetime | None) -> str | None:
            if v is None or (isinstance(v, str) and v.endswith("Z") and len(v) == 24):
                return v
            moment = v if isinstance(v, dt.datetime) else dt.datetime.fromisoformat(v)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            return utc_timestamp(moment)

        return norm(self.since), norm(self.until)

    def to_dict(self) -> dict[str, str]:
        since, until = self._bounds()
        out = {k: v for k, v in asdict(self).items() if v is not None}
        out.update({k: v for k, v in (("since", since), ("until", until)) if v is not None})
        return out

    def is_empty(self) -> bool:
        return not self.to_dict()

    def matcher(self) -> Callable[[Mapping[str, Any]], bool]:
        since, until = self._bounds()

        def match(rec: Mapping[str, Any]) -> bool:
            actor = rec.get("actor") or {}
            fields = CaseworkFields.of(rec.get("payload") or {})
            return (
                (self.kind is None or rec.get("kind") == self.kind)
                and (self.court is None or actor.get("court") == self.court)
                and (self.user is None or actor.get("user") == self.user)
                and (self.case_number is None or fields.case_number == self.case_number)
                and (self.trigger is None or fields.trigger == self.trigger)
                and (since is None or rec.get("at", "") >= since)
                and (until is None or rec.get("at", "") < until)
            )

        return match


@dataclass(frozen=True)
class InclusionProof:
    """Everything needed to check one record against a checkpoint of size ``tree_size``."""

    seq: int
    tree_size: int
    leaf_hash: str
    proof: list[str]
    record: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps({"format": INCLUSION_FORMAT, **asdict(self)}, ensure_ascii=False, indent=2) + "\n"


def csv_cell(value: Any) -> Any:
    """Excel runs cells that start with = + - @ as formulas; a leading apostrophe keeps them text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def open_storage(location: str | Path | LogStorage, *, busy_timeout_s: float = 5.0) -> LogStorage:
    """A path opens the SQLite file; ``postgresql://…`` the PostgreSQL database; a storage is used as is."""
    if isinstance(location, str) and is_database_url(location):
        from retrieval.audit.pg_storage import PostgresLogStorage

        return PostgresLogStorage(location, busy_timeout_s=busy_timeout_s)
    if isinstance(location, (str, Path)):
        return SqliteLogStorage(location, busy_timeout_s=busy_timeout_s)
    return location


class AuditLog:
    """Append-only audit log in a storage (``retrieval.audit.storage``), safe across threads and processes.

    ``location``: a path opens one SQLite file (WAL, synchronous=FULL), ``postgresql://…`` a
    PostgreSQL database that API nodes on several machines share; a ``LogStorage`` is used as is.
    """

    def __init__(
        self,
        location: str | Path | LogStorage,
        *,
        log_id: str | None = None,
        busy_timeout_s: float = 5.0,
        witness: str | Path | None = None,
        signer: Ed25519PrivateKey | None = None,
    ) -> None:
        """``witness``: the signed-head file outside the database (``retrieval.audit.witness``); the
        log must extend it, at opening and at every append. ``signer``: sign the head after every
        append (the record's receipt) and write it to the witness."""
        self.path: str | Path = location if isinstance(location, (str, Path)) else location.name
        self.busy_timeout_s = busy_timeout_s
        self.witness_path = Path(witness) if witness is not None else None
        self.signer = signer
        self.witness_adopted = False  # opened with a witness path but no file there yet
        self._witness_raw: bytes | None = None  # the witness as last written or checked here
        self._roots: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.RLock()  # re-entered by an append's publish (below)
        self._frontier = merkle.Frontier()
        self.storage: LogStorage | None = None
        self._errors: tuple[type[BaseException], ...] = (StorageError,)
        try:
            self.storage = open_storage(location, busy_timeout_s=busy_timeout_s)
            self.path = self.storage.name
            self._errors = self.storage.errors
            self.log_id = self._init_schema(log_id)
            with self._lock:
                self._load_frontier()
        except AuditUnavailable:
            self.close()
            raise
        except Exception as exc:
            self.close()
            if isinstance(exc, (*self._errors, OSError)):
                raise AuditUnavailable(f"{self.path}: cannot open the audit log: {exc}") from exc
            raise

    # -- storage -----------------------------------------------------------------------------

    def _storage(self) -> LogStorage:
        if self.storage is None:
            raise AuditUnavailable(f"{self.path}: the audit log is closed")
        return self.storage

    @contextlib.contextmanager
    def _reader(self) -> Iterator[LogReader]:
        """A consistent snapshot on its own connection, that never blocks appends."""
        try:
            with self._storage().snapshot() as tables:
                yield tables
        except self._errors as exc:
            raise AuditUnavailable(f"{self.path}: cannot read the audit log: {exc}") from exc

    def sync_witness(self) -> None:
        """Make the witness written per append (without fsync) durable."""
        if self.witness_path is not None and self.signer is not None:
            with contextlib.suppress(OSError):
                sync_witness(self.witness_path)

    def close(self) -> None:
        self.sync_witness()
        if self.storage is not None:
            with contextlib.suppress(Exception):
                self.storage.close()
            self.storage = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema and tree state ---------------------------------------------------------------

    def _init_schema(self, log_id: str | None) -> str:
        new_id = log_id or f"leian-audit:{uuid.uuid4()}"
        if "\n" in new_id:
            raise AuditUnavailable("log_id must be a single line")
        stored = self._storage().init(new_id)
        if log_id is not None and log_id != stored:
            raise AuditUnavailable(f"{self.path} belongs to log {stored!r}, not {log_id!r}")
        return stored

    def _load_frontier(self) -> None:
        """Rebuild the frontier from the stored leaf hashes and check them against the last checkpoint.

        A mismatch means the database was edited behind the log's back: refuse to extend it.
        """
        with self._storage().held() as tables:
            latest = tables.checkpoints(latest_only=True)
            heads = [("the checkpoint", latest[0][0], latest[0][1])] if latest else []
            witness = self._read_witness()
            if witness is not None:
                heads.append(("the witness's signed head", witness.tree_size, witness.root))
            elif self.witness_path is not None:
                self.witness_adopted = True
            frontier = merkle.Frontier()
            for name, size, root in heads:
                if size == 0 and root != merkle.EMPTY_ROOT:
                    raise AuditTampered(f"the root of {name} of size 0 is wrong: the database was altered")
            for seq, leaf in tables.leaves():
                if seq != frontier.size:
                    raise AuditTampered(f"audit records: seq {frontier.size} is missing (next is {seq})")
                frontier.append(leaf)
                for name, size, root in heads:
                    if frontier.size == size and frontier.root() != root:
                        raise AuditTampered(
                            f"records 0..{size - 1} no longer match {name} of size {size}: "
                            "the database was altered"
                        )
        for name, size, _ in heads:
            if frontier.size < size:
                raise AuditTampered(
                    f"the log has {frontier.size} records but {name} covers {size}: records were removed"
                )
        self._frontier = frontier
        self._remember(frontier)

    def _catch_up(self, tables: LogReader) -> int:
        """Within a transaction: take in records appended by other processes; returns the tree size."""
        size = tables.size()
        if size == self._frontier.size:
            return size
        if size < self._frontier.size:
            raise AuditTampered(
                f"the log shrank from {self._frontier.size} to {size} records: records were removed"
            )
        frontier = self._frontier.copy()
        for seq, leaf in tables.leaves(frontier.size):
            if seq != frontier.size:
                raise AuditTampered(f"audit records: seq {frontier.size} is missing (next is {seq})")
            frontier.append(leaf)
            self._remember(frontier)
        self._frontier = frontier
        return size

    def _remember(self, frontier: merkle.Frontier) -> None:
        self._roots[frontier.size] = frontier.root()
        while len(self._roots) > ROOTS_REMEMBERED:
            self._roots.popitem(last=False)

    def _root_at(self, tables: LogReader, size: int) -> bytes:
        """The root after ``size`` records as this process saw it grow, else from the stored leaves."""
        known = self._roots.get(size)
        if known is not None:
            return known
        return merkle.root(_leaf_hashes(tables, size))

    # -- the witness -------------------------------------------------------------------------

    def _read_witness(self) -> Witness | None:
        if self.witness_path is None:
            return None
        expected = self.signer.public_key() if self.signer is not None else None
        try:
            witness = read_witness(self.witness_path, expected)
        except WitnessError as exc:
            raise AuditTampered(str(exc)) from exc
        if witness is not None:
            self._witness_raw = witness.raw
        return witness

    def _witness_bytes(self) -> bytes | None:
        """The witness file as it is now, read BEFORE the transaction that checks it begins.

        Another worker writes the witness after its commit; read first, the head can only be
        behind the snapshot taken next, never ahead of it (which would look like a removed tail).
        """
        if self.witness_path is None:
            return None
        try:
            return self.witness_path.read_bytes()
        except FileNotFoundError:
            if self._witness_raw is not None:
                raise AuditTampered(f"{self.witness_path}: the witness file was removed") from None
            return None
        except OSError as exc:
            raise AuditTampered(f"{self.witness_path}: cannot read the witness file: {exc}") from exc

    def _check_witness(self, tables: LogReader, raw: bytes | None) -> None:
        """Within a transaction, after ``_catch_up``: the log must extend the witness's signed head.

        ``raw`` from ``_witness_bytes``; an unchanged file (the one this process wrote or checked
        last) needs nothing more.
        """
        if raw is None or raw == self._witness_raw:
            return
        expected = self.signer.public_key() if self.signer is not None else None
        try:
            witness = parse_witness(raw, str(self.witness_path), expected)
        except WitnessError as exc:
            raise AuditTampered(str(exc)) from exc
        size = self._frontier.size
        if witness.tree_size > size:
            raise AuditTampered(
                f"the log has {size} records but its last signed head covers {witness.tree_size}: "
                "records were removed"
            )
        if self._root_at(tables, witness.tree_size) != witness.root:
            raise AuditTampered(
                f"records 0..{witness.tree_size - 1} no longer match the last signed head: the log was rewritten"
            )
        self._witness_raw = raw

    @contextlib.contextmanager
    def _caught_up(self, check_witness: bool = True) -> Iterator[LogReader]:
        """With the lock held: the writer's connection in a read transaction (rolled back after),
        other processes' appends taken in and, unless ``check_witness`` is off, the log checked to
        extend the witness's signed head."""
        witness_raw = self._witness_bytes() if check_witness else None
        try:
            with self._storage().held() as tables:
                self._catch_up(tables)
                if check_witness:
                    self._check_witness(tables, witness_raw)
                yield tables
        except self._errors as exc:
            raise AuditUnavailable(f"{self.path}: {exc}") from exc

    def _refresh(self, check_witness: bool = True) -> None:
        """With the lock held: take in other processes' appends (and check the witness) now."""
        with self._caught_up(check_witness):
            pass

    def check_witness(self) -> None:
        """Raise ``AuditTampered`` unless the log, as of now, extends the witness's signed head."""
        with self._lock:
            self._refresh()

    def _advance_witness(self, signed: SignedCheckpoint, *, durable: bool = True) -> None:
        """Write the head just signed, unless another worker already wrote a larger one."""
        if self.witness_path is None or self.signer is None:
            return
        try:
            current = self.witness_path.read_bytes()
        except FileNotFoundError:
            current = None
        except OSError as exc:
            raise AuditUnavailable(f"{self.witness_path}: cannot read the witness file: {exc}") from exc
        if current is not None and current != self._witness_raw:
            try:
                theirs = parse_witness(current, str(self.witness_path), self.signer.public_key())
            except WitnessError as exc:
                raise AuditTampered(str(exc)) from exc
            if theirs.tree_size > signed.checkpoint.tree_size:
                return
        try:
            self._witness_raw = write_witness(self.witness_path, signed, self.signer, durable=durable)
        except OSError as exc:
            raise AuditUnavailable(f"{self.witness_path}: the witness file cannot be written: {exc}") from exc

    def sign_witness(self) -> SignedCheckpoint:
        """Sign the current head and write it to the witness (adopting a log that had none)."""
        if self.signer is None or self.witness_path is None:
            raise AuditUnavailable("no signer or witness path: nothing to write")
        with self._lock:
            self._refresh()
            cp = Checkpoint(self._frontier.size, self._frontier.root().hex(), utc_timestamp(), self.log_id)
            signed = SignedCheckpoint(cp, sign_checkpoint(cp, self.signer), key_id(self.signer))
            self._advance_witness(signed)
            self.witness_adopted = False
            return signed

    def tree_head(self) -> tuple[int, str]:
        """(tree size, root hex) as of now, including other processes' appends."""
        with self._lock:
            self._refresh(check_witness=False)
            return self._frontier.size, self._frontier.root().hex()

    # -- writing -----------------------------------------------------------------------------

    def append(
        self,
        kind: str,
        actor: Actor | Mapping[str, Any],
        client: str | None,
        payload: Mapping[str, Any],
    ) -> AppendResult:
        """Record one event durably (committed and fsynced) before returning; assigns seq and time."""
        try:
            kind = validate_kind(kind)
            actor = Actor.coerce(actor)
            canonical_json({"actor": actor.to_dict(), "client": client, "payload": dict(payload)})
        except InvalidRecord as exc:
            raise AuditRecordRejected(f"audit record rejected: {exc}") from exc
        with self._lock:
            witness_raw = self._witness_bytes()
            try:
                # no other writer, of any process or node, between reading the tail and committing
                with self._storage().exclusive() as tables:
                    seq = self._catch_up(tables)
                    self._check_witness(tables, witness_raw)
                    record = AuditRecord(seq, kind, utc_timestamp(), actor, client, dict(payload))
                    data = record.to_bytes()
                    leaf = merkle.leaf_hash(data)
                    tables.insert_record(seq, leaf, data)
                    path = self._frontier.next_leaf_path()
                    frontier = self._frontier.copy()
                    frontier.append(leaf)
                    root = frontier.root()
                    signed = None
                    if self.signer is not None:  # signed before COMMIT: a key error writes nothing
                        cp = Checkpoint(frontier.size, root.hex(), record.at, self.log_id)
                        signed = SignedCheckpoint(cp, sign_checkpoint(cp, self.signer), key_id(self.signer))
            except (*self._errors, OSError, InvalidRecord) as exc:
                raise AuditUnavailable(f"{self.path}: audit record not written: {exc}") from exc

            def publish() -> None:
                """The record is committed: this process's tree and the witness take it in."""
                with self._lock:
                    if frontier.size > self._frontier.size:  # else another append here took it in
                        self._frontier = frontier
                        self._remember(frontier)
                    if signed is not None:
                        self._advance_witness(signed, durable=False)

            # now; or, joined to an enclosing transaction (an account change on PostgreSQL), once
            # that commits: a record rolled back with its row is never in the tree or the witness
            tables.when_committed(publish)
            receipt = Receipt.of(signed, seq, leaf, path) if signed is not None else None
            return AppendResult(seq, leaf.hex(), frontier.size, root.hex(), receipt)

    def record(
        self, actor: Actor | Mapping[str, Any], client: str | None, entry: TypedRecord
    ) -> AppendResult:
        """Append a typed record (``retrieval.audit.records``): its kind and payload come from it."""
        return self.append(entry.kind.value, actor, client, entry.to_payload())

    def check_writable(self) -> None:
        """Raise ``AuditUnavailable`` unless a record could be committed now; the log is left untouched.

        The storage commits, through the writer's own connection, a record-sized scratch row and
        its deletion in one transaction: the write lock, new pages and the durable commit, as an
        append needs them, without a record.
        """
        with self._lock:
            try:
                self._storage().probe_write()
            except (*self._errors, OSError) as exc:
                raise AuditUnavailable(f"{self.path}: audit records cannot be written: {exc}") from exc

    def checkpoint(self, private_key: Ed25519PrivateKey) -> SignedCheckpoint:
        """Sign and store the current tree head."""
        with self._lock:
            witness_raw = self._witness_bytes()
            try:
                with self._storage().exclusive() as tables:
                    self._catch_up(tables)
                    self._check_witness(tables, witness_raw)
                    self._verify_content(tables)
                    cp = Checkpoint(
                        self._frontier.size, self._frontier.root().hex(), utc_timestamp(), self.log_id
                    )
                    signed = SignedCheckpoint(cp, sign_checkpoint(cp, private_key), key_id(private_key))
                    tables.insert_checkpoint(
                        (cp.tree_size, bytes.fromhex(cp.root_hash), cp.at, signed.signature, signed.key_id)
                    )
            except (*self._errors, OSError) as exc:
                raise AuditUnavailable(f"{self.path}: checkpoint not written: {exc}") from exc
            if self.signer is not None and key_id(self.signer) == signed.key_id:
                self._advance_witness(signed)
            return signed

    def _verify_content(self, tables: LogReader) -> None:
        """Every leaf hash recomputed from its record, and the tree from them equal to the one held.

        Run before any checkpoint is signed, so that nothing signs over a record edited in place
        (leaf hash left) or rewritten (leaf hash recomputed) since this process saw it appended.
        """
        frontier = merkle.Frontier()
        for seq, leaf, data in tables.rows():
            if seq != frontier.size:
                raise AuditTampered(f"audit records: seq {frontier.size} is missing (next is {seq})")
            if merkle.leaf_hash(data) != leaf:
                raise AuditTampered(f"record {seq} was changed: its content no longer matches its leaf hash")
            frontier.append(leaf)
        if frontier.size != self._frontier.size or frontier.root() != self._frontier.root():
            raise AuditTampered(
                f"the stored records no longer make the tree of size {self._frontier.size} this log "
                "signed: a record was rewritten"
            )

    def verify(self) -> int:
        """Check the whole log (witness, every leaf from its content, the tree); returns the size.

        Raises ``AuditTampered`` naming the first problem. What ``leian audit check`` runs.
        """
        with self._lock, self._caught_up() as tables:
            self._verify_content(tables)
            return self._frontier.size

    # -- reading -----------------------------------------------------------------------------

    def _signed(self, row: tuple[int, bytes, str, bytes, str]) -> SignedCheckpoint:
        n, root, at, sig, kid = row
        return SignedCheckpoint(Checkpoint(n, root.hex(), at, self.log_id), sig, kid)

    def checkpoints(self) -> list[SignedCheckpoint]:
        """All stored checkpoints, oldest first."""
        with self._reader() as tables:
            rows = tables.checkpoints()
        return [self._signed(row) for row in rows]

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        with self._reader() as tables:
            rows = tables.checkpoints(latest_only=True)
        return self._signed(rows[0]) if rows else None

    def inclusion_proof(self, seq: int, tree_size: int | None = None) -> InclusionProof:
        """Proof that record ``seq`` is in the tree of ``tree_size`` (default: the latest checkpoint's)."""
        if tree_size is None:
            latest = self.latest_checkpoint()
            if latest is None:
                raise ValueError("no checkpoint yet: sign one first, or give tree_size")
            tree_size = latest.checkpoint.tree_size
        with self._reader() as tables:
            if not 0 <= seq < tree_size <= tables.size():
                raise ValueError(f"record {seq} is not in a tree of size {tree_size}")
            hashes = _leaf_hashes(tables, tree_size)
            row = tables.row(seq)
        if row is None:
            raise KeyError(f"no audit record {seq}")
        data = row[1]
        proof = merkle.inclusion_proof(seq, hashes)
        return InclusionProof(seq, tree_size, hashes[seq].hex(), [p.hex() for p in proof], json.loads(data))

    def stored_size(self) -> int:
        with self._reader() as tables:
            return tables.size()

    def known_root(self, size: int) -> bytes | None:
        """The root this process held after ``size`` records (appended or caught up), if remembered."""
        return self._roots.get(size)

    def rows(self, start: int, limit: int | None = None) -> list[tuple[int, bytes, bytes]]:
        """(seq, stored leaf hash, record bytes) from ``start`` on, at most ``limit`` of them."""
        with self._reader() as tables:
            return list(tables.rows(start, limit=limit))

    def stored_head(self) -> tuple[int, bytes]:
        """(size, root) from the leaf hashes stored now, not from what this process holds in memory."""
        with self._reader() as tables:
            size = tables.size()
            return size, merkle.root(_leaf_hashes(tables, size))

    def leaf(self, seq: int) -> tuple[bytes, bytes]:
        """(record bytes, stored leaf hash) of record ``seq``; KeyError when there is none."""
        with self._reader() as tables:
            row = tables.row(seq)
        if row is None:
            raise KeyError(f"no audit record {seq}")
        return row[1], row[0]

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        with self._reader() as tables:
            if new_size > tables.size():
                raise ValueError(f"the log has fewer than {new_size} records")
            hashes = _leaf_hashes(tables, new_size)
        return merkle.consistency_proof(old_size, new_size, hashes)

    def _rows(
        self, record_filter: RecordFilter | None, tree_size: int | None
    ) -> Iterator[tuple[int, bytes, bytes]]:
        """(seq, leaf hash, leaf data) of the matching records, in seq order."""
        match = record_filter.matcher() if record_filter and not record_filter.is_empty() else None
        with self._reader() as tables:
            size = tables.size()
            if tree_size is None:
                tree_size = size
            elif tree_size > size:
                raise ValueError(f"the log has only {size} records, not {tree_size}")
            for seq, leaf, data in tables.rows(stop=tree_size):
                if match is None or match(json.loads(data)):
                    yield seq, leaf, data

    def iter_records(
        self, record_filter: RecordFilter | None = None, tree_size: int | None = None
    ) -> Iterator[AuditRecord]:
        for _, _, data in self._rows(record_filter, tree_size):
            yield AuditRecord.from_bytes(data)

    def iter_kinds(self, kinds: tuple[str, ...], tree_size: int | None = None) -> Iterator[AuditRecord]:
        """Records of ``kinds`` only, in seq order; the database skips the others unparsed.

        A leaf is canonical JSON, so its kind is spelled ``"kind":"…"`` exactly; the byte search may
        also match a payload's own ``kind`` key, hence the exact check after parsing.
        """
        needles = [b'"kind":' + json.dumps(validate_kind(k)).encode() for k in kinds]
        if not needles:
            return
        with self._reader() as tables:
            size = tables.size() if tree_size is None else tree_size
            for data in tables.data_containing(needles, size):
                record = AuditRecord.from_bytes(data)
                if str(record.kind) in kinds:
                    yield record

    def read(self, seq: int) -> tuple[AuditRecord, str]:
        """Record ``seq`` and its stored leaf hash (hex); KeyError when the log has no such record.

        The content is re-hashed first: a record edited in place (leaf hash left) is never handed
        out, e.g. to make a report naming someone else, before the watcher's next pass.
        """
        with self._reader() as tables:
            row = tables.row(seq)
        if row is None:
            raise KeyError(f"no audit record {seq}")
        if merkle.leaf_hash(row[1]) != row[0]:
            raise AuditTampered(f"record {seq} was changed: its content no longer matches its leaf hash")
        return AuditRecord.from_bytes(row[1]), row[0].hex()

    def export_jsonl(
        self,
        fp: BinaryIO,
        record_filter: RecordFilter | None = None,
        tree_size: int | None = None,
        checkpoint: Mapping[str, Any] | None = None,
    ) -> int:
        """Header line, then ``{"seq", "record", "leaf_hash"}`` per record; returns the number of records.

        ``record`` is the stored leaf data as is (canonical JSON), so the export shows exactly
        what was hashed. An unfiltered export with the tree size of a checkpoint is verified against
        it as a whole. A filtered one (``complete: false``, e.g. one court's records) cannot be: each
        of its lines then carries ``proof``, the record's inclusion proof in the tree of
        ``tree_size``, so every record is checked on its own against the same signed root.
        ``checkpoint``, the checkpoint file of ``tree_size``, goes into the header, so that the one
        file is all an offline verifier needs (besides the court's published public key).
        """
        filtered = record_filter is not None and not record_filter.is_empty()
        if tree_size is None:
            with self._reader() as tables:
                tree_size = tables.size()
        if checkpoint is not None and checkpoint.get("tree_size") != tree_size:
            raise ValueError(f"the checkpoint is of tree size {checkpoint.get('tree_size')}, not {tree_size}")
        header: dict[str, Any] = {
            "format": EXPORT_FORMAT,
            "log_id": self.log_id,
            "tree_size": tree_size,
            "complete": not filtered,
            "filters": record_filter.to_dict() if filtered else None,
            "exported_at": utc_timestamp(),
        }
        if filtered:
            header["proofs"] = "inclusion"  # each line's ``proof``: what lets the verifier check it
        if checkpoint is not None:
            header["checkpoint"] = dict(checkpoint)
        fp.write(canonical_json({"header": header}) + b"\n")
        prover = None
        if filtered:
            with self._reader() as tables:
                prover = merkle.InclusionProver(_leaf_hashes(tables, tree_size))
        n = 0
        for seq, leaf, data in self._rows(record_filter, tree_size):
            line = b'{"seq":%d,"record":%s,"leaf_hash":"%s"' % (seq, data, leaf.hex().encode())
            if prover is not None:
                line += b',"proof":[%s]' % b",".join(b'"%s"' % h.hex().encode() for h in prover.proof(seq))
            fp.write(line + b"}\n")
            n += 1
        return n

    def export_csv(
        self, fp: BinaryIO, record_filter: RecordFilter | None = None, tree_size: int | None = None
    ) -> int:
        """A table for people: UTF-8 with BOM (Excel then reads Chinese correctly), RFC 4180 quoting, CRLF.

        Headers and record kinds in Chinese, times in Beijing time (``2026-03-01 08:00:00.000+08:00``).
        """
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        fp.write(b"\xef\xbb\xbf")
        writer.writerow(CSV_COLUMNS)
        n = 0
        for seq, leaf, data in self._rows(record_filter, tree_size):
            record = json.loads(data)
            actor = record.get("actor") or {}
            fields = CaseworkFields.of(record.get("payload") or {})
            kind = record.get("kind")
            row = [
                seq,
                beijing_text(record.get("at")),
                KIND_NAMES.get(kind, kind),
                actor.get("user"),
                actor.get("role"),
                actor.get("court"),
                fields.trigger,
                fields.case_number,
                ";".join(fields.methods) if fields.methods is not None else None,
                fields.result_count,
                leaf.hex(),
            ]
            writer.writerow([csv_cell(v) for v in row])
            fp.write(buffer.getvalue().encode("utf-8"))
            buffer.seek(0)
            buffer.truncate()
            n += 1
        fp.write(buffer.getvalue().encode("utf-8"))
        return n

    def export_bundle(
        self,
        export_path: str | Path,
        checkpoint_path: str | Path,
        private_key: Ed25519PrivateKey,
    ) -> SignedCheckpoint:
        """Sign a checkpoint now and write the full export it covers, plus the checkpoint file.

        The checkpoint file carries the earlier checkpoints signed with the same key, so that the
        verifier can narrow a rewritten record down to the records between two of them.
        """
        signed = self.checkpoint(private_key)
        size = signed.checkpoint.tree_size
        with open(export_path, "wb") as fp:
            self.export_jsonl(fp, tree_size=size)
        history = [
            c
            for c in self.checkpoints()[:-1]
            if c.key_id == signed.key_id and c.checkpoint.tree_size <= size and c != signed
        ]
        Path(checkpoint_path).write_text(
            checkpoint_file_json(signed, private_key.public_key(), history), encoding="utf-8"
        )
        return signed


def _leaf_hashes(tables: LogReader, tree_size: int) -> list[bytes]:
    return [leaf for _, leaf in tables.leaves(0, tree_size)]
