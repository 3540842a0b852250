"""Accounts derived from the audit log, and backups whose manifest is signed (issue 15, finding 1 and 6).

A forger who plants a token row in a backup's ``accounts.sqlite``, raises a role to admin or moves a
审判管理 user to another court, and recomputes the manifest's checksums, is refused: the manifest is
signed with the audit key, and even a forger who could sign it is refused because the accounts
rebuilt from the verified log differ from the database. Every account change is recorded with the
court concerned, so that court's 审判管理 sees it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.cli.main import main as leian
from api.service.accounts import AccountStore, Role
from api.service.accounts_audit import check_store
from api.service.backup import MANIFEST, MANIFEST_PURPOSE
from api.service.security import hash_token, new_token
from retrieval import index_layout as layout
from retrieval.audit.accounts_replay import replay_accounts
from retrieval.audit.records import AccountRecord, Actor, TokenRecord
from retrieval.audit.signed_document import sign_document
from retrieval.audit.signing import generate_key, load_private_key, public_key_pem
from retrieval.audit.store import AuditLog, RecordFilter
from tests.audit_stores import AuditStore

COURT_A = "浙江省杭州市西湖区人民法院"
COURT_B = "浙江省杭州市中级人民法院"
OPERATOR = Actor("ops", "operator")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = leian(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture
def folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Path]:
    """A data folder made with the commands: a judge and an auditor of court A, tokens, a revocation."""
    data, key = tmp_path / "data", tmp_path / "keys" / "audit.pem"
    key.parent.mkdir()
    generate_key(key)
    (tmp_path / "keys" / "audit.pub").write_text(public_key_pem(load_private_key(key)))
    for argv in (
        ["user", "add", "王法官", "--role", "承办法官", "--court", COURT_A, "--days", "30"],
        ["user", "add", "李审管", "--role", "审判管理", "--court", COURT_A, "--days", "30"],
        ["user", "create", "--name", "张法官", "--role", "承办法官", "--court", COURT_B],
        ["token", "issue", "--user", "张法官", "--no-expiry"],
    ):
        code, out = _run(capsys, *argv, "--data", str(data))
        assert code == 0, out
    with contextlib.closing(AccountStore(data / "accounts.sqlite")) as accounts:
        first = accounts.tokens("王法官")[0].token_id
    code, out = _run(capsys, "token", "revoke", first, "--data", str(data))
    assert code == 0, out
    return {"data": data, "key": key, "pub": tmp_path / "keys" / "audit.pub", "root": tmp_path}


@contextlib.contextmanager
def _opened(data: Path, store: AuditStore | None = None) -> Iterator[tuple[AccountStore, AuditLog]]:
    """The accounts and the log of a data folder, or both in ``store``'s PostgreSQL database."""
    if store is not None and store.kind == "postgresql":
        accounts, log = AccountStore(store.location), AuditLog(store.location)
    else:
        accounts, log = AccountStore(data / "accounts.sqlite"), AuditLog(data / "audit.sqlite")
    try:
        yield accounts, log
    finally:
        accounts.close()
        log.close()


# -- accounts rebuilt from the log -------------------------------------------------------------------


def test_the_accounts_rebuilt_from_the_log_equal_the_database_after_every_kind_of_change(
    tmp_path: Path, audit_store: AuditStore
) -> None:
    with _opened(tmp_path, audit_store) as (accounts, log):

        def record(entry: Any) -> object:
            return log.record(OPERATOR, "test", entry)

        def rebuilt() -> Any:
            return replay_accounts(log.iter_records()).state

        accounts.create_user("王法官", Role.JUDGE, COURT_A, record)
        accounts.create_user("李审管", Role.AUDITOR, COURT_A, record)
        _, token = accounts.issue_token("王法官", dt.datetime.now(dt.UTC) + dt.timedelta(days=9), record)
        assert rebuilt() == accounts.state() and len(accounts.state().tokens) == 1
        accounts.change_user("王法官", record, role=Role.PRESIDENT)
        accounts.change_user("李审管", record, court=COURT_B)
        info, _ = accounts.issue_token("李审管", None, record)
        accounts.revoke_token(info.token_id, record)
        accounts.set_disabled("王法官", True, record)
        assert accounts.authenticate(token) is None  # disabled
        accounts.set_disabled("王法官", False, record)
        accounts.change_user("李审管", record, role=Role.ADMIN)
        state = accounts.state()
        assert rebuilt() == state
        assert check_store(accounts, log).ok
        by_name = {u.name: u for u in state.users}
        assert (by_name["王法官"].role, by_name["李审管"].role, by_name["李审管"].court) == (
            Role.PRESIDENT.value,
            Role.ADMIN.value,
            None,
        )
        assert [t.revoked_at is not None for t in state.tokens].count(True) == 1
        # no record carries a token, only its hash
        assert all(token not in json.dumps(r.payload, ensure_ascii=False) for r in log.iter_records())

        # and an edit behind the service's back is named
        if audit_store.kind == "postgresql":
            import psycopg

            with psycopg.connect(str(audit_store.location), autocommit=True) as pg:
                pg.execute("UPDATE users SET role = 'admin' WHERE name = '王法官'")
        else:
            with contextlib.closing(
                sqlite3.connect(tmp_path / "accounts.sqlite", isolation_level=None)
            ) as conn:
                conn.execute("UPDATE users SET role = 'admin' WHERE name = '王法官'")
        check = check_store(accounts, log)
        assert not check.ok and "user '王法官': role is 'admin' in the database" in check.summary()


