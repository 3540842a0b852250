"""Checks a document must pass before it is indexed; failures become rejections, not crashes."""

from __future__ import annotations

from retrieval.document import CaseCategory, Document
from retrieval.parsing.sections import has_sections

MAX_TEXT_CHARS = 1_000_000  # the longest real judgment seen (LeCaRD) has about 100k characters


def rejection_reason(doc: Document, seen_ids: set[str]) -> str | None:
    """Why ``doc`` cannot be indexed, or None when it can."""
    if not doc.doc_id or not doc.doc_id.strip():
        return "empty doc_id"
    if doc.doc_id in seen_ids:
        return f"duplicate doc_id {doc.doc_id!r}"
    if not (doc.searchable_facts().strip() or doc.holding):
        return "no text: neither facts nor full text"
    if len(doc.full_text) > MAX_TEXT_CHARS:
        return f"full text longer than {MAX_TEXT_CHARS} characters"
    return None


def index_warnings(doc: Document) -> list[str]:
    """What is wrong with ``doc`` but does not stop it being indexed; listed in validation.json so that
    nothing is indexed half-read without the operator seeing it."""
    warnings = []
    if (
        doc.full_text.strip()
        and doc.category not in (CaseCategory.CRIMINAL,)
        and not has_sections(doc.full_text)
    ):
        warnings.append(
            "no recognisable sections (诉称/经审理查明/本院认为/判决如下 …): indexed with the whole text as facts"
        )
    return warnings


def full_text_for_index(doc: Document) -> str:
    """What the full-text keyword field indexes: the judgment, or its parts when no full text exists."""
    return doc.text()


def facts_for_index(doc: Document) -> str:
    """The facts field: what a pending case's facts are compared with (guiding cases: 基本案情)."""
    return doc.searchable_facts()
