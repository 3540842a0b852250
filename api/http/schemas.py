"""Request and response models of the HTTP API (the OpenAPI at /docs is generated from them).

Requests forbid unknown fields: a judge's client that sends ``requesting_court`` must learn that the
court comes from the account, not have the field silently ignored in an audited search.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from fastapi import Path as PathParam
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from retrieval.document import CaseCategory, CourtLevel
from retrieval.guidance import DecisionLabel, Trigger
from retrieval.request import Method

SQLITE_INT_MAX = 2**63 - 1
RowId = Annotated[int, PathParam(ge=0, le=SQLITE_INT_MAX)]
"""A search id or audit seq in a path: bounded, so that SQLite never sees an integer it cannot hold."""


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_only(value: object) -> object:
    if isinstance(value, str) and not _ISO_DATE.match(value.strip()):
        raise ValueError(
            "expected an ISO 8601 date or date-time, e.g. 2025-01-31 or 2025-01-31T08:00:00+08:00"
        )
    return value


IsoDateTime = Annotated[dt.datetime, BeforeValidator(_iso_only)]
"""A date-time given as ISO 8601 text only: pydantic would read ``2024`` as 2024 seconds after 1970."""

Term = Annotated[str, Field(min_length=1, max_length=200)]
"""A keyword or phrase: an empty one would match (or exclude) every document."""


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class KeywordsBody(_Request):
    """关键词检索: all ``must`` present, none of ``must_not``; ``phrases`` verbatim; ``should`` reorder."""

    must: list[Term] = Field(default_factory=list, max_length=20)
    should: list[Term] = Field(default_factory=list, max_length=20)
    must_not: list[Term] = Field(default_factory=list, max_length=20)
    phrases: list[Term] = Field(default_factory=list, max_length=20)


class FiltersBody(_Request):
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    court_levels: list[CourtLevel] = Field(default_factory=list)
    provinces: list[str] = Field(default_factory=list, max_length=40)
    categories: list[CaseCategory] = Field(default_factory=list)
    causes: list[str] = Field(default_factory=list, max_length=20)


class PartyBody(_Request):
    name: str = Field(min_length=1, max_length=100)
    role: str = Field(default="当事人", max_length=20)


class SearchBody(_Request):
    """A mandatory search for a pending case; the requesting court is the account's court."""

    case_number: str = Field(
        min_length=1, max_length=64, description="待决案件案号, e.g. （2025）浙0106刑初88号"
    )
    trigger: Trigger
    trigger_note: str | None = Field(default=None, max_length=500, description="free text, e.g. for 其他")
    facts: str = Field(default="", description="待决案件基本案情; up to LEIAN_MAX_FACTS_CHARS characters")
    charges: list[str] = Field(default_factory=list, max_length=20, description="known 罪名/案由")
    articles: list[str] = Field(default_factory=list, max_length=40, description="e.g. 刑法 第264条")
    keywords: KeywordsBody = Field(default_factory=KeywordsBody)
    seed_case: str | None = Field(default=None, max_length=100, description="案例关联: doc id or 案号")
    methods: list[Method] | None = Field(default=None, description="default: keyword + semantic + statute")
    filters: FiltersBody = Field(default_factory=FiltersBody)
    parties: list[PartyBody] = Field(default_factory=list, max_length=50, description="for 关联案件")
    k: int = Field(default=10, ge=1, description="results wanted; at most LEIAN_MAX_K")
    include_dissimilar: bool = Field(
        default=False,
        description="also return results under the similarity floor (a tier without any says 未检索到类案)",
    )


class MarkBody(_Request):
    doc_id: str = Field(min_length=1, max_length=200)
    label: DecisionLabel
    reason: str = Field(min_length=1, max_length=2000, description="why it is or is not a similar case")


class DecisionsBody(_Request):
    marks: list[MarkBody] = Field(min_length=1, max_length=200)


# -- responses ------------------------------------------------------------------------------------


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
        (400, "the request body is not UTF-8 JSON"),
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
    """Where the search's record sits in the audit log: ``seq`` is also the ``search_id``."""

    seq: int
    leaf_hash: str
    tree_size: int
    root: str


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