def test_cli_account_changes_are_recorded_with_the_court_concerned(
    folder: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data = folder["data"]
    code, out = _run(capsys, "user", "set", "李审管", "--court", COURT_B, "--data", str(data))
    assert code == 0, out
    code, out = _run(capsys, "user", "disable", "张法官", "--data", str(data))
    assert code == 0, out
    code, out = _run(capsys, "user", "list", "--data", str(data))
    assert [line.endswith("\tdisabled") for line in out.splitlines()] == [False, False, True]
    code, out = _run(capsys, "user", "disable", "张法官", "--data", str(data))
    assert code == 2 and "already disabled" in out
    with AuditLog(data / "audit.sqlite") as log:
        records = [r for r in log.iter_records() if r.kind in ("account", "token")]
        court_a = {(r.kind, r.payload["action"]) for r in log.iter_records(RecordFilter(court=COURT_A))}
        court_b = [r.payload for r in log.iter_records(RecordFilter(court=COURT_B, kind="account"))]
    assert records and all(r.actor.court is not None for r in records)  # none hidden from every 审判管理
    assert all(
        r.actor.court in (r.payload["user"]["court"], (r.payload.get("previous") or {}).get("court"))
        for r in records
    )
    # the move is seen by the court the user left and by the court it joined
    assert {
        ("account", "create_user"),
        ("token", "issue"),
        ("token", "revoke"),
        ("account", "change_user"),
    } <= court_a
    moved = next(p for p in court_b if p["action"] == "change_user")
    assert moved["previous"] == {"role": "审判管理", "court": COURT_A}
    assert moved["user"] == {"name": "李审管", "role": "审判管理", "court": COURT_B}
    code, out = _run(capsys, "accounts", "check", "--data", str(data))
    assert code == 0, out


def test_a_folder_older_than_whole_row_records_is_adopted_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Accounts written by an older version (records without rows) are refused until adopted."""
    data = tmp_path / "data"
    with _opened(data) as (accounts, log):

        def legacy(entry: Any) -> object:  # what the previous version wrote: no ids, hashes or times
            if isinstance(entry, AccountRecord):
                entry = AccountRecord(action=entry.action, user=entry.user)
            elif isinstance(entry, TokenRecord):
                entry = TokenRecord(entry.action, entry.token_id, entry.user, entry.expires_at)
            return log.record(OPERATOR, "cli", entry)

        accounts.create_user("王法官", Role.JUDGE, COURT_A, legacy)
        accounts.issue_token("王法官", None, legacy)
    code, out = _run(capsys, "accounts", "check", "--data", str(data))
    assert code == 1 and "leian accounts adopt" in out
    key = tmp_path / "k.pem"
    generate_key(key)
    code, out = _run(
        capsys, "backup", "--out", str(tmp_path / "b"), "--data", str(data), "--signing-key", str(key)
    )
    assert code == 1 and "leian accounts adopt" in out and not (tmp_path / "b").exists()

    code, out = _run(capsys, "accounts", "adopt", "--data", str(data))
    assert code == 0 and "recorded 1 users and 1 tokens" in out
    code, out = _run(capsys, "accounts", "check", "--data", str(data))
    assert code == 0, out
    code, out = _run(capsys, "user", "set", "王法官", "--role", "庭长", "--data", str(data))
    assert code == 0, out
    code, out = _run(capsys, "accounts", "check", "--data", str(data))
    assert code == 0, out
    code, out = _run(capsys, "accounts", "adopt", "--data", str(data))
    assert code == 0 and "nothing to adopt" in out

    # once the log rebuilds the accounts, an edit is not adopted without --force (and then audited)
    with contextlib.closing(sqlite3.connect(data / "accounts.sqlite", isolation_level=None)) as conn:
        conn.execute("UPDATE users SET court = ? WHERE name = '王法官'", (COURT_B,))
    code, out = _run(capsys, "accounts", "adopt", "--data", str(data))
    assert code == 1 and "court is" in out and "--force" in out
    code, out = _run(capsys, "accounts", "adopt", "--force", "--data", str(data))
    assert code == 0, out
    with AuditLog(data / "audit.sqlite") as log:
        reasons = [r.payload["reason"] for r in log.iter_records(RecordFilter(kind="accounts"))]
    assert reasons == ["adopt", "adopt --force"]


def test_audit_verify_compares_an_accounts_database_with_the_verified_export(
    folder: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, root = folder["data"], folder["root"]
    export = root / "e.jsonl"
    code, out = _run(
        capsys, "audit", "export", "--data", str(data), "--key", str(folder["key"]), "--out", str(export)
    )
    assert code == 0, out
    checkpoint = str(root / "e.checkpoint.json")
    accounts = data / "accounts.sqlite"
    code, out = _run(capsys, "audit", "verify", str(export), checkpoint, "--accounts", str(accounts))
    assert code == 0 and "matches the accounts rebuilt from the log: 3 users, 3 tokens" in out, out
    forged = root / "forged.sqlite"
    shutil.copyfile(accounts, forged)
    _plant_token(forged, "李审管")
    code, out = _run(capsys, "audit", "verify", str(export), checkpoint, "--accounts", str(forged))
    assert code == 1 and "no audit record issued it" in out, out
    code, out = _run(capsys, "audit", "verify", str(export), checkpoint, "--accounts", str(root / "none"))
    assert code == 2


# -- backups -------------------------------------------------------------------------------------------


def _plant_token(db: Path, user: str) -> str:
    """The attack: a token row for ``user`` (hash of a token the forger chose), valid until 2099."""
    token_id, token = new_token()
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
        (uid,) = conn.execute("SELECT id FROM users WHERE name = ?", (user,)).fetchone()
        conn.execute(
            "INSERT INTO tokens(token_id, user_id, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            (token_id, uid, hash_token(token), "2026-01-01T00:00:00.000Z", "2099-01-01T00:00:00.000Z"),
        )
    return token


def _edit(db: Path, sql: str, *params: Any) -> None:
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute(sql, params)


def _fix_manifest(folder: Path, key: Path | None) -> None:
    """The forger's fix-up: checksums recomputed, then signed with ``key`` (None: left unsigned)."""
    manifest = json.loads((folder / MANIFEST).read_text("utf-8"))
    manifest.pop("signature", None)
    manifest["files"] = {k: v for k, v in layout.file_checksums(folder).items() if k != MANIFEST}
    if key is not None:
        manifest = sign_document(manifest, load_private_key(key), MANIFEST_PURPOSE)
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


@pytest.fixture
def backed_up(folder: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> dict[str, Path]:
    out = folder["root"] / "backup"
    code, text = _run(
        capsys,
        "backup",
        "--out",
        str(out),
        "--data",
        str(folder["data"]),
        "--signing-key",
        str(folder["key"]),
    )
    assert code == 0, text
    return {**folder, "backup": out}


def _restore(backed_up: dict[str, Path], source: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    target = backed_up["root"] / "restored"
    code, out = _run(
        capsys, "restore", str(source), "--data", str(target), "--public-key", str(backed_up["pub"])
    )
    if code != 0:
        assert not target.exists() and not target.with_name(f".{target.name}.restoring").exists()
    return code, out


def _tampered(backed_up: dict[str, Path]) -> Path:
    copy = backed_up["root"] / "tampered"
    shutil.copytree(backed_up["backup"], copy)
    return copy


def test_an_untampered_backup_restores_with_its_signed_manifest_and_matching_accounts(
    backed_up: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = json.loads((backed_up["backup"] / MANIFEST).read_text("utf-8"))
    assert manifest["signature"]["purpose"] == MANIFEST_PURPOSE
    assert manifest["signature"]["key_id"] == manifest["audit"]["key_id"]
    code, out = _restore(backed_up, backed_up["backup"], capsys)
    assert code == 0, out
    assert "manifest signature verified; accounts match" in out
    code, out = _run(capsys, "accounts", "check", "--data", str(backed_up["root"] / "restored"))
    assert code == 0, out


def test_a_planted_token_with_the_checksums_fixed_up_is_refused_for_the_unsigned_manifest(
    backed_up: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    copy = _tampered(backed_up)
    _plant_token(copy / "accounts.sqlite", "李审管")
    _edit(copy / "accounts.sqlite", "UPDATE users SET court = ? WHERE name = '李审管'", COURT_B)
    _fix_manifest(copy, None)
    code, out = _restore(backed_up, copy, capsys)
    assert code == 1 and "backup.json is not signed by the audit key" in out and "it is not signed" in out


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        ("token", "is in the database, but no audit record issued it"),
        ("court", f"user '李审管': court is '{COURT_B}' in the database, the log says '{COURT_A}'"),
        ("admin", "user '李审管': role is 'admin' in the database, the log says '审判管理'"),
        ("unrevoke", "revoked_at is None in the database"),
    ],
)
def test_tampered_accounts_are_refused_even_with_a_manifest_signed_by_the_audit_key(
    backed_up: dict[str, Path], capsys: pytest.CaptureFixture[str], tamper: str, named: str
) -> None:
    """An insider with the key can sign the manifest, not make the log rebuild the edited accounts."""
    copy = _tampered(backed_up)
    db = copy / "accounts.sqlite"
    if tamper == "token":
        _plant_token(db, "李审管")
    elif tamper == "court":
        _edit(db, "UPDATE users SET court = ? WHERE name = '李审管'", COURT_B)
    elif tamper == "admin":
        _edit(db, "UPDATE users SET role = 'admin', court = NULL WHERE name = '李审管'")
    else:
        _edit(db, "UPDATE tokens SET revoked_at = NULL")
    _fix_manifest(copy, backed_up["key"])
    code, out = _restore(backed_up, copy, capsys)
    assert code == 1, out
    assert "restore refused, nothing was written" in out
    assert "accounts.sqlite does not match the audit log" in out and named in out


def test_a_tampered_log_is_refused_with_a_signed_manifest(
    backed_up: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    copy = _tampered(backed_up)
    with contextlib.closing(sqlite3.connect(copy / "audit.sqlite", isolation_level=None)) as conn:
        conn.execute("DROP TRIGGER records_no_update")
        (data,) = conn.execute("SELECT data FROM records WHERE seq = 2").fetchone()
        conn.execute(
            "UPDATE records SET data = ? WHERE seq = 2", (data.replace("审判管理".encode(), b"admin"),)
        )
    _fix_manifest(copy, backed_up["key"])
    code, out = _restore(backed_up, copy, capsys)
    assert code == 1 and "record 2 was altered" in out, out


def test_a_manifest_edited_after_signing_or_signed_by_another_key_is_refused(
    backed_up: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    copy = _tampered(backed_up)
    manifest = json.loads((copy / MANIFEST).read_text("utf-8"))
    manifest["created_by"] = "someone-else"
    (copy / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    code, out = _restore(backed_up, copy, capsys)
    assert code == 1 and "altered after signing" in out, out

    forger = backed_up["root"] / "forger.pem"
    generate_key(forger)
    _fix_manifest(copy, forger)
    code, out = _restore(backed_up, copy, capsys)
    assert code == 1 and "it is signed by key" in out, out


def test_restore_needs_a_key_to_trust(backed_up: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    target = backed_up["root"] / "restored"
    code, out = _run(capsys, "restore", str(backed_up["backup"]), "--data", str(target))
    assert code == 2 and "--public-key" in out and not target.exists()
    code, out = _run(capsys, "restore", str(backed_up["backup"]), "--data", str(target), "--trust-backup-key")
    assert code == 0 and "intact, not who made it" in out, out


@pytest.mark.slow  # builds the sample index when no other test of the session has
def test_serve_refuses_a_data_folder_whose_accounts_differ_from_the_log(
    folder: dict[str, Path],
    sample_index: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import uvicorn

    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: served.append(a))
    argv = ["serve", "--index", str(sample_index), "--data", str(folder["data"]), "--port", "9"]
    code, out = _run(capsys, *argv)
    assert code == 0 and len(served) == 1, out
    _plant_token(folder["data"] / "accounts.sqlite", "李审管")
    code, out = _run(capsys, *argv)
    assert code == 1 and len(served) == 1
    assert "refusing to serve" in out and "no audit record issued it" in out


def test_the_log_hands_over_the_account_kinds_alone_and_exactly(tmp_path: Path) -> None:
    """``iter_kinds`` skips other records in SQLite; a payload's own ``kind`` key does not fool it."""
    from retrieval.audit.accounts_replay import ACCOUNT_KINDS

    with _opened(tmp_path) as (accounts, log):

        def record(entry: Any) -> object:
            return log.record(OPERATOR, "test", entry)

        accounts.create_user("王法官", Role.JUDGE, COURT_A, record)
        log.append("search", OPERATOR, "test", {"filters": {"kind": "token"}, "note": '"kind":"account"'})
        accounts.issue_token("王法官", None, record)
        log.append("summary", OPERATOR, "test", {"kind": "accounts"})
        expected = [r for r in log.iter_records() if r.kind in ACCOUNT_KINDS]
        assert [r.seq for r in log.iter_kinds(ACCOUNT_KINDS)] == [r.seq for r in expected] == [0, 2]
        assert list(log.iter_kinds(ACCOUNT_KINDS, tree_size=1)) == expected[:1]
        assert list(log.iter_kinds(())) == []
