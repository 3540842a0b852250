"""Audit records (检索留痕记录) and their canonical JSON, the bytes the Merkle tree hashes."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

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
    ACCOUNT = "account"  # a user account was created, changed (role, court), disabled or enabled
    ACCOUNTS = "accounts"  # the accounts as they stood were adopted into the log (a snapshot)
    BACKUP = "backup"  # the log and the accounts were backed up
    OVERRIDE = "override"  # an operator acted as another account, with an admin's stated reason
    DRAFT = "draft"  # a draft reasoning paragraph on a cited case was generated (文书辅助, Art. 10)
    PUSH = "push"  # 智能推送: a push or 不再参照 alert for a pending case, or the judge's accept/dismiss


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


# -- typed payloads ---------------------------------------------------------------------------------
#
# Every payload the service writes is one of the classes below, and only they spell its keys: a
# writer builds the object and calls ``to_payload()``, a reader calls ``from_payload()``. Readers are
# lenient (a missing key reads as its default) because they also read records written before a key
# existed; ``schema`` says which layout a payload has (absent: 1, the layout before it was recorded).

PAYLOAD_SCHEMA = 1
ACCOUNTS_SCHEMA = 2
"""Account and token payloads from 2 on carry the whole row they leave in the accounts database
(user id, timestamps, token hash), so that the accounts can be rebuilt from the log; 1 did not."""
_SCHEMA_KEY = "schema"


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def payload_schema(payload: Mapping[str, Any]) -> int:
    """The layout version of a payload; records written before versions were recorded are 1."""
    value = payload.get(_SCHEMA_KEY, 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def _readable(payload: Mapping[str, Any], newest: int = PAYLOAD_SCHEMA) -> Mapping[str, Any]:
    """Refuse a payload written by a newer layout than this code reads, rather than misread it."""
    schema = payload_schema(payload)
    if schema > newest:
        raise InvalidRecord(f"payload schema {schema} is newer than this version reads ({newest})")
    return payload


def _versioned(body: dict[str, Any], schema: int = PAYLOAD_SCHEMA) -> dict[str, Any]:
    body[_SCHEMA_KEY] = schema
    _check(body, "payload")
    return body


@dataclass(frozen=True)
class CaseworkFields:
    """The keys that several kinds share (search, decision, report), read from any payload.

    Record filters and the CSV export look at every kind the same way; a kind without a field reads
    None, never raises.
    """

    case_number: str | None
    trigger: str | None
    methods: tuple[str, ...] | None
    result_count: int | None
    result_tiers: tuple[Any, ...] = ()  # the tier of each ranked result, as recorded

    @classmethod
    def of(cls, payload: Mapping[str, Any]) -> CaseworkFields:
        methods = payload.get("methods")
        results = payload.get("results")
        ranked = results if isinstance(results, list) else []
        return cls(
            case_number=payload.get("case_number"),
            trigger=payload.get("trigger"),
            methods=_strings(methods) if isinstance(methods, list) else None,
            result_count=len(results) if isinstance(results, list) else None,
            result_tiers=tuple(r.get("tier") for r in ranked if isinstance(r, Mapping)),
        )


@dataclass(frozen=True)
class RankedResult:
    """One ranked result as the search record keeps it: enough to replay the list in its order."""

    doc_id: str
    tier: int | None
    score: float
    effect: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "tier": self.tier, "score": self.score, "effect": self.effect}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RankedResult:
        tier = data.get("tier")
        return cls(
            doc_id=str(data["doc_id"]),
            tier=int(tier) if tier is not None else None,
            score=float(data.get("score") or 0.0),
            effect=_str_or_none(data.get("effect")),
        )


@dataclass(frozen=True)
class ShownResult:
    """A result as the judge saw it (卡片): what a report needs when the index has changed since.

    ``holding`` is the key point as shown (``key_point_kind`` says whether it is the published
    裁判要点 or sentences selected from the reasoning); ``citation`` is how the case is cited
    (指导案例N号, 公报 issue, 案号); ``causes``/``outcome``/``committee`` and ``outcome_detail`` (the
    parsed outcome with its decisive circumstances) feed the Art. 11 conflict check, ``authority_kind`` the Art. 9 effect once the judge has marked the case.
    """

    doc_id: str
    title: str | None = None
    case_number: str | None = None
    court: Mapping[str, Any] | None = None
    decision_date: str | None = None
    holding: str | None = None
    tier: int | None = None
    effect: str | None = None
    explanation: Mapping[str, Any] | None = None
    citation: str | None = None
    key_point_kind: str | None = None
    authority_kind: str | None = None
    recent: bool = False
    causes: tuple[str, ...] = ()
    outcome: str | None = None
    committee: bool = False
    outcome_detail: Mapping[str, Any] | None = None  # retrieval.report.conflicts.outcome_profile

    def to_dict(self) -> dict[str, Any]:
        body = {
            "doc_id": self.doc_id,
            "title": self.title,
            "case_number": self.case_number,
            "court": dict(self.court) if self.court is not None else None,
            "decision_date": self.decision_date,
            "holding": self.holding,
            "tier": self.tier,
            "effect": self.effect,
            "explanation": dict(self.explanation) if self.explanation is not None else None,
            "citation": self.citation,
            "key_point_kind": self.key_point_kind,
            "authority_kind": self.authority_kind,
            "recent": self.recent,
            "causes": list(self.causes),
            "outcome": self.outcome,
            "committee": self.committee,
        }
        if self.outcome_detail is not None:
            body["outcome_detail"] = dict(self.outcome_detail)
        return body

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShownResult:
        tier = data.get("tier")
        court = data.get("court")
        explanation = data.get("explanation")
        detail = data.get("outcome_detail")
        return cls(
            doc_id=str(data["doc_id"]),
            title=_str_or_none(data.get("title")),
            case_number=_str_or_none(data.get("case_number")),
            court=dict(court) if isinstance(court, Mapping) else None,
            decision_date=_str_or_none(data.get("decision_date")),
            holding=_str_or_none(data.get("holding")),
            tier=int(tier) if tier is not None else None,
            effect=_str_or_none(data.get("effect")),
            explanation=dict(explanation) if isinstance(explanation, Mapping) else None,
            citation=_str_or_none(data.get("citation")),
            key_point_kind=_str_or_none(data.get("key_point_kind")),
            authority_kind=_str_or_none(data.get("authority_kind")),
            recent=bool(data.get("recent")),
            causes=_strings(data.get("causes")),
            outcome=_str_or_none(data.get("outcome")),
            committee=bool(data.get("committee")),
            outcome_detail=dict(detail) if isinstance(detail, Mapping) else None,
        )


@dataclass(frozen=True)
class BatchRef:
    """A report batch's id and the case's 1-based position in it: how a resumed batch finds its records."""

    batch_id: str
    item: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.batch_id, "item": self.item}

    @classmethod
    def from_value(cls, value: Any) -> BatchRef | None:
        if not isinstance(value, Mapping) or "id" not in value or "item" not in value:
            return None
        return cls(str(value["id"]), int(value["item"]))


KEYWORD_FIELDS = ("must", "should", "must_not", "phrases")


@dataclass(frozen=True)
class SearchRecord:
    """The payload of a ``search`` record: what was searched, why, on what, and what came back.

    ``trigger`` is the item of Art. 2 of the SPC guidance that made the search mandatory
    (``retrieval.guidance.Trigger``); ``results`` are the ranked results in the order shown;
    ``shown``, when present, is the snapshot of what each result looked like to the judge.
    """

    kind: ClassVar[RecordKind] = RecordKind.SEARCH

    trigger: str
    case_number: str | None
    methods: tuple[str, ...]
    query: str
    results: tuple[RankedResult, ...]
    keywords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    articles: tuple[str, ...] = ()
    seed: str | None = None
    filters: Mapping[str, Any] = field(default_factory=dict)
    index_version: str | None = None
    manifest_sha256: str | None = None
    index_documents: int | None = None  # documents in the build searched (the report's 检索平台)
    embedder: str | None = None
    ann: Mapping[str, Any] = field(default_factory=dict)
    endpoint: str | None = None
    trigger_note: str | None = None
    requesting_court: Mapping[str, Any] | None = None
    requested_methods: tuple[str, ...] | None = None
    charges: tuple[str, ...] = ()
    causes_used: tuple[str, ...] = ()
    causes_predicted: bool = False
    k: int | None = None
    parties: tuple[Mapping[str, Any], ...] = ()
    related: tuple[Mapping[str, Any], ...] = ()
    batch: BatchRef | None = None
    shown: tuple[ShownResult, ...] | None = None
    dispute_focus: str | None = None  # 待决案件争议焦点, when the judge gave one (the report's section 四)

    def to_payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "trigger": self.trigger,
            "case_number": self.case_number,
            "methods": list(self.methods),
            "query": self.query,
            "keywords": {name: list(self.keywords.get(name, ())) for name in self.keywords},
            "articles": list(self.articles),
            "seed": self.seed,
            "filters": dict(self.filters),
            "index": {"version": self.index_version, "manifest_sha256": self.manifest_sha256}
            | ({"documents": self.index_documents} if self.index_documents is not None else {}),
            "embedder": self.embedder,
            "ann": dict(self.ann),
            "results": [r.to_dict() for r in self.results],
            "endpoint": self.endpoint,
            "trigger_note": self.trigger_note,
            "requesting_court": dict(self.requesting_court) if self.requesting_court is not None else None,
            "requested_methods": list(self.requested_methods) if self.requested_methods is not None else None,
            "charges": list(self.charges),
            "causes_used": list(self.causes_used),
            "causes_predicted": self.causes_predicted,
            "k": self.k,
            "parties": [dict(p) for p in self.parties],
            "related": [dict(r) for r in self.related],
        }
        if self.batch is not None:
            body["batch"] = self.batch.to_dict()
        if self.shown is not None:
            body["shown"] = [s.to_dict() for s in self.shown]
        if self.dispute_focus is not None:  # absent, not null: earlier records read back the same
            body["dispute_focus"] = self.dispute_focus
        return _versioned(body)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> SearchRecord:
        payload = _readable(payload)
        index = _mapping(payload.get("index"))
        keywords = _mapping(payload.get("keywords"))
        court = payload.get("requesting_court")
        requested = payload.get("requested_methods")
        shown = payload.get("shown")
        try:
            results = tuple(RankedResult.from_dict(r) for r in payload.get("results") or ())
            shown_results = (
                tuple(ShownResult.from_dict(s) for s in shown) if isinstance(shown, list) else None
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRecord(f"search payload: malformed results ({exc})") from exc
        k = payload.get("k")
        return cls(
            trigger=str(payload.get("trigger") or ""),
            case_number=_str_or_none(payload.get("case_number")),
            methods=_strings(payload.get("methods")),
            query=str(payload.get("query") or ""),
            results=results,
            keywords={name: _strings(keywords.get(name)) for name in keywords},
            articles=_strings(payload.get("articles")),
            seed=_str_or_none(payload.get("seed")),
            filters=_mapping(payload.get("filters")),
            index_version=_str_or_none(index.get("version")),
            manifest_sha256=_str_or_none(index.get("manifest_sha256")),
            index_documents=int(index["documents"]) if isinstance(index.get("documents"), int) else None,
            embedder=_str_or_none(payload.get("embedder")),
            ann=_mapping(payload.get("ann")),
            endpoint=_str_or_none(payload.get("endpoint")),
            trigger_note=_str_or_none(payload.get("trigger_note")),
            requesting_court=dict(court) if isinstance(court, Mapping) else None,
            requested_methods=_strings(requested) if isinstance(requested, list) else None,
            charges=_strings(payload.get("charges")),
            causes_used=_strings(payload.get("causes_used")),
            causes_predicted=bool(payload.get("causes_predicted")),
            k=int(k) if isinstance(k, int) else None,
            parties=tuple(dict(p) for p in payload.get("parties") or () if isinstance(p, Mapping)),
            related=tuple(dict(r) for r in payload.get("related") or () if isinstance(r, Mapping)),
            batch=BatchRef.from_value(payload.get("batch")),
            shown=shown_results,
            dispute_focus=_str_or_none(payload.get("dispute_focus")),
        )

    @property
    def doc_ids(self) -> list[str]:
        return [r.doc_id for r in self.results]

    def keyword_terms(self, name: str) -> tuple[str, ...]:
        """The terms of one part of the boolean keyword query (``must``, ``should``, …)."""
        return tuple(self.keywords.get(name, ()))


@dataclass(frozen=True)
class Mark:
    """One Art. 6 mark: the judge's 类案/非类案 decision on a result, with the reason."""

    doc_id: str
    label: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "label": self.label, "reason": self.reason}


