"""What the app holds for its lifetime: the index, the audit log, the accounts, the signing key, metrics.

Opened once in the app's lifespan. A part that cannot be opened does not stop the process: the
service starts, ``/readyz`` says what is missing, and every request that needs the part fails with
503 (fail-closed for the audit log). Paths are logged, never put in a response: the signing key's
location in particular is nobody's business but the operator's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.service.accounts import AccountStore, Principal
from api.service.cluster import ClusterBackendError, ClusterSettings, metadata_opener, with_cluster_channels
from api.service.config import Settings
from api.service.errors import ApiError, audit_tampered, audit_unavailable
from api.service.metrics import Metrics
from api.service.shared_database import DatabaseDown, DatabaseRefused, SharedDatabase, scrubbed
from retrieval import index_layout as layout
from retrieval.audit.records import Actor, TypedRecord
from retrieval.audit.signing import (
    SignedCheckpoint,
    SigningKeyError,
    SigningKeyExists,
    checkpoint_file_json,
    generate_key,
    load_private_key,
    public_key_pem,
)
from retrieval.audit.store import AppendResult, AuditLog, AuditTampered, AuditUnavailable
from retrieval.audit.watcher import Watcher
from retrieval.index_store import IndexStore

log = logging.getLogger("leian.api")

MAX_CHECKPOINT_HISTORY = 256
"""Earlier checkpoints sent with the latest: enough to narrow a rewrite, bounded in size."""


def index_unavailable() -> ApiError:
    return ApiError(
        503,
        "index_unavailable",
        "检索索引未加载，暂不能检索",
        "the search index is not loaded",
        headers={"Retry-After": "30"},
    )


def signing_unavailable() -> ApiError:
    return ApiError(
        503,
        "signing_unavailable",
        "审计签名密钥不可用，无法签发检查点",
        "the audit signing key is not available; no checkpoint can be signed",
    )


def actor_of(principal: Principal | Actor) -> Actor:
    if isinstance(principal, Actor):
        return principal
    user = principal.user
    return Actor(user=user.name, role=user.role.value, court=user.court)


def actor_on_court(principal: Principal, court: str | None) -> Principal | Actor:
    """Who acts, as recorded when an account without a court (admin) acts on one court's searches.

    The record then carries that court, so that the court's 审判管理 and 院长/庭长, who read their
    court's records, see who reported on or exported its searches; the role still says admin.
    """
    user = principal.user
    if user.court is not None or court is None:
        return principal
    return Actor(user=user.name, role=user.role.value, court=court)


def manifest_sha256(store: IndexStore) -> str:
    """SHA-256 of the build's manifest.json: pins every file of the index through its checksums."""
    return hashlib.sha256((store.build_dir / layout.MANIFEST).read_bytes()).hexdigest()


