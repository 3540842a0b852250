"""A JSON document signed with the audit key (Ed25519): the backup manifest, so it cannot be fixed up.

Checksums in a manifest only say that the files are the ones the manifest lists; whoever edits a file
can recompute them. A signature by the audit key over the manifest's canonical JSON makes the list
itself the key holder's word. The signed bytes are ``PURPOSE\\n`` followed by the canonical JSON of the
document without its ``signature`` member, so a signature made for one kind of document is never
valid for another, and key order or whitespace in the file do not matter.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from retrieval.audit.records import InvalidRecord, canonical_json
from retrieval.audit.signing import key_id

SIGNATURE = "signature"


class DocumentSignatureError(ValueError):
    """The document is unsigned, signed for another purpose, by another key, or altered since."""


def _signed_bytes(purpose: str, body: Mapping[str, Any]) -> bytes:
    if "\n" in purpose:
        raise ValueError("purpose must be one line")
    try:
        return purpose.encode() + b"\n" + canonical_json(dict(body))
    except InvalidRecord as exc:
        raise DocumentSignatureError(f"the document has no canonical form: {exc}") from exc


def sign_document(body: Mapping[str, Any], key: Ed25519PrivateKey, purpose: str) -> dict[str, Any]:
    """``body`` with a ``signature`` member: purpose, key id and the Ed25519 signature (base64)."""
    unsigned = {k: v for k, v in body.items() if k != SIGNATURE}
    signature = key.sign(_signed_bytes(purpose, unsigned))
    return {
        **unsigned,
        SIGNATURE: {
            "purpose": purpose,
            "key_id": key_id(key),
            "ed25519": base64.b64encode(signature).decode("ascii"),
        },
    }


def verify_document(
    document: Mapping[str, Any], public_key: Ed25519PublicKey, purpose: str
) -> dict[str, Any]:
    """The document without its signature, if ``public_key`` signed exactly it for ``purpose``."""
    signed = document.get(SIGNATURE)
    if not isinstance(signed, Mapping):
        raise DocumentSignatureError("it is not signed")
    if signed.get("purpose") != purpose:
        raise DocumentSignatureError(f"it is signed as {signed.get('purpose')!r}, not as {purpose!r}")
    if signed.get("key_id") != key_id(public_key):
        raise DocumentSignatureError(
            f"it is signed by key {signed.get('key_id')}, not by key {key_id(public_key)}"
        )
    try:
        raw = base64.b64decode(str(signed.get("ed25519")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DocumentSignatureError(f"its signature is not base64 ({exc})") from exc
    body = {k: v for k, v in document.items() if k != SIGNATURE}
    try:
        public_key.verify(raw, _signed_bytes(purpose, body))
    except InvalidSignature as exc:
        raise DocumentSignatureError(
            "its signature does not match its content: altered after signing"
        ) from exc
    return body
