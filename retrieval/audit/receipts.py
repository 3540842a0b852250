"""Signed receipts (留痕回执): what the answer to an audited act carries, and how it is checked later.

A receipt is the tree head signed right after the act's record was appended (so it covers that
record and every one before it) plus the record's inclusion proof in that tree::

    {"format": "leian-audit-receipt/v1", "log_id", "seq", "leaf_hash", "tree_size", "root",
     "at", "signature", "key_id", "inclusion_proof": [hex, …]}

``signature`` (base64) is the Ed25519 signature of the checkpoint text of ``retrieval.audit``
(log_id, tree_size, root, at), ``key_id`` the SHA-256 of the raw public key. Whoever holds a
receipt holds a copy of the log's state that no one editing the server can reach: if the record,
or any record before it, is later changed, even with its leaf hash recomputed, the log no longer
has ``root`` at ``tree_size`` and ``check_receipt`` says so.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from retrieval.audit import merkle
from retrieval.audit.signing import Checkpoint, SignedCheckpoint, key_id, verify_checkpoint


class ReceiptLog(Protocol):
    """What checking a receipt reads of a log (``retrieval.audit.store.AuditLog`` is one): the
    stored head, one leaf, a consistency proof. A protocol, so that the writer's module, which makes
    receipts, and this one, which checks them, do not import each other."""

    log_id: str

    def stored_head(self) -> tuple[int, bytes]: ...

    def leaf(self, seq: int) -> tuple[bytes, bytes]: ...

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]: ...


RECEIPT_FORMAT = "leian-audit-receipt/v1"


class ReceiptError(ValueError):
    """Not a receipt (missing or malformed fields)."""


@dataclass(frozen=True)
class Receipt:
    log_id: str
    seq: int
    leaf_hash: str
    tree_size: int
    root: str
    at: str
    signature: str  # base64
    key_id: str
    inclusion_proof: tuple[str, ...]

    @classmethod
    def of(cls, signed: SignedCheckpoint, seq: int, leaf: bytes, path: list[bytes]) -> Receipt:
        cp = signed.checkpoint
        return cls(
            cp.log_id,
            seq,
            leaf.hex(),
            cp.tree_size,
            cp.root_hash,
            cp.at,
            base64.b64encode(signed.signature).decode("ascii"),
            signed.key_id,
            tuple(p.hex() for p in path),
        )

    def signed(self) -> SignedCheckpoint:
        return SignedCheckpoint(
            Checkpoint(self.tree_size, self.root, self.at, self.log_id),
            base64.b64decode(self.signature, validate=True),
            self.key_id,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": RECEIPT_FORMAT,
            "log_id": self.log_id,
            "seq": self.seq,
            "leaf_hash": self.leaf_hash,
            "tree_size": self.tree_size,
            "root": self.root,
            "at": self.at,
            "signature": self.signature,
            "key_id": self.key_id,
            "inclusion_proof": list(self.inclusion_proof),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Receipt:
        """Accepts the receipt itself or an answer holding it under ``audit`` or ``receipt``."""
        if isinstance(data, dict) and "format" not in data:
            data = data.get("receipt") or data.get("audit") or data
        if not isinstance(data, dict) or data.get("format") != RECEIPT_FORMAT:
            raise ReceiptError(f"not a receipt: expected format {RECEIPT_FORMAT!r}")
        try:
            receipt = cls(
                str(data["log_id"]),
                int(data["seq"]),
                str(data["leaf_hash"]),
                int(data["tree_size"]),
                str(data["root"]),
                str(data["at"]),
                str(data["signature"]),
                str(data["key_id"]),
                tuple(str(p) for p in data["inclusion_proof"]),
            )
            receipt.signed()
            for h in (receipt.leaf_hash, receipt.root, *receipt.inclusion_proof):
                if len(bytes.fromhex(h)) != merkle.HASH_SIZE:
                    raise ValueError(f"{h!r} is not a SHA-256 hash")
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise ReceiptError(f"not a receipt: {exc}") from exc
        return receipt

    @classmethod
    def load(cls, path: Path) -> Receipt:
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise ReceiptError(f"{path}: {exc}") from exc


@dataclass
class ReceiptCheck:
    """The outcome of checking a receipt: ``problems`` empty means it still holds."""

    receipt: Receipt
    problems: list[str] = field(default_factory=list)
    log_size: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        r = self.receipt
        if self.ok:
            return (
                f"OK: record {r.seq} (leaf {r.leaf_hash[:16]}…) is in the log, which still has root "
                f"{r.root[:16]}… at size {r.tree_size} and extends it to {self.log_size} records"
            )
        return f"FAILED: receipt of record {r.seq} (tree size {r.tree_size}) checked against the log:"


def check_signature(receipt: Receipt, public_key: Ed25519PublicKey) -> list[str]:
    """The receipt on its own: signed by this key, and the record's leaf in the signed tree."""
    problems = []
    if receipt.key_id != key_id(public_key):
        problems.append(f"signed by key {receipt.key_id[:16]}…, not by the given public key")
    signed = receipt.signed()
    if not verify_checkpoint(signed.checkpoint, signed.signature, public_key):
        problems.append("the signature does not verify: the receipt was altered or forged")
    if not merkle.verify_inclusion(
        receipt.seq,
        receipt.tree_size,
        bytes.fromhex(receipt.leaf_hash),
        [bytes.fromhex(p) for p in receipt.inclusion_proof],
        bytes.fromhex(receipt.root),
    ):
        problems.append(f"the inclusion proof does not lead from leaf {receipt.seq} to the signed root")
    return problems


def check_receipt(receipt: Receipt, log: ReceiptLog, public_key: Ed25519PublicKey) -> ReceiptCheck:
    """Check a receipt against the log as it is now (CT's consistency check, done by the holder).

    The log must be the same log, hold the record with the leaf hash its content hashes to, and
    extend the signed tree: a consistency proof from ``tree_size`` to the current size must verify
    against the receipt's root and the current root. A rewrite before or at the record, even with
    recomputed leaf hashes, fails the last; a removed tail fails the size.
    """
    check = ReceiptCheck(receipt, check_signature(receipt, public_key))
    if receipt.log_id != log.log_id:
        check.problems.append(f"the receipt is from log {receipt.log_id!r}, this is {log.log_id!r}")
        return check
    size, root = log.stored_head()
    check.log_size = size
    if size < receipt.tree_size:
        check.problems.append(
            f"the log has {size} records, fewer than the {receipt.tree_size} the receipt was signed over: "
            "records were removed"
        )
        return check
    data, stored_leaf = log.leaf(receipt.seq)
    if merkle.leaf_hash(data).hex() != receipt.leaf_hash:
        check.problems.append(
            f"record {receipt.seq} is not the record the receipt was issued for: it was changed"
        )
    elif stored_leaf.hex() != receipt.leaf_hash:
        check.problems.append(f"record {receipt.seq}'s stored leaf hash differs from the receipt's")
    proof = log.consistency_proof(receipt.tree_size, size)
    if not merkle.verify_consistency(receipt.tree_size, size, bytes.fromhex(receipt.root), root, proof):
        check.problems.append(
            f"the log does not extend the signed tree of size {receipt.tree_size}: "
            f"records 0..{receipt.tree_size - 1} were rewritten after the receipt was issued"
        )
    return check