@dataclass(frozen=True)
class DecisionRecord:
    """The payload of a ``decision`` record: marks on the results of search ``search_id``."""

    kind: ClassVar[RecordKind] = RecordKind.DECISION

    search_id: int
    case_number: str | None
    trigger: str | None
    searched_by: str | None
    marks: tuple[Mark, ...]

    def to_payload(self) -> dict[str, Any]:
        return _versioned(
            {
                "search_id": self.search_id,
                "case_number": self.case_number,
                "trigger": self.trigger,
                "searched_by": self.searched_by,
                "marks": [m.to_dict() for m in self.marks],
            }
        )

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> DecisionRecord:
        payload = _readable(payload)
        marks = tuple(
            Mark(str(m.get("doc_id")), str(m.get("label")), str(m.get("reason") or ""))
            for m in payload.get("marks") or ()
            if isinstance(m, Mapping)
        )
        search_id = payload.get("search_id")
        return cls(
            search_id=search_id if isinstance(search_id, int) else -1,
            case_number=_str_or_none(payload.get("case_number")),
            trigger=_str_or_none(payload.get("trigger")),
            searched_by=_str_or_none(payload.get("searched_by")),
            marks=marks,
        )


@dataclass(frozen=True)
class ReportRecord:
    """The payload of a ``report`` record: which search a 类案检索报告 was made from, in which formats."""

    kind: ClassVar[RecordKind] = RecordKind.REPORT

    search_id: int
    case_number: str | None
    trigger: str | None
    formats: tuple[str, ...]
    via: str | None = None
    batch: BatchRef | None = None

    def to_payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "search_id": self.search_id,
            "case_number": self.case_number,
            "trigger": self.trigger,
            "formats": list(self.formats),
        }
        if self.batch is not None:
            body["batch"] = self.batch.to_dict()
        if self.via is not None:
            body["via"] = self.via
        return _versioned(body)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ReportRecord:
        payload = _readable(payload)
        search_id = payload.get("search_id")
        return cls(
            search_id=search_id if isinstance(search_id, int) else -1,
            case_number=_str_or_none(payload.get("case_number")),
            trigger=_str_or_none(payload.get("trigger")),
            formats=_strings(payload.get("formats")),
            via=_str_or_none(payload.get("via")),
            batch=BatchRef.from_value(payload.get("batch")),
        )


