"""The service's settings, read from the environment in this one place.

``LEIAN_INDEX`` is the published index home, ``LEIAN_DATA`` the folder of the accounts database and
the audit log (``LEIAN_DATA_DIR`` is accepted as an alias), ``LEIAN_SIGNING_KEY`` the Ed25519 key
that signs audit checkpoints, ``LEIAN_DATABASE_URL`` (``postgresql://…``) a PostgreSQL database that
holds the audit log, the accounts and the search ledger instead of ``audit.sqlite`` and
``accounts.sqlite``, so that API nodes on several machines write one chain and share one set of
users, tokens and searches (``retrieval.audit.pg_storage``, ``api.service.pg_file``). The key defaults to a file beside the databases, never inside one:
whoever can rewrite the audit database must still not be able to sign a rewritten history, so in
production point it at a path the service account can read and the database's owner cannot.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from retrieval.audit.storage import is_database_url
from retrieval.audit.witness import default_witness_path

ACCOUNTS_DB = "accounts.sqlite"
AUDIT_DB = "audit.sqlite"
PUSH_DB = "push.sqlite"
SIGNING_KEY = "audit-signing-key.pem"
REPORT_BATCHES = "report-batches"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: {raw!r} is not an integer") from exc
    if value < minimum:
        raise SettingsError(f"{name}: must be at least {minimum}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    if raw.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if raw.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}: {raw!r} is not a boolean (true/false)")


@dataclass(frozen=True)
class RateLimit:
    """Requests one token may make: ``per_minute`` sustained, ``burst`` at once (a token bucket)."""

    per_minute: int
    burst: int

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


DEFAULT_RATE_LIMIT = RateLimit(per_minute=120, burst=60)
"""A judge clicking through results stays far below it; a script looping on the API hits it in seconds."""

_RATE_LIMIT = re.compile(r"(\d+)\s*(?:/\s*min)?\s*(?:,\s*burst\s*=\s*(\d+))?", re.IGNORECASE)


def _rate_limit(env: Mapping[str, str], name: str) -> RateLimit | None:
    """``120/min,burst=60`` (burst defaults to half a minute's worth), or ``off``."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return DEFAULT_RATE_LIMIT
    if raw.lower() in ("off", "0", "none", "false"):
        return None
    match = _RATE_LIMIT.fullmatch(raw)
    if match is None or int(match[1]) < 1 or (match[2] is not None and int(match[2]) < 1):
        raise SettingsError(f"{name}: {raw!r} is not N/min[,burst=M] (N, M at least 1) or off")
    per_minute = int(match[1])
    return RateLimit(per_minute, int(match[2]) if match[2] else max(1, per_minute // 2))


def _backend(env: Mapping[str, str]) -> str:
    backend = (env.get("LEIAN_BACKEND") or "embedded").strip().lower()
    if backend not in ("embedded", "cluster"):
        raise SettingsError(f"LEIAN_BACKEND: {backend!r} is not embedded or cluster")
    if backend == "cluster" and not env.get("LEIAN_MILVUS_URI"):
        raise SettingsError(
            "LEIAN_BACKEND=cluster needs LEIAN_MILVUS_URI (a Milvus Lite file or http://host:19530)"
        )
    return backend


def _database_url(env: Mapping[str, str]) -> str | None:
    raw = (env.get("LEIAN_DATABASE_URL") or "").strip()
    if not raw:
        return None
    if not is_database_url(raw):
        raise SettingsError("LEIAN_DATABASE_URL: must start with postgresql:// (or postgres://)")
    return raw


@dataclass(frozen=True)
class Settings:
    index_home: Path | None  # None: the service starts but /readyz says not ready and searches 503
    data_dir: Path
    signing_key: Path | None = None  # None: <data_dir>/audit-signing-key.pem
    create_signing_key: bool = True  # generate the key at start-up when the file does not exist
    max_body_bytes: int = 1_000_000
    max_k: int = 50
    max_facts_chars: int = 50_000
    token_days: int = 90  # default lifetime of an issued token
    verify_index_checksums: bool = True  # sha256 of every index file at start-up (refuse a corrupt build)
    metrics_public: bool = False  # /metrics without a token (a scraper on a private network)
    cors_origins: tuple[str, ...] = field(default_factory=tuple)  # empty: no CORS, same origin only
    rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT  # per token and per process; None: unlimited
    # where the recall channels live: "embedded" (the build's FAISS and bm25s files) or "cluster"
    # (Milvus at milvus_uri, loaded by ``leian cluster export``; api.service.cluster)
    backend: str = "embedded"
    milvus_uri: str | None = None
    witness: Path | None = None  # None: <data_dir's parent>/<data_dir name>.audit-witness.json
    audit_watch_s: int = 30  # seconds between the audit watcher's ticks; 0: no background watcher
    cause_model: Path | None = None  # LEIAN_CAUSE_MODEL: a 罪名/案由 classifier folder instead of the build's
    # LEIAN_DATABASE_URL: the audit log in PostgreSQL (shared by every node); None: <data_dir>/audit.sqlite
    database_url: str | None = None
    # LEIAN_BATCH_DIR: the report batches submitted over HTTP; None: <data_dir>/report-batches. Nodes
    # behind one balancer point it at one shared volume, so that any node answers for any batch.
    batch_dir: Path | None = None

    @property
    def batches_path(self) -> Path:
        """Where ``BatchService`` keeps its batches (one folder each, locked by the process running it)."""
        return self.batch_dir if self.batch_dir is not None else self.data_dir / REPORT_BATCHES

    @property
    def accounts_db(self) -> Path:
        return self.data_dir / ACCOUNTS_DB

    @property
    def audit_db(self) -> Path:
        return self.data_dir / AUDIT_DB

    @property
    def accounts_location(self) -> str | Path:
        """What ``AccountStore`` opens: the accounts and the ledger beside the audit log in PostgreSQL
        when configured (every node sees every user, token and search), else ``accounts.sqlite``."""
        return self.database_url if self.database_url is not None else self.accounts_db

    @property
    def push_location(self) -> str | Path:
        """What ``PushStore`` opens: the PostgreSQL database when configured (a pending case
        registered on one node is matched, pushed and delivered by any), else ``push.sqlite``."""
        return self.database_url if self.database_url is not None else self.data_dir / PUSH_DB

    @property
    def audit_location(self) -> str | Path:
        """What ``AuditLog`` opens: the PostgreSQL database when configured, else the SQLite file."""
        return self.database_url if self.database_url is not None else self.audit_db

    @property
    def signing_key_path(self) -> Path:
        return self.signing_key if self.signing_key is not None else self.data_dir / SIGNING_KEY

    @property
    def witness_path(self) -> Path:
        """The last signed tree head, outside the data folder (``retrieval.audit.witness``)."""
        return self.witness if self.witness is not None else default_witness_path(self.data_dir)

    def with_overrides(self, **changes: object) -> Settings:
        """Command-line options win over the environment (``leian serve --index …``)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        index = env.get("LEIAN_INDEX")
        data = env.get("LEIAN_DATA") or env.get("LEIAN_DATA_DIR") or "leian-data"
        key = env.get("LEIAN_SIGNING_KEY")
        origins = tuple(o.strip() for o in (env.get("LEIAN_CORS_ORIGINS") or "").split(",") if o.strip())
        return cls(
            index_home=Path(index) if index else None,
            data_dir=Path(data),
            signing_key=Path(key) if key else None,
            create_signing_key=_bool(env, "LEIAN_CREATE_SIGNING_KEY", True),
            max_body_bytes=_int(env, "LEIAN_MAX_BODY_BYTES", cls.max_body_bytes),
            max_k=_int(env, "LEIAN_MAX_K", cls.max_k),
            max_facts_chars=_int(env, "LEIAN_MAX_FACTS_CHARS", cls.max_facts_chars),
            token_days=_int(env, "LEIAN_TOKEN_DAYS", cls.token_days),
            verify_index_checksums=_bool(env, "LEIAN_VERIFY_INDEX_CHECKSUMS", True),
            metrics_public=_bool(env, "LEIAN_METRICS_PUBLIC", False),
            cors_origins=origins,
            rate_limit=_rate_limit(env, "LEIAN_RATE_LIMIT"),
            backend=_backend(env),
            milvus_uri=env.get("LEIAN_MILVUS_URI") or None,
            witness=Path(env["LEIAN_WITNESS_PATH"]) if env.get("LEIAN_WITNESS_PATH") else None,
            audit_watch_s=_int(env, "LEIAN_AUDIT_WATCH_S", cls.audit_watch_s, minimum=0),
            cause_model=Path(env["LEIAN_CAUSE_MODEL"]) if env.get("LEIAN_CAUSE_MODEL") else None,
            database_url=_database_url(env),
            batch_dir=Path(env["LEIAN_BATCH_DIR"]) if env.get("LEIAN_BATCH_DIR") else None,
        )
