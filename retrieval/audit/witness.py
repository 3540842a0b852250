"""The witness file: the latest signed tree head (已签名树头), kept outside the audit database.

Whoever edits the database can also delete its checkpoint rows, so the rows alone cannot show that
the log lost its tail or was rewritten after the last checkpoint. The service therefore also writes
every head it signs to a small file elsewhere (``LEIAN_WITNESS_PATH``, by default beside the data
folder), and refuses to extend a log that is shorter than that head or has another root at its
size. The file is a checkpoint file, in the format ``leian audit verify`` reads.

It only raises the bar: an attacker who can write the witness too, and read the signing key, can
forge both. Put the file on storage the service can write and others cannot (another volume, a
mount the audit department controls), and keep the receipts handed to judges: they are the copies
the attacker cannot reach.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from retrieval.audit.signing import (
    SignedCheckpoint,
    SigningKeyError,
    checkpoint_file_json,
    key_id,
    parse_public_key,
    verify_checkpoint,
)

WITNESS_SUFFIX = ".audit-witness.json"


class WitnessError(ValueError):
    """The witness file exists but cannot be read or its signature does not hold."""


@dataclass(frozen=True)
class Witness:
    signed: SignedCheckpoint
    raw: bytes  # the file as read: an unchanged file needs no second check

    @property
    def tree_size(self) -> int:
        return self.signed.checkpoint.tree_size

    @property
    def root(self) -> bytes:
        return bytes.fromhex(self.signed.checkpoint.root_hash)


def default_witness_path(data_dir: Path) -> Path:
    """``<parent>/<data folder name>.audit-witness.json``: beside the data folder, not inside it."""
    resolved = data_dir.resolve()
    return resolved.parent / f"{resolved.name}{WITNESS_SUFFIX}"


def read_witness(path: Path, expected_key: Ed25519PublicKey | None = None) -> Witness | None:
    """The signed head in ``path``, its signature checked; None when there is no file.

    ``expected_key``: the service's own key; a head signed by another key is refused, since the
    key embedded in the file proves nothing by itself.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise WitnessError(f"{path}: cannot read the witness file: {exc}") from exc
    return parse_witness(raw, str(path), expected_key)


def parse_witness(raw: bytes, source: str, expected_key: Ed25519PublicKey | None = None) -> Witness:
    try:
        body = json.loads(raw)
        signed = SignedCheckpoint.from_dict(body)
        embedded = parse_public_key(body["public_key"], source)
    except (ValueError, KeyError, TypeError, SigningKeyError) as exc:
        raise WitnessError(f"{source}: not a signed tree head: {exc}") from exc
    key = expected_key or embedded
    if signed.key_id != key_id(key):
        raise WitnessError(f"{source}: signed by key {signed.key_id[:16]}…, not by this service's key")
    if not verify_checkpoint(signed.checkpoint, signed.signature, key):
        raise WitnessError(f"{source}: the signature of the tree head does not verify")
    return Witness(signed, raw)


def write_witness(
    path: Path, signed: SignedCheckpoint, key: Ed25519PrivateKey, *, durable: bool = True
) -> bytes:
    """Replace the witness atomically (temporary file, rename); returns the bytes written.

    Called after the records it covers are committed, so a crash leaves it behind the log, never
    ahead of it. The folder is not fsynced: a rename lost in a crash leaves an older head, which
    the log still extends. ``durable=False`` skips the file's fsync (per append, where it would
    double the append's cost): every process, an attacker's shell included, sees the new head at
    once from the page cache; only a power cut can lose it, and then the log merely runs ahead
    (``sync_witness`` at close and at each watcher pass narrows that window).
    """
    raw = checkpoint_file_json(signed, key.public_key()).encode("utf-8")
    staged = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        try:
            os.write(fd, raw)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(staged, path)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    return raw


def sync_witness(path: Path) -> None:
    """fsync the witness written without it; a missing file is left to the next check."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
