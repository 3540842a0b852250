"""A ``Document`` from the full text of a judgment: every field the text itself can give.

Readers of different sources (LeCaRD, 公报案例, plain files) all funnel raw text through
``parse_judgment``; it never raises, because one malformed judgment in a corpus of thousands
must cost only its own fields, not the index build.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable
from typing import TypeVar

from retrieval.document import CaseCategory, Court, Document, Party, Sections
from retrieval.parsing.articles import extract_articles
from retrieval.parsing.case_number import find_case_numbers, parse_case_number
from retrieval.parsing.cause_tree import load_cause_tree
from retrieval.parsing.causes import extract_causes
from retrieval.parsing.courts import find_court_name, parse_court
from retrieval.parsing.dates import extract_decision_date
from retrieval.parsing.parties import extract_parties
from retrieval.parsing.sections import header_of, split_sections

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

_DOC_TYPE_RE = re.compile(r"判决书|裁定书|调解书|决定书|通知书|(?:支付|保护|禁|强制|搜查)令")
# 执行 alone is too common in criminal titles (拒不执行判决、裁定罪) to mean an enforcement case, and
# 行政 inside 特别行政区 / 行政区划 (澳门特别行政区居民 in a civil party listing) is no 行政 case.
_CATEGORY_RE = re.compile(r"刑事|民事|(?<!特别)行政(?!区)|国家赔偿|执行(?=裁定|决定|通知|案件)")
# Without a 案号 or a category word: who the parties are says civil or criminal.
_CIVIL_PARTIES_RE = re.compile(r"原告|诉称|诉讼请求|上诉人")
_CRIMINAL_PARTIES_RE = re.compile(r"公诉机关|被告人|检察院指控|罪犯")
_ADMINISTRATIVE_RE = re.compile(r"行政行为|行政机关|行政诉讼|行政复议|人民政府|(?<!特别)行政(?!区)")
_FINDINGS_ARE_FACTS = (CaseCategory.CIVIL, CaseCategory.ADMINISTRATIVE)
_OPENING_CHARS = 100  # court, document type and 案号 open a judgment; later mentions are other documents
_MAX_TITLE_CHARS = 100


def doc_type_from(text: str) -> str | None:
    """The first document type named in ``text`` (判决书 …; any 支付令 / 保护令 … is "令")."""
    match = _DOC_TYPE_RE.search(text)
    if not match:
        return None
    return "令" if match.group().endswith("令") else match.group()


def _category_from(text: str) -> CaseCategory | None:
    match = _CATEGORY_RE.search(text)
    return CaseCategory(match.group()) if match else None


def _category_from_causes(causes: list[str], title: str) -> CaseCategory | None:
    """罪名 end in 罪, civil 案由 in 纠纷 / 争议, 行政案由 are nodes of the 行政 tree: enough to classify a
    case report without a 案号."""
    if any(c.endswith("罪") for c in causes):
        return CaseCategory.CRIMINAL
    tree = load_cause_tree()
    if any(c in tree.nodes and tree.nodes[c].system == "行政" for c in causes):
        return CaseCategory.ADMINISTRATIVE
    if any(c.endswith(("纠纷", "争议")) for c in causes) or "纠纷" in title:
        return CaseCategory.CIVIL
    return None


def _looks_civil(header: str, full_text: str) -> bool:
    """Party roles of a civil suit (原告, 诉称) and none of a criminal (公诉机关, 被告人) or administrative
    one (行政行为, 人民政府)."""
    opening = full_text[:3000]
    return (
        bool(_CIVIL_PARTIES_RE.search(opening))
        and not _CRIMINAL_PARTIES_RE.search(header + opening)
        and not _ADMINISTRATIVE_RE.search(header + opening)  # 原告 … 诉被告某局: an administrative suit
    )


def _first_line(header: str) -> str:
    """Title-like first line: "浙江省桐乡市人民法院 刑事判决书" rather than the whole flattened header."""
    line = next((ln.strip("#＃ \t\u3000") for ln in header.splitlines() if ln.strip("#＃ \t\u3000")), "")
    match = _DOC_TYPE_RE.search(line)
    if match:
        line = line[: match.end()]
    return line[:_MAX_TITLE_CHARS].strip()


def _guarded(what: str, doc_id: str, default: _T, compute: Callable[[], _T]) -> _T:
    try:
        return compute()
    except Exception:  # a parser bug or odd input must not lose the whole document
        _log.warning("%s: could not extract %s", doc_id, what, exc_info=True)
        return default


def _case_number(header: str) -> tuple[str | None, CaseCategory | None]:
    """The document's own 案号 (the first in the header, raw) and the category its type code gives."""
    matches = find_case_numbers(header)
    if not matches:
        return None, None
    first = matches[0]
    return header[first.start : first.end], first.case_number.category


