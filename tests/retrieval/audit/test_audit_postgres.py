"""The audit log on PostgreSQL: what only a shared database needs (the rest is parametrised over both
storages in test_audit.py and test_audit_receipts.py).

Append-only by triggers for everybody and by privileges for the application role; one chain from
several OS processes (as from API nodes on several machines) serialised by the advisory lock; a
superuser's edit caught by the tree; a held lock failing closed. Each test has its own database.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import errors, sql

from api.cli.audit import main as audit_main
from api.service.config import Settings, SettingsError
from retrieval.audit import verify
from retrieval.audit.pg_storage import LOCK_KEY, LOG_TABLES, redacted, setup_database
from retrieval.audit.receipts import Receipt, check_receipt
from retrieval.audit.signing import generate_key, load_private_key, public_key_pem
from retrieval.audit.store import AuditLog, AuditTampered, AuditUnavailable
from tests.audit_stores import admin_execute, database_url

ACTOR = {"user": "judge-1", "role": "承办法官", "court": "浙江省杭州市西湖区人民法院"}


@pytest.fixture
def db(pg_database: str) -> str:
    return pg_database


@contextlib.contextmanager
def app_role(url: str) -> Iterator[str]:
    """A login role that setup_database grants append and read only; the database's URL as that role."""
    role = f"leian_app_{uuid.uuid4().hex[:10]}"
    name = url.rsplit("/", 1)[1]
    try:
        assert audit_main(["setup-db", url, "--app-role", role]) == 0  # as the administrator runs it
        yield database_url(name, user=role)
    finally:
        admin_execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)), url)
        admin_execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _fill(url: str, n: int = 4) -> None:
    with AuditLog(url) as log:
        for i in range(n):
            log.append("search", ACTOR, "api", {"query": f"q{i}"})


CHANGES = {
    "UPDATE": "UPDATE {} SET {} = {}",
    "DELETE": "DELETE FROM {}",
    "TRUNCATE": "TRUNCATE {}",
}
COLUMN = {"audit_records": "data", "audit_checkpoints": "at", "audit_meta": "value"}


def _change(conn: psycopg.Connection, op: str, table: str) -> None:
    column = sql.Identifier(COLUMN[table])
    statement = sql.SQL(CHANGES[op]).format(sql.Identifier(table), column, column)
    conn.execute(statement)


@pytest.mark.parametrize("op", list(CHANGES))
def test_the_log_tables_refuse_changes_even_to_their_owner(db: str, op: str) -> None:
    _fill(db)
    with AuditLog(db) as log:
        log.checkpoint(_key())
    with psycopg.connect(db, autocommit=True) as owner:
        for table in LOG_TABLES:
            with pytest.raises(errors.InsufficientPrivilege, match="append-only"):
                _change(owner, op, table)
        with pytest.raises(errors.RaiseException, match="seq must follow"):
            owner.execute("INSERT INTO audit_records VALUES (9, %s, %s)", (bytes(32), b"{}"))
    with AuditLog(db) as log:
        assert log.verify() == 4


def _key():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


def test_the_app_role_may_append_and_read_but_never_change_the_log(db: str, tmp_path: Path) -> None:
    key = _key()
    with app_role(db) as app_url:
        with AuditLog(app_url, witness=tmp_path / "witness.json", signer=key) as log:
            results = [log.append("search", ACTOR, "api", {"query": f"q{i}"}) for i in range(3)]
            log.checkpoint(key)
            log.check_writable()
            assert log.verify() == 3 and results[-1].receipt is not None
        with psycopg.connect(app_url, autocommit=True) as app:
            for table in LOG_TABLES:
                for op in CHANGES:
                    with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
                        _change(app, op, table)
            # nor can it take the triggers out of the way: only the owner may alter the table
            with pytest.raises(errors.InsufficientPrivilege, match="must be owner"):
                app.execute("ALTER TABLE audit_records DISABLE TRIGGER USER")
            with pytest.raises(errors.InsufficientPrivilege, match="must be owner"):
                app.execute("DROP TABLE audit_records")
        # a node never appends to a log whose triggers were disabled (it cannot put them back)
        admin_execute("ALTER TABLE audit_records DISABLE TRIGGER audit_records_append_only", db)
        with pytest.raises(AuditUnavailable, match="cannot open"):
            AuditLog(app_url)


def _append_from_process(
    url: str, key_path: str, witness: str, tag: str, n: int, start_at: float
) -> list[dict]:
    """One API node: its own process, connection and witness file; the same key and database."""
    key = load_private_key(Path(key_path))
    with AuditLog(url, witness=Path(witness), signer=key) as log:
        time.sleep(max(0.0, start_at - time.time()))  # both start appending at the same moment
        receipts = []
        for i in range(n):
            result = log.append("search", {**ACTOR, "user": tag}, "api", {"query": f"{tag}{i}"})
            assert result.receipt is not None
            receipts.append(result.receipt.to_dict())
        return receipts


