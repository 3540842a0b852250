"""``leian backup`` / ``leian restore`` of the service's PostgreSQL database (LEIAN_DATABASE_URL):
a pg_dump under the signed manifest, restored into a new database only after the audit chain and
the accounts verify there; a tampered dump, a rewritten log re-signed with the service's own key, a
manifest signed by another key or an existing target leave no database behind (api.service.pg_backup).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from api.cli.main import main as leian
from api.service.accounts import AccountStore
from api.service.accounts_audit import check_store
from api.service.backup import MANIFEST, MANIFEST_PURPOSE, PG_DUMP, PUBLIC_KEY
from api.service.pg_backup import RESTORE_OPTIONS
from api.service.push.store import PushStore
from retrieval import index_layout as layout
from retrieval.audit.signed_document import sign_document
from retrieval.audit.signing import generate_key, load_private_key, public_key_pem
from retrieval.audit.store import AuditLog
from tests.api_env import THEFT_FACTS, create_accounts, serve, settings_for
from tests.audit_stores import PostgresBackdoor, admin_execute, database_url, temp_database

# pg_dump and pg_restore run as processes, a scratch database per backup: the whole suite, not the fast loop
pytestmark = pytest.mark.slow


@contextlib.contextmanager
def _unused_database() -> Iterator[str]:
    """The URL of a database that does not exist yet (dropped after, should it be made)."""
    from psycopg import sql

    name = f"leian_test_restored_{uuid.uuid4().hex[:12]}"
    try:
        yield database_url(name)
    finally:
        admin_execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _exists(url: str) -> bool:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


@pytest.fixture
def backed_up(
    sample_index: Path, tmp_path: Path, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Two searches through a node on ``pg_database``, then ``leian backup`` of that database."""
    tokens = create_accounts(settings_for(sample_index, tmp_path / "setup", database_url=pg_database))
    with serve(sample_index, tmp_path / "node", tokens=tokens, database_url=pg_database) as env:
        searches = [env.search("judge_a").json()["search_id"] for _ in range(2)]
        case = {"case_number": "（2025）浙0106刑初88号", "facts": THEFT_FACTS, "causes": ["盗窃罪"]}
        created = env.client.post("/api/v1/pending-cases", json=case, headers=env.h("judge_a"))
        assert created.status_code == 201, created.text
        searches.append(created.json()["search"]["search_id"])  # its registration's search
        key = env.key_path
        data = env.settings.data_dir
    # another part of the service's state in the same database (a build's documents, say)
    admin_execute(
        "CREATE SCHEMA leian_build_x; CREATE TABLE leian_build_x.docs AS SELECT 7 AS id; "
        "CREATE SCHEMA court_extra; CREATE TABLE court_extra.t AS SELECT 8 AS id",
        pg_database,
    )
    public = tmp_path / "court.pub"
    public.write_text(public_key_pem(load_private_key(key)), encoding="ascii")
    monkeypatch.setenv("LEIAN_DATABASE_URL", pg_database)
    monkeypatch.setenv("LEIAN_DATA", str(data))
    out = tmp_path / "backup"
    code = leian(["backup", "--out", str(out), "--signing-key", str(key), "--index", str(sample_index)])
    assert code == 0
    return {
        "out": out,
        "key": key,
        "public": public,
        "searches": searches,
        "tokens": tokens,
        "url": pg_database,
    }


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().err


def _restore(b: dict[str, Any], url: str, *extra: str) -> int:
    return leian(["restore", str(b["out"]), "--database-url", url, "--public-key", str(b["public"]), *extra])


