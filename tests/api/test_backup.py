"""``leian backup`` while searches are being written, ``leian restore`` into a fresh folder, a service on it.

And a restore refuses a tampered backup, whatever was tampered: a file's bytes, a record rewritten
with the manifest fixed up, a record rewritten and re-signed with the service's own key (the earlier
checkpoints give it away), a log re-signed with another key (the court's published key gives it
away). A refused restore writes nothing.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.cli.main import main as leian
from api.http.app import create_app
from api.service import backup as backup_module
from api.service.backup import MANIFEST, MANIFEST_PURPOSE, PUBLIC_KEY, copy_database
from api.service.config import Settings
from retrieval import index_layout as layout
from retrieval.audit.signed_document import sign_document
from retrieval.audit.signing import Checkpoint, generate_key, key_id, load_private_key, sign_checkpoint
from retrieval.audit.store import AuditLog
from retrieval.audit.verify import verify_export
from tests.load_env import load

pytestmark = pytest.mark.slow  # a backup of a live uvicorn server under load


def _records(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])


def _slow_copy(source: Path, target: Path) -> None:
    """The real copy, then a pause: searches are written between one database's snapshot and the next."""
    copy_database(source, target)
    time.sleep(0.5)


@pytest.fixture(scope="module")
def backed_up(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A backup taken from a live server while 4 clients search and mark (and while they still can)."""
    root = tmp_path_factory.mktemp("backup")
    deployment = load.provision(sample_index, root, 4)
    audit_db = deployment.data_dir / "audit.sqlite"
    with load.Server(deployment, root / "server.log") as server:
        run = load.LoadRun(server.url, deployment.clients, seconds=120.0)
        thread = threading.Thread(target=run.run)
        thread.start()
        try:
            while len(run.answered(load.SEARCH_OPS)) < 10 and thread.is_alive():
                time.sleep(0.05)
            before = _records(audit_db)
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(backup_module, "copy_database", _slow_copy)
                code = leian(
                    [
                        "backup",
                        "--out",
                        str(root / "backup"),
                        "--data",
                        str(deployment.data_dir),
                        "--signing-key",
                        str(deployment.signing_key),
                        "--index",
                        str(sample_index),
                    ]
                )
            after = _records(audit_db)
            time.sleep(0.5)  # and a little more load after the backup
        finally:
            run.stop.set()
            thread.join(timeout=150)
        assert load.request_problems(run.outcomes) == []
    yield {
        "root": root,
        "deployment": deployment,
        "backup": root / "backup",
        "code": code,
        "before": before,
        "after": after,
        "outcomes": run.outcomes,
    }


def test_the_backup_is_a_consistent_signed_snapshot_taken_while_searches_were_written(
    backed_up: dict[str, Any],
) -> None:
    assert backed_up["code"] == 0
    folder: Path = backed_up["backup"]
    manifest = json.loads((folder / MANIFEST).read_text("utf-8"))
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["accounts.sqlite", "audit.sqlite", MANIFEST, PUBLIC_KEY]
    )
    assert manifest["signature"]["key_id"] == manifest["audit"]["key_id"]  # signed with the audit key
    assert not folder.with_name("backup.partial").exists()
    size = manifest["audit"]["tree_size"]
    assert backed_up["before"] < size <= backed_up["after"]  # its own record, and the searches meanwhile
    assert backed_up["after"] > backed_up["before"] + 1, "no search was written during the backup"
    listed = {k: v for k, v in layout.file_checksums(folder).items() if k != MANIFEST}
    assert manifest["files"] == listed  # nothing but what it lists, as listed
    assert manifest["index"]["build_id"] == layout.resolve_current(backed_up["deployment"].index_home).name
    assert manifest["audit"]["key_id"] == key_id(load_private_key(backed_up["deployment"].signing_key))
    with contextlib.closing(sqlite3.connect(f"file:{folder / 'audit.sqlite'}?mode=ro", uri=True)) as conn:
        (covered,) = conn.execute("SELECT tree_size FROM checkpoints ORDER BY rowid DESC LIMIT 1").fetchone()
        (journal,) = conn.execute("PRAGMA journal_mode").fetchone()
    assert covered == size  # every record of the backup is under a signature
    assert journal == "delete"  # one self-contained file, no -wal to lose


def test_restore_verifies_and_a_service_runs_on_the_restored_data(
    backed_up: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = backed_up["deployment"]
    target = tmp_path / "restored"
    code = leian(
        [
            "restore",
            str(backed_up["backup"]),
            "--data",
            str(target),
            "--public-key",
            str(deployment.public_key),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    size = json.loads((backed_up["backup"] / MANIFEST).read_text("utf-8"))["audit"]["tree_size"]
    assert f"audit log verified: {size} records" in out
    assert sorted(p.name for p in target.iterdir()) == sorted(["accounts.sqlite", "audit.sqlite", PUBLIC_KEY])

    # every answer the clients got for a record inside the backup is there, with its leaf hash
    with AuditLog(target / "audit.sqlite") as log:
        for o in backed_up["outcomes"]:
            if o.receipt and o.receipt[0] < size:
                assert log.read(o.receipt[0])[1] == o.receipt[1]

    settings = Settings(
        index_home=deployment.index_home,
        data_dir=target,
        signing_key=deployment.signing_key,  # the key came back from where keys are kept
        create_signing_key=False,
        verify_index_checksums=False,
    )
    judge = {"Authorization": f"Bearer {deployment.clients[0].token}"}  # tokens were restored with accounts
    admin = {"Authorization": f"Bearer {deployment.admin_token}"}
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        body = {
            "case_number": "（2026）浙0106刑初7001号",
            "trigger": "其他",
            "facts": load.pending_facts()[1],
        }
        search = client.post("/api/v1/searches", json=body, headers=judge)
        assert search.status_code == 200 and search.json()["audit"]["seq"] == size
        (tmp_path / "e.jsonl").write_bytes(client.get("/api/v1/audit/export", headers=admin).content)
        (tmp_path / "c.json").write_bytes(client.get("/api/v1/audit/checkpoint", headers=admin).content)
    report = verify_export(tmp_path / "e.jsonl", tmp_path / "c.json", deployment.public_key)
    assert report.ok, report.summary()
    assert report.tree_size == size + 2  # the new search and the export


# -- a tampered backup is refused -----------------------------------------------------------------


def _copy(backed_up: dict[str, Any], tmp_path: Path) -> Path:
    copy = tmp_path / "tampered"
    shutil.copytree(backed_up["backup"], copy)
    return copy


def _fix_manifest(folder: Path, key: Path, **audit: Any) -> None:
    """What a careful forger does after editing a file: the manifest's checksums made to match, and the
    manifest signed with ``key`` (one without a key is refused for that alone: test_accounts_log.py)."""
    manifest = json.loads((folder / MANIFEST).read_text("utf-8"))
    manifest["files"] = layout.file_checksums(folder)
    manifest["files"].pop(MANIFEST, None)
    manifest["audit"].update(audit)
    manifest = sign_document(manifest, load_private_key(key), MANIFEST_PURPOSE)
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def _rewrite_record(db: Path, seq: int, *, leaf_too: bool) -> None:
    """Change what record ``seq`` says (the triggers dropped first); optionally recompute its leaf hash."""
    from retrieval.audit import merkle

    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute("DROP TRIGGER records_no_update")
        (data,) = conn.execute("SELECT data FROM records WHERE seq = ?", (seq,)).fetchone()
        record = json.loads(data)
        record["actor"]["user"] = "someone-else"
        new = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
        conn.execute("UPDATE records SET data = ? WHERE seq = ?", (new, seq))
        if leaf_too:
            conn.execute("UPDATE records SET leaf_hash = ? WHERE seq = ?", (merkle.leaf_hash(new), seq))


def _resign(db: Path, key_path: Path) -> dict[str, Any]:
    """A new latest checkpoint over the (rewritten) records, signed with ``key_path``."""
    from retrieval.audit import merkle

    key = load_private_key(key_path)
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
        leaves = [bytes(r[0]) for r in conn.execute("SELECT leaf_hash FROM records ORDER BY seq")]
        (log_id,) = conn.execute("SELECT value FROM meta WHERE key = 'log_id'").fetchone()
        frontier = merkle.Frontier()
        for leaf in leaves:
            frontier.append(leaf)
        cp = Checkpoint(len(leaves), frontier.root().hex(), "2026-12-01T00:00:00.000Z", log_id)
        conn.execute(
            "INSERT INTO checkpoints(tree_size, root, at, signature, key_id) VALUES (?, ?, ?, ?, ?)",
            (cp.tree_size, frontier.root(), cp.at, sign_checkpoint(cp, key), key_id(key)),
        )
    return {"tree_size": cp.tree_size, "root_hash": cp.root_hash, "key_id": key_id(key)}


def _refused(folder: Path, target: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    """Refused even when the key inside the backup is trusted (unless ``extra`` names the court's)."""
    code = leian(["restore", str(folder), "--data", str(target), *(extra or ("--trust-backup-key",))])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "restore refused, nothing was written" in err
    assert not target.exists() and not target.with_name(f".{target.name}.restoring").exists()
    return err


def test_a_flipped_byte_is_refused(
    backed_up: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = _copy(backed_up, tmp_path)
    data = bytearray((copy / "accounts.sqlite").read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / "accounts.sqlite").write_bytes(bytes(data))
    err = _refused(copy, tmp_path / "new", capsys)
    assert "accounts.sqlite does not match the manifest's size and sha256" in err


def test_a_rewritten_record_is_refused_though_the_manifest_matches(
    backed_up: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = _copy(backed_up, tmp_path)
    _rewrite_record(copy / "audit.sqlite", 5, leaf_too=False)
    _fix_manifest(copy, backed_up["deployment"].signing_key)
    err = _refused(copy, tmp_path / "new", capsys)
    assert "record 5 was altered" in err


def test_a_rewrite_resigned_with_the_service_key_is_refused_by_the_earlier_checkpoints(
    backed_up: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An insider with the key rewrites record 5, recomputes its leaf, signs a new head: the old heads
    the log signed before still stand against it."""
    copy = _copy(backed_up, tmp_path)
    _rewrite_record(copy / "audit.sqlite", 5, leaf_too=True)
    key = backed_up["deployment"].signing_key
    _fix_manifest(copy, key, **_resign(copy / "audit.sqlite", key))
    err = _refused(copy, tmp_path / "new", capsys)
    assert "does not match records 0.." in err and "rewritten after that checkpoint" in err


def test_a_log_resigned_with_another_key_is_refused_against_the_published_key(
    backed_up: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = _copy(backed_up, tmp_path)
    forger = tmp_path / "forger.pem"
    generate_key(forger)
    from retrieval.audit.signing import public_key_pem

    (copy / PUBLIC_KEY).write_text(public_key_pem(load_private_key(forger)), encoding="ascii")
    _fix_manifest(copy, forger, **_resign(copy / "audit.sqlite", forger))
    published = str(backed_up["deployment"].public_key)
    err = _refused(copy, tmp_path / "new", capsys, "--public-key", published)
    assert "not by key" in err


def test_restore_never_overwrites_data(
    backed_up: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "live"
    target.mkdir()
    (target / "audit.sqlite").write_bytes(b"live data")
    assert leian(["restore", str(backed_up["backup"]), "--data", str(target)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (target / "audit.sqlite").read_bytes() == b"live data"
