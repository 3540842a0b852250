"""Request and response models of the HTTP API (the OpenAPI at /docs is generated from them).

Requests forbid unknown fields: a judge's client that sends ``requesting_court`` must learn that the
court comes from the account, not have the field silently ignored in an audited search. Integers are
strict (``"5"`` and ``true`` are not a ``k``). Control characters other than tab and newline are
refused (422 naming the field) in 案号, names and every other short field, and removed from free
text (``FREE_TEXT``: facts, notes, reasons), which the answer then says in ``input_notes``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar, Literal

from fastapi import Path as PathParam
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    StrictBool,
    StrictInt,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from retrieval.control_characters import NO_CONTROL_PATTERN, describe, first_control, remove_controls
from retrieval.document import CaseCategory, CourtLevel
from retrieval.guidance import DecisionLabel, Trigger, chosen_by_judge
from retrieval.report.draft import CITERS
from retrieval.request import Method

# An Art. 2 trigger a judge may state; 智能推送 is written by the service only (422 naming the field).
JudgeTrigger = Annotated[
    Trigger,
    AfterValidator(chosen_by_judge),
    WithJsonSchema(
        {
            "type": "string",
            "enum": [t.value for t in Trigger if t is not Trigger.SMART_PUSH],
            "description": "检索情形 (Art. 2 and the later duties); 智能推送 is the service's own",
        }
    ),
]

SQLITE_INT_MAX = 2**63 - 1
RowId = Annotated[int, PathParam(ge=0, le=SQLITE_INT_MAX)]
"""A search id or audit seq in a path: bounded, so that SQLite never sees an integer it cannot hold."""


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_only(value: object) -> object:
    if isinstance(value, bool | int | float) or (
        isinstance(value, str) and not _ISO_DATE.match(value.strip())
    ):
        raise ValueError(
            "expected an ISO 8601 date or date-time, e.g. 2025-01-31 or 2025-01-31T08:00:00+08:00"
        )
    return value


IsoDateTime = Annotated[dt.datetime, BeforeValidator(_iso_only)]
"""A date-time given as ISO 8601 text only: pydantic would read ``2024`` as 2024 seconds after 1970."""

IsoDate = Annotated[dt.date, BeforeValidator(_iso_only)]

Term = Annotated[str, Field(min_length=1, max_length=200)]
"""A keyword or phrase: an empty one would match (or exclude) every document."""


def refuse_control_characters(value: str | None) -> str | None:
    """A short field (案号, a name, a term) with a control character is refused, not repaired."""
    if value is not None and (at := first_control(value)) is not None:
        raise ValueError(
            f"contains the control character {describe(value[at])} at position {at}"
            " (only tab and newline are allowed)"
        )
    return value


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, str):
                yield item


def _declare_no_control_characters(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """The OpenAPI says what the validator enforces: short string fields carry a ``pattern``."""
    free_text = getattr(model, "FREE_TEXT", frozenset())
    for name, prop in schema.get("properties", {}).items():
        if name in free_text:
            continue
        for option in [prop, *prop.get("anyOf", [])]:
            target = option.get("items", option) if option.get("type") == "array" else option
            if target.get("type") == "string" and "enum" not in target and "format" not in target:
                target.setdefault("pattern", NO_CONTROL_PATTERN)


class _Request(BaseModel):
    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra=_declare_no_control_characters
    )

    FREE_TEXT: ClassVar[frozenset[str]] = frozenset()
    """Fields of running text, from which control characters are removed rather than refused."""

    _controls_removed: dict[str, int] = PrivateAttr(default_factory=dict)
    _received_lengths: dict[str, int] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _clean_free_text(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        """Remove control characters from free text before the length checks see it; keep the count."""
        if not isinstance(data, dict):  # a model already validated keeps its own count
            return handler(data)
        removed: dict[str, int] = {}
        received: dict[str, int] = {}
        data = dict(data)
        for name in cls.FREE_TEXT:
            if isinstance(data.get(name), str):
                received[name] = len(data[name])
                data[name], count = remove_controls(data[name])
                if count:
                    removed[name] = count
        model = handler(data)
        model._controls_removed = removed
        model._received_lengths = received
        return model

    def received_length(self, name: str) -> int:
        """How many characters free text ``name`` had as it arrived, before control characters and
        edge whitespace were removed: what a limit the OpenAPI schema states (maxLength) is about."""
        return self._received_lengths.get(name, len(getattr(self, name) or ""))

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name not in cls.FREE_TEXT:
            for text in _strings(value):
                refuse_control_characters(text)
        return value


def control_character_notes(body: _Request, prefix: str = "") -> list[dict[str, Any]]:
    """What was removed from the free text of ``body`` and of the requests inside it, field by field."""
    notes = [
        {
            "field": f"{prefix}{name}",
            "removed": count,
            "message_zh": f"{prefix}{name}：已删除 {count} 个控制字符",
            "message_en": f"{prefix}{name}: {count} control character(s) removed",
        }
        for name, count in body._controls_removed.items()
    ]
    for name in type(body).model_fields:
        value = getattr(body, name)
        inner = [(f"{name}.", value)] if isinstance(value, _Request) else []
        if isinstance(value, list):
            inner = [(f"{name}.{i}.", item) for i, item in enumerate(value) if isinstance(item, _Request)]
        for path, item in inner:
            notes.extend(control_character_notes(item, prefix + path))
    return notes


class KeywordsBody(_Request):
    """关键词检索: all ``must`` present, none of ``must_not``; ``phrases`` verbatim; ``should`` reorder."""

    must: list[Term] = Field(default_factory=list, max_length=20)
    should: list[Term] = Field(default_factory=list, max_length=20)
    must_not: list[Term] = Field(default_factory=list, max_length=20)
    phrases: list[Term] = Field(default_factory=list, max_length=20)


class FiltersBody(_Request):
    date_from: IsoDate | None = None
    date_to: IsoDate | None = None
    court_levels: list[CourtLevel] = Field(default_factory=list)
    provinces: list[str] = Field(default_factory=list, max_length=40)
    categories: list[CaseCategory] = Field(default_factory=list)
    causes: list[str] = Field(default_factory=list, max_length=20)
    include_uncitable: StrictBool = Field(
        default=False, description="also documents without 案号, court or date (不可引用, marked so)"
    )


class PartyBody(_Request):
    name: str = Field(min_length=1, max_length=100)
    role: str = Field(default="当事人", max_length=20)


class SearchBody(_Request):
    """A mandatory search for a pending case; the requesting court is the account's court."""

    FREE_TEXT = frozenset({"facts", "trigger_note"})

    case_number: str = Field(
        min_length=1, max_length=64, description="待决案件案号, e.g. （2025）浙0106刑初88号"
    )
    trigger: JudgeTrigger
    trigger_note: str | None = Field(default=None, max_length=500, description="free text, e.g. for 其他")
    facts: str = Field(default="", description="待决案件基本案情; up to LEIAN_MAX_FACTS_CHARS characters")
    dispute_focus: str | None = Field(
        default=None,
        max_length=5000,
        description="待决案件争议焦点: recorded with the search, printed in its report",
    )
    charges: list[str] = Field(default_factory=list, max_length=20, description="known 罪名/案由")
    articles: list[str] = Field(default_factory=list, max_length=40, description="e.g. 刑法 第264条")
    keywords: KeywordsBody = Field(default_factory=KeywordsBody)
    seed_case: str | None = Field(default=None, max_length=100, description="案例关联: doc id or 案号")
    methods: list[Method] | None = Field(default=None, description="default: keyword + semantic + statute")
    filters: FiltersBody = Field(default_factory=FiltersBody)
    parties: list[PartyBody] = Field(default_factory=list, max_length=50, description="for 关联案件")
    k: StrictInt = Field(default=10, ge=1, description="results wanted; at most LEIAN_MAX_K")
    include_dissimilar: StrictBool = Field(
        default=False,
        description="also return results under the similarity floor (a tier without any says 未检索到类案)",
    )