@pytest.mark.slow  # two spawned interpreters importing the service: seconds
def test_two_processes_append_one_chain_and_every_receipt_verifies(db: str, tmp_path: Path) -> None:
    key_path = tmp_path / "key.pem"
    key = generate_key(key_path)
    AuditLog(db).close()  # the schema made once, before the nodes start
    n = 60
    start_at = time.time() + 3.0
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        jobs = [
            pool.apply_async(
                _append_from_process,
                (db, str(key_path), str(tmp_path / f"witness-{tag}.json"), tag, n, start_at),
            )
            for tag in ("node-a", "node-b")
        ]
        receipts = [Receipt.from_dict(r) for job in jobs for r in job.get(timeout=120)]
    seqs = sorted(r.seq for r in receipts)
    assert seqs == list(range(2 * n))  # no gap, and no seq handed out twice (a fork)
    with AuditLog(db) as log:
        assert log.verify() == 2 * n
        users = [r.actor.user for r in log.iter_records()]
        # the appends interleaved: each node's run of records is broken by the other's
        assert users.index("node-b") < n and users.index("node-a") < n
        for receipt in receipts:
            check = check_receipt(receipt, log, key.public_key())
            assert check.ok, check.problems
        log.export_bundle(tmp_path / "export.jsonl", tmp_path / "checkpoint.json", key)
    (tmp_path / "key.pub").write_text(public_key_pem(key), encoding="ascii")
    report = verify.verify_export(
        tmp_path / "export.jsonl", tmp_path / "checkpoint.json", tmp_path / "key.pub"
    )
    assert report.ok and report.records == 2 * n, report.summary()


def test_a_superuser_rewrite_is_caught_by_verify_and_check(db: str, tmp_path: Path) -> None:
    from retrieval.audit import merkle

    key = generate_key(tmp_path / "key.pem")
    witness = tmp_path / "witness.json"
    with AuditLog(db, witness=witness, signer=key) as log:
        for i in range(10):
            log.append("search", ACTOR, "api", {"query": f"q{i}"})
        log.checkpoint(key)
        with psycopg.connect(db, autocommit=True) as superuser:
            superuser.execute("ALTER TABLE audit_records DISABLE TRIGGER USER")
            (data,) = superuser.execute("SELECT data FROM audit_records WHERE seq = 4").fetchone()
            record = json.loads(data)
            record["payload"]["query"] = "改写后的检索词"
            new = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
            superuser.execute(
                "UPDATE audit_records SET data = %s, leaf_hash = %s WHERE seq = 4",
                (new, merkle.leaf_hash(new)),
            )
        with pytest.raises(AuditTampered, match="rewritten"):
            log.verify()
        with pytest.raises(AuditTampered):
            log.checkpoint(key)
    argv = ["check", "--db", db, "--key", str(tmp_path / "key.pem"), "--witness", str(witness)]
    assert audit_main(argv) == 1


def test_a_held_lock_fails_closed_then_recovers(db: str) -> None:
    _fill(db, 2)
    with AuditLog(db, busy_timeout_s=0.3) as log, psycopg.connect(db) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))  # a stuck appender
        with pytest.raises(AuditUnavailable, match="not written"):
            log.append("search", ACTOR, "api", {"query": "blocked"})
        with pytest.raises(AuditUnavailable, match="cannot be written"):
            log.check_writable()
        other.rollback()
        assert log.append("search", ACTOR, "api", {"query": "after"}).seq == 2


def test_a_dropped_connection_is_replaced_before_the_next_append(db: str) -> None:
    """The server dropped a node's connections (a restart, a failover): the append reconnects at BEGIN."""
    with AuditLog(db) as log:
        log.append("search", ACTOR, "api", {"query": "before"})
        admin_execute(
            sql.SQL(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {} AND pid <> pg_backend_pid()"
            ).format(sql.Literal(db.rsplit("/", 1)[1])),
            db,
        )
        assert log.append("search", ACTOR, "api", {"query": "after"}).seq == 1
        assert [r.payload["query"] for r in log.iter_records()] == ["before", "after"]
        assert log.verify() == 2


def test_setup_db_refuses_what_is_not_a_database(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert audit_main(["setup-db", "/srv/leian/audit.sqlite"]) == 2
    assert audit_main(["setup-db", database_url("leian_no_such_database")]) == 1
    assert "leian_no_such_database" in capsys.readouterr().err
    assert setup_database(db) == []  # tables and triggers only: no role named, none touched
    with AuditLog(db) as log:
        assert log.verify() == 0


def test_the_database_url_setting(db: str, tmp_path: Path) -> None:
    assert Settings.from_env({"LEIAN_DATABASE_URL": db}).audit_location == db
    plain = Settings.from_env({"LEIAN_DATA": str(tmp_path)})
    assert plain.database_url is None and plain.audit_location == tmp_path / "audit.sqlite"
    with pytest.raises(SettingsError, match="LEIAN_DATABASE_URL"):
        Settings.from_env({"LEIAN_DATABASE_URL": "mysql://x/y"})
    assert redacted("postgresql://app:secret@db.court:5432/leian") == "postgresql://app@db.court:5432/leian"