def batch_of(payload: Mapping[str, Any]) -> BatchRef | None:
    """The batch a search or report record belongs to, if any (both kinds carry it the same way)."""
    return BatchRef.from_value(payload.get("batch"))


@dataclass(frozen=True)
class ExportRecord:
    """The payload of an ``export`` record: the log itself left the service (API download or CLI file)."""

    kind: ClassVar[RecordKind] = RecordKind.EXPORT

    via: str
    format: str | None = None
    filters: Mapping[str, Any] | None = None
    complete: bool | None = None
    target: str | None = None

    def to_payload(self) -> dict[str, Any]:
        if self.via == "cli":  # the command line writes a complete export to a file
            return _versioned({"target": self.target})
        return _versioned(
            {
                "format": self.format,
                "filters": dict(self.filters or {}),
                "complete": self.complete,
                "via": self.via,
            }
        )


@dataclass(frozen=True)
class SummaryRecord:
    """The payload of a ``summary`` record: an Art. 13 periodic summary was drawn from the log."""

    kind: ClassVar[RecordKind] = RecordKind.SUMMARY

    court: str | None
    first: str
    last: str
    via: str
    format: str | None = None

    def to_payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"court": self.court, "from": self.first, "to": self.last, "via": self.via}
        if self.format is not None:
            body["format"] = self.format
        return _versioned(body)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class AccountRecord:
    """The payload of an ``account`` record: a user was created, changed, disabled or enabled.

    ``user`` is the user's name, role and court after the change; from schema 2 on the record also
    carries the rest of the row (``user_id``, ``created_at``, ``disabled``) so that replaying the log
    rebuilds the accounts exactly, and ``previous`` the role and court before a change.
    """

    kind: ClassVar[RecordKind] = RecordKind.ACCOUNT

    action: str  # create_user, change_user, disable_user, enable_user
    user: Mapping[str, Any]
    user_id: int | None = None
    created_at: str | None = None
    disabled: bool = False
    previous: Mapping[str, Any] | None = None

    def to_payload(self) -> dict[str, Any]:
        if self.user_id is None:  # the layout of schema 1, for writers that do not know the row
            return _versioned({"action": self.action, "user": dict(self.user)})
        body: dict[str, Any] = {
            "action": self.action,
            "user": dict(self.user),
            "user_id": self.user_id,
            "created_at": self.created_at,
            "disabled": self.disabled,
        }
        if self.previous is not None:
            body["previous"] = dict(self.previous)
        return _versioned(body, ACCOUNTS_SCHEMA)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> AccountRecord:
        payload = _readable(payload, ACCOUNTS_SCHEMA)
        previous = payload.get("previous")
        return cls(
            action=str(payload.get("action") or ""),
            user=_mapping(payload.get("user")),
            user_id=_int_or_none(payload.get("user_id")),
            created_at=_str_or_none(payload.get("created_at")),
            disabled=bool(payload.get("disabled")),
            previous=dict(previous) if isinstance(previous, Mapping) else None,
        )


