"""The outgoing webhook to a court's case-management system: URL checks, signature, one HTTP POST.

Each delivery is a JSON body signed with HMAC-SHA256 over ``"<timestamp>.<body>"``:

    X-Leian-Timestamp: 1733600000
    X-Leian-Signature: v1=<hex of the current secret>[,v1=<hex of the previous secret>]
    X-Leian-Key-Id: <number of the current secret>
    Idempotency-Key: <stable per push: the receiver drops a repeat>

The previous secret also signs for ``grace`` seconds after a rotation, so the receiver can switch
its secret at its own pace (the Stripe scheme). The timestamp lets it refuse replays.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-Leian-Signature"
TIMESTAMP_HEADER = "X-Leian-Timestamp"
KEY_ID_HEADER = "X-Leian-Key-Id"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class WebhookUrlError(ValueError):
    """A webhook URL that is not http(s) or not on the configured allow-list."""


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def check_url(url: str, allow: Sequence[str]) -> str:
    """``url`` if it is http(s) and its host is on ``allow`` (host names, ``*.suffix``, IPs or CIDRs).

    An empty allow-list refuses every URL: a court's case-management address is configured on
    purpose (``LEIAN_WEBHOOK_ALLOW``), never whatever a request names.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookUrlError("url: must be an http:// or https:// URL with a host")
    host = parts.hostname.lower()
    for entry in allow:
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry.startswith("*.") and host.endswith(entry[1:]):
            return url.strip()
        if host == entry:
            return url.strip()
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                return url.strip()
        except ValueError:
            continue
    raise WebhookUrlError(f"url: host {host!r} is not on the webhook allow-list (LEIAN_WEBHOOK_ALLOW)")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify(header: str, secret: str, timestamp: str, body: bytes) -> bool:
    """What a receiver does: any ``v1=`` signature in the header matching ``secret``."""
    expected = sign(secret, timestamp, body)
    return any(
        hmac.compare_digest(part.strip()[3:], expected)
        for part in header.split(",")
        if part.strip().startswith("v1=")
    )


@dataclass(frozen=True)
class Attempt:
    delivered: bool
    status: int | None
    error: str | None


def headers_for(hook: dict[str, Any], key: str, body: bytes, grace_s: float, now: float) -> dict[str, str]:
    timestamp = str(int(now))
    signatures = [f"v1={sign(hook['secret'], timestamp, body)}"]
    rotated = hook.get("rotated_at")
    if hook.get("previous_secret") and rotated is not None and now - float(rotated) < grace_s:
        signatures.append(f"v1={sign(hook['previous_secret'], timestamp, body)}")
    return {
        "Content-Type": "application/json; charset=utf-8",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: ",".join(signatures),
        KEY_ID_HEADER: str(hook["secret_id"]),
        IDEMPOTENCY_HEADER: key,
        "User-Agent": "leian-push/1",
    }


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect could lead outside the allow-list: it is a failed attempt, never followed."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post(url: str, headers: dict[str, str], body: bytes, timeout_s: float) -> Attempt:
    """One POST; 2xx is delivered, anything else (status, refusal, timeout) is a failed attempt."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:  # scheme and host checked before
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        return Attempt(False, int(exc.code), f"HTTP {exc.code}")
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        return Attempt(False, None, f"{type(exc).__name__}: {reason}"[:300])
    if 200 <= status < 300:
        return Attempt(True, status, None)
    return Attempt(False, status, f"HTTP {status}")


def backoff(attempt: int, base_s: float, cap_s: float = 3600.0) -> float:
    """Seconds before attempt ``attempt + 1``: base × 2^(attempt − 1), capped."""
    return min(cap_s, base_s * (2 ** max(0, attempt - 1)))


def now() -> float:
    return time.time()