def _court(header: str) -> Court | None:
    name = find_court_name(header)
    return parse_court(name) if name else None


_NOT_NAMED_IN_TITLES = ("公诉机关", "原公诉机关", "辩护人")


def _composed_title(
    parties: list[Party],
    causes: list[str],
    case_number: str | None,
    category: CaseCategory | None,
    doc_type: str | None,
) -> str | None:
    """A title in the style of 中国裁判文书网: 周建平盗窃二审刑事裁定书, 郑丽华与宋志远民间借贷纠纷一审民事判决书."""
    names = [p.name for p in parties if p.role not in _NOT_NAMED_IN_TITLES]
    if not names or not causes or not doc_type:
        return None
    stage = ""
    if case_number:
        with contextlib.suppress(ValueError):
            stage = parse_case_number(case_number).stage.value
    stage = stage if stage in ("一审", "二审", "再审") else ""
    cause_text = "、".join(c.removesuffix("罪") if category is CaseCategory.CRIMINAL else c for c in causes)
    who = names[0] if category is CaseCategory.CRIMINAL or len(names) == 1 else f"{names[0]}与{names[1]}"
    return f"{who}{cause_text}{stage}{category.value if category else ''}{doc_type}"


def parse_judgment(full_text: str, *, doc_id: str, title: str = "", source: str | None = None) -> Document:
    """Parse a judgment's full text; fields that cannot be found stay empty (garbage in → bare Document).

    The category comes from the 案号's type code (民初, 行终 …) when there is one and nothing overrides
    it; only without one do the title, the opening words and the causes decide. Civil and
    administrative facts are the court's findings (``split_sections(findings_are_facts=True)``).
    """
    header = _guarded("header", doc_id, "", lambda: header_of(full_text))
    opening = header[:_OPENING_CHARS]
    title = title.strip() or _first_line(header)
    case_number, category = _guarded("case number", doc_id, (None, None), lambda: _case_number(header))
    early = (
        category
        if category not in (None, CaseCategory.OTHER)
        else _category_from(title) or _category_from(opening)
    )
    findings_are_facts = early in _FINDINGS_ARE_FACTS or (
        early is None and _guarded("civil roles", doc_id, False, lambda: _looks_civil(header, full_text))
    )
    sections = _guarded(
        "sections",
        doc_id,
        Sections(),
        lambda: split_sections(full_text, findings_are_facts=findings_are_facts),
    )
    causes = _guarded(
        "causes", doc_id, [], lambda: extract_causes(title=title, result=sections.result, text=full_text)
    )
    articles = _guarded(
        "articles", doc_id, [], lambda: extract_articles(sections.reasoning) or extract_articles(full_text)
    )
    if category in (None, CaseCategory.OTHER):  # 其他 type codes (司法协助 …) say less than the title
        category = (
            _category_from(title)
            or _category_from(opening)
            or _category_from_causes(causes, title)
            or (CaseCategory.CIVIL if findings_are_facts else None)  # 原告 … 诉称, no 公诉机关
            or category
        )
    court = _guarded("court", doc_id, None, lambda: _court(header))
    doc_type = doc_type_from(title) or doc_type_from(opening)
    parties = _guarded("parties", doc_id, [], lambda: extract_parties(header))
    if court is not None and title.startswith(court.name):
        # "浙江省桐乡市人民法院 刑事判决书" names no case; compose what wenshu titles say instead
        title = _composed_title(parties, causes, case_number, category, doc_type) or title
    return Document(
        doc_id=doc_id,
        title=title,
        case_number=case_number,
        court=court,
        doc_type=doc_type,
        category=category,
        decision_date=_guarded("decision date", doc_id, None, lambda: extract_decision_date(full_text)),
        causes=causes,
        articles=articles,
        parties=parties,
        sections=sections,
        full_text=full_text,
        source=source,
    )
