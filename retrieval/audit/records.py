"""Audit records (检索留痕记录) and their canonical JSON, the bytes the Merkle tree hashes."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

RECORD_VERSION = 1
_KIND = re.compile(r"[a-z][a-z_]{0,31}")


class InvalidRecord(ValueError):
    """A value that has no canonical JSON form (NaN, a datetime, a non-string key, …)."""


class RecordKind(StrEnum):
    """What an audit record is about; other lowercase kinds are accepted for later needs."""

    SEARCH = "search"  # a mandatory search (类案检索) and its ranked results
    DECISION = "decision"  # a judge marks a result 类案/非类案 with a reason
    REPORT = "report"  # a 类案检索报告 was generated
    EXPORT = "export"  # the audit log itself was exported
    TOKEN = "token"  # an access token was issued or revoked
    SUMMARY = "summary"  # an Art. 13 periodic summary was drawn from the log


def _check(value: Any, path: str) -> None:
    """Refuse anything whose JSON form is ambiguous, so that the same record always hashes the same."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidRecord(f"{path}: lone surrogate in string (not encodable as UTF-8)") from exc
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRecord(f"{path}: {value!r} has no JSON form")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidRecord(f"{path}: key {key!r} is not a string")
            _check(item, f"{path}.{key}")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    raise InvalidRecord(
        f"{path}: {type(value).__name__} is not JSON; serialise it first (dates as ISO-8601 strings)"
    )


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, ensure_ascii off: one byte string per value, hashed as a leaf."""
    _check(obj, "$")
    text = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8")


def utc_timestamp(moment: dt.datetime | None = None) -> str:
    """UTC with milliseconds and ``Z``, fixed width so that strings sort as times."""
    moment = moment or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:
        raise InvalidRecord("timestamps must be timezone-aware")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Actor:
    """Who acted: the signed-in user, their role (承办法官, 庭长, 审管办…) and their court."""

    user: str
    role: str
    court: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user, "role": self.role, "court": self.court}

    @classmethod
    def coerce(cls, value: Actor | Mapping[str, Any]) -> Actor:
        if isinstance(value, Actor):
            return value
        try:
            return cls(user=value["user"], role=value["role"], court=value.get("court"))
        except (KeyError, TypeError) as exc:
            raise InvalidRecord(f"actor: needs user and role ({exc})") from exc


@dataclass(frozen=True)
class AuditRecord:
    """One entry of the log; ``to_bytes()`` is the leaf data, so every field is covered by the hash."""

    seq: int
    kind: str
    at: str
    actor: Actor
    client: str | None
    payload: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": RECORD_VERSION,
            "seq": self.seq,
            "kind": str(self.kind),
            "at": self.at,
            "actor": self.actor.to_dict(),
            "client": self.client,
            "payload": dict(self.payload),
        }

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditRecord:
        if data.get("v") != RECORD_VERSION:
            raise InvalidRecord(f"unknown record version {data.get('v')!r}")
        return cls(
            seq=data["seq"],
            kind=data["kind"],
            at=data["at"],
            actor=Actor.coerce(data["actor"]),
            client=data["client"],
            payload=data["payload"],
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> AuditRecord:
        return cls.from_dict(json.loads(data))


def validate_kind(kind: str) -> str:
    """Kinds are short lowercase words so that filters and CSV columns stay predictable."""
    kind = str(kind)
    if not _KIND.fullmatch(kind):
        raise InvalidRecord(f"kind: {kind!r} is not a lowercase word")
    return kind


def search_payload(
    *,
    trigger: str,
    case_number: str | None,
    methods: Sequence[str],
    query: str,
    results: Sequence[Mapping[str, Any]],
    keywords: Mapping[str, Any] | None = None,
    articles: Sequence[str] = (),
    seed: str | None = None,
    filters: Mapping[str, Any] | None = None,
    index_version: str | None = None,
    manifest_sha256: str | None = None,
    embedder: str | None = None,
    ann: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The payload of a ``search`` record: enough to show later what was searched, why and what came back.

    ``trigger`` is the item of Art. 2 of the SPC guidance (《关于统一法律适用加强类案检索的指导意见（试行）》)
    that made the search mandatory; ``results`` are ``{doc_id, tier, score, effect}`` in ranked order.
    """
    ranked = []
    for i, hit in enumerate(results):
        try:
            ranked.append(
                {
                    "doc_id": hit["doc_id"],
                    "tier": hit["tier"],
                    "score": hit["score"],
                    "effect": hit.get("effect"),
                }
            )
        except KeyError as exc:
            raise InvalidRecord(f"results[{i}]: missing {exc}") from exc
    payload = {
        "trigger": trigger,
        "case_number": case_number,
        "methods": [str(m) for m in methods],
        "query": query,
        "keywords": dict(keywords or {}),
        "articles": list(articles),
        "seed": seed,
        "filters": dict(filters or {}),
        "index": {"version": index_version, "manifest_sha256": manifest_sha256},
        "embedder": embedder,
        "ann": dict(ann or {}),
        "results": ranked,
    }
    _check(payload, "payload")
    return payload