def test_backup_and_restore_of_the_database(
    backed_up: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    b = backed_up
    manifest = json.loads((b["out"] / MANIFEST).read_text("utf-8"))
    assert manifest["store"] == "postgresql" and set(manifest["files"]) == {PG_DUMP, PUBLIC_KEY}
    assert manifest["index"]["build_id"] and "milvus_collection" not in manifest["index"]  # embedded backend
    with AuditLog(b["url"]) as live:
        # the live log holds the backup's own record; the copy was checkpointed, the live one was not
        assert [r.kind for r in live.iter_kinds(("backup",))] == ["backup"]
        assert manifest["audit"]["tree_size"] == live.stored_size()
    with _unused_database() as target:
        assert _restore(b, target) == 0
        printed = capsys.readouterr().out
        assert "leian cluster export" in printed and "setup-db" in printed
        with AuditLog(target) as restored, contextlib.closing(AccountStore(target)) as accounts:
            assert restored.verify() == manifest["audit"]["tree_size"]
            assert [r.seq for r in restored.iter_kinds(("search",))] == b["searches"]
            assert check_store(accounts, restored).ok
            assert accounts.authenticate(b["tokens"].valid["judge_a"]) is not None
            assert all(accounts.ledger.search(s) is not None for s in b["searches"])
        restored_push = PushStore(target)  # the pending case and its inbox came along
        try:
            [case] = restored_push.cases()
            assert case.case_number == "（2025）浙0106刑初88号" and case.search_id == b["searches"][-1]
            assert [i["kind"] for i in restored_push.items([case.id])] == ["results"]
        finally:
            restored_push.close()
        with psycopg.connect(target) as conn:  # the whole database came along, less the build's schema
            assert conn.execute("SELECT id FROM court_extra.t").fetchall() == [(8,)]
            assert conn.execute(
                "SELECT count(*) FROM pg_namespace WHERE nspname = 'leian_build_x'"
            ).fetchone() == (0,)
    assert manifest["excluded_schemas"] == ["leian_build_*"]


def test_schemas_derived_from_a_build_come_along_when_asked_and_others_may_be_left_out(
    backed_up: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = backed_up
    out = tmp_path / "whole"
    argv = ["backup", "--out", str(out), "--signing-key", str(b["key"]), "--with-build-schemas"]
    argv += ["--exclude-schema", "court_*"]
    assert leian(argv) == 0
    manifest = json.loads((out / MANIFEST).read_text("utf-8"))
    assert manifest["excluded_schemas"] == ["court_*"]
    with _unused_database() as target:
        assert leian(["restore", str(out), "--database-url", target, "--public-key", str(b["public"])]) == 0
        with psycopg.connect(target) as conn:
            assert conn.execute("SELECT id FROM leian_build_x.docs").fetchall() == [(7,)]
            assert conn.execute(
                "SELECT count(*) FROM pg_namespace WHERE nspname = 'court_extra'"
            ).fetchone() == (0,)
        with AuditLog(target) as restored:
            assert restored.verify() == manifest["audit"]["tree_size"]
    capsys.readouterr()
    folder = ["backup", "--out", str(tmp_path / "f"), "--data", str(tmp_path / "d"), "--exclude-schema", "x"]
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("LEIAN_DATABASE_URL")
        assert leian(folder) == 2
    assert "--exclude-schema: only for" in capsys.readouterr().err


def test_a_restore_never_writes_over_an_existing_database(
    backed_up: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    b = backed_up
    with AuditLog(b["url"]) as live:
        before = live.stored_size()
    assert _restore(b, b["url"]) == 2  # the live database itself
    assert "exists: restore into a new database" in _error(capsys)
    with AuditLog(b["url"]) as live:
        assert live.stored_size() == before


def test_a_dump_with_one_byte_changed_is_refused_and_nothing_is_left(
    backed_up: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    b = backed_up
    dump = b["out"] / PG_DUMP
    raw = bytearray(dump.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    dump.write_bytes(bytes(raw))
    with _unused_database() as target:
        assert _restore(b, target) == 1
        assert "database.dump does not match the manifest's size and sha256" in _error(capsys)
        assert not _exists(target)


def test_a_rewritten_log_resigned_with_the_service_key_is_refused_and_nothing_is_left(
    backed_up: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """Whoever holds the key can sign any manifest; the log's own checkpoints still give it away."""
    b = backed_up
    with temp_database() as scratch:
        subprocess.run(
            ["pg_restore", *RESTORE_OPTIONS, f"--dbname={scratch}", str(b["out"] / PG_DUMP)], check=True
        )
        with psycopg.connect(scratch, autocommit=True) as conn:
            backdoor = PostgresBackdoor(conn)
            seq = b["searches"][0]
            original = backdoor.data(seq)
            assert "盗窃".encode() in original
            backdoor.update(seq, data=original.replace("盗窃".encode(), "抢劫".encode()))
        subprocess.run(
            ["pg_dump", "--format=custom", f"--file={b['out'] / PG_DUMP}", f"--dbname={scratch}"], check=True
        )
    manifest = json.loads((b["out"] / MANIFEST).read_text("utf-8"))
    manifest.pop("signature")
    manifest["files"] = layout.file_checksums(b["out"])
    manifest["files"].pop(MANIFEST)
    signed = sign_document(manifest, load_private_key(b["key"]), MANIFEST_PURPOSE)
    (b["out"] / MANIFEST).write_text(json.dumps(signed, ensure_ascii=False), encoding="utf-8")
    with _unused_database() as target:
        assert _restore(b, target) == 1
        error = _error(capsys)
        assert "the audit log does not verify" in error and f"record {seq}" in error, error
        assert not _exists(target)


def test_a_backup_signed_by_another_key_is_refused(
    backed_up: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = backed_up
    other = tmp_path / "other.pem"
    (tmp_path / "other.pub").write_text(public_key_pem(generate_key(other)), encoding="ascii")
    with _unused_database() as target:
        code = leian(
            ["restore", str(b["out"]), "--database-url", target, "--public-key", str(tmp_path / "other.pub")]
        )
        assert code == 1
        assert "is not signed by the audit key" in _error(capsys)
        assert not _exists(target)


def test_a_database_backup_is_not_restored_into_a_data_folder(
    backed_up: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = backed_up
    folder = tmp_path / "folder"
    assert leian(["restore", str(b["out"]), "--data", str(folder), "--public-key", str(b["public"])]) == 2
    assert "restore it with --database-url" in _error(capsys)
    assert not folder.exists()


def test_a_cluster_backup_names_the_milvus_collection_of_the_served_build(
    sample_index: Path, tmp_path: Path
) -> None:
    from api.service.backup import index_reference
    from api.service.config import Settings
    from index_build.milvus_export import collection_name

    settings = Settings(
        index_home=sample_index, data_dir=tmp_path, backend="cluster", milvus_uri="http://m:19530"
    )
    index = index_reference(settings)
    assert index is not None and index["milvus_collection"] == collection_name(index["build_id"])
    assert "milvus_collection" not in (
        index_reference(Settings(index_home=sample_index, data_dir=tmp_path)) or {}
    )


def test_a_database_whose_accounts_differ_from_its_log_is_not_backed_up(
    backed_up: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = backed_up
    admin_execute("UPDATE users SET role = 'admin', court = NULL WHERE name = 'judge_a'", b["url"])
    out = tmp_path / "refused"
    capsys.readouterr()
    assert leian(["backup", "--out", str(out), "--signing-key", str(b["key"])]) == 1
    assert "do not match its audit log" in capsys.readouterr().err
    assert not out.exists() and not out.with_name(out.name + ".partial").exists()
    scratch = b["url"].rsplit("/", 1)[1][:40] + "_backup_%"
    with psycopg.connect(database_url("postgres")) as conn:  # the scratch copy was dropped
        assert conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE %s", (scratch,)
        ).fetchone() == (0,)
