"""The service under an attacker with a shell on its audit database (issue 15's review, findings 2, 3, 4, 6).

Each test edits the database as the review did (append-only triggers dropped) and checks what the
service then does: the judge's receipt no longer checks, a restarted service refuses audited actions
and /readyz says why, the watcher catches an edit made while it runs, and nothing is exported or
signed over a log that does not verify.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.http.app import create_app
from api.service.backup import BackupError, backup
from api.service.config import Settings
from api.service.receipts import RECEIPT_HEADER
from retrieval.audit import merkle
from retrieval.audit.receipts import Receipt, check_receipt
from retrieval.audit.records import Actor
from retrieval.audit.signing import load_private_key
from retrieval.audit.store import AuditLog
from tests.api_env import Env, serve

pytestmark = pytest.mark.slow  # each test starts the service once or twice (≈ 2-4 s)


@contextlib.contextmanager
def _attacker(db: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for table in ("records", "checkpoints"):
            for op in ("update", "delete"):
                conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op}")
        yield conn
    finally:
        conn.close()


def _rewrite(db: Path, seq: int, *, recompute: bool) -> None:
    with _attacker(db) as conn:
        (data,) = conn.execute("SELECT data FROM records WHERE seq = ?", (seq,)).fetchone()
        record = json.loads(data)
        record["actor"]["user"] = "judge_b"  # the report would then name another judge
        new = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
        if recompute:
            conn.execute(
                "UPDATE records SET data = ?, leaf_hash = ? WHERE seq = ?", (new, merkle.leaf_hash(new), seq)
            )
        else:
            conn.execute("UPDATE records SET data = ? WHERE seq = ?", (new, seq))


@contextlib.contextmanager
def _restarted(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def _assert_refused_as_tampered(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "audit_tampered"
    assert "leian audit check" in error["message_en"] and "审计日志" in error["message_zh"]


def _assert_not_ready(client: TestClient, reason: str) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 503, ready.text
    audit = ready.json()["error"]["checks"]["audit"]
    assert audit["ok"] is False and reason in audit["error"], audit
    assert "leian audit check" in audit["investigate"]


def _search(env: Env, client: TestClient, number: str) -> httpx.Response:
    body = {
        "case_number": number,
        "trigger": "缺乏明确或统一裁判规则",
        "facts": "被告人盗窃他人手机一部，价值三千元。",
    }
    return client.post("/api/v1/searches", json=body, headers=env.h("judge_a"))


@pytest.fixture()
def env(sample_index: Path, tmp_path: Path) -> Iterator[Env]:
    with serve(sample_index, tmp_path, audit_watch_s=0) as served:
        yield served


def test_answers_carry_a_signed_receipt_that_a_rewrite_breaks(env: Env) -> None:
    """Finding 2: rewrite a search record with its leaf hash recomputed after the receipt was issued."""
    searched = _search(env, env.client, "（2026）浙0106刑初901号")
    assert searched.status_code == 200, searched.text
    receipt = Receipt.from_dict(searched.json())  # the receipt is the answer's ``audit`` field
    assert receipt.seq == searched.json()["search_id"] and receipt.tree_size == receipt.seq + 1
    doc = searched.json()["tiers"][0]["results"][0]["doc_id"]
    mark = {"marks": [{"doc_id": doc, "label": "类案", "reason": "案情相近"}]}
    marked = env.client.post(f"/api/v1/searches/{receipt.seq}/decisions", json=mark, headers=env.h("judge_a"))
    mark_receipt = Receipt.from_dict(marked.json())
    assert mark_receipt.seq > receipt.seq
    public = load_private_key(env.key_path).public_key()
    with AuditLog(env.settings.audit_db) as log:
        assert check_receipt(receipt, log, public).ok
        assert check_receipt(mark_receipt, log, public).ok

    env.client.__exit__(None, None, None)  # the operator stops the service
    _rewrite(env.settings.audit_db, receipt.seq, recompute=True)
    with AuditLog(env.settings.audit_db) as log:
        for kept in (receipt, mark_receipt):
            assert not check_receipt(kept, log, public).ok
    with _restarted(env.settings) as client:  # and the service does not start over it either
        _assert_not_ready(client, "no longer match")
        _assert_refused_as_tampered(_search(env, client, "（2026）浙0106刑初902号"))


def test_a_tail_deleted_while_stopped_is_refused_at_start(env: Env) -> None:
    """Finding 3: the last, uncheckpointed record deleted, then a restart."""
    first = _search(env, env.client, "（2026）浙0106刑初911号").json()["search_id"]
    last = _search(env, env.client, "（2026）浙0106刑初912号").json()["search_id"]
    env.client.__exit__(None, None, None)
    with _attacker(env.settings.audit_db) as conn:
        conn.execute("DELETE FROM records WHERE seq = ?", (last,))
    with _restarted(env.settings) as client:
        _assert_not_ready(client, "records were removed")
        _assert_refused_as_tampered(_search(env, client, "（2026）浙0106刑初913号"))
        report = client.get(f"/api/v1/searches/{first}/report?format=json", headers=env.h("judge_a"))
        _assert_refused_as_tampered(report)  # a report is audited too: refused, not made from a bad log


def test_a_witness_ahead_of_the_log_is_refused_at_start(env: Env, tmp_path: Path) -> None:
    """The database put back from an older copy: the last signed head covers more than it holds."""
    _search(env, env.client, "（2026）浙0106刑初921号")
    env.client.__exit__(None, None, None)
    older = tmp_path / "older.sqlite"
    older.write_bytes(env.settings.audit_db.read_bytes())
    with _restarted(env.settings) as client:
        assert _search(env, client, "（2026）浙0106刑初922号").status_code == 200
    env.settings.audit_db.unlink()
    older.rename(env.settings.audit_db)
    with _restarted(env.settings) as client:
        _assert_not_ready(client, "records were removed")
        _assert_refused_as_tampered(_search(env, client, "（2026）浙0106刑初923号"))


def test_a_tail_deleted_under_the_running_service_makes_it_unready(env: Env) -> None:
    """Finding 6: /readyz said ready, audit ok, after the tail was deleted under it."""
    last = _search(env, env.client, "（2026）浙0106刑初931号").json()["search_id"]
    with _attacker(env.settings.audit_db) as conn:
        conn.execute("DELETE FROM records WHERE seq = ?", (last,))
    _assert_not_ready(env.client, "removed")
    _assert_refused_as_tampered(_search(env, env.client, "（2026）浙0106刑初932号"))


def test_a_live_edit_in_place_is_caught_by_the_watcher(sample_index: Path, tmp_path: Path) -> None:
    """Finding 4: content changed in place, leaf hash left, while the service runs with its watcher."""
    with serve(sample_index, tmp_path, audit_watch_s=1) as env:
        seq = _search(env, env.client, "（2026）浙0106刑初941号").json()["search_id"]
        assert env.client.get("/readyz").status_code == 200
        _rewrite(env.settings.audit_db, seq, recompute=False)
        deadline = time.monotonic() + 10
        while env.client.get("/readyz").status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        _assert_not_ready(env.client, f"record {seq} was changed")
        metrics = env.client.get("/metrics", headers=env.h("admin")).text
        assert "leian_audit_intact 0.0" in metrics and "leian_audit_verified_records" in metrics
        _assert_refused_as_tampered(env.client.get("/api/v1/audit/export", headers=env.h("admin")))
        _assert_refused_as_tampered(env.client.get("/api/v1/audit/checkpoint", headers=env.h("admin")))
        report = env.client.get(f"/api/v1/searches/{seq}/report?format=json", headers=env.h("judge_a"))
        assert report.status_code == 503 and "judge_b" not in report.text


def test_export_refuses_a_live_edit_before_the_watcher_ticks(env: Env) -> None:
    """Without the background watcher, the export itself re-hashes every record before signing."""
    seq = _search(env, env.client, "（2026）浙0106刑初951号").json()["search_id"]
    _rewrite(env.settings.audit_db, seq, recompute=False)
    for fmt in ("jsonl", "csv"):
        response = env.client.get(f"/api/v1/audit/export?format={fmt}", headers=env.h("admin"))
        _assert_refused_as_tampered(response)


def test_file_answers_carry_their_receipt_in_a_header(env: Env) -> None:
    """A report, an export and a summary are files: their records' receipts come as a header."""
    seq = _search(env, env.client, "（2026）浙0106刑初961号").json()["search_id"]
    answers = [
        env.client.get(f"/api/v1/searches/{seq}/report?format=html", headers=env.h("judge_a")),
        env.client.get("/api/v1/audit/export?format=csv", headers=env.h("admin")),
        env.client.get("/api/v1/audit/summary?from=2026-01-01&to=2026-12-31", headers=env.h("admin")),
    ]
    public = load_private_key(env.key_path).public_key()
    kinds = []
    with AuditLog(env.settings.audit_db) as log:
        for answer in answers:
            assert answer.status_code == 200, answer.text
            receipt = Receipt.from_dict(json.loads(answer.headers[RECEIPT_HEADER]))
            assert check_receipt(receipt, log, public).ok
            kinds.append(log.read(receipt.seq)[0].kind)
    assert kinds == ["report", "export", "summary"]