@dataclass(frozen=True)
class TokenRecord:
    """The payload of a ``token`` record: a token was issued or revoked (its id and hash, never the token).

    From schema 2 on an issue carries ``token_hash``, ``created_at`` and the ``user_id`` it belongs
    to, a revocation ``revoked_at``: the row the accounts database holds, so the log can rebuild it.
    """

    kind: ClassVar[RecordKind] = RecordKind.TOKEN

    action: str  # issue, revoke
    token_id: str
    user: Mapping[str, Any]
    expires_at: str | None = None
    user_id: int | None = None
    token_hash: str | None = None
    created_at: str | None = None
    revoked_at: str | None = None

    def to_payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"action": self.action, "token_id": self.token_id, "user": dict(self.user)}
        if self.action == "issue":
            body["expires_at"] = self.expires_at
        if self.user_id is None:  # the layout of schema 1
            return _versioned(body)
        body["user_id"] = self.user_id
        if self.action == "issue":
            body.update(token_hash=self.token_hash, created_at=self.created_at)
        else:
            body["revoked_at"] = self.revoked_at
        return _versioned(body, ACCOUNTS_SCHEMA)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> TokenRecord:
        payload = _readable(payload, ACCOUNTS_SCHEMA)
        return cls(
            action=str(payload.get("action") or ""),
            token_id=str(payload.get("token_id") or ""),
            user=_mapping(payload.get("user")),
            expires_at=_str_or_none(payload.get("expires_at")),
            user_id=_int_or_none(payload.get("user_id")),
            token_hash=_str_or_none(payload.get("token_hash")),
            created_at=_str_or_none(payload.get("created_at")),
            revoked_at=_str_or_none(payload.get("revoked_at")),
        )


