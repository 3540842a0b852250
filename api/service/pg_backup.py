"""Backup and restore of the service's PostgreSQL database (LEIAN_DATABASE_URL): the audit log, the
accounts and the ledger, and whatever else the service keeps there, in one ``pg_dump``.

The SQLite backup's manifest, signing and verification (``api.service.backup``) are used as they
are; only the copy and the restore differ.

Backup: the backup is recorded in the live log, then ``pg_dump --format=custom`` dumps the whole
database in one snapshot, so accounts, ledger and log agree as they were committed (no second copy
as for the two SQLite files). As the SQLite backup signs a checkpoint in its copy of the log, the
dump is restored into a scratch database on the same server, the copy's log re-hashed and a
checkpoint signed there (never in the live log, which goes on growing), its accounts compared with
the ones its log rebuilds, and that database dumped as the backup's ``database.dump``; the scratch
database is dropped. ``backup.json``, signed, lists the dump and the public key with sha256, the
head of the log, the served build, and on the cluster backend its Milvus collection. The collection
is derived from the build folder: restoring Milvus is ``leian cluster export`` of that build again.

Restore: into a NEW database, created here (refused when it exists), never over the live one. The
manifest's signature against the court's key, the dump's sha256, ``pg_restore`` in one transaction,
then the log verified by the independent verifier and the accounts replayed from it, as for a data
folder. Only then is it reported restored; on any failure the new database is dropped.

Privileges are not restored (``--no-privileges``: the target server's roles may differ); run
``leian audit setup-db NEW_URL --app-role ROLE`` again before pointing the nodes at it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from api.service.accounts import AccountStore
from api.service.backup import (
    PG_DUMP,
    PUBLIC_KEY,
    BackupError,
    RestoreRefused,
    Summary,
    accounts_against_log,
    begin_backup,
    finish,
    read_manifest,
    record_backup,
    store_of,
    verify_log,
    verify_manifest_signature,
)
from api.service.config import Settings
from api.service.shared_database import redacted, scrubbed
from retrieval import index_layout as layout
from retrieval.audit.records import Actor
from retrieval.audit.store import AuditLog, AuditUnavailable
from retrieval.pg_metadata import BUILD_SCHEMAS

PG_DUMP_BIN = "pg_dump"  # PostgreSQL's client programs, from PATH (Debian: postgresql-client)
PG_RESTORE_BIN = "pg_restore"
RESTORE_OPTIONS = ("--exit-on-error", "--single-transaction", "--no-owner", "--no-privileges")
"""All or nothing; owned by whoever restores; grants made again by ``leian audit setup-db``."""


def backup_database(
    settings: Settings,
    out: Path,
    actor: Actor,
    exclude_schemas: Sequence[str] = (),
    *,
    with_build_schemas: bool = False,
) -> Summary:
    """Back up ``settings.database_url`` into the new folder ``out``; the signing key must be at hand.

    The builds' schemas (``leian_build_*``: documents and metadata, ``leian cluster export``) are
    left out unless ``with_build_schemas``: they are derived from an immutable build folder, are
    reloaded from it after a restore, and would make every backup as large as the corpus (893 GB
    per build at 100M). ``exclude_schemas``: more ``pg_dump --exclude-schema`` patterns. The
    manifest names every pattern left out; everything else in the database is dumped.
    """
    if not with_build_schemas:
        exclude_schemas = [BUILD_SCHEMAS, *(p for p in exclude_schemas if p != BUILD_SCHEMAS)]
    url = settings.database_url
    if url is None:
        raise BackupError("LEIAN_DATABASE_URL is not set: back up the data folder instead", 2)
    key, index, partial = begin_backup(settings, out)
    try:
        record_backup(settings, actor, out, index)
        raw = partial / "live.dump"
        excluded = [f"--exclude-schema={pattern}" for pattern in exclude_schemas]
        _run([PG_DUMP_BIN, "--format=custom", *excluded, f"--file={raw}"], url)
        with _new_database(url, "backup") as scratch:
            _run([PG_RESTORE_BIN, *RESTORE_OPTIONS, str(raw)], scratch)
            raw.unlink()
            with AuditLog(scratch) as copy:
                signed = copy.checkpoint(key)
            with closing(AccountStore(scratch)) as accounts:
                check = accounts_against_log(accounts.state(), scratch)
            if not check.ok:
                raise BackupError(
                    f"the accounts of {redacted(url)} do not match its audit log: {check.summary()}"
                )
            _run([PG_DUMP_BIN, "--format=custom", f"--file={partial / PG_DUMP}"], scratch)
        extra = {
            "store": "postgresql",
            "database": redacted(url),
            "excluded_schemas": list(exclude_schemas),
            "index": index,
        }
        manifest = finish(partial, out, key, signed, actor, extra)
    except (AuditUnavailable, psycopg.Error) as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise BackupError(f"the database cannot be backed up: {scrubbed(str(exc), url)}") from exc
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return Summary(out, manifest)


def restore_database(
    backup_dir: Path, new_url: str, public_key: Path | None = None, *, trust_backup_key: bool = False
) -> Summary:
    """Verify the backup in ``backup_dir`` and restore it as the new database ``new_url``."""
    manifest = read_manifest(backup_dir)
    if store_of(manifest) != "postgresql":
        raise BackupError(f"{backup_dir} is a backup of a data folder: restore it with --data NEW_FOLDER", 2)
    if public_key is None and not trust_backup_key:
        raise BackupError(
            "no key to check the backup against: pass --public-key with the court's published key "
            "(or --trust-backup-key to check integrity only, with the key inside the backup)",
            2,
        )
    key_path = public_key or backup_dir / PUBLIC_KEY
    verify_manifest_signature(manifest, key_path)
    with tempfile.TemporaryDirectory(prefix="leian-restore-") as tmp:
        staged = Path(tmp)
        for name in manifest["files"]:
            if not (backup_dir / name).is_file():
                raise RestoreRefused(f"{name} is missing from the backup")
            shutil.copyfile(backup_dir / name, staged / name)
        actual = layout.file_checksums(staged)
        for name, expected in manifest["files"].items():
            if actual[name] != expected:
                raise RestoreRefused(
                    f"{name} does not match the manifest's size and sha256: altered or truncated"
                )
        if public_key is None:
            key_path = staged / PUBLIC_KEY
        _create_database(new_url)
        try:
            _run([PG_RESTORE_BIN, *RESTORE_OPTIONS, str(staged / PG_DUMP)], new_url, refused=True)
            tree_size = manifest["audit"]["tree_size"]
            verify_log(new_url, staged / ".verify", manifest["audit"], key_path)
            with closing(AccountStore(new_url)) as accounts:
                derived = accounts_against_log(accounts.state(), new_url, tree_size)
            with psycopg.connect(new_url, connect_timeout=10) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM searches WHERE search_id >= %s", (tree_size,)
                ).fetchone()
                beyond = row[0] if row else 0
            if not derived.ok:
                raise RestoreRefused(f"the accounts do not match the audit log: {derived.summary()}")
            if beyond:
                raise RestoreRefused(f"the ledger lists {beyond} searches that the audit log does not hold")
        except psycopg.Error as exc:
            _drop_database(new_url)
            raise RestoreRefused(
                f"the restored database cannot be read: {scrubbed(str(exc), new_url)}"
            ) from exc
        except BaseException:
            _drop_database(new_url)
            raise
    return Summary(backup_dir, manifest)


# -- the server's databases and binaries ----------------------------------------------------------


def _without_password(url: str) -> tuple[str, dict[str, str]]:
    """(conninfo without the password, environment with PGPASSWORD): a password never on a command line."""
    info = conninfo_to_dict(url)
    password = info.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**{k: str(v) for k, v in info.items() if v is not None}), env


def _run(argv: list[str], url: str, *, refused: bool = False) -> None:
    """``pg_dump``/``pg_restore`` on ``url``; its error, without the password, as BackupError."""
    conninfo, env = _without_password(url)
    try:
        done = subprocess.run(
            [*argv, f"--dbname={conninfo}"], env=env, capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise BackupError(f"{argv[0]} cannot be run: {exc} (install the PostgreSQL client)", 2) from exc
    if done.returncode != 0:
        tail = scrubbed(done.stderr.strip()[-2000:], url)
        error = RestoreRefused if refused else BackupError
        raise error(f"{Path(argv[0]).name} failed on {redacted(url)} (exit {done.returncode}): {tail}")


def _named(url: str, name: str) -> str:
    """``url`` (postgresql://…) naming the database ``name`` on the same server, as the same user."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def _server(url: str) -> tuple[str, str]:
    """(the URL of the server's maintenance database ``postgres``, the database ``url`` names)."""
    name = str(conninfo_to_dict(url).get("dbname") or "")
    if not name:
        raise BackupError(f"{redacted(url)} names no database", 2)
    return _named(url, "postgres"), name


def _create_database(url: str) -> None:
    """The database ``url`` names, new: refused when it exists (a restore never writes over one)."""
    server, name = _server(url)
    try:
        with psycopg.connect(server, autocommit=True, connect_timeout=10) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                raise BackupError(f"the database {redacted(url)} exists: restore into a new database", 2)
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise BackupError(
            f"the database {redacted(url)} cannot be created: {scrubbed(str(exc), url)}"
        ) from exc


def _drop_database(url: str) -> None:
    server, name = _server(url)
    with psycopg.connect(server, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def _new_database(url: str, purpose: str) -> Iterator[str]:
    """A scratch database beside ``url``'s on its server, dropped after."""
    _, name = _server(url)
    scratch = _named(url, f"{name[:40]}_{purpose}_{uuid.uuid4().hex[:8]}")
    _create_database(scratch)
    try:
        yield scratch
    finally:
        _drop_database(scratch)


def describe(manifest: dict[str, Any]) -> str:
    """What the restore of the cluster's other half takes: the Milvus collection from the build."""
    index = manifest.get("index") or {}
    build = index.get("build_id")
    if not build:
        return "no index was referenced: serve the build the nodes serve"
    collection = index.get("milvus_collection")
    where = f" (Milvus collection {collection})" if collection else ""
    return (
        f"index build {build}{where}: Milvus collections are derived from the build folder; restore "
        "Milvus with `leian cluster export --index HOME --milvus-uri URI` of that build"
    )
