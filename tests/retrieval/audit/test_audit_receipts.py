"""Receipts, the witness file and the watcher: an attacker with a shell edits the audit database.

Each attack is the review's (issue 15): triggers dropped, then a record rewritten with its leaf hash
recomputed, the tail deleted, or a record edited in place with its leaf hash left. The log must
notice each one, from the receipt a judge kept, from the witness outside the database, or from the
watcher re-hashing records, and nothing may then be signed over it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest

from api.cli.audit import main as audit_main
from retrieval.audit import merkle
from retrieval.audit.receipts import Receipt, ReceiptError, check_receipt, check_signature
from retrieval.audit.records import Actor
from retrieval.audit.signing import generate_key, public_key_pem
from retrieval.audit.store import AuditLog, AuditTampered
from retrieval.audit.watcher import Watcher
from retrieval.audit.witness import read_witness
from tests.audit_stores import AuditStore

ACTOR = Actor("judge-1", "承办法官", "浙江省杭州市西湖区人民法院")


@pytest.fixture()
def key(tmp_path: Path):
    return generate_key(tmp_path / "key.pem")


def _open(tmp_path: Path, key, store: AuditStore | None = None, **kw) -> AuditLog:
    """The log as the service opens it; in ``store`` (either storage), else a SQLite file."""
    location = store.location if store is not None else tmp_path / "audit.sqlite"
    return AuditLog(location, witness=tmp_path / "witness.json", signer=key, **kw)


def _append(log: AuditLog, n: int, tag: str = "q"):
    return [
        log.append("search", ACTOR, "api", {"query": f"{tag}{i}", "case_number": f"案{i}"}) for i in range(n)
    ]


@contextlib.contextmanager
def _attacker(db: Path):
    """A shell on the server: the append-only triggers dropped, any row changed."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for table in ("records", "checkpoints"):
            for op in ("update", "delete"):
                conn.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op}")
        yield conn
    finally:
        conn.close()


def _rewrite(store: AuditStore, seq: int, *, recompute: bool) -> None:
    """Change record ``seq``'s query; with ``recompute`` also its leaf hash (review finding 2)."""
    with store.backdoor() as attacker:
        record = json.loads(attacker.data(seq))
        record["payload"]["query"] = "改写后的检索词"
        new = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
        attacker.update(seq, new, merkle.leaf_hash(new) if recompute else None)


def test_every_append_carries_a_receipt_whose_proof_is_rfc6962s(tmp_path: Path, key, audit_store) -> None:
    with _open(tmp_path, key, audit_store) as log:
        results = _append(log, 33)
        leaves = [bytes.fromhex(r.leaf_hash) for r in results]
    for r in results:
        receipt = r.receipt
        assert receipt is not None and receipt.seq == r.seq and receipt.tree_size == r.seq + 1
        # the O(log n) proof from the frontier equals RFC 6962's PATH over all the leaves
        expected = merkle.inclusion_proof(r.seq, leaves[: r.seq + 1])
        assert list(receipt.inclusion_proof) == [p.hex() for p in expected]
        assert check_signature(receipt, key.public_key()) == []
        assert Receipt.from_dict(json.loads(json.dumps(receipt.to_dict()))) == receipt


def test_a_receipt_altered_or_signed_by_another_key_fails(tmp_path: Path, key) -> None:
    with _open(tmp_path, key) as log:
        receipt = _append(log, 5)[3].receipt
    body = receipt.to_dict()
    forged = Receipt.from_dict({**body, "root": "00" * 32})
    assert any("signature" in p for p in check_signature(forged, key.public_key()))
    other = generate_key(tmp_path / "other.pem")
    assert check_signature(receipt, other.public_key())
    with pytest.raises(ReceiptError):
        Receipt.from_dict({**body, "inclusion_proof": ["zz"]})


@pytest.mark.parametrize("edited", [3, 1], ids=["the receipts record", "an earlier record"])
def test_a_rewrite_with_recomputed_leaf_hash_after_the_receipt_is_detected(
    tmp_path: Path, key, edited: int, audit_store
) -> None:
    """Finding 2: the edit is in the tail after the last checkpoint and its leaf hash is recomputed."""
    db = audit_store.location
    with _open(tmp_path, key, audit_store) as log:
        receipt = _append(log, 6)[3].receipt
        assert check_receipt(receipt, log, key.public_key()).ok
    _rewrite(audit_store, edited, recompute=True)
    with AuditLog(db) as log:  # no witness: as an auditor's copy of the database would be opened
        check = check_receipt(receipt, log, key.public_key())
    assert not check.ok
    assert any("rewritten" in p for p in check.problems), check.problems
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps({"audit": receipt.to_dict()}), encoding="utf-8")
    pub = tmp_path / "key.pub"
    pub.write_text(public_key_pem(key), encoding="ascii")
    assert audit_main(["receipt-check", str(path), "--db", str(db), "--public-key", str(pub)]) == 1


