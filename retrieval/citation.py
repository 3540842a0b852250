"""How a case is cited (引用方式) in a report, a result card or a mark: the one owner of that wording.

A judge cites a guiding case by its number (指导案例57号), a 公报 case by its issue
(《最高人民法院公报》2015年第3期) and any other case by its 案号; an internal id is never a citation.

* 指导案例N号 is the SPC's own form (the 2010 规定 and its 实施细则 speak of 指导案例 and its 编号).
* The 公报 issue is read from the text when the text states it (``《最高人民法院公报》2015年第3期``); the
  公报 Markdown we index does not, so those cases fall back to their 案号, and without one to
  "《最高人民法院公报》案例" (the reader gives them ids starting with ``GONGBAO_ID_PREFIX``).
* Everything else: the 案号 as printed, else the title; the doc id only when there is nothing else.

Citability (可否引用): a judgment a judge relies on must be traceable, so a document without its
案号, court or decision date is 不可引用: search leaves it out unless asked
(``SearchFilters.include_uncitable``), and it is marked so wherever it is shown. A guiding case is
cited by its number whatever its source text states, so the rule does not apply to it.
"""

from __future__ import annotations

import datetime as dt
import re

from retrieval.document import AuthorityKind, Document

GONGBAO_ID_PREFIX = "gongbao-"
"""Doc ids of 《最高人民法院公报》 cases (``index_build.readers.gongbao_md``)."""
GONGBAO = "《最高人民法院公报》"

_GONGBAO_ISSUE = re.compile(r"《?最高人民法院公报》?\s*(\d{4})\s*年\s*第\s*(\d{1,2})\s*期")
_ISSUE_SEARCH_CHARS = 3000  # the issue, when stated, is in the heading block


def guiding_citation(number: str) -> str:
    """指导案例N号."""
    return f"指导案例{number}号"


def gongbao_issue(doc: Document) -> str | None:
    """《最高人民法院公报》YYYY年第N期 when the case's text states its issue, else None."""
    for text in (doc.title, doc.full_text[:_ISSUE_SEARCH_CHARS], doc.source or ""):
        found = _GONGBAO_ISSUE.search(text or "")
        if found:
            return f"{GONGBAO}{found.group(1)}年第{int(found.group(2))}期"
    return None


def is_gongbao(doc: Document) -> bool:
    return doc.doc_id.startswith(GONGBAO_ID_PREFIX) or gongbao_issue(doc) is not None


def citation(doc: Document) -> str:
    """The citation a judge writes for ``doc`` (see the module docstring for the order of preference)."""
    auth = doc.authority
    if auth.kind is AuthorityKind.GUIDING and auth.number:
        return guiding_citation(auth.number)
    if auth.kind is AuthorityKind.SPC_TYPICAL:
        issue = gongbao_issue(doc)
        if issue:
            return issue
    if doc.case_number:
        return doc.case_number
    if is_gongbao(doc):
        return f"{GONGBAO}案例"
    return doc.title or doc.doc_id


UNCITABLE = "不可引用"
CITATION_PARTS = ("案号", "法院", "裁判日期")


def missing_for_citation(
    case_number: str | None,
    court_name: str | None,
    decision_date: dt.date | str | None,
    authority_kind: AuthorityKind | str | None,
) -> list[str]:
    """What a document lacks to be cited (of ``CITATION_PARTS``); empty when it may be cited."""
    if authority_kind in (AuthorityKind.GUIDING, AuthorityKind.GUIDING.value):
        return []
    present = (
        bool(case_number and case_number.strip()),
        bool(court_name and court_name.strip()),
        bool(decision_date),
    )
    return [part for part, here in zip(CITATION_PARTS, present, strict=True) if not here]


def uncitable_reason(doc: Document) -> list[str]:
    """``missing_for_citation`` of ``doc``."""
    court = doc.court.name if doc.court is not None else None
    return missing_for_citation(doc.case_number, court, doc.decision_date, doc.authority.kind)


def uncitable_note(missing: list[str]) -> str:
    """``不可引用（缺少案号、裁判日期）``; empty when nothing is missing."""
    return f"{UNCITABLE}（缺少{'、'.join(missing)}）" if missing else ""


def reference(title: str, cited: str) -> str:
    """Name and citation, as a report lists a case: ``张三盗窃案　（2020）京0105刑初1号``."""
    if not title or title == cited:
        return cited
    return f"{title}　{cited}"
