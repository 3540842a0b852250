"""Bearer tokens: ``<token_id>.<secret>``, where only SHA-256 of the whole token is stored.

The id is public (it names the token in ``leian token revoke`` and in audit records) and finds the
row; the secret is 32 random bytes. A stolen accounts database therefore yields no usable token,
and the stored hash is compared in constant time so that response timing says nothing about it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_ID_BYTES = 8
SECRET_BYTES = 32


def new_token() -> tuple[str, str]:
    """(token id, full token); the full token is shown once and never stored."""
    token_id = secrets.token_hex(TOKEN_ID_BYTES)
    return token_id, f"{token_id}.{secrets.token_urlsafe(SECRET_BYTES)}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def split_token(token: str) -> str | None:
    """The token id of a well-formed token, else None (no database look-up for garbage)."""
    token_id, sep, secret = token.partition(".")
    if not sep or len(token_id) != 2 * TOKEN_ID_BYTES or len(secret) < 32:
        return None
    try:
        int(token_id, 16)
    except ValueError:
        return None
    return token_id


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), stored_hash)