def test_receipt_check_passes_on_a_log_that_only_grew(tmp_path: Path, key, capsys, audit_store) -> None:
    db = audit_store.location
    with _open(tmp_path, key, audit_store) as log:
        receipt = _append(log, 4)[2].receipt
        _append(log, 9, "later")
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt.to_dict()), encoding="utf-8")
    assert audit_main(["receipt-check", str(path), "--db", str(db), "--key", str(tmp_path / "key.pem")]) == 0
    assert "extends it to 13 records" in capsys.readouterr().out


def test_the_witness_holds_the_latest_signed_head(tmp_path: Path, key) -> None:
    with _open(tmp_path, key) as log:
        last = _append(log, 7)[-1]
    witness = read_witness(tmp_path / "witness.json", key.public_key())
    assert witness is not None
    assert (witness.tree_size, witness.signed.checkpoint.root_hash) == (7, last.root)


def test_a_deleted_tail_is_refused_at_opening(tmp_path: Path, key, audit_store) -> None:
    """Finding 3: the last record, never checkpointed in the database, is deleted while stopped."""
    db = audit_store.location
    with _open(tmp_path, key, audit_store) as log:
        _append(log, 5)
        assert log.latest_checkpoint() is None  # nothing in the database protects the tail
    with audit_store.backdoor() as attacker:
        attacker.delete(4)
    with pytest.raises(AuditTampered, match=r"has 4 records but the witness.s signed head covers 5"):
        _open(tmp_path, key, audit_store)
    assert audit_main(["check", "--db", str(db), "--witness", str(tmp_path / "witness.json")]) == 1


def test_a_rewritten_tail_is_refused_at_opening_and_by_export(tmp_path: Path, key, audit_store) -> None:
    """Finding 2 at the command line: ``leian audit export`` must not sign over the rewrite."""
    db = audit_store.location
    with _open(tmp_path, key, audit_store) as log:
        _append(log, 5)
        log.checkpoint(key)
        _append(log, 3, "tail")
    _rewrite(audit_store, 6, recompute=True)
    with pytest.raises(AuditTampered, match=r"witness.s signed head of size 8: the database was altered"):
        _open(tmp_path, key, audit_store)
    out, cp = tmp_path / "export.jsonl", tmp_path / "export.checkpoint.json"
    argv = ["export", str(db), "--key", str(tmp_path / "key.pem"), "--out", str(out), "--checkpoint", str(cp)]
    assert audit_main([*argv, "--witness", str(tmp_path / "witness.json")]) == 1
    assert not out.exists() and not cp.exists()


def test_a_witness_ahead_of_the_log_is_refused(tmp_path: Path, key) -> None:
    """A database put back from an older copy: shorter than the head the service last signed."""
    db = tmp_path / "audit.sqlite"
    with _open(tmp_path, key) as log:
        _append(log, 3)
    (tmp_path / "old.sqlite").write_bytes(db.read_bytes())  # WAL checkpointed at close
    with _open(tmp_path, key) as log:
        _append(log, 2, "more")
    db.unlink()
    (tmp_path / "old.sqlite").rename(db)
    with pytest.raises(AuditTampered, match="3 records but the witness's signed head covers 5"):
        _open(tmp_path, key)


def test_a_witness_signed_by_another_key_is_refused(tmp_path: Path, key) -> None:
    with _open(tmp_path, key) as log:
        _append(log, 2)
    other = generate_key(tmp_path / "other.pem")
    with pytest.raises(AuditTampered, match="not by this service's key"):
        _open(tmp_path, other)


def test_a_removed_witness_stops_appends(tmp_path: Path, key) -> None:
    with _open(tmp_path, key) as log:
        _append(log, 2)
        (tmp_path / "witness.json").unlink()
        with pytest.raises(AuditTampered, match="witness file was removed"):
            _append(log, 1)


def test_a_live_edit_in_place_is_caught_by_the_watcher_and_nothing_is_signed(
    tmp_path: Path, key, audit_store
) -> None:
    """Finding 4: content changed under the running writer, leaf hash left as it was."""
    with _open(tmp_path, key, audit_store) as log:
        _append(log, 10)
        watcher = Watcher(log)
        assert watcher.tick(full_sweep=True).ok and watcher.state.verified == 10
        _rewrite(audit_store, 2, recompute=False)
        state = watcher.tick(full_sweep=True)
        assert not state.ok and "record 2 was changed" in (state.problem or "")
        with pytest.raises(AuditTampered, match="record 2"):
            log.checkpoint(key)
        with pytest.raises(AuditTampered):
            log.export_bundle(tmp_path / "e.jsonl", tmp_path / "e.cp.json", key)