class MarkBody(_Request):
    FREE_TEXT = frozenset({"reason"})

    doc_id: str = Field(min_length=1, max_length=200)
    label: DecisionLabel
    reason: str = Field(min_length=1, max_length=2000, description="why it is or is not a similar case")


class DecisionsBody(_Request):
    marks: list[MarkBody] = Field(min_length=1, max_length=200)


Citer = Literal[CITERS]  # type: ignore[valid-type]  # the values, owned by retrieval.report.draft
"""Who cited the case (retrieval.report.draft.CITERS)."""


class DraftBody(_Request):
    """文书辅助: which shown case was cited to the court, and by whom."""

    doc_id: str = Field(
        min_length=1, max_length=200, description="a result of the search, marked 类案/非类案"
    )
    cited_by: Citer


# -- responses ------------------------------------------------------------------------------------


class InputNoteOut(BaseModel):
    """Something the service changed in the request before running it (control characters removed)."""

    field: str
    removed: int
    message_zh: str
    message_en: str


InputNotes = Annotated[
    list[InputNoteOut],
    Field(default_factory=list, description="free-text fields from which control characters were removed"),
]


class ErrorDetailOut(BaseModel):
    model_config = ConfigDict(extra="allow")  # a 422 adds ``details``, /readyz its ``checks``

    code: str = Field(description="for scripts: unauthenticated, forbidden, validation_error, …")
    message_zh: str = Field(description="shown on the court workstation")
    message_en: str
    fields: list[str] | None = Field(default=None, description="the request fields a 422 is about")


