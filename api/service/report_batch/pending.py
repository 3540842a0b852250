"""Pending cases (待决案件) of a batch, read from JSON Lines or CSV; a bad row becomes a ``BadRow``.

A row is one case: 案号, the Art. 2 trigger, facts, optionally 罪名/案由, articles, 争议焦点 and the
检索主体 (judge, court, role; the batch's defaults where a row gives none). Column names may be the
English keys or the Chinese labels a court's spreadsheet would use (``ALIASES``). A row that cannot
be a case (no 案号, empty facts, an unknown trigger or charge, an unknown column) is kept as a
``BadRow`` at its position, so that the summary still accounts for every line of the input.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.guidance import Trigger, chosen_by_judge
from retrieval.parsing.causes import load_charges, load_civil_causes, normalise_cause

MAX_CASE_NUMBER = 64
ALIASES = {
    "案号": "case_number",
    "待决案件案号": "case_number",
    "法院": "court",
    "承办法官": "judge",
    "检索人": "judge",
    "user": "judge",
    "角色": "role",
    "检索事由": "trigger",
    "事由说明": "trigger_note",
    "案情": "facts",
    "基本案情": "facts",
    "罪名": "charges",
    "案由": "charges",
    "罪名/案由": "charges",
    "causes": "charges",
    "法条": "articles",
    "争议焦点": "dispute_focus",
}
FIELDS = (
    "case_number",
    "trigger",
    "trigger_note",
    "facts",
    "charges",
    "articles",
    "dispute_focus",
    "judge",
    "court",
    "role",
)
_LIST_SEPARATORS = {"charges": re.compile(r"[、,，;；\s]+"), "articles": re.compile(r"[;；\n]+")}


class PendingFileError(ValueError):
    """The input as a whole cannot be read (not UTF-8/GB18030, no CSV header, unknown extension)."""


@dataclass(frozen=True)
class PendingCase:
    item: int  # 1-based position in the input: the case's identity within its batch
    case_number: str
    trigger: Trigger
    facts: str
    trigger_note: str | None = None
    charges: list[str] = field(default_factory=list)
    articles: list[str] = field(default_factory=list)
    dispute_focus: str | None = None
    judge: str | None = None
    court: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class BadRow:
    item: int
    case_number: str | None
    error: str


def known_cause(name: str) -> bool:
    normalised = normalise_cause(name)
    return normalised in load_charges() or normalised in load_civil_causes()


def _text(row: Mapping[str, Any], key: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key}: must be text")
    return value.strip() or None


def _list(row: Mapping[str, Any], key: str) -> list[str]:
    value = row.get(key)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part for part in _LIST_SEPARATORS[key].split(value.strip()) if part]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise ValueError(f"{key}: must be a list of texts or one text")


def _canonical_keys(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw_key, value in row.items():
        key = ALIASES.get(str(raw_key).strip(), str(raw_key).strip())
        if key not in FIELDS:
            raise ValueError(f"{raw_key}: unknown field (expected {', '.join(FIELDS)})")
        out[key] = value
    return out


def case_from_row(item: int, raw: Any, default_trigger: str | None = None) -> PendingCase | BadRow:
    """One input row as a case, or as a ``BadRow`` saying which field is wrong."""
    if not isinstance(raw, Mapping):
        return BadRow(item, None, "row: must be an object of fields")
    case_number = None
    try:
        row = _canonical_keys(raw)
        case_number = _text(row, "case_number")
        if case_number is None:
            raise ValueError("case_number: required (案号)")
        if len(case_number) > MAX_CASE_NUMBER:
            raise ValueError(f"case_number: at most {MAX_CASE_NUMBER} characters")
        trigger_text = _text(row, "trigger") or default_trigger
        if trigger_text is None:
            raise ValueError("trigger: required (per row or --trigger)")
        try:
            trigger = chosen_by_judge(Trigger(trigger_text))
        except ValueError:
            choices = " / ".join(t.value for t in Trigger if t is not Trigger.SMART_PUSH)
            raise ValueError(f"trigger: {trigger_text!r} is not one of {choices}") from None
        facts = _text(row, "facts")
        if facts is None:
            raise ValueError("facts: empty (基本案情 is what the search compares)")
        charges = _list(row, "charges")
        unknown = [c for c in charges if not known_cause(c)]
        if unknown:
            raise ValueError(f"charges: unknown 罪名/案由 {'、'.join(unknown)}")
        return PendingCase(
            item=item,
            case_number=case_number,
            trigger=trigger,
            facts=facts,
            trigger_note=_text(row, "trigger_note"),
            charges=charges,
            articles=_list(row, "articles"),
            dispute_focus=_text(row, "dispute_focus"),
            judge=_text(row, "judge"),
            court=_text(row, "court"),
            role=_text(row, "role"),
        )
    except ValueError as exc:
        return BadRow(item, case_number, str(exc))


def _decode(data: bytes, name: str) -> str:
    """UTF-8 (with or without BOM), else GB18030: what Excel writes for a Chinese CSV."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise PendingFileError(f"{name}: neither UTF-8 nor GB18030 text")


def _jsonl_rows(text: str) -> list[Any]:
    rows: list[Any] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            rows.append(f"line {number}: invalid JSON: {exc.msg}")
    return rows


def _csv_rows(text: str, name: str) -> list[Any]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise PendingFileError(f"{name}: a CSV needs a header row (案号, 检索事由, 基本案情, …)")
    rows: list[Any] = []
    for row in reader:
        if None in row:
            rows.append(f"line {reader.line_num}: more cells than header columns")
        elif any((v or "").strip() for v in row.values()):
            rows.append({k: v for k, v in row.items() if (v or "").strip()})
    return rows


def read_pending(path: Path, default_trigger: str | None = None) -> tuple[list[PendingCase | BadRow], str]:
    """(cases in input order, sha256 of the file): ``.jsonl``/``.json`` or ``.csv``."""
    data = path.read_bytes()
    text = _decode(data, path.name)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        rows = _jsonl_rows(text)
    elif suffix == ".csv":
        rows = _csv_rows(text, path.name)
    else:
        raise PendingFileError(f"{path.name}: give a .jsonl or a .csv file")
    cases = [
        BadRow(i, None, row) if isinstance(row, str) else case_from_row(i, row, default_trigger)
        for i, row in enumerate(rows, 1)
    ]
    return cases, hashlib.sha256(data).hexdigest()
