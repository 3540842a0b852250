"""The independent reader: checks an exported audit log against a signed checkpoint, offline.

It imports nothing from the writer (``store``, ``merkle``, ``records``, ``signing``): leaf
hashing, the tree hash and the signed checkpoint text are re-implemented here from the spec in
``retrieval/audit/__init__.py``, the tree hash by its recursive definition rather than the
writer's frontier, so that one mistake in the writer is not silently shared by its checker.

What it can say: a record whose content no longer matches the leaf hash beside it was altered; a
seq that is missing was removed; a repeated seq, or one beyond the checkpoint, was inserted; seqs
out of order were reordered. A forger who also recomputes the leaf hashes (and renumbers) is
caught by the signed root; the earlier checkpoints in the checkpoint file then narrow the change
down to the records between two checkpoints.

A filtered export (one court's records, made by 审判管理) cannot be checked against a root as a
whole, since the tree covers every court's records: each of its lines carries the record's
inclusion proof, and every record is checked on its own against the signed root; seqs must rise.
That proves each record genuine and unaltered, not that no record of the court was left out (only
a full export can show that). An export made by the service carries its checkpoint in the header,
so the checkpoint file is optional. One record is checked with ``verify_inclusion_file``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SIGNED_TEXT_FORMAT = "leian-audit/v1"
_SHA256_BYTES = 32
_ORDER = {"signature": 0}  # a bad signature first; then the record problems by seq


class VerifyInputError(ValueError):
    """The files cannot be checked at all (missing, not the expected format, a filtered export without proofs).

    ``zh`` is the message in Chinese for the court's staff; the English text stays the exception's.
    """

    def __init__(self, message: str, zh: str = "无法核验：文件缺失、无法读取或格式不符") -> None:
        super().__init__(message)
        self.zh = zh


@dataclass(frozen=True)
class Problem:
    kind: str  # signature | malformed | altered | removed | inserted | reordered | root
    seq: int | None
    line: int | None
    message: str

    def sort_key(self) -> tuple[int, int, int]:
        """A bad signature first, then record problems by seq: the first one is where tampering starts."""
        big = 1 << 62
        return (_ORDER.get(self.kind, 1), big if self.seq is None else self.seq, self.line or 0)


@dataclass
class VerifyReport:
    log_id: str | None = None
    tree_size: int | None = None
    records: int = 0
    root_hash: str | None = None
    key_id: str | None = None
    key_source: str = "given"  # "given": --public-key; "embedded": the checkpoint file's own key
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return min(self.problems, key=Problem.sort_key) if self.problems else None

    def summary(self) -> str:
        """One line in Chinese, then the same in English with the details."""
        if self.ok:
            return (
                f"核验通过：{self.records} 条审计记录与签名检查点一致（树大小 {self.tree_size}）\n"
                f"OK: {self.records} records of log {self.log_id} match the checkpoint "
                f"(tree size {self.tree_size}, root {self.root_hash}), signed by key {self.key_id}"
            )
        first = self.first
        assert first is not None
        more = len(self.problems) - 1
        where = f"（记录序号 {first.seq}）" if first.seq is not None else ""
        return (
            f"核验未通过：审计记录被篡改、删除、插入或签名不符{where}，共 {len(self.problems)} 处问题\n"
            f"FAILED: {first.message}" + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")
        )


# -- the spec, again ------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in an audit record")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON parsers disagree on repeated keys; a record that has them could show two faces."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"repeated key {key!r}")
        out[key] = value
    return out


def _parse(text: bytes | str) -> Any:
    return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant)


def _canonical(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def _leaf(record: Any) -> bytes:
    return hashlib.sha256(b"\x00" + _canonical(record)).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    """RFC 6962 §2.1: MTH({}) = H(""), MTH({d}) = leaf, else split at the largest power of two < n."""
    n = hi - lo
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[lo]
    k = _k(n)
    return _node(_mth(leaves, lo, lo + k), _mth(leaves, lo + k, hi))


def _root_from_path(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """Fold an audit path by the recursive definition of PATH (RFC 6962 §2.1.1): last element is the top."""
    if size == 1:
        if path:
            raise ValueError("the proof is longer than the tree is deep")
        return leaf
    if not path:
        raise ValueError("the proof is shorter than the tree is deep")
    k = _k(size)
    if index < k:
        return _node(_root_from_path(index, k, leaf, path[:-1]), path[-1])
    return _node(path[-1], _root_from_path(index - k, size - k, leaf, path[:-1]))


class _PrefixRoots:
    """Roots of every prefix the history asks about, in one pass over the leaves."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, bytes]] = []  # (subtree size, hash), sizes strictly decreasing

    def push(self, leaf: bytes) -> None:
        self.stack.append((1, leaf))
        while len(self.stack) >= 2 and self.stack[-1][0] == self.stack[-2][0]:
            size, right = self.stack.pop()
            _, left = self.stack.pop()
            self.stack.append((2 * size, _node(left, right)))

    def root(self) -> bytes:
        if not self.stack:
            return hashlib.sha256(b"").digest()
        acc = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            acc = _node(left, acc)
        return acc