@pytest.mark.parametrize("recompute", [False, True], ids=["edited in place", "rewritten with its hash"])
def test_a_backup_refuses_to_sign_over_a_tampered_log(env: Env, tmp_path: Path, recompute: bool) -> None:
    """Finding 4's "backup signs it": the backup's checkpoint is never signed over an edited record."""
    seq = _search(env, env.client, "（2026）浙0106刑初971号").json()["search_id"]
    env.client.__exit__(None, None, None)
    _rewrite(env.settings.audit_db, seq, recompute=recompute)
    out = tmp_path / "backup"
    with pytest.raises(BackupError, match="cannot be backed up"):
        backup(env.settings, out, Actor("operator", "operator"))
    assert not out.exists()


def test_a_report_is_never_made_from_a_record_edited_in_place(env: Env) -> None:
    """Finding 4's "report names the edited judge", before any watcher pass: the read re-hashes."""
    seq = _search(env, env.client, "（2026）浙0106刑初981号").json()["search_id"]
    _rewrite(env.settings.audit_db, seq, recompute=False)
    report = env.client.get(f"/api/v1/searches/{seq}/report?format=json", headers=env.h("judge_a"))
    _assert_refused_as_tampered(report)
    assert "judge_b" not in report.text
    _assert_not_ready(env.client, f"record {seq} was changed")
