"""Online backup of the service's data folder, and a restore that verifies the audit chain first.

Backup: the audit log and the accounts database are copied with SQLite's online backup API, which
reads one consistent snapshot while the service goes on writing (in WAL mode readers never block
writers). The backup is recorded in the live log before the copy, as an export is. The copy of the
log then gets a checkpoint signed now, so that every record in the backup is covered by a signature.
The public half of the signing key goes along; the private key does not (it lives outside the data
folder, and whoever keeps keys backs it up). The index is immutable and only referenced, by build id
and manifest checksum. ``backup.json`` lists every file with its size and sha256 and is signed with
the audit key (``retrieval.audit.signed_document``), so that nobody without the key can edit a file
and fix the checksums up. The copy's accounts must equal the accounts its log rebuilds
(``retrieval.audit.accounts_replay``); an account changed between the two copies is retried. The
folder is written as ``DIR.partial`` and renamed when complete, so a killed backup never looks like one.

Restore: copies the files into a staging folder beside the target, checks them against the
manifest, verifies the log with the independent verifier (every leaf, the root, every checkpoint
signature) against the court's published key, rebuilds the accounts from the verified log and
compares them with the accounts database row by row, and only then renames the staging folder to the
target. The manifest's signature is checked first, against the court's published key (the key inside
the backup only with ``trust_backup_key``: it proves integrity, not who signed). A backup that fails
a check is refused and the target is left as it was.

A PostgreSQL database (LEIAN_DATABASE_URL) is backed up and restored by ``api.service.pg_backup``
with this module's manifest, signing, log verification and accounts replay (``finish``,
``verify_manifest_signature``, ``verify_log``, ``accounts_against_log``); its manifest says
``"store": "postgresql"``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.service.accounts import read_accounts_state
from api.service.config import ACCOUNTS_DB, AUDIT_DB, Settings
from retrieval import index_layout as layout
from retrieval.atomic_file import write_atomic
from retrieval.audit.accounts_replay import ACCOUNT_KINDS, AccountsCheck, AccountsState, check_accounts
from retrieval.audit.records import Actor, BackupRecord, utc_timestamp
from retrieval.audit.signed_document import DocumentSignatureError, sign_document, verify_document
from retrieval.audit.signing import (
    SignedCheckpoint,
    SigningKeyError,
    checkpoint_file_json,
    key_id,
    load_private_key,
    load_public_key,
    public_key_pem,
)
from retrieval.audit.store import AuditLog, AuditUnavailable
from retrieval.audit.verify import VerifyInputError, verify_export

BACKUP_FORMAT = "leian-backup/v1"
MANIFEST = "backup.json"
MANIFEST_PURPOSE = "leian-backup-manifest/v1"  # what the manifest's signature is a signature of
COPY_ATTEMPTS = 3  # an account changed between the two copies: copy both again
PUBLIC_KEY = "audit-signing-key.pub"
DATABASES = (ACCOUNTS_DB, AUDIT_DB)
"""In the order they are copied: a search or token reaches the accounts database only after its
audit record was committed, so the log, copied second, holds everything the accounts copy names."""
PG_DUMP = "database.dump"
STORE_FILES = {"sqlite": DATABASES, "postgresql": (PG_DUMP,)}


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; ``code`` 2 for bad input, 1 for a failure."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class RestoreRefused(BackupError):
    """The backup failed a check (tampered, truncated, signed by another key): nothing was restored."""


@dataclass(frozen=True)
class Summary:
    folder: Path
    manifest: dict[str, Any]  # backup.json


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database, as one self-contained file (no -wal beside it)."""
    if not source.is_file():
        raise BackupError(f"{source} does not exist", 2)
    src = sqlite3.connect(source, timeout=30.0)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)  # pages=-1: the whole database in one step, so one snapshot
        finally:
            dst.close()
    finally:
        src.close()
    _single_file(target)


