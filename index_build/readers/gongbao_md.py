"""《最高人民法院公报》案例 as Markdown, one case per file (the ``anli-gongbao`` folder).

Unlike guiding cases these files have no fixed layout: headings are ``## name``, ``#name``,
``### name``, a breadcrumb (``#首页 > 案例 …``) or no ``#`` at all; a 【裁判摘要】/【案例要旨】 block
may follow; then comes the judgment narrative (parties, claims, findings, reasoning, result), which
``parse_judgment`` structures like any judgment. A few recent files are guiding cases laid out with
the fixed guiding sections, and those sections are used when present.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from index_build.readers.base import ReadItem, Rejection
from index_build.readers.common import iter_files, require_exists, source_name
from index_build.readers.guiding_md import (
    SUFFIXES,
    clean_line,
    clean_title,
    court_of,
    document_from_sections,
    guess_category,
    markdown_text,
    narrated_decision,
    published_date,
    read_markdown,
    split_fixed_sections,
)
from retrieval.citation import GONGBAO_ID_PREFIX
from retrieval.document import Authority, AuthorityKind, Document
from retrieval.parsing.judgment import parse_judgment

FORMAT = "gongbao-md"
MIN_BODY_CHARS = 200
MAX_TITLE_CHARS = 120

_SUMMARY = re.compile(r"^【\s*(?:裁判摘要|案例要旨|裁判要旨|裁判要点|要旨|摘要)\s*】[:：]?\s*(.*)$")
_SUMMARY_HEADING = re.compile(r"^(?:裁判摘要|案例要旨|裁判要旨|裁判要点)[:：]?$")
_SUMMARY_END = re.compile(
    r"^(?:原告|被告|上诉人|被上诉人|申请人|被申请人|再审申请人|申请再审人|申诉人|被申诉人|第三人|"
    r"公诉机关|抗诉机关|原公诉机关|被告人|自诉人|申请执行人|被执行人|原审|复议申请人|赔偿请求人|"
    r"赔偿义务机关|法定代表人|委托代理人|诉讼代表人)[^：:。]{0,30}[：:]"
    r"|^.{0,30}(?:判决书|裁定书|决定书|调解书)$|^[（(〔]\s*\d{4}\s*[）)〕].{0,30}号$|^【"
)

_GLUED_PARTY = re.compile(
    r"[。！？](?=(?:原告|上诉人|再审申请人|申请再审人|申请人|公诉机关|抗诉机关|被告人|申请执行人|申诉人)[^：:。，]{0,20}[：:])"
)


def read(path: Path) -> Iterator[ReadItem]:
    """One Document per 公报案例 file (``gongbao-<stem>``); a folder is read recursively."""
    path = Path(path)
    require_exists(path)
    for file in iter_files(path, SUFFIXES):
        name = source_name(path, file)
        text = read_markdown(file, name)
        if isinstance(text, Rejection):
            yield text
            continue
        yield parse_gongbao(text, doc_id=f"{GONGBAO_ID_PREFIX}{file.stem}", source=name)


def parse_gongbao(text: str, *, doc_id: str, source: str) -> Document | Rejection:
    """Parse one 公报案例 file; a Rejection says what is missing (title or body)."""
    lines = text.split("\n")
    title_index = next((i for i, line in enumerate(lines) if clean_line(line)), None)
    if title_index is None:
        return Rejection(source, None, "empty file")
    title = clean_title(lines[title_index])
    if not title or len(title) > MAX_TITLE_CHARS:
        return Rejection(source, title_index + 1, f"first line is not a case name: {title[:40]!r}")
    rest = lines[title_index + 1 :]
    preamble, fixed = split_fixed_sections(rest)
    if fixed.get("裁判要点") and fixed.get("基本案情"):
        return _from_fixed_sections(text, title, preamble, fixed, doc_id=doc_id, source=source)
    holding, body_lines = _take_summary(rest)
    body = markdown_text(body_lines)
    if len(body) < MIN_BODY_CHARS:
        return Rejection(source, None, f"body too short for a case ({len(body)} characters)")
    doc = parse_judgment(body, doc_id=doc_id, title=title, source=source)
    doc.title = title
    decision = narrated_decision(body, last=True)  # the decision that ended the case
    if decision is not None:
        if doc.court is None:  # an editorial narrative has no judgment header to read the court from
            doc.court = court_of(decision.court)
            doc.decision_date = decision.date
        doc.doc_type = doc.doc_type or decision.doc_type
        if not doc.sections.result:  # "…于<date>判决：" is followed by the operative part
            doc.sections.result = body[decision.end :].strip()
    doc.category = doc.category or guess_category([], None, title)
    doc.holding = holding or None
    doc.full_text = "\n".join(p for p in (title, holding, body) if p)
    doc.authority = Authority(kind=AuthorityKind.SPC_TYPICAL, published=published_date(text[:2000]))
    return doc


def _take_summary(lines: list[str]) -> tuple[str, list[str]]:
    """Split off the 【裁判摘要】 block: it runs until the party list or a two-blank-line gap."""
    start = None
    first_text = ""
    for i, line in enumerate(lines[:40]):
        cleaned = clean_line(line)
        marker = _SUMMARY.match(cleaned)
        if marker:
            start, first_text = i, marker.group(1).strip()
            break
        if _SUMMARY_HEADING.match(cleaned):
            start = i
            break
    if start is None:
        return "", lines
    paragraphs: list[str] = []
    pending = [first_text] if first_text else []
    blanks = 0
    body_from: list[str] = []
    end = len(lines)
    j = start
    while True:
        if pending:
            cleaned = pending.pop()
        else:
            j += 1
            if j >= len(lines):
                break
            cleaned = clean_line(lines[j])
        if not cleaned:
            blanks += 1
            continue
        if _SUMMARY_END.match(cleaned) or (paragraphs and blanks >= 2):
            body_from, end = [cleaned], j + 1
            break
        glued = _GLUED_PARTY.search(cleaned, 1)  # "…不予支持。原告：项红敏，…" on one line
        if glued:
            paragraphs.append(cleaned[: glued.start() + 1])
            body_from, end = [cleaned[glued.start() + 1 :]], j + 1
            break
        blanks = 0
        paragraphs.append(cleaned)
    return "\n".join(paragraphs), lines[:start] + body_from + lines[end:]


def _from_fixed_sections(
    text: str, title: str, preamble: list[str], fixed: dict[str, str], *, doc_id: str, source: str
) -> Document:
    """A guiding-case layout republished in the 公报: read it the way the guiding reader does."""
    return document_from_sections(
        doc_id=doc_id,
        title=title,
        sections=fixed,
        lines=text.split("\n"),
        authority=Authority(kind=AuthorityKind.SPC_TYPICAL, published=published_date("\n".join(preamble))),
        fallback_court=None,
        source=source,
    )