@dataclass(frozen=True)
class AccountsSnapshotRecord:
    """The payload of an ``accounts`` record: every user and token row as the database held them.

    Written once by ``leian accounts adopt`` for a data folder whose accounts predate records that
    carry whole rows; replay starts again from the latest snapshot. The rows' keys are spelled by
    ``retrieval.audit.accounts_replay`` (``UserRow``/``TokenRow``), which owns the accounts state.
    """

    kind: ClassVar[RecordKind] = RecordKind.ACCOUNTS

    users: tuple[Mapping[str, Any], ...]
    tokens: tuple[Mapping[str, Any], ...]
    reason: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return _versioned(
            {
                "users": [dict(u) for u in self.users],
                "tokens": [dict(t) for t in self.tokens],
                "reason": self.reason,
            },
            ACCOUNTS_SCHEMA,
        )

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> AccountsSnapshotRecord:
        payload = _readable(payload, ACCOUNTS_SCHEMA)
        return cls(
            users=tuple(dict(u) for u in payload.get("users") or () if isinstance(u, Mapping)),
            tokens=tuple(dict(t) for t in payload.get("tokens") or () if isinstance(t, Mapping)),
            reason=_str_or_none(payload.get("reason")),
        )


@dataclass(frozen=True)
class BackupRecord:
    """The payload of a ``backup`` record: the log and accounts were copied to ``target``."""

    kind: ClassVar[RecordKind] = RecordKind.BACKUP

    target: str
    index: Mapping[str, Any] | None

    def to_payload(self) -> dict[str, Any]:
        return _versioned({"target": self.target, "index": dict(self.index) if self.index else self.index})