class ErrorOut(BaseModel):
    """The one shape of every failure (``api.http.errors``)."""

    error: ErrorDetailOut


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in (
        (400, "the request body is not UTF-8 JSON (bad_request), or gives a key twice (duplicate_key)"),
        (401, "missing, invalid, expired or revoked token"),
        (403, "not allowed for this account's role or court"),
        (404, "no such resource"),
        (405, "method not allowed"),
        (413, "request body over LEIAN_MAX_BODY_BYTES"),
        (422, "invalid field (named in ``fields``)"),
        (429, "this token's rate limit (LEIAN_RATE_LIMIT) is spent; see Retry-After"),
        (503, "index, audit log or accounts unavailable: nothing is served (fail-closed)"),
    )
}
"""Declared on every operation: middleware (413, 429) and authentication answer before any route."""


class CourtOut(BaseModel):
    name: str
    level: str | None = None
    province: str | None = None


class AuthorityOut(BaseModel):
    kind: str
    number: str | None = None
    published: str | None = None
    withdrawn: bool = False
    withdrawn_reason: str | None = None


class PassageOut(BaseModel):
    text: str
    start: int
    end: int
    highlights: list[tuple[int, int]]
    field: str
    score: float


class DifferenceOut(BaseModel):
    """One aspect in which the pending case and the result differ (retrieval.differences); null: not stated."""

    aspect: str
    query_value: str | None
    case_value: str | None
    source: str = Field(description="circumstance, role, measure or element")


class ExplanationOut(BaseModel):
    doc_id: str
    shared_causes: list[str]
    shared_articles: list[str]
    shared_provisions: list[str]
    shared_circumstances: list[str]
    shared_amount_band: str | None
    matched_terms: list[str]
    passages: list[PassageOut]
    summary: str
    notes: list[str] = Field(default_factory=list)
    differences: list[DifferenceOut] = Field(default_factory=list)
    same_elements: list[dict[str, str]] = Field(
        default_factory=list
    )  # 案件要素: aspect, query_value, case_value
    different_elements: list[dict[str, str]] = Field(default_factory=list)


