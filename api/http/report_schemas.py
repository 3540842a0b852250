"""Request and response models of the report routes (batches of pending cases, one search's report).

A pending case in a batch carries no judge or court: over HTTP the 检索主体 is the account that
submits, as for ``POST /searches`` (unknown fields are refused, not ignored).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, StrictInt

from api.http.schemas import InputNotes, JudgeTrigger, _Request
from retrieval.report.files import FORMATS, ON_REQUEST

MAX_BATCH_CASES = 200


ReportFormatName = StrEnum("ReportFormatName", {name.upper(): name for name in FORMATS})
"""docx, html, md, json: the formats ``retrieval.report.files`` renders (one list, not two)."""

SearchReportFormatName = StrEnum(
    "SearchReportFormatName", {name.upper(): name for name in [*FORMATS, *ON_REQUEST]}
)
"""One search's report may also be asked for as PDF (501 where LibreOffice is not installed)."""


class SummaryFormatName(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


class PendingCaseBody(_Request):
    FREE_TEXT = frozenset({"facts", "trigger_note", "dispute_focus"})

    case_number: str = Field(min_length=1, max_length=64, description="待决案件案号")
    trigger: JudgeTrigger | None = Field(default=None, description="Art. 2 trigger; default: the batch's")
    trigger_note: str | None = Field(default=None, max_length=500)
    facts: str = Field(default="", description="基本案情; a case without facts is reported as an error")
    charges: list[str] = Field(default_factory=list, max_length=20, description="罪名/案由 (known names)")
    articles: list[str] = Field(default_factory=list, max_length=40, description="e.g. 刑法 第264条")
    dispute_focus: str | None = Field(default=None, max_length=5000, description="待决案件争议焦点")


class BatchBody(_Request):
    cases: list[PendingCaseBody] = Field(min_length=1, max_length=MAX_BATCH_CASES)
    trigger: JudgeTrigger | None = Field(default=None, description="for cases that give none")
    k: StrictInt = Field(default=10, ge=1, description="results per case; at most LEIAN_MAX_K")


class BatchCaseOut(BaseModel):
    item: int
    case_number: str | None
    status: str  # ok / error
    search_id: int | None
    report_seq: int | None
    tiers: dict[str, int]
    guiding: bool
    formats: list[str]
    error: str | None


class BatchStatusOut(BaseModel):
    batch_id: str
    status: str  # queued / running / done / interrupted / failed
    failure: str | None
    owner: str
    court: str | None
    created_at: str
    total: int
    done: int
    ok: int
    errors: int
    cases: list[BatchCaseOut] = Field(default_factory=list)
    input_notes: InputNotes


class BatchListOut(BaseModel):
    batches: list[BatchStatusOut]