@dataclass(frozen=True)
class OverrideRecord:
    """The payload of an ``override`` record: a command ran on behalf of ``as_users`` by an admin's decision.

    The actor is the operator (the OS user) and their own account; written before the act, so the
    override is on record even if the act then fails.
    """

    kind: ClassVar[RecordKind] = RecordKind.OVERRIDE

    command: str
    as_users: tuple[str, ...]
    os_user: str
    reason: str
    target: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return _versioned(
            {
                "command": self.command,
                "as_users": list(self.as_users),
                "os_user": self.os_user,
                "reason": self.reason,
                "target": self.target,
            }
        )


@dataclass(frozen=True)
class DraftRecord:
    """The payload of a ``draft`` record: a paragraph answering a cited case was drafted for the judge.

    ``text_sha256`` pins the text given out, so a filed judgment's paragraph can be traced to it.
    """

    kind: ClassVar[RecordKind] = RecordKind.DRAFT

    search_id: int
    case_number: str | None
    doc_id: str
    cited_by: str
    mark: str
    text_sha256: str

    def to_payload(self) -> dict[str, Any]:
        return _versioned(
            {
                "search_id": self.search_id,
                "case_number": self.case_number,
                "doc_id": self.doc_id,
                "cited_by": self.cited_by,
                "mark": self.mark,
                "text_sha256": self.text_sha256,
            }
        )


@dataclass(frozen=True)
class PushRecord:
    """The payload of a ``push`` record (智能推送) about one pending case (待决案件).

    ``action``: ``push`` (new documents that would enter its results), ``alert`` (a case it was shown
    is withdrawn or stopped: 不再参照), ``accept`` or ``dismiss`` (the judge's answer, ``reason``).
    ``documents`` are ``{"doc_id", "tier", "score", "why"}`` as matched; ``build_id`` the build that
    caused it.
    """

    kind: ClassVar[RecordKind] = RecordKind.PUSH

    action: str
    case_number: str
    court: str | None
    pending_id: int
    build_id: str | None
    documents: tuple[Mapping[str, Any], ...] = ()
    reason: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return _versioned(
            {
                "action": self.action,
                "case_number": self.case_number,
                "court": self.court,
                "pending_id": self.pending_id,
                "build_id": self.build_id,
                "documents": [dict(d) for d in self.documents],
                "reason": self.reason,
            }
        )


TypedRecord = (
    SearchRecord
    | DecisionRecord
    | ReportRecord
    | ExportRecord
    | SummaryRecord
    | AccountRecord
    | TokenRecord
    | AccountsSnapshotRecord
    | BackupRecord
    | OverrideRecord
    | DraftRecord
    | PushRecord
)
"""Anything an audited act appends: the writer takes its ``kind`` and ``to_payload()``."""