@dataclass
class Services:
    settings: Settings
    metrics: Metrics
    account_store: AccountStore | None  # None only while the shared database is not open (``accounts``)
    audit: AuditLog | None
    store: IndexStore | None
    manifest_sha256: str | None
    signing_key: Ed25519PrivateKey | None
    index_problem: str | None = None  # why the index was refused at start-up, without the operator's paths
    tampered: str | None = None  # why the audit log is no longer trusted (sticky until a restart)
    watcher: Watcher | None = None
    database: SharedDatabase | None = None  # LEIAN_DATABASE_URL: opened now, or retried until it answers
    _audit_open_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls, settings: Settings, metrics: Metrics) -> Services:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if settings.database_url is not None:
            key = _load_key(settings)
            store, checksum, problem = open_index(settings)
            services = cls(settings, metrics, None, None, store, checksum, key, problem)
            services.database = SharedDatabase(settings.database_url, services._open_shared)
            services.database.open()  # not ready, and retried in the background, while it does not answer
            return services
        accounts = AccountStore(settings.accounts_location)
        key = _load_key(settings)
        store, checksum, problem = open_index(settings)
        services = cls(settings, metrics, accounts, None, store, checksum, key, problem)
        try:
            services.audit = _open_audit(settings, key)
        except AuditTampered as exc:
            services.flag_tampered(str(exc))
        services._watch()
        return services

    def _watch(self) -> None:
        if self.audit is not None and self.settings.audit_watch_s > 0:
            self.watcher = self.new_watcher(self.audit)
            self.watcher.start(self.settings.audit_watch_s)

    def _open_shared(self, checked: bool) -> None:
        """The accounts and the log in the shared database (``SharedDatabase``'s opener).

        ``checked``: compare the accounts with the ones the log rebuilds, as ``leian serve`` does
        before starting a node whose database answers; a node that started without its database
        does it here, before it serves anything. The log is published last: a request that sees the
        accounts finds the log open.
        """
        import psycopg

        from api.service.accounts_audit import check_store

        assert self.settings.database_url is not None
        try:
            accounts = AccountStore(self.settings.database_url)
        except psycopg.Error as exc:
            raise DatabaseDown(str(exc)) from exc
        try:
            audit = _open_audit(self.settings, self.signing_key)
        except AuditTampered as exc:  # as with a database that answered at once: audited routes 503
            self.flag_tampered(str(exc))
            self.account_store = accounts
            return
        if audit is None:
            accounts.close()
            raise DatabaseDown("the audit log in it cannot be opened (see the service log)")
        if checked:
            try:
                check = check_store(accounts, audit)
            except (psycopg.Error, AuditUnavailable) as exc:
                accounts.close()
                audit.close()
                raise DatabaseDown(str(exc)) from exc
            if not check.ok:
                accounts.close()
                audit.close()
                raise DatabaseRefused(
                    f"its accounts differ from the ones its audit log rebuilds: {check.summary()} "
                    "(leian accounts check)"
                )
        if self.store is None and self.settings.backend == "cluster":
            # its documents and metadata are in this database too: the index could not open either
            self.store, self.manifest_sha256, self.index_problem = open_index(self.settings)
        self.audit = audit
        self.account_store = accounts
        self._watch()

    @property
    def accounts(self) -> AccountStore:
        """The users, tokens and ledger; 503 while the shared database is not open (nothing is served)."""
        if self.account_store is None:
            assert self.database is not None
            raise self.database.unavailable()
        return self.account_store

    def accounts_status(self) -> dict[str, Any]:
        """The accounts check of /readyz."""
        if self.account_store is None:
            return {"ok": False, "error": "the database is not open"}
        return {"ok": self.account_store.writable()}

    def close(self) -> None:
        if self.database is not None:
            self.database.stop()
        if self.watcher is not None:
            self.watcher.stop()
        if self.store is not None:
            self.store.close()
        if self.audit is not None:
            self.audit.close()
        if self.account_store is not None:
            self.account_store.close()

    # -- the index -----------------------------------------------------------------------------

    def index(self) -> IndexStore:
        if self.store is None:
            raise index_unavailable()
        return self.store

    def index_facts(self) -> dict[str, Any]:
        store = self.index()
        described = store.describe()
        return {
            "build_id": str(described["build_id"]),
            "documents": int(store.size),
            "manifest_sha256": self.manifest_sha256 or "",
            "embedder": dict(described["embedder"]),  # type: ignore[arg-type]
        }

    # -- the audit log -------------------------------------------------------------------------

    def audit_log(self) -> AuditLog:
        """The open log; reopened after a failure at start-up (a disk that came back), never once tampered."""
        if self.tampered is not None:
            raise audit_tampered(self.tampered)
        if self.database is not None and not self.database.ready:
            raise self.database.unavailable()  # opened by its thread, not by requests
        if self.audit is None:
            with self._audit_open_lock:
                if self.audit is None:
                    try:
                        self.audit = _open_audit(self.settings, self.signing_key)
                    except AuditTampered as exc:
                        self.flag_tampered(str(exc))
                        raise audit_tampered(self.tampered or "") from exc
        if self.audit is None:
            raise audit_unavailable()
        return self.audit

    def flag_tampered(self, problem: str) -> None:
        """Stop trusting the log: audited actions and signing refused, /readyz 503, gauge 0, logged."""
        if self.tampered is None:
            log.error(
                "AUDIT LOG TAMPERING DETECTED: %s. Audited actions are refused. Investigate with: "
                "leian audit check --data %s --witness %s (then compare judges' receipts with "
                "leian audit receipt-check)",
                problem,
                self.settings.data_dir,
                self.settings.witness_path,
            )
        self.tampered = self._without_paths(problem)
        self.metrics.audit_intact.set(0)

    def _without_paths(self, message: str) -> str:
        for path in (self.settings.witness_path, self.settings.audit_db, self.settings.data_dir):
            message = message.replace(str(path), path.name)
        return message

    def new_watcher(self, audit: AuditLog | None = None) -> Watcher:
        """``audit``: the log just opened, before requests may use it (``_open_shared``)."""
        watcher = Watcher(audit or self.audit_log(), on_problem=self.flag_tampered)
        self.metrics.audit_verified.set_function(lambda: watcher.state.verified)
        return watcher

    def verify_audit(self) -> None:
        """Re-hash the whole log now (before signing an export, a summary, a checkpoint); 503 if it fails."""
        watcher = self.watcher
        if watcher is None:
            watcher = self.watcher = self.new_watcher()
        watcher.tick(full_sweep=True)
        if self.tampered is not None:
            raise audit_tampered(self.tampered)

    def record(self, who: Principal | Actor, client: str | None, entry: TypedRecord) -> AppendResult:
        """Append one record durably before anything is answered; on failure the request is refused.

        The log is opened with the signing key and the witness: the append is refused unless the
        log extends the last signed head, and the result carries the record's signed receipt.
        """
        clock = time.perf_counter()
        kind = entry.kind.value
        try:
            result = self.audit_log().record(actor_of(who), client, entry)
        except AuditTampered as exc:
            self.metrics.audit_failures.labels(kind).inc()
            self.flag_tampered(str(exc))
            raise audit_tampered(self.tampered or "") from exc
        except AuditUnavailable as exc:
            self.metrics.audit_failures.labels(kind).inc()
            log.error("audit write failed (%s): %s", kind, exc)
            raise audit_unavailable() from exc
        except ApiError:
            self.metrics.audit_failures.labels(kind).inc()
            raise
        self.metrics.audit_write.labels(kind).observe(time.perf_counter() - clock)
        return result

    def audit_status(self) -> dict[str, Any]:
        """The audit check of /readyz: writable, extends its witness, and the watcher saw no edit."""
        if self.tampered is None and self.audit is not None:
            try:
                self.audit.check_witness()
            except AuditTampered as exc:
                self.flag_tampered(str(exc))
            except AuditUnavailable:
                pass  # reported by audit_writable below
        if self.tampered is not None:
            return {
                "ok": False,
                "error": "tampered: " + self.tampered,
                "investigate": "leian audit check (see the service log for the paths)",
            }
        status: dict[str, Any] = {"ok": self.audit_writable(), **self.audit_store()}
        if self.watcher is not None:
            status["verified_records"] = self.watcher.state.verified
        return status

    def audit_store(self) -> dict[str, str]:
        """Which storage holds the log: ``sqlite``, or ``postgresql`` and the database (no password)."""
        url = self.settings.database_url
        if url is None:
            return {"store": "sqlite"}
        from retrieval.audit.pg_storage import redacted

        return {"store": "postgresql", "database": redacted(url)}

    def audit_writable(self) -> bool:
        """Whether a record could be written now (for /readyz), reopening a log that failed before.

        SQLite: the lock is probed on a separate connection first (1 s, so a locked store answers
        quickly), then the writer's own connection, which alone sees a full or read-only store.
        PostgreSQL: the writer's connection commits the probe under the appenders' advisory lock.
        """
        try:
            audit = self.audit_log()
        except ApiError:
            return False
        if self.settings.database_url is not None:
            return self._probe(audit)
        path = self.settings.audit_db
        if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
            return False
        try:
            conn = sqlite3.connect(path, timeout=1.0, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
            finally:
                conn.close()
        except sqlite3.Error:
            return False
        return self._probe(audit)

    @staticmethod
    def _probe(audit: AuditLog) -> bool:
        try:
            audit.check_writable()
        except AuditUnavailable as exc:
            log.error("audit log not writable: %s", exc)
            return False
        return True

    # -- checkpoints ---------------------------------------------------------------------------

    def key(self) -> Ed25519PrivateKey:
        if self.signing_key is None:
            raise signing_unavailable()
        return self.signing_key

    def current_checkpoint(self, *, covering: int | None = None) -> SignedCheckpoint:
        """The latest checkpoint, signing a new one when there is none or the log grew since.

        ``covering``: a new one is also signed when the latest does not cover that many records.
        """
        audit = self.audit_log()
        try:
            latest = audit.latest_checkpoint()
            size, _ = audit.tree_head()
            if (
                latest is None
                or latest.checkpoint.tree_size < size
                or (covering is not None and latest.checkpoint.tree_size < covering)
            ):
                latest = audit.checkpoint(self.key())
        except AuditTampered as exc:
            self.flag_tampered(str(exc))
            raise audit_tampered(self.tampered or "") from exc
        except AuditUnavailable as exc:
            log.error("checkpoint failed: %s", exc)
            raise audit_unavailable() from exc
        return latest

    def sign_checkpoint(self) -> SignedCheckpoint:
        """Sign the head now, after checking every record (``AuditLog.checkpoint`` re-hashes them)."""
        try:
            return self.audit_log().checkpoint(self.key())
        except AuditTampered as exc:
            self.flag_tampered(str(exc))
            raise audit_tampered(self.tampered or "") from exc
        except AuditUnavailable as exc:
            log.error("checkpoint failed: %s", exc)
            raise audit_unavailable() from exc

    def checkpoint_file(self, signed: SignedCheckpoint) -> dict[str, Any]:
        """The checkpoint as ``leian audit verify`` reads it: public key and earlier checkpoints included."""
        size = signed.checkpoint.tree_size
        history = [
            c
            for c in self.audit_log().checkpoints()[:-1]
            if c.key_id == signed.key_id and c.checkpoint.tree_size <= size and c != signed
        ][-MAX_CHECKPOINT_HISTORY:]
        return json.loads(checkpoint_file_json(signed, self.key().public_key(), history))


def _open_audit(settings: Settings, key: Ed25519PrivateKey | None) -> AuditLog | None:
    """The log, signing each append with ``key`` and checked against the witness; AuditTampered raised.

    A data folder without a witness yet (a first start, an upgrade) adopts the log's current head:
    logged, since a witness deleted together with the log's tail looks the same.
    """
    try:
        audit = AuditLog(settings.audit_location, witness=settings.witness_path, signer=key)
    except AuditTampered:
        raise
    except AuditUnavailable as exc:
        url = settings.database_url
        log.error("audit log unavailable: %s", scrubbed(str(exc), url) if url else exc)
        return None
    if audit.witness_adopted and key is not None:
        try:
            signed = audit.sign_witness()
        except AuditTampered:
            audit.close()
            raise
        except AuditUnavailable as exc:
            log.error("the audit witness cannot be written: %s", exc)
            audit.close()
            return None
        level = logging.WARNING if signed.checkpoint.tree_size else logging.INFO
        log.log(
            level,
            "no audit witness at %s: adopted the log's head (%d records, root %s)",
            settings.witness_path,
            signed.checkpoint.tree_size,
            signed.checkpoint.root_hash,
        )
    return audit


def open_index(settings: Settings) -> tuple[IndexStore | None, str | None, str | None]:
    """(store, manifest sha256, problem): a build that fails its checks is refused, never served."""
    home = settings.index_home
    if home is None:
        log.error("LEIAN_INDEX is not set: searches answer 503 until the service is restarted with an index")
        return None, None, "LEIAN_INDEX is not set"
    cluster = (
        ClusterSettings(settings.milvus_uri, settings.database_url)
        if settings.backend == "cluster" and settings.milvus_uri
        else None
    )
    try:
        store = IndexStore.open(
            home,
            verify_checksums=settings.verify_index_checksums,
            cause_model_folder=settings.cause_model,
            metadata=metadata_opener(cluster) if cluster else None,  # PostgreSQL's, with a database
        )
    except (OSError, ValueError, RuntimeError) as exc:
        log.error("index %s refused: %s", home, exc)
        return None, None, _without_paths(str(exc), home)
    if cluster is not None:
        try:
            store = with_cluster_channels(store, cluster)
        except ClusterBackendError as exc:
            log.error("index %s refused on the cluster backend: %s", home, exc)
            store.close()
            return None, None, _without_paths(str(exc), home)
    log.info("index %s loaded: %d documents (%s backend)", store.version, store.size, settings.backend)
    return store, manifest_sha256(store), None


def _without_paths(message: str, home: Path) -> str:
    """The reason as /readyz may show it: paths relative to the index home, which stays unnamed."""
    for prefix in (str(home.resolve()), str(home)):
        message = message.replace(prefix + "/", "").replace(prefix, "LEIAN_INDEX")
    return message


def _load_key(settings: Settings) -> Ed25519PrivateKey | None:
    path = settings.signing_key_path
    try:
        if not path.exists() and settings.create_signing_key:
            try:
                key = generate_key(path)
            except SigningKeyExists:  # another worker of this service made it a moment ago
                return load_private_key(path)
            path.with_name(path.name + ".pub").write_text(public_key_pem(key), encoding="ascii")
            log.warning("generated a new audit signing key at %s (publish its .pub fingerprint)", path)
            return key
        return load_private_key(path)
    except (SigningKeyError, OSError) as exc:
        log.error("audit signing key unavailable: %s", exc)
        return None
