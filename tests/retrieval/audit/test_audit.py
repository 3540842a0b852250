"""The audit log: RFC 6962 hashing and proofs, the append-only store, export → independent verify, tampering."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from api.cli.audit import main as audit_main
from retrieval.audit import merkle, verify
from retrieval.audit.records import (
    Actor,
    AuditRecord,
    InvalidRecord,
    RankedResult,
    SearchRecord,
    canonical_json,
)
from retrieval.audit.signing import (
    Checkpoint,
    SigningKeyError,
    generate_key,
    key_id,
    load_private_key,
    public_key_pem,
    sign_checkpoint,
    verify_checkpoint,
)
from retrieval.audit.store import (
    AuditLog,
    AuditRecordRejected,
    AuditUnavailable,
    RecordFilter,
)
from tests.conftest import REPO

# RFC 6962 test data as published by transparency-dev/merkle (testonly/constants.go and
# proof/verify_test.go), the successor of certificate-transparency-go's and the C++ log's tests.
CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [  # by tree size 0..8
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_LEAF_HASHES = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
]
CT_INCLUSION = [  # (leaf index, tree size, audit path)
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CT_CONSISTENCY = [  # (old size, new size, proof)
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


def ref_mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 written out literally over raw leaf data: the test's own reference."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:])).digest()


def hexes(values: list[bytes]) -> list[str]:
    return [v.hex() for v in values]


# -- Merkle tree ----------------------------------------------------------------------------------


def test_ct_reference_roots_and_leaf_hashes():
    leaf_hashes = [merkle.leaf_hash(d) for d in CT_LEAVES]
    assert hexes(leaf_hashes) == CT_LEAF_HASHES
    assert merkle.EMPTY_ROOT.hex() == CT_ROOTS[0]
    frontier = merkle.Frontier()
    assert frontier.root().hex() == CT_ROOTS[0]
    for n in range(len(CT_LEAVES) + 1):
        assert merkle.root(leaf_hashes[:n]).hex() == CT_ROOTS[n]
        assert ref_mth(CT_LEAVES[:n]).hex() == CT_ROOTS[n]
        assert verify._mth(leaf_hashes[:n], 0, n).hex() == CT_ROOTS[n]
        if n:
            frontier.append(leaf_hashes[n - 1])
            assert frontier.root().hex() == CT_ROOTS[n]


def test_ct_reference_proofs():
    leaf_hashes = [merkle.leaf_hash(d) for d in CT_LEAVES]
    for index, size, path in CT_INCLUSION:
        assert hexes(merkle.inclusion_proof(index, leaf_hashes[:size])) == path
        proof = [bytes.fromhex(p) for p in path]
        root = bytes.fromhex(CT_ROOTS[size])
        assert merkle.verify_inclusion(index, size, leaf_hashes[index], proof, root)
        assert verify._root_from_path(index, size, leaf_hashes[index], proof) == root
    for old, new, path in CT_CONSISTENCY:
        assert hexes(merkle.consistency_proof(old, new, leaf_hashes)) == path
        proof = [bytes.fromhex(p) for p in path]
        old_root, new_root = bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new])
        assert merkle.verify_consistency(old, new, old_root, new_root, proof)
        assert not merkle.verify_consistency(old, new, new_root, old_root, proof)


def _tampered(proof: list[bytes], extra: bytes) -> list[list[bytes]]:
    variants = [[*proof, extra], [extra, *proof]]
    if proof:
        variants.append(proof[:-1])
        variants.append(proof[1:])
    for i in range(len(proof)):
        flipped = bytearray(proof[i])
        flipped[0] ^= 8
        variants.append([*proof[:i], bytes(flipped), *proof[i + 1 :]])
    return variants


def test_every_proof_up_to_40_leaves_verifies_and_tampering_fails():
    data = [bytes([i, i * 7 % 256]) for i in range(40)]
    leaves = [merkle.leaf_hash(d) for d in data]
    roots = [merkle.root(leaves[:n]) for n in range(41)]
    other = hashlib.sha256(b"other").digest()
    for n in range(1, 41):
        assert roots[n] == ref_mth(data[:n]) == merkle.Frontier.of(leaves[:n]).root()
        prover = merkle.InclusionProver(leaves[:n])  # the memoised one an export uses: same paths
        for i in range(n):
            proof = merkle.inclusion_proof(i, leaves[:n])
            assert prover.proof(i) == proof
            assert merkle.verify_inclusion(i, n, leaves[i], proof, roots[n])
            assert verify._root_from_path(i, n, leaves[i], proof) == roots[n]
            assert not merkle.verify_inclusion(i, n, other, proof, roots[n])
            assert not merkle.verify_inclusion(i, n, leaves[i], proof, other)
            assert not merkle.verify_inclusion(i, 2 * n, leaves[i], proof, roots[n])
            assert not merkle.verify_inclusion(i, n // 2, leaves[i], proof, roots[n])
            assert not merkle.verify_inclusion(n, n, leaves[i], proof, roots[n])
            if n > 1:
                assert not merkle.verify_inclusion((i + 1) % n, n, leaves[i], proof, roots[n])
            for bad in _tampered(proof, other):
                assert not merkle.verify_inclusion(i, n, leaves[i], bad, roots[n])
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(m, n, leaves)
            assert merkle.verify_consistency(m, n, roots[m], roots[n], proof)
            if m == n:
                assert proof == []
                continue
            assert not merkle.verify_consistency(m, n, other, roots[n], proof)
            assert not merkle.verify_consistency(m, n, roots[m], other, proof)
            assert not merkle.verify_consistency(m, n, roots[m], roots[n], [])
            if m > 1:
                assert not merkle.verify_consistency(m - 1, n, roots[m], roots[n], proof)
            for bad in _tampered(proof, other):
                assert not merkle.verify_consistency(m, n, roots[m], roots[n], bad)
    assert merkle.verify_consistency(0, 5, merkle.EMPTY_ROOT, roots[5], [])
    assert not merkle.verify_consistency(5, 4, roots[5], roots[4], [])


def test_frontier_matches_batch_root_on_a_larger_tree():
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(5000)]
    frontier = merkle.Frontier()
    for i, h in enumerate(leaves, start=1):
        frontier.append(h)
        if i in (1, 2, 3, 1023, 1024, 1025, 4097, 5000):
            assert frontier.root() == merkle.root(leaves[:i]) == verify._mth(leaves, 0, i)


# -- records and signing ----------------------------------------------------------------------------


def test_canonical_json_is_one_byte_string_per_value():
    assert (
        canonical_json({"b": 1, "a": [1.5, "法院", None, True]})
        == '{"a":[1.5,"法院",null,true],"b":1}'.encode()
    )
    assert canonical_json({"s": 'a\nb"\\\x01'}) == b'{"s":"a\\nb\\"\\\\\\u0001"}'
    for bad in ({"x": math.nan}, {"x": math.inf}, {1: "a"}, {"d": __import__("datetime").date(2024, 1, 1)}):
        with pytest.raises(InvalidRecord):
            canonical_json(bad)
    with pytest.raises(InvalidRecord):
        canonical_json({"s": "\ud800"})
    record = AuditRecord(
        3, "search", "2024-05-01T08:00:00.000Z", Actor("u", "法官", "某法院"), "1.2.3.4", {"q": "盗窃"}
    )
    assert AuditRecord.from_bytes(record.to_bytes()) == record
    assert json.loads(record.to_bytes())["seq"] == 3


def test_key_files_and_checkpoint_signatures(tmp_path):
    path = tmp_path / "audit.pem"
    key = generate_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(SigningKeyError):
        generate_key(path)
    assert key_id(load_private_key(path)) == key_id(key)
    cp = Checkpoint(5, CT_ROOTS[5], "2024-05-01T08:00:00.000Z", "leian-audit:test")
    assert cp.signed_text().startswith(b"leian-audit/v1\nleian-audit:test\n5\n")
    sig = sign_checkpoint(cp, key)
    assert verify_checkpoint(cp, sig, key.public_key())
    assert not verify_checkpoint(Checkpoint(6, cp.root_hash, cp.at, cp.log_id), sig, key.public_key())
    assert not verify_checkpoint(cp, sig, generate_key(tmp_path / "other.pem").public_key())
    assert public_key_pem(key).startswith("-----BEGIN PUBLIC KEY-----")


# -- the store ------------------------------------------------------------------------------------

ACTOR = Actor("张法官", "承办法官", "北京市第一中级人民法院")


def _payload(i: int) -> dict:
    return SearchRecord(
        trigger="art2-2",
        case_number=f"(2024)京01刑初{i}号",
        methods=("keyword", "semantic"),
        query=f"被告人盗窃他人财物，数额较大 {i}",
        keywords={"must": ("盗窃",)},
        articles=("刑法:264",),
        filters={"date_from": "2021-01-01"},
        index_version="2024-05-01T00:00:00Z",
        manifest_sha256="ab" * 32,
        embedder="e5-small@1",
        ann={"type": "HNSW32", "efSearch": 64},
        results=(
            RankedResult(f"d{i}", 1, 0.91, "应当参照"),
            RankedResult("d2", 3, 0.5, "可以参考"),
        ),
    ).to_payload()


@pytest.fixture
def keyfile(tmp_path) -> Path:
    path = tmp_path / "keys" / "audit.pem"
    path.parent.mkdir()
    generate_key(path)
    (tmp_path / "keys" / "audit.pub").write_text(public_key_pem(load_private_key(path)))
    return path


def test_append_assigns_seq_and_tracks_the_root(audit_store):
    with AuditLog(audit_store.location, log_id="leian-audit:test") as log:
        results = [log.append("search", ACTOR, "10.1.2.3", _payload(i)) for i in range(10)]
        assert [r.seq for r in results] == list(range(10))
        assert results[-1].tree_size == 10
        rows = list(log.iter_records())
        leaves = [merkle.leaf_hash(r.to_bytes()) for r in rows]
        assert results[-1].root == merkle.root(leaves).hex()
        assert [r.leaf_hash for r in results] == hexes(leaves)
        assert rows[4].payload["case_number"] == "(2024)京01刑初4号"
        assert rows[4].at.endswith("Z") and len(rows[4].at) == 24
        with pytest.raises(AuditRecordRejected):
            log.append("search", ACTOR, None, {"score": math.nan})
        with pytest.raises(AuditRecordRejected):
            log.append("Search!", ACTOR, None, {})
    with AuditLog(audit_store.location) as again:  # reopened: same log, same root
        assert again.log_id == "leian-audit:test"
        assert again.tree_head() == (10, results[-1].root)
    with pytest.raises(AuditUnavailable):
        AuditLog(audit_store.location, log_id="leian-audit:another")


def test_records_are_append_only_in_the_database(tmp_path):
    db = tmp_path / "audit.db"
    with AuditLog(db) as log:
        for i in range(3):
            log.append("search", ACTOR, None, _payload(i))
    conn = sqlite3.connect(db)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE records SET data = x'00' WHERE seq = 1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM records WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError, match="seq must follow"):
        conn.execute("INSERT INTO records(seq, leaf_hash, data) VALUES (7, zeroblob(32), x'00')")
    conn.close()


def test_an_edited_database_is_refused_at_open(audit_store, keyfile):
    with AuditLog(audit_store.location) as log:
        for i in range(5):
            log.append("search", ACTOR, None, _payload(i))
        log.checkpoint(load_private_key(keyfile))
    with audit_store.backdoor() as attacker:  # the guard dropped (a shell, a superuser), a leaf rewritten
        attacker.update(2, leaf=bytes(32))
    with pytest.raises(AuditUnavailable, match="altered"):
        AuditLog(audit_store.location)


CHILD = """
import sys
from retrieval.audit.store import AuditLog
log = AuditLog(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
for i in range(int(sys.argv[2])):
    log.append("search", {"user": "proc" + sys.argv[3], "role": "r", "court": "c"}, None, {"i": i})
"""


def test_concurrent_appends_from_threads_and_processes(audit_store):
    db = audit_store.location
    log = AuditLog(db)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(db), "60", str(p)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for p in range(2)
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready"
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(t: int) -> None:
        start.wait()
        try:
            for i in range(30):
                log.append("search", {"user": f"thread{t}", "role": "r", "court": "c"}, None, {"i": i})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for proc in procs:
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
    assert not errors
    total = 8 * 30 + 2 * 60
    size, root = log.tree_head()
    assert size == total
    records = list(log.iter_records())
    assert [r.seq for r in records] == list(range(total))
    assert root == merkle.root([merkle.leaf_hash(r.to_bytes()) for r in records]).hex()
    users = {r.actor.user for r in records}
    assert {"proc0", "proc1"} <= users and len(users) == 10
    log.close()


# -- export and the independent verifier ----------------------------------------------------------


@pytest.fixture
def exported(tmp_path, keyfile, audit_store):
    """40 records with checkpoints at 10, 20, 30 and a full export at 40 (from either storage)."""
    key = load_private_key(keyfile)
    with AuditLog(audit_store.location) as log:
        for i in range(40):
            log.append("search", ACTOR, "10.0.0.1", _payload(i))
            if i + 1 in (10, 20, 30):
                log.checkpoint(key)
        log.export_bundle(tmp_path / "export.jsonl", tmp_path / "checkpoint.json", key)
        proof = log.inclusion_proof(17)
        (tmp_path / "proof17.json").write_text(proof.to_json(), encoding="utf-8")
    return tmp_path


def _run_verify(base: Path, *extra: str) -> tuple[verify.VerifyReport, int]:
    pub = base / "keys" / "audit.pub"
    report = verify.verify_export(base / "export.jsonl", base / "checkpoint.json", pub)
    code = audit_main(
        [
            "verify",
            str(base / "export.jsonl"),
            str(base / "checkpoint.json"),
            "--public-key",
            str(pub),
            *extra,
        ]
    )
    return report, code


def _lines(base: Path) -> list[str]:
    return (base / "export.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)


def _write(base: Path, lines: list[str]) -> None:
    (base / "export.jsonl").write_text("".join(lines), encoding="utf-8")


def _rehash(entry: dict) -> str:
    """What a careful forger does after editing a record: recompute its leaf hash."""
    entry["leaf_hash"] = merkle.leaf_hash(canonical_json(entry["record"])).hex()
    return json.dumps(entry, ensure_ascii=False) + "\n"


def test_export_verifies(exported, capsys):
    report, code = _run_verify(exported)
    assert report.ok and code == 0, report.summary()
    assert report.records == report.tree_size == 40
    assert report.key_source == "given"
    assert "OK: 40 records" in capsys.readouterr().out
    embedded = verify.verify_export(exported / "export.jsonl", exported / "checkpoint.json")
    assert embedded.ok and embedded.key_source == "embedded" and "fingerprint" in embedded.notes[0]


def test_altered_record_is_named(exported, capsys):
    lines = _lines(exported)  # line 0 is the header; record k is on line k + 1
    lines[18] = lines[18].replace("盗窃他人财物", "抢劫他人财物")
    _write(exported, lines)
    report, code = _run_verify(exported)
    assert code == 1 and report.first.kind == "altered" and report.first.seq == 17
    assert "record 17 was altered: leaf hash" in report.first.message
    assert "record 17 was altered" in capsys.readouterr().out


def test_removed_record_is_named(exported):
    lines = _lines(exported)
    del lines[18]
    _write(exported, lines)
    report, code = _run_verify(exported)
    assert code == 1 and report.first.kind == "removed" and report.first.seq == 17
    assert report.first.message.startswith("record 17 was removed: record 16 is followed by record 18")


def test_inserted_record_is_named(exported):
    lines = _lines(exported)
    forged = json.loads(lines[18])
    forged["record"]["payload"]["query"] = "伪造的检索"
    lines.insert(19, _rehash(forged))
    _write(exported, lines)
    report, code = _run_verify(exported)
    assert code == 1 and report.first.kind == "inserted" and report.first.seq == 17
    assert "inserted at line 20" in report.first.message


def test_inserted_record_beyond_the_checkpoint_is_named(exported):
    lines = _lines(exported)
    forged = json.loads(lines[-1])
    forged["seq"] = forged["record"]["seq"] = 40
    _write(exported, [*lines, _rehash(forged)])
    report, code = _run_verify(exported)
    assert code == 1 and report.first.kind == "inserted" and report.first.seq == 40


def test_swapped_records_are_named(exported):
    lines = _lines(exported)
    lines[18], lines[24] = lines[24], lines[18]
    _write(exported, lines)
    report, code = _run_verify(exported)
    assert code == 1 and report.first.kind == "reordered" and report.first.seq == 17
    assert "record 17 is out of order: line 19 holds record 23" in report.first.message


def test_truncated_export_is_named(exported):
    lines = _lines(exported)
    _write(exported, lines[:-1])
    report, code = _run_verify(exported)
    assert code == 1 and report.first.kind == "removed" and report.first.seq == 39
    _write(exported, [*lines[:-1], lines[-1][:50]])  # cut in the middle of the last line
    report, code = _run_verify(exported)
    assert code == 1 and report.first.seq == 39
    assert {p.kind for p in report.problems} == {"removed", "malformed"}


def test_rewritten_history_is_narrowed_to_between_checkpoints(exported):
    lines = _lines(exported)
    entry = json.loads(lines[18])
    entry["record"]["payload"]["results"] = []
    lines[18] = _rehash(entry)  # consistent line: only the signed roots can tell
    _write(exported, lines)
    report, code = _run_verify(exported)
    assert code == 1 and report.first.kind == "root" and report.first.seq == 10
    assert "records 0..9 match the checkpoint of size 10" in report.first.message
    assert "among records 10..19" in report.first.message


def test_renumbered_insertion_is_narrowed_too(exported):
    lines = _lines(exported)
    renumbered = []
    for line in lines[24:]:  # insert a record at 23 and shift the rest by one
        entry = json.loads(line)
        entry["seq"] = entry["record"]["seq"] = entry["seq"] + 1
        renumbered.append(_rehash(entry))
    forged = json.loads(lines[24])
    forged["record"]["payload"]["query"] = "伪造"
    _write(exported, [*lines[:24], _rehash(forged), *renumbered])
    report, code = _run_verify(exported)
    assert code == 1 and report.first.kind == "root" and report.first.seq == 20
    assert "among records 20..29" in report.first.message


def test_wrong_signature_or_key_fails(exported, tmp_path):
    body = json.loads((exported / "checkpoint.json").read_text())
    good = dict(body)
    sig = bytearray(__import__("base64").b64decode(body["signature"]))
    sig[5] ^= 1
    body["signature"] = __import__("base64").b64encode(bytes(sig)).decode()
    (exported / "checkpoint.json").write_text(json.dumps(body))
    report, code = _run_verify(exported)
    assert code == 1 and report.first.kind == "signature"

    (exported / "checkpoint.json").write_text(json.dumps(good))
    other = tmp_path / "other.pem"
    generate_key(other)
    other_pub = tmp_path / "other.pub"
    other_pub.write_text(public_key_pem(load_private_key(other)))
    report = verify.verify_export(exported / "export.jsonl", exported / "checkpoint.json", other_pub)
    assert not report.ok and report.first.kind == "signature"
    assert (
        audit_main(
            [
                "verify",
                str(exported / "export.jsonl"),
                str(exported / "checkpoint.json"),
                "--public-key",
                str(other_pub),
            ]
        )
        == 1
    )

    good["root_hash"] = "00" * 32  # a forger who edits the root cannot re-sign it
    (exported / "checkpoint.json").write_text(json.dumps(good))
    assert _run_verify(exported)[1] == 1


def test_bad_input_exits_2(exported, tmp_path, audit_store):
    assert audit_main(["verify", str(tmp_path / "nope.jsonl"), str(exported / "checkpoint.json")]) == 2
    assert audit_main(["verify", str(exported / "export.jsonl"), str(tmp_path / "nope.json")]) == 2
    assert audit_main(["verify"]) == 2
    with AuditLog(audit_store.location) as log, open(tmp_path / "court.jsonl", "wb") as fp:
        size = log.latest_checkpoint().checkpoint.tree_size
        n = log.export_jsonl(fp, RecordFilter(case_number="(2024)京01刑初3号"), tree_size=size)
    # a filtered export carries each record's inclusion proof: checked record by record
    report = verify.verify_export(tmp_path / "court.jsonl", exported / "checkpoint.json")
    assert report.ok and report.records == n >= 1, report.summary()
    # one without them (as earlier versions wrote) cannot be checked against the root: refused
    lines = [json.loads(line) for line in (tmp_path / "court.jsonl").read_text("utf-8").splitlines()]
    del lines[0]["header"]["proofs"]
    for line in lines[1:]:
        del line["proof"]
    (tmp_path / "old.jsonl").write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), "utf-8")
    with pytest.raises(verify.VerifyInputError, match="filtered export"):
        verify.verify_export(tmp_path / "old.jsonl", exported / "checkpoint.json")
    assert audit_main(["verify", str(tmp_path / "old.jsonl"), str(exported / "checkpoint.json")]) == 2


def test_single_record_inclusion_proof(exported):
    pub = exported / "keys" / "audit.pub"
    report = verify.verify_inclusion_file(exported / "proof17.json", exported / "checkpoint.json", pub)
    assert report.ok, report.summary()
    assert (
        audit_main(
            [
                "verify-record",
                str(exported / "proof17.json"),
                str(exported / "checkpoint.json"),
                "--public-key",
                str(pub),
            ]
        )
        == 0
    )
    body = json.loads((exported / "proof17.json").read_text())
    body["record"]["payload"]["case_number"] = "(2024)京01刑初999号"
    (exported / "proof17.json").write_text(json.dumps(body, ensure_ascii=False))
    report = verify.verify_inclusion_file(exported / "proof17.json", exported / "checkpoint.json", pub)
    assert not report.ok and report.first.seq == 17 and report.first.kind == "altered"
    body["leaf_hash"] = merkle.leaf_hash(canonical_json(body["record"])).hex()
    (exported / "proof17.json").write_text(json.dumps(body, ensure_ascii=False))
    report = verify.verify_inclusion_file(exported / "proof17.json", exported / "checkpoint.json", pub)
    assert not report.ok and report.first.kind == "root"


def test_filters_and_csv_export(exported, tmp_path, audit_store):
    with AuditLog(audit_store.location) as log:
        log.append(
            "decision",
            Actor("李庭长", "庭长", "北京市高级人民法院"),
            None,
            {"case_number": "(2024)京01刑初3号"},
        )
        log.append("search", Actor("=cmd|' /C calc'!A0", "法官", "某法院"), None, _payload(99))
        assert [r.seq for r in log.iter_records(RecordFilter(case_number="(2024)京01刑初3号"))] == [3, 40]
        assert [r.seq for r in log.iter_records(RecordFilter(court="北京市高级人民法院"))] == [40]
        assert len(list(log.iter_records(RecordFilter(kind="search", court=ACTOR.court)))) == 40
        first, last = next(log.iter_records()).at, list(log.iter_records())[-1].at
        assert len(list(log.iter_records(RecordFilter(since=first)))) == 42
        assert list(log.iter_records(RecordFilter(until=first))) == []
        assert len(list(log.iter_records(RecordFilter(since=last)))) >= 1
        buffer = io.BytesIO()
        assert log.export_csv(buffer) == 42
        log_records = list(log.iter_records())
    raw = buffer.getvalue()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert len(rows) == 42
    assert rows[3]["法院"] == "北京市第一中级人民法院" and rows[3]["待决案件案号"] == "(2024)京01刑初3号"
    assert rows[3]["检索方法"] == "keyword;semantic" and rows[3]["结果数"] == "2"
    assert rows[40]["记录类型"] == "类案标注" and rows[40]["用户"] == "李庭长" and rows[40]["结果数"] == ""
    assert rows[41]["用户"].startswith("'=")  # not run as a formula by Excel
    # Beijing time, offset stated, the same instant as the record's UTC time
    utc = log_records[0].at
    shown = dt.datetime.fromisoformat(rows[0]["时间（北京时间，UTC+08:00）"])
    assert shown.utcoffset() == dt.timedelta(hours=8)
    assert shown == dt.datetime.fromisoformat(utc.replace("Z", "+00:00"))


# -- fail-closed ----------------------------------------------------------------------------------

READ_ONLY_PROBE = """
import sys
from retrieval.audit.store import AuditLog, AuditUnavailable
try:
    AuditLog(sys.argv[1], busy_timeout_s=0.2).append("search", {"user": "u", "role": "r"}, None, {})
except AuditUnavailable as exc:
    print("unavailable", exc)
else:
    print("written")
"""


def test_read_only_database_is_unavailable(tmp_path):
    db = tmp_path / "audit.db"
    with AuditLog(db) as log:
        log.append("search", ACTOR, None, _payload(0))
    folder = Path(tempfile.mkdtemp(prefix="leian-ro-"))
    try:
        copy = folder / "audit.db"
        shutil.copy(db, copy)
        copy.chmod(0o444)
        folder.chmod(0o555)
        if os.geteuid() == 0:  # root ignores file modes: probe without the capabilities that let it
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("running as root without setpriv: cannot make a file read-only for this process")
            drop = "-dac_override,-dac_read_search,-fowner"
            out = subprocess.run(
                [
                    setpriv,
                    "--inh-caps",
                    drop,
                    "--bounding-set",
                    drop,
                    sys.executable,
                    "-c",
                    READ_ONLY_PROBE,
                    str(copy),
                ],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert out.stdout.startswith("unavailable"), out.stdout + out.stderr
        else:
            with pytest.raises(AuditUnavailable):
                AuditLog(copy, busy_timeout_s=0.2).append("search", ACTOR, None, _payload(1))
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


def test_locked_database_is_unavailable(tmp_path):
    db = tmp_path / "audit.db"
    log = AuditLog(db, busy_timeout_s=0.1)
    log.append("search", ACTOR, None, _payload(0))
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(AuditUnavailable, match="locked"):
            log.append("search", ACTOR, None, _payload(1))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert log.append("search", ACTOR, None, _payload(1)).seq == 1  # and it recovers
    log.close()


def test_cli_keygen_and_export(tmp_path, capsys):
    key = tmp_path / "k.pem"
    assert audit_main(["keygen", "--out", str(key)]) == 0
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and (tmp_path / "k.pem.pub").exists()
    assert audit_main(["keygen", "--out", str(key)]) == 2
    db = tmp_path / "audit.db"
    with AuditLog(db) as log:
        log.append("search", ACTOR, None, _payload(0))
    out, cp = tmp_path / "e.jsonl", tmp_path / "c.json"
    assert (
        audit_main(
            [
                "export",
                str(db),
                "--key",
                str(key),
                "--out",
                str(out),
                "--checkpoint",
                str(cp),
                "--csv",
                str(tmp_path / "e.csv"),
            ]
        )
        == 0
    )
    assert audit_main(["verify", str(out), str(cp), "--public-key", str(tmp_path / "k.pem.pub")]) == 0
    assert audit_main(["proof", str(db), "1", "--out", str(tmp_path / "p.json")]) == 0
    assert audit_main(["verify-record", str(tmp_path / "p.json"), str(cp)]) == 0
    with AuditLog(db) as log:
        assert [r.kind for r in log.iter_records()] == ["search", "export"]