def _single_file(path: Path) -> None:
    """Leave the database in rollback-journal mode: the file alone is the whole database."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _index_reference(home: Path | None) -> dict[str, Any] | None:
    """The published build the service answers from: immutable, so naming it is enough."""
    if home is None:
        return None
    try:
        raw = (layout.resolve_current(home) / layout.MANIFEST).read_bytes()
        build_id = json.loads(raw)["build_id"]
    except (layout.IndexLayoutError, OSError, ValueError, KeyError) as exc:
        raise BackupError(f"the index to reference cannot be read: {exc}", 2) from exc
    return {"home": str(home), "build_id": build_id, "manifest_sha256": hashlib.sha256(raw).hexdigest()}


def backup(settings: Settings, out: Path, actor: Actor) -> Summary:
    """Back up ``settings.data_dir`` into the new folder ``out``; the signing key must be at hand."""
    if settings.database_url is not None:  # the caller picks api.service.pg_backup for it
        raise BackupError(
            "the audit log is in PostgreSQL (LEIAN_DATABASE_URL): not a data folder's backup", 2
        )
    if not settings.audit_db.is_file():
        raise BackupError(f"{settings.audit_db} does not exist: no audit log to back up", 2)
    key, index, partial = begin_backup(settings, out)
    try:
        record_backup(settings, actor, out, index)
        _copy_consistent(settings.data_dir, partial)
        with AuditLog(partial / AUDIT_DB) as copy:
            signed = copy.checkpoint(key)
        _single_file(partial / AUDIT_DB)
        manifest = finish(partial, out, key, signed, actor, {"index": index})
    except AuditUnavailable as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise BackupError(f"the audit log cannot be backed up: {exc}") from exc
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return Summary(out, manifest)


def begin_backup(settings: Settings, out: Path) -> tuple[Ed25519PrivateKey, dict[str, Any] | None, Path]:
    """What every backup checks and makes before it writes: ``out`` new, the signing key at hand (the
    copy's checkpoint is signed at backup time), the served build named, ``out.partial`` empty."""
    if out.exists():
        raise BackupError(f"{out} exists; back up into a new folder", 2)
    try:
        key = load_private_key(settings.signing_key_path)
    except SigningKeyError as exc:
        raise BackupError(f"the backup's checkpoint cannot be signed: {exc}", 2) from exc
    return key, index_reference(settings), partial_folder(out)


def index_reference(settings: Settings) -> dict[str, Any] | None:
    """The served build, and on the cluster backend the Milvus collection loaded from it."""
    index = _index_reference(settings.index_home)
    if index is not None and settings.backend == "cluster":
        from index_build.milvus_export import collection_name

        index["milvus_collection"] = collection_name(index["build_id"])
    return index


def partial_folder(out: Path) -> Path:
    """``out.partial``, empty: renamed to ``out`` by ``finish``, so a killed backup never looks like one."""
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # what a killed backup left
    partial.mkdir(parents=True)
    return partial


def record_backup(settings: Settings, actor: Actor, out: Path, index: dict[str, Any] | None) -> None:
    """The backup as a record of the live log (kind ``backup``), before anything is copied."""
    with AuditLog(settings.audit_location, witness=settings.witness_path) as live:
        live.record(actor, "cli", BackupRecord(target=str(out), index=index))


def finish(
    partial: Path,
    out: Path,
    key: Ed25519PrivateKey,
    signed: SignedCheckpoint,
    actor: Actor,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """The public key, then ``backup.json`` signed with ``key`` (every file's size and sha256, the
    head of the copied log as ``signed`` covers it, and ``extra``), then ``partial`` renamed ``out``."""
    (partial / PUBLIC_KEY).write_text(public_key_pem(key), encoding="ascii")
    cp = signed.checkpoint
    manifest = {
        "format": BACKUP_FORMAT,
        "created_at": utc_timestamp(),
        "created_by": actor.user,
        "files": layout.file_checksums(partial, sync=True),
        "audit": {
            "log_id": cp.log_id,
            "tree_size": cp.tree_size,
            "root_hash": cp.root_hash,
            "key_id": signed.key_id,
            "signed_at": cp.at,
        },
        **extra,
    }
    manifest = sign_document(manifest, key, MANIFEST_PURPOSE)
    write_atomic(partial / MANIFEST, (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode())
    partial.rename(out)
    _fsync_dir(out.parent)
    return manifest


def _copy_consistent(data_dir: Path, folder: Path) -> None:
    """Both databases, such that the log's account records rebuild exactly the accounts copied.

    An account change commits its audit record inside the accounts transaction, so a change made
    while the two are copied can leave the log one change ahead; copying again settles it. A live
    folder whose accounts differ for good (edited, or not yet adopted) is not backed up.
    """
    check = AccountsCheck(False)
    for _ in range(COPY_ATTEMPTS):
        for name in DATABASES:
            (folder / name).unlink(missing_ok=True)
            copy_database(data_dir / name, folder / name)
        check = _accounts_against_log(folder)
        if check.ok or check.needs_adoption:
            break
    if not check.ok:
        raise BackupError(f"the accounts of {data_dir} do not match its audit log: {check.summary()}")


def _accounts_against_log(folder: Path, tree_size: int | None = None) -> AccountsCheck:
    try:
        state = read_accounts_state(folder / ACCOUNTS_DB)
    except sqlite3.Error as exc:
        raise RestoreRefused(f"{ACCOUNTS_DB} is not a readable accounts database: {exc}") from exc
    return accounts_against_log(state, folder / AUDIT_DB, tree_size)


def accounts_against_log(
    state: AccountsState, log_location: str | Path, tree_size: int | None = None
) -> AccountsCheck:
    """``state`` against the accounts the log's first ``tree_size`` records rebuild."""
    try:
        with AuditLog(log_location) as log:
            return check_accounts(log.iter_kinds(ACCOUNT_KINDS, tree_size), state)
    except AuditUnavailable as exc:
        raise RestoreRefused(f"the audit log cannot be read to rebuild the accounts: {exc}") from exc


# -- restore --------------------------------------------------------------------------------------


def read_manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BackupError(f"{folder} is not a backup (no {MANIFEST})", 2) from exc
    except (OSError, ValueError) as exc:
        raise RestoreRefused(f"{folder / MANIFEST} cannot be read: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != BACKUP_FORMAT:
        raise RestoreRefused(f"{folder / MANIFEST} is not a {BACKUP_FORMAT} manifest")
    audit = manifest.get("audit")
    if not isinstance(audit, dict) or type(audit.get("tree_size")) is not int:
        raise RestoreRefused(f"{folder / MANIFEST} does not say how many audit records the backup holds")
    listed, expected = (
        set(manifest.get("files") or {}),
        {*STORE_FILES.get(store_of(manifest), ()), PUBLIC_KEY},
    )
    if listed != expected:
        raise RestoreRefused(f"the manifest lists {sorted(listed)}, not {sorted(expected)}")
    return manifest


def store_of(manifest: dict[str, Any]) -> str:
    """``sqlite`` (a data folder's two files; manifests before the PostgreSQL case say nothing) or
    ``postgresql`` (one ``pg_dump`` of the service database, ``api.service.pg_backup``)."""
    return str(manifest.get("store", "sqlite"))


def restore(
    backup_dir: Path, data_dir: Path, public_key: Path | None = None, *, trust_backup_key: bool = False
) -> Summary:
    """Verify the backup in ``backup_dir`` and put it in place as the new data folder ``data_dir``.

    ``public_key``: the court's published key. Without it a restore is refused unless
    ``trust_backup_key``: the key in the backup then checks the backup's integrity, but not who
    signed it (whoever made a key pair can sign a forged backup with it).
    """
    manifest = read_manifest(backup_dir)
    if store_of(manifest) != "sqlite":
        raise BackupError(
            f"{backup_dir} is a backup of a PostgreSQL database: restore it with --database-url NEW_URL", 2
        )
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise BackupError(f"{data_dir} exists and is not empty; restore into a new folder", 2)
    if public_key is None and not trust_backup_key:
        raise BackupError(
            "no key to check the backup against: pass --public-key with the court's published key "
            "(or --trust-backup-key to check integrity only, with the key inside the backup)",
            2,
        )
    verify_manifest_signature(manifest, public_key or backup_dir / PUBLIC_KEY)
    staging = data_dir.with_name(f".{data_dir.name}.restoring")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        listed: dict[str, Any] = manifest["files"]
        for name in listed:
            if not (backup_dir / name).is_file():
                raise RestoreRefused(f"{name} is missing from the backup")
            shutil.copyfile(backup_dir / name, staging / name)
        actual = layout.file_checksums(staging)
        for name, expected in listed.items():
            if actual[name] != expected:
                raise RestoreRefused(
                    f"{name} does not match the manifest's size and sha256: altered or truncated"
                )
        verify_log(
            staging / AUDIT_DB, staging / ".verify", manifest["audit"], public_key or staging / PUBLIC_KEY
        )
        _check_accounts(staging / ACCOUNTS_DB, manifest["audit"]["tree_size"])
        derived = _accounts_against_log(staging, manifest["audit"]["tree_size"])
        if not derived.ok:
            raise RestoreRefused(f"{ACCOUNTS_DB} does not match the audit log: {derived.summary()}")
        _single_file(staging / AUDIT_DB)
        layout.file_checksums(staging, sync=True)  # fsync what is about to become the data folder
        if data_dir.exists():
            data_dir.rmdir()
        staging.rename(data_dir)
        _fsync_dir(data_dir.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Summary(data_dir, manifest)


def verify_manifest_signature(manifest: dict[str, Any], key_path: Path) -> None:
    try:
        public = load_public_key(key_path)
    except SigningKeyError as exc:
        raise BackupError(str(exc), 2) from exc
    try:
        verify_document(manifest, public, MANIFEST_PURPOSE)
    except DocumentSignatureError as exc:
        raise RestoreRefused(
            f"{MANIFEST} is not signed by the audit key {key_id(public)} ({key_path.name}): {exc}"
        ) from exc


def verify_log(log_location: str | Path, work: Path, expected: dict[str, Any], key_path: Path) -> None:
    """The restored log against its checkpoints, by the independent verifier, in the new folder
    ``work`` (removed after); raises RestoreRefused."""
    try:
        public = load_public_key(key_path)
    except SigningKeyError as exc:
        raise BackupError(str(exc), 2) from exc
    if key_id(public) != expected.get("key_id"):
        raise RestoreRefused(
            f"the backup was signed by key {expected.get('key_id')}, not by key {key_id(public)} ({key_path.name})"
        )
    work.mkdir()
    try:
        with AuditLog(log_location) as log:
            size, root = log.tree_head()
            latest = log.latest_checkpoint()
            if latest is None or latest.checkpoint.tree_size != size:
                raise RestoreRefused(f"records after the last signed checkpoint: {size} records")
            if (size, root) != (expected.get("tree_size"), expected.get("root_hash")):
                raise RestoreRefused(
                    f"the log holds {size} records with root {root}; the manifest says "
                    f"{expected.get('tree_size')} with root {expected.get('root_hash')}"
                )
            history = [c for c in log.checkpoints()[:-1] if c.key_id == latest.key_id]
            with open(work / "audit.jsonl", "wb") as fp:
                log.export_jsonl(fp, tree_size=size)
        (work / "checkpoint.json").write_text(checkpoint_file_json(latest, public, history), encoding="utf-8")
        report = verify_export(work / "audit.jsonl", work / "checkpoint.json", key_path)
    except AuditUnavailable as exc:
        raise RestoreRefused(f"the audit log in the backup is inconsistent: {exc}") from exc
    except VerifyInputError as exc:
        raise RestoreRefused(f"the audit log in the backup cannot be verified: {exc}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not report.ok:
        raise RestoreRefused(f"the audit log does not verify: {report.summary()}")


def _check_accounts(path: Path, tree_size: int) -> None:
    """SQLite's own integrity check, and no search in the ledger that the log does not hold."""
    conn = sqlite3.connect(path)
    try:
        (verdict,) = conn.execute("PRAGMA integrity_check").fetchone()
        beyond = conn.execute("SELECT COUNT(*) FROM searches WHERE search_id >= ?", (tree_size,)).fetchone()[
            0
        ]
    except sqlite3.Error as exc:
        raise RestoreRefused(f"{ACCOUNTS_DB} is not a readable accounts database: {exc}") from exc
    finally:
        with contextlib.suppress(sqlite3.Error):
            conn.close()
    if verdict != "ok":
        raise RestoreRefused(f"{ACCOUNTS_DB} fails SQLite's integrity check: {verdict}")
    if beyond:
        raise RestoreRefused(f"{ACCOUNTS_DB} lists {beyond} searches that the audit log does not hold")