class ResultOut(BaseModel):
    rank: int
    doc_id: str
    title: str
    case_number: str | None
    court: CourtOut | None
    decision_date: str | None
    doc_type: str | None
    category: str | None
    causes: list[str]
    authority: AuthorityOut
    holding: str | None
    citation: str  # how a judge cites it: 指导案例N号, 公报 issue, 案号 (retrieval.citation)
    tier: int | None
    tier_label: str | None
    recent: bool
    effect: str
    score: float
    methods: dict[str, int]
    explanation: ExplanationOut | None
    citable: bool = True  # false: no 案号, court or date (不可引用); shown only when asked for
    uncitable_missing: list[str] = Field(default_factory=list)  # 案号 / 法院 / 裁判日期


class TierGroupOut(BaseModel):
    tier: int
    label: str
    results: list[ResultOut]


class RelatedOut(BaseModel):
    doc_id: str
    kind: str
    reason: str
    evidence: list[str]
    stage: str | None
    case_number: str | None
    withdrawn: bool
    title: str | None = None


class AuditReceiptOut(BaseModel):
    """Where the search's record sits in the audit log: ``seq`` is also the ``search_id``.

    With the signing key loaded it is a signed receipt (``retrieval.audit.receipts``): keep it, and
    ``leian audit receipt-check`` later shows whether the log still holds this record unchanged.
    """

    seq: int
    leaf_hash: str
    tree_size: int
    root: str
    format: str | None = None
    log_id: str | None = None
    at: str | None = None
    signature: str | None = None
    key_id: str | None = None
    inclusion_proof: list[str] | None = None


class IndexOut(BaseModel):
    build_id: str
    documents: int
    manifest_sha256: str
    embedder: dict[str, Any]


class SearchOut(BaseModel):
    search_id: int
    audit: AuditReceiptOut
    case_number: str | None
    trigger: str
    requesting_court: CourtOut | None
    methods: list[str]
    causes_used: list[str]
    causes_predicted: bool
    predicted_causes: list[dict[str, Any]]
    first_tier_with_results: int | None
    tier_counts: dict[str, int]
    tier_labels: dict[str, str] = Field(default_factory=dict, description="every tier's name, empty ones too")
    result_count: int
    tiers: list[TierGroupOut]
    no_similar_case: list[dict[str, Any]] = Field(
        default_factory=list, description="Art. 4 tiers with no result at or above the floor: 未检索到类案"
    )
    similarity_floor: float | None = None
    below_floor: int = 0
    related: list[RelatedOut]
    index: IndexOut
    timings_ms: dict[str, float]
    input_notes: InputNotes


class DecisionOut(BaseModel):
    doc_id: str
    label: str
    reason: str
    user: str
    at: str
    audit_seq: int


class DecisionsOut(BaseModel):
    search_id: int
    audit: AuditReceiptOut
    decisions: list[DecisionOut]
    input_notes: InputNotes


class DraftOut(BaseModel):
    """A draft paragraph for the judgment's reasoning; never filed automatically (``notice``)."""

    search_id: int
    doc_id: str
    cited_by: str
    mark: str
    draft: str
    notice: str
    audit: AuditReceiptOut


class SearchSummaryOut(BaseModel):
    search_id: int
    user: str
    role: str
    court: str | None
    case_number: str | None
    trigger: str
    at: str
    doc_ids: list[str]
    decisions: list[DecisionOut]


class CaseOut(BaseModel):
    """A corpus document in full; ``citable`` is false for a withdrawn one (shown, never relied on)."""

    document: dict[str, Any]
    withdrawn: bool
    citable: bool
    effect: str
    tier: int | None
    tier_label: str | None


class RelatedListOut(BaseModel):
    doc_id: str
    related: list[RelatedOut]


class UserOut(BaseModel):
    name: str
    role: str
    court: str | None
    token_id: str


class AuditRecordOut(BaseModel):
    seq: int
    leaf_hash: str
    v: int
    kind: str
    at: str
    actor: dict[str, Any]
    client: str | None
    payload: dict[str, Any]


class AuditRecordsOut(BaseModel):
    records: list[AuditRecordOut]
    next_after: int | None = Field(description="pass as ?after= for the next page; null at the end")


ReadyStatus = Literal["ready", "not_ready"]
