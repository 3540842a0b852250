"""CAIL2018 JSON lines: ``{"fact": ..., "meta": {accusation, relevant_articles, criminals, ...}}``.

The published files come in two encodings (``data_train.json`` is GBK, ``data_test.json`` UTF-8) and
neither declares it, so the encoding is detected by a strict decode of the whole file before any
line is parsed. A CAIL row carries only the court's fact finding plus labels: there is no title, 案号,
court or date, and the sentence exists only as numbers, which become a short labelled result line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from index_build.readers.base import ReadItem, Rejection
from index_build.readers.common import (
    detect_file_encoding,
    iter_files,
    load_json,
    require_exists,
    source_name,
)
from retrieval.cited_article import CitedArticle
from retrieval.document import CaseCategory, Document, Party, Sections
from retrieval.parsing.causes import normalise_cause

FORMAT = "cail"
SUFFIXES = (".json", ".jsonl", ".ndjson")
LAW = "刑法"  # CAIL2018 relevant_articles are all 刑法 article numbers


def read(path: Path) -> Iterator[ReadItem]:
    """Documents of a CAIL2018 file, or of every .json/.jsonl file under a folder."""
    path = Path(path)
    require_exists(path)
    for file in iter_files(path, SUFFIXES):
        yield from _read_file(file, source_name(path, file))


def _read_file(file: Path, name: str) -> Iterator[ReadItem]:
    try:
        encoding = detect_file_encoding(file)
    except (UnicodeError, OSError) as exc:
        yield Rejection(name, None, str(exc))
        return
    with file.open(encoding=encoding) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            yield _parse_line(line, file.stem, name, lineno)


def _parse_line(line: str, stem: str, name: str, lineno: int) -> ReadItem:
    try:
        row = load_json(line)
    except json.JSONDecodeError as exc:
        return Rejection(name, lineno, f"invalid JSON: {exc}")
    try:
        return _to_document(row, doc_id=f"cail-{stem}-{lineno}", source=f"{name}:{lineno}")
    except ValueError as exc:
        return Rejection(name, lineno, str(exc))


def _to_document(row: Any, *, doc_id: str, source: str) -> Document:
    if not isinstance(row, dict):
        raise ValueError("not a JSON object")
    fact = row.get("fact")
    meta = row.get("meta")
    if not isinstance(fact, str) or not fact.strip():
        raise ValueError("fact: required non-empty string")
    if not isinstance(meta, dict):
        raise ValueError("meta: required object")
    accusations = _str_list(meta.get("accusation"), "meta.accusation")
    criminals = _str_list(meta.get("criminals"), "meta.criminals")
    numbers = meta.get("relevant_articles") or []
    if not isinstance(numbers, list) or not all(isinstance(n, int) and n > 0 for n in numbers):
        raise ValueError(f"meta.relevant_articles: expected a list of positive ints, got {numbers!r}")
    fact = fact.strip()
    causes = list(dict.fromkeys(normalise_cause(a) for a in accusations))
    return Document(
        doc_id=doc_id,
        category=CaseCategory.CRIMINAL,
        causes=causes,
        articles=sorted({CitedArticle(LAW, n) for n in numbers}),
        parties=[Party(name=c, role="被告人") for c in criminals],
        sections=Sections(facts=fact, result=_result_line(causes, meta)),
        full_text=fact,
        source=source,
    )


def _str_list(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name}: expected a list of strings, got {value!r}")
    return [v.strip() for v in value if v.strip()]


def _result_line(causes: list[str], meta: dict[str, Any]) -> str:
    """The labelled sentence as text, marked as CAIL labels so nobody mistakes it for court wording."""
    term = meta.get("term_of_imprisonment") or {}
    if not isinstance(term, dict):
        term = {}
    if term.get("death_penalty"):
        penalty = "死刑"
    elif term.get("life_imprisonment"):
        penalty = "无期徒刑"
    elif isinstance(term.get("imprisonment"), int) and term["imprisonment"] > 0:
        penalty = f"刑期{term['imprisonment']}个月"
    else:
        penalty = "无监禁刑"
    parts = [f"罪名：{'、'.join(causes)}" if causes else "", f"刑罚：{penalty}"]
    money = meta.get("punish_of_money")
    if isinstance(money, int | float) and money > 0:
        parts.append(f"罚金：{money:g}元")
    return "（CAIL2018标注）" + "；".join(p for p in parts if p)