def _signed_text(cp: dict[str, Any]) -> bytes:
    root_b64 = base64.b64encode(bytes.fromhex(cp["root_hash"])).decode("ascii")
    return f"{SIGNED_TEXT_FORMAT}\n{cp['log_id']}\n{cp['tree_size']}\n{root_b64}\n{cp['at']}\n".encode()


def _key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(
        key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).hexdigest()


def _signature_ok(cp: dict[str, Any], key: Ed25519PublicKey) -> bool:
    try:
        key.verify(base64.b64decode(cp["signature"], validate=True), _signed_text(cp))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


# -- inputs ---------------------------------------------------------------------------------------


def _load_public_key(pem: bytes, source: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise VerifyInputError(f"{source}: not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise VerifyInputError(f"{source}: not an Ed25519 public key")
    return key


def _check_checkpoint_fields(cp: Any, source: str) -> dict[str, Any]:
    if not isinstance(cp, dict):
        raise VerifyInputError(f"{source}: not a checkpoint object")
    for name, kind in (
        ("log_id", str),
        ("tree_size", int),
        ("root_hash", str),
        ("at", str),
        ("signature", str),
    ):
        if not isinstance(cp.get(name), kind) or isinstance(cp.get(name), bool):
            raise VerifyInputError(f"{source}: field {name!r} missing or not a {kind.__name__}")
    if cp["tree_size"] < 0:
        raise VerifyInputError(f"{source}: negative tree_size")
    try:
        if len(bytes.fromhex(cp["root_hash"])) != _SHA256_BYTES:
            raise ValueError("not 32 bytes")
    except ValueError as exc:
        raise VerifyInputError(f"{source}: root_hash is not a SHA-256 hex digest ({exc})") from exc
    return cp


def _load_checkpoint(
    checkpoint_path: str | Path,
    public_key_path: str | Path | None,
    report: VerifyReport,
    embedded: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read the checkpoint file (or the one ``embedded`` in an export), pick the key, record signature problems."""
    if embedded is not None:
        body, latest, history = _checkpoint_parts(embedded, str(checkpoint_path))
    else:
        body, latest, history = _read_checkpoint_file(checkpoint_path)
    key = _public_key(body, checkpoint_path, public_key_path, report)
    report.log_id = latest["log_id"]
    report.tree_size = latest["tree_size"]
    report.root_hash = latest["root_hash"]
    if report.key_source == "embedded":
        report.notes.append(
            f"no public key given: the signature was checked with the key in the checkpoint file "
            f"(key id {report.key_id}); compare it with the fingerprint the court published"
        )
    _check_signatures(latest, history, key, checkpoint_path, report)
    return latest, sorted(history, key=lambda h: h["tree_size"])


def _read_checkpoint_file(
    checkpoint_path: str | Path,
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The file's body, its latest checkpoint and the earlier ones (``history``), each field checked."""
    try:
        body = _parse(Path(checkpoint_path).read_bytes())
    except (OSError, ValueError) as exc:
        raise VerifyInputError(f"{checkpoint_path}: cannot read the checkpoint ({exc})") from exc
    return _checkpoint_parts(body, str(checkpoint_path))


def _checkpoint_parts(
    body: Any, checkpoint_path: str
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    latest = _check_checkpoint_fields(body, str(checkpoint_path))
    history_raw = body.get("history") or []
    if not isinstance(history_raw, list):
        raise VerifyInputError(f"{checkpoint_path}: history is not a list")
    history = [
        _check_checkpoint_fields(h, f"{checkpoint_path}: history[{i}]") for i, h in enumerate(history_raw)
    ]
    return body, latest, history


def _public_key(
    body: dict[str, Any],
    checkpoint_path: str | Path,
    public_key_path: str | Path | None,
    report: VerifyReport,
) -> Ed25519PublicKey:
    """The key given (``--public-key``), else the one the checkpoint file embeds; noted in ``report``."""
    if public_key_path is not None:
        try:
            pem = Path(public_key_path).read_bytes()
        except OSError as exc:
            raise VerifyInputError(f"{public_key_path}: cannot read the public key ({exc})") from exc
        key = _load_public_key(pem, str(public_key_path))
        report.key_source = "given"
    else:
        embedded = body.get("public_key")
        if not isinstance(embedded, str):
            raise VerifyInputError(f"{checkpoint_path}: no public key in the file; give --public-key")
        key = _load_public_key(embedded.encode(), f"{checkpoint_path}: public_key")
        report.key_source = "embedded"
    report.key_id = _key_id(key)
    return key


def _check_signatures(
    latest: dict[str, Any],
    history: list[dict[str, Any]],
    key: Ed25519PublicKey,
    checkpoint_path: str | Path,
    report: VerifyReport,
) -> None:
    """Every checkpoint in the file signed by ``key``, and each earlier one of the same log, no larger."""
    if not _signature_ok(latest, key):
        claimed = latest.get("key_id")
        hint = f" (the checkpoint names key {claimed})" if claimed and claimed != report.key_id else ""
        report.problems.append(
            Problem(
                "signature",
                None,
                None,
                f"the checkpoint (tree size {latest['tree_size']}) is not signed by key {report.key_id}{hint}",
            )
        )
    for h in history:
        if h["log_id"] != latest["log_id"] or h["tree_size"] > latest["tree_size"]:
            raise VerifyInputError(
                f"{checkpoint_path}: a history checkpoint is of another log or a larger tree"
            )
        if not _signature_ok(h, key):
            report.problems.append(
                Problem(
                    "signature",
                    None,
                    None,
                    f"the earlier checkpoint of size {h['tree_size']} at {h['at']} is not signed by key {report.key_id}",
                )
            )


# -- the checks -----------------------------------------------------------------------------------


EMBEDDED = "the export's own checkpoint"


def _export_header(export_path: str | Path) -> dict[str, Any] | None:
    """The header of the export's first line, or None when the first line is not a header."""
    try:
        with open(export_path, "rb") as fp:
            first = fp.readline()
    except OSError as exc:
        raise VerifyInputError(
            f"{export_path}: cannot read the export ({exc})", f"无法读取导出文件 {export_path}"
        ) from exc
    try:
        line = _parse(first.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None  # a damaged first line is reported as such by the record checks
    if isinstance(line, dict) and isinstance(line.get("header"), dict) and "seq" not in line:
        return line["header"]
    return None


def verify_export(
    export_path: str | Path,
    checkpoint_path: str | Path | None = None,
    public_key_path: str | Path | None = None,
) -> VerifyReport:
    """Check a JSONL export against its signed checkpoint; the report names the first bad record.

    ``checkpoint_path`` None: the checkpoint the export carries in its header. A full export is
    checked as a whole; a filtered one, record by record with its inclusion proofs.
    """
    report = VerifyReport()
    header = _export_header(export_path)
    if checkpoint_path is None:
        embedded = header.get("checkpoint") if header is not None else None
        if not isinstance(embedded, dict):
            raise VerifyInputError(
                f"{export_path}: the export carries no checkpoint; give the checkpoint file",
                "导出文件未附签名检查点，请同时提供检查点文件",
            )
        latest, history = _load_checkpoint(EMBEDDED, public_key_path, report, embedded)
    else:
        latest, history = _load_checkpoint(checkpoint_path, public_key_path, report)
    if header is not None and header.get("complete") is False and header.get("proofs") == "inclusion":
        return _verify_filtered(export_path, header, latest, report)
    n = latest["tree_size"]
    problems = report.problems
    entries = _read_entries(export_path, latest, report)
    kept = _within_checkpoint(entries, _inserted_copies(entries, problems), n, problems)
    by_seq = {entry.seq: entry for entry in kept}
    _check_removed(by_seq, n, problems)
    _check_order(kept, by_seq, problems)
    _check_root(by_seq, latest, history, problems)
    if report.ok:
        report.notes.append(f"{n} records, seq 0..{n - 1}, every leaf hash and the root recomputed")
    return report


@dataclass(frozen=True)
class _Entry:
    """A record line of the export: where it is, the seq it claims, and its leaf hash if the line holds up."""

    line: int
    seq: int
    leaf: bytes | None  # recomputed from the record; None when the line disagrees with its record


def _read_entries(export_path: str | Path, latest: dict[str, Any], report: VerifyReport) -> list[_Entry]:
    """The export's record lines in file order, each checked on its own; the header line is checked too."""
    problems = report.problems
    try:
        fp = open(export_path, "rb")  # noqa: SIM115 - closed below; streamed, exports can be large
    except OSError as exc:
        raise VerifyInputError(f"{export_path}: cannot read the export ({exc})") from exc

    entries: list[_Entry] = []
    with fp:
        for line_no, raw in enumerate(fp, start=1):
            if not raw.strip():
                continue
            guess = entries[-1].seq + 1 if entries else 0
            try:
                entry = _parse(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                problems.append(
                    Problem(
                        "malformed",
                        guess,
                        line_no,
                        f"line {line_no} is not a valid record line ({exc}): truncated or edited",
                    )
                )
                continue
            if line_no == 1 and isinstance(entry, dict) and "header" in entry and "seq" not in entry:
                _check_header(entry["header"], latest, report)
                continue
            if not _is_record_line(entry):
                problems.append(
                    Problem(
                        "malformed", guess, line_no, f"line {line_no} lacks seq, record or leaf_hash: edited"
                    )
                )
                continue
            report.records += 1
            entries.append(_Entry(line_no, entry["seq"], _check_entry(entry, line_no, problems)))
    return entries


def _is_record_line(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and type(entry.get("seq")) is int
        and entry["seq"] >= 0
        and isinstance(entry.get("record"), dict)
        and isinstance(entry.get("leaf_hash"), str)
    )


def _inserted_copies(entries: list[_Entry], problems: list[Problem]) -> set[int]:
    """Indexes of the lines that repeat a seq: the copy that follows its predecessor is taken as the
    original, the others were inserted."""
    by_seq: dict[int, list[int]] = {}  # seq -> indexes into entries
    for i, entry in enumerate(entries):
        by_seq.setdefault(entry.seq, []).append(i)
    intruders: set[int] = set()
    for seq, where in by_seq.items():
        if len(where) > 1:
            keep = next(
                (i for i in where if (i > 0 and entries[i - 1].seq == seq - 1) or (i == 0 and seq == 0)),
                where[0],
            )
            for i in where:
                if i != keep:
                    intruders.add(i)
                    line = entries[i].line
                    problems.append(
                        Problem(
                            "inserted",
                            seq,
                            line,
                            f"a record was inserted at line {line}: record {seq} already appears at line {entries[keep].line}",
                        )
                    )
    return intruders


def _within_checkpoint(
    entries: list[_Entry], intruders: set[int], n: int, problems: list[Problem]
) -> list[_Entry]:
    """The lines that are neither inserted copies nor beyond the checkpoint's ``n`` records, in file order."""
    kept = []
    for i, entry in enumerate(entries):
        if i in intruders:
            continue
        if entry.seq >= n:
            problems.append(
                Problem(
                    "inserted",
                    entry.seq,
                    entry.line,
                    f"record {entry.seq} was inserted (line {entry.line}): the checkpoint covers records 0..{n - 1} only",
                )
            )
            continue
        kept.append(entry)
    return kept


def _runs(values: list[int]) -> list[tuple[int, int]]:
    """Consecutive values as (first, last) pairs: [1, 2, 3, 7] → [(1, 3), (7, 7)]."""
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and runs[-1][1] == v - 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


def _check_removed(by_seq: dict[int, _Entry], n: int, problems: list[Problem]) -> None:
    """Each run of seqs below ``n`` that no line holds: cut from the end, or removed in between."""
    missing = [s for s in range(n) if s not in by_seq]
    for start, end in _runs(missing):
        if end == n - 1:
            where = f"the export ends after record {start - 1}" if start else "the export has no records"
            what = f"record {start} is missing" if start == end else f"records {start}..{end} are missing"
            problems.append(
                Problem(
                    "removed",
                    start,
                    None,
                    f"{what} at the end ({where}; the checkpoint covers {n}): removed or truncated",
                )
            )
        else:
            what = f"record {start} was removed" if start == end else f"records {start}..{end} were removed"
            after = f"record {start - 1}" if start else "the start"
            next_line = by_seq[end + 1].line
            problems.append(
                Problem(
                    "removed",
                    start,
                    next_line,
                    f"{what}: {after} is followed by record {end + 1} (line {next_line})",
                )
            )


def _check_order(kept: list[_Entry], by_seq: dict[int, _Entry], problems: list[Problem]) -> None:
    """The first record out of seq order, if any (one problem: the rest follow from it)."""
    order = [entry.seq for entry in kept]
    for got, want in zip(order, sorted(order), strict=True):
        if got != want:
            problems.append(
                Problem(
                    "reordered",
                    want,
                    by_seq[got].line,
                    f"record {want} is out of order: line {by_seq[got].line} holds record {got} where record {want} belongs "
                    f"(record {want} is at line {by_seq[want].line})",
                )
            )
            break


def _check_root(
    by_seq: dict[int, _Entry],
    latest: dict[str, Any],
    history: list[dict[str, Any]],
    problems: list[Problem],
) -> None:
    """The tree hash of the records against the signed root, and against the earlier checkpoints.

    Worth computing whenever every leaf 0..n-1 is there and matches its content: then a mismatch
    means a forger recomputed leaf hashes, and the history says where.
    """
    n = latest["tree_size"]
    leaves = [entry.leaf for s in range(n) if (entry := by_seq.get(s)) is not None and entry.leaf is not None]
    if len(leaves) != n:
        return
    root = _mth(leaves, 0, n)
    if root.hex() != latest["root_hash"].lower():
        problems.append(_locate_rewrite(leaves, latest, history, root))
    else:
        problems.extend(_contradicted_history(leaves, history))


def _check_entry(entry: dict[str, Any], line_no: int, problems: list[Problem]) -> bytes | None:
    """The leaf hash recomputed from the record's content, or None when the line disagrees with it."""
    seq, record = entry["seq"], entry["record"]
    try:
        leaf = _leaf(record)
    except ValueError as exc:
        problems.append(Problem("altered", seq, line_no, f"record {seq} was altered: {exc}"))
        return None
    if record.get("seq") != seq:
        problems.append(
            Problem(
                "altered",
                seq,
                line_no,
                f"record {seq} was altered: line {line_no} says seq {seq}, the record inside says {record.get('seq')!r}",
            )
        )
        return None
    if leaf.hex() != entry["leaf_hash"].lower():
        problems.append(
            Problem(
                "altered",
                seq,
                line_no,
                f"record {seq} was altered: leaf hash recomputed from its content is {leaf.hex()}, "
                f"the export lists {entry['leaf_hash']} (line {line_no})",
            )
        )
        return None
    return leaf


def _check_header(header: Any, latest: dict[str, Any], report: VerifyReport) -> None:
    if not isinstance(header, dict):
        raise VerifyInputError("the export header is not an object")
    if header.get("complete") is False:
        raise VerifyInputError(
            f"this is a filtered export ({header.get('filters')}): only the full export can be checked "
            "against the signed root; check single records with their inclusion proofs",
            "这是不带包含证明的筛选导出，无法对照签名根核验；请重新从服务导出（附包含证明）或逐条核验",
        )
    if header.get("log_id") not in (None, latest["log_id"]):
        raise VerifyInputError(
            f"the export is of log {header.get('log_id')}, the checkpoint of log {latest['log_id']}"
        )
    if isinstance(header.get("tree_size"), int) and header["tree_size"] != latest["tree_size"]:
        report.notes.append(
            f"the export header says {header['tree_size']} records, the checkpoint covers {latest['tree_size']}: "
            "export with the checkpoint's tree size (AuditLog.export_bundle) to check it"
        )


def _locate_rewrite(
    leaves: list[bytes], latest: dict[str, Any], history: list[dict[str, Any]], root: bytes
) -> Problem:
    """Every leaf matches its content but the root does not: leaf hashes were recomputed by a forger."""
    n = latest["tree_size"]
    prefix = _PrefixRoots()
    good, bad = 0, n
    sizes = {h["tree_size"]: h for h in history if h["tree_size"] < n}
    for seq, leaf in enumerate(leaves):
        prefix.push(leaf)
        h = sizes.get(seq + 1)
        if h is None:
            continue
        if prefix.root().hex() == h["root_hash"].lower():
            good = seq + 1
        else:
            bad = seq + 1
            break
    span = f"record {good}" if bad - good == 1 else f"records {good}..{bad - 1}"
    anchor = f"records 0..{good - 1} match the checkpoint of size {good}; " if good else ""
    return Problem(
        "root",
        good,
        None,
        f"the records do not produce the signed root (recomputed {root.hex()}, signed {latest['root_hash']}): "
        f"{anchor}a record among {span} was altered, inserted or removed and its leaf hash recomputed",
    )


def _contradicted_history(leaves: list[bytes], history: list[dict[str, Any]]) -> list[Problem]:
    """Earlier checkpoints that these records contradict, though the latest root matches.

    Every checkpoint of a log is of a prefix of it. One that is not shows a history rewritten after
    it was signed and signed again with the same key: a fork, which only the history can reveal.
    """
    by_size: dict[int, list[dict[str, Any]]] = {}
    for h in history:
        by_size.setdefault(h["tree_size"], []).append(h)
    prefix = _PrefixRoots()
    problems = []
    for size in range(len(leaves) + 1):
        if size:
            prefix.push(leaves[size - 1])
        for h in by_size.get(size, ()):
            if prefix.root().hex() != h["root_hash"].lower():
                problems.append(
                    Problem(
                        "root",
                        max(size - 1, 0),
                        None,
                        f"the earlier checkpoint of size {size} signed at {h['at']} does not match records "
                        f"0..{size - 1}: the log was rewritten after that checkpoint and signed again",
                    )
                )
    return problems


def _verify_filtered(
    export_path: str | Path, header: dict[str, Any], latest: dict[str, Any], report: VerifyReport
) -> VerifyReport:
    """Each record of a filtered export against the signed root through its own inclusion proof."""
    n = latest["tree_size"]
    if header.get("log_id") not in (None, latest["log_id"]):
        raise VerifyInputError(
            f"the export is of log {header.get('log_id')}, the checkpoint of log {latest['log_id']}",
            "导出文件与检查点不属于同一审计日志",
        )
    if header.get("tree_size") != n:
        raise VerifyInputError(
            f"the export's proofs are for tree size {header.get('tree_size')}, the checkpoint is of {n}: "
            "verify with the checkpoint the export carries (leave out the checkpoint file)",
            "导出文件的包含证明与所给检查点的树大小不同：请使用导出文件自带的检查点（不另给检查点文件）",
        )
    filters = header.get("filters") if isinstance(header.get("filters"), dict) else {}
    court = filters.get("court")
    problems = report.problems
    previous = -1
    with open(export_path, "rb") as fp:
        for line_no, raw in enumerate(fp, start=1):
            if line_no == 1 or not raw.strip():
                continue
            try:
                entry = _parse(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                problems.append(
                    Problem(
                        "malformed",
                        previous + 1,
                        line_no,
                        f"line {line_no} is not a valid record line ({exc})",
                    )
                )
                continue
            proof = entry.get("proof") if isinstance(entry, dict) else None
            if not _is_record_line(entry) or not isinstance(proof, list):
                problems.append(
                    Problem(
                        "malformed",
                        previous + 1,
                        line_no,
                        f"line {line_no} lacks seq, record, leaf_hash or proof",
                    )
                )
                continue
            report.records += 1
            seq = entry["seq"]
            if seq <= previous:
                problems.append(
                    Problem(
                        "reordered", seq, line_no, f"record {seq} at line {line_no} follows record {previous}"
                    )
                )
            previous = max(previous, seq)
            leaf = _check_entry(entry, line_no, problems)
            if leaf is None:
                continue
            if court is not None and (entry["record"].get("actor") or {}).get("court") != court:
                problems.append(
                    Problem("inserted", seq, line_no, f"record {seq} is not of {court}, the export's court")
                )
            try:
                root = _root_from_path(seq, n, leaf, [bytes.fromhex(h) for h in proof]) if seq < n else None
            except (ValueError, TypeError) as exc:
                problems.append(
                    Problem("root", seq, line_no, f"record {seq}: the inclusion proof is malformed ({exc})")
                )
                continue
            if root is None or root.hex() != latest["root_hash"].lower():
                problems.append(
                    Problem(
                        "root",
                        seq,
                        line_no,
                        f"record {seq} (line {line_no}) is not in the signed tree of size {n}: "
                        "altered, or inserted with a forged proof",
                    )
                )
    if report.ok:
        report.notes.append(
            f"筛选导出（{filters}）：{report.records} 条记录均经包含证明核对至签名根；"
            "这证明每条记录真实未改，但不能证明没有遗漏记录（需全量导出）"
        )
        report.notes.append(
            f"filtered export ({filters}): each of {report.records} records checked against the signed root "
            "by its inclusion proof; this proves each record genuine, not that none was left out (a full export does)"
        )
    return report


def verify_inclusion_file(
    proof_path: str | Path, checkpoint_path: str | Path, public_key_path: str | Path | None = None
) -> VerifyReport:
    """Check one record (an inclusion proof file from the log) against a signed checkpoint."""
    report = VerifyReport()
    latest, _ = _load_checkpoint(checkpoint_path, public_key_path, report)
    try:
        body = _parse(Path(proof_path).read_bytes())
        seq, size, record = body["seq"], body["tree_size"], body["record"]
        given_leaf = bytes.fromhex(body["leaf_hash"])
        path = [bytes.fromhex(p) for p in body["proof"]]
        if not isinstance(seq, int) or not isinstance(size, int) or not isinstance(record, dict):
            raise ValueError("seq, tree_size or record has the wrong type")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise VerifyInputError(f"{proof_path}: not an inclusion proof ({exc})") from exc
    if size != latest["tree_size"]:
        raise VerifyInputError(
            f"the proof is for tree size {size}, the checkpoint for {latest['tree_size']}: ask the log for a proof at the checkpoint's size"
        )
    report.records = 1
    leaf = _leaf(record)
    if record.get("seq") != seq:
        report.problems.append(
            Problem(
                "altered",
                seq,
                None,
                f"record {seq} was altered: the record inside says seq {record.get('seq')!r}",
            )
        )
    if leaf != given_leaf:
        report.problems.append(
            Problem(
                "altered",
                seq,
                None,
                f"record {seq} was altered: leaf hash recomputed {leaf.hex()}, the proof lists {given_leaf.hex()}",
            )
        )
    if not 0 <= seq < size:
        report.problems.append(
            Problem("inserted", seq, None, f"record {seq} is not in a tree of size {size}")
        )
    elif not report.problems:
        try:
            root = _root_from_path(seq, size, leaf, path)
        except ValueError as exc:
            report.problems.append(
                Problem("root", seq, None, f"record {seq}: the inclusion proof is malformed ({exc})")
            )
        else:
            if root.hex() != latest["root_hash"].lower():
                report.problems.append(
                    Problem(
                        "root",
                        seq,
                        None,
                        f"record {seq} is not in the signed tree: its proof leads to root {root.hex()}",
                    )
                )
    return report