def test_a_live_rewrite_with_recomputed_hash_is_caught_by_the_sweep(tmp_path: Path, key, audit_store) -> None:
    with _open(tmp_path, key, audit_store) as log:
        _append(log, 8)
        watcher = Watcher(log, sweep_batch=3)
        watcher.tick(full_sweep=True)
        _rewrite(audit_store, 5, recompute=True)
        states = [watcher.tick() for _ in range(4)]  # a pass over 8 records, 3 per tick
        assert not states[-1].ok and "rewritten" in (states[-1].problem or "")
        with pytest.raises(AuditTampered, match="rewritten"):
            log.checkpoint(key)


def test_a_tail_deleted_under_a_running_writer_is_caught(tmp_path: Path, key, audit_store) -> None:
    with _open(tmp_path, key, audit_store) as log:
        _append(log, 4)
        watcher = Watcher(log)
        watcher.tick()
        with audit_store.backdoor() as attacker:
            attacker.delete(3)
        assert "records were removed" in (watcher.tick().problem or "")
        with pytest.raises(AuditTampered):
            log.check_witness()


def test_two_writers_on_one_log_keep_the_witness_consistent(tmp_path: Path, key, audit_store) -> None:
    """Two worker processes (here two connections) append in turn; neither raises a false alarm."""
    with _open(tmp_path, key, audit_store) as a, _open(tmp_path, key, audit_store) as b:
        for i in range(10):
            (a if i % 2 else b).append("search", ACTOR, "api", {"query": str(i)})
        watcher = Watcher(a)
        assert watcher.tick(full_sweep=True).ok
        a.check_witness()
        b.check_witness()
        assert a.verify() == 10
    witness = read_witness(tmp_path / "witness.json", key.public_key())
    assert witness is not None and witness.tree_size == 10


def test_leian_audit_check_and_receipt_check_default_to_the_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The commands the service log names, as an operator types them: only the data folder given."""
    from api.cli.main import main as leian
    from api.service.config import AUDIT_DB, SIGNING_KEY
    from retrieval.audit.witness import default_witness_path

    for name in ("LEIAN_DATA", "LEIAN_DATA_DIR", "LEIAN_SIGNING_KEY", "LEIAN_WITNESS_PATH"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    data.mkdir()
    key = generate_key(data / SIGNING_KEY)
    with AuditLog(data / AUDIT_DB, witness=default_witness_path(data), signer=key) as log:
        receipt = _append(log, 4)[1].receipt
    saved = tmp_path / "answer.json"
    saved.write_text(json.dumps({"search_id": 1, "audit": receipt.to_dict()}), encoding="utf-8")
    assert leian(["audit", "check", "--data", str(data)]) == 0
    assert leian(["audit", "receipt-check", str(saved), "--data", str(data)]) == 0
    assert "OK: 4 records" in capsys.readouterr().out
    with _attacker(data / AUDIT_DB) as conn:
        conn.execute("DELETE FROM records WHERE seq = 3")
    assert leian(["audit", "check", "--data", str(data)]) == 1
    assert "records were removed" in capsys.readouterr().out
    # the receipt's own prefix (records 0..1) is intact; the witness shows the log lost its tail
    assert leian(["audit", "receipt-check", str(saved), "--data", str(data)]) == 1
    assert "does not extend its last signed head (witness)" in capsys.readouterr().out


def test_concurrent_writers_readers_and_a_watcher_raise_no_false_alarm(
    tmp_path: Path, key, audit_store
) -> None:
    """Two writers (as two worker processes would) append at once while readiness checks and the
    watcher read: the witness each writes after its commit must never look ahead of a snapshot."""
    import threading

    errors: list[BaseException] = []
    done = threading.Event()
    with _open(tmp_path, key, audit_store) as a, _open(tmp_path, key, audit_store) as b:
        watcher = Watcher(a, sweep_batch=7)

        def write(log: AuditLog, tag: str) -> None:
            try:
                for i in range(40):
                    log.append("search", ACTOR, "api", {"query": f"{tag}{i}"})
            except BaseException as exc:
                errors.append(exc)

        def read() -> None:
            try:
                while not done.is_set():
                    a.check_witness()
                    b.check_witness()
                    state = watcher.tick()
                    assert state.ok, state.problem
            except BaseException as exc:
                errors.append(exc)

        writers = [threading.Thread(target=write, args=(log, tag)) for log, tag in ((a, "a"), (b, "b"))]
        reader = threading.Thread(target=read)
        for t in (*writers, reader):
            t.start()
        for t in writers:
            t.join()
        done.set()
        reader.join()
        assert errors == []
        assert watcher.tick(full_sweep=True).ok and a.verify() == 80
