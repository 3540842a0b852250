"""Ed25519 keys and signed checkpoints (签名的树头): the log's commitment to its size and root.

The private key is a PEM file whose path comes from configuration; it is never written to the
audit database, so that whoever can edit the database still cannot sign a rewritten history.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

CHECKPOINT_FORMAT = "leian-audit/v1"
CHECKPOINT_FILE_FORMAT = "leian-audit-checkpoint/v1"


class SigningKeyError(ValueError):
    """A key file is missing, of the wrong type, or would be overwritten."""


class SigningKeyExists(SigningKeyError):
    """The key file already exists (perhaps just written by another worker of the same service)."""


def generate_key(path: str | Path) -> Ed25519PrivateKey:
    """Write a new private key (PKCS#8 PEM, mode 0600); an existing file is never replaced.

    The key is written to a temporary file and hard-linked into place, so that the service's
    other worker processes, starting at the same moment, find either no key or the whole of it.
    """
    path = Path(path)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    if path.exists():
        raise SigningKeyExists(f"{path} exists; refusing to overwrite a signing key")
    staged = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # the umask can only remove bits; make the mode explicit anyway
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(staged, path)  # atomic, and refuses an existing name
    except FileExistsError as exc:
        raise SigningKeyExists(f"{path} exists; refusing to overwrite a signing key") from exc
    finally:
        staged.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return key


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path}: not a readable unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path}: not an Ed25519 key")
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"{path}: cannot read the public key ({exc})") from exc
    return parse_public_key(pem, str(path))


def parse_public_key(pem: bytes | str, source: str = "public key") -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{source}: not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{source}: not an Ed25519 key")
    return key


def _public(key: Ed25519PrivateKey | Ed25519PublicKey) -> Ed25519PublicKey:
    return key.public_key() if isinstance(key, Ed25519PrivateKey) else key


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    return (
        _public(key)
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key: the fingerprint an auditor compares out of band."""
    raw = _public(key).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """The tree head: after ``tree_size`` records the root was ``root_hash`` (hex), at time ``at``."""

    tree_size: int
    root_hash: str
    at: str
    log_id: str

    def signed_text(self) -> bytes:
        """The exact bytes signed, in the spirit of a C2SP signed note: one field per line."""
        if "\n" in self.log_id or "\n" in self.at:
            raise ValueError("log_id and at must be single lines")
        root_b64 = base64.b64encode(bytes.fromhex(self.root_hash)).decode("ascii")
        return f"{CHECKPOINT_FORMAT}\n{self.log_id}\n{self.tree_size}\n{root_b64}\n{self.at}\n".encode()


def sign_checkpoint(checkpoint: Checkpoint, private_key: Ed25519PrivateKey) -> bytes:
    return private_key.sign(checkpoint.signed_text())


def verify_checkpoint(checkpoint: Checkpoint, signature: bytes, public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(signature, checkpoint.signed_text())
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    signature: bytes
    key_id: str

    def to_dict(self) -> dict[str, Any]:
        cp = self.checkpoint
        return {
            "log_id": cp.log_id,
            "tree_size": cp.tree_size,
            "root_hash": cp.root_hash,
            "at": cp.at,
            "signature": base64.b64encode(self.signature).decode("ascii"),
            "key_id": self.key_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SignedCheckpoint:
        try:
            return cls(
                Checkpoint(
                    int(data["tree_size"]), str(data["root_hash"]), str(data["at"]), str(data["log_id"])
                ),
                base64.b64decode(data["signature"], validate=True),
                str(data["key_id"]),
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise ValueError(f"not a checkpoint: {exc}") from exc


def checkpoint_file_json(
    latest: SignedCheckpoint, public_key: Ed25519PublicKey, history: Sequence[SignedCheckpoint] = ()
) -> str:
    """The checkpoint file handed to an auditor with an export.

    ``history`` (earlier checkpoints signed with the same key) lets the verifier say between which
    two checkpoints a rewritten record lies. The embedded public key is a convenience only: an
    auditor should compare ``key_id`` with the fingerprint published by the court.
    """
    body = {
        "format": CHECKPOINT_FILE_FORMAT,
        **latest.to_dict(),
        "public_key": public_key_pem(public_key),
        "history": [h.to_dict() for h in history],
    }
    return json.dumps(body, ensure_ascii=False, indent=2) + "\n"
