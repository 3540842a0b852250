"""最高人民法院指导性案例 as Markdown, one case per file (``### 指导性案例N号：<name>``).

A guiding case is an editorial summary, not a judgment: its fixed sections (关键词, 裁判要点,
相关法条, 基本案情, 裁判结果, 裁判理由) map straight onto the Document. The guiding-case number and
publication date go into ``authority``; the court, 案号 and date of the underlying judgment are
taken from the 裁判结果 section, so the case can also be matched and cited as the judgment it is.
The helpers here are shared with the 公报案例 reader, whose files use the same Markdown habits.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from index_build.readers.base import ReadItem, Rejection
from index_build.readers.common import decode_bytes, iter_files, require_exists, source_name
from retrieval.document import (
    Authority,
    AuthorityKind,
    CaseCategory,
    Court,
    CourtLevel,
    Document,
    Sections,
)
from retrieval.parsing.articles import extract_articles
from retrieval.parsing.causes import extract_causes
from retrieval.parsing.courts import PROVINCES, parse_court

FORMAT = "guiding-md"
SUFFIXES = (".md", ".markdown")

SECTION_NAMES = ("关键词", "裁判要点", "相关法条", "基本案情", "裁判结果", "裁判理由")
GUIDING_HEADING = re.compile(r"^指导性?案例\s*第?\s*(\d+)\s*号\s*[：:]?\s*(.*)$")
PUBLISHED = re.compile(r"审判委员会讨论通过(\d{4})年(\d{1,2})月(\d{1,2})日")
SUPREME_COURT = Court(name="最高人民法院", level=CourtLevel.SUPREME)

_RULE = re.compile(r"[=\-*_\s]{3,}")
_SPACE_BETWEEN_HAN = re.compile(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")
_CASE_NO = re.compile(
    r"[（(〔［\[]\s*\d{4}\s*[）)〕］\]][^，。；：:\s“”\"《》]{1,40}?号(?:之[一二三四五六七八九十\d]+)?"
)
_DECISION_TYPE = re.compile(r"(?:刑事|民事|行政|执行|国家赔偿|赔偿)?(?:附带民事)?(?:判决|裁定|调解|决定)")
_COURT = re.compile(r"[\u4e00-\u9fff]{2,40}?法院|[\u4e00-\u9fff]{2,8}?[高中]院")
# gongbao narratives end with "<court>…于<date>判决：" without a 案号
_NARRATED_DECISION = re.compile(
    r"(?P<court>[\u4e00-\u9fff]{2,40}?法院|[\u4e00-\u9fff]{2,8}?[高中]院)[^。：:]{0,200}?"
    r"于\s*(?P<date>\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日)"
    r"(?:作出|依法)?[^。：:]{0,12}?(?P<type>判决|裁定|决定)(?:如下)?[：:]"
)
_COURT_PREFIX = re.compile(r"^(?:本案|此案|后|再|并|经|由|在|向|一审|二审|原审|终审)+")
_GENERIC_COURT = re.compile(r"(?:该|本|原审|一审|二审|再审|上级|下级|各级|地方)?(?:人民|中级|高级|基层)?法院")
_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_DOC_TYPES = {"判决": "判决书", "裁定": "裁定书", "调解": "调解书", "决定": "决定书"}
_CATEGORY_WORDS = (
    ("国家赔偿", CaseCategory.STATE_COMPENSATION),
    ("赔偿", CaseCategory.STATE_COMPENSATION),
    ("刑事", CaseCategory.CRIMINAL),
    ("民事", CaseCategory.CIVIL),
    ("行政", CaseCategory.ADMINISTRATIVE),
    ("执行", CaseCategory.ENFORCEMENT),
)
_TITLE_CATEGORIES = (
    (("国家赔偿", "赔偿委员会"), CaseCategory.STATE_COMPENSATION),
    (("行政",), CaseCategory.ADMINISTRATIVE),
    (("刑事", "罪", "检察院诉"), CaseCategory.CRIMINAL),
    (("纠纷", "民事"), CaseCategory.CIVIL),
    (("执行",), CaseCategory.ENFORCEMENT),
)
_CASE_NO_CODES = (
    ("刑", CaseCategory.CRIMINAL),
    ("赔", CaseCategory.STATE_COMPENSATION),
    ("行", CaseCategory.ADMINISTRATIVE),
    ("执", CaseCategory.ENFORCEMENT),
    ("民", CaseCategory.CIVIL),
    ("商", CaseCategory.CIVIL),
    ("知", CaseCategory.CIVIL),
    ("海", CaseCategory.CIVIL),
)


def read(path: Path) -> Iterator[ReadItem]:
    """One Document per guiding-case file; a folder is read recursively (index.md skipped)."""
    path = Path(path)
    require_exists(path)
    seen: dict[str, str] = {}
    for file in iter_files(path, SUFFIXES):
        name = source_name(path, file)
        text = read_markdown(file, name)
        if isinstance(text, Rejection):
            yield text
            continue
        item = parse_guiding(text, source=name)
        if isinstance(item, Document):
            if item.doc_id in seen:
                item = Rejection(name, None, f"duplicate {item.doc_id!r}: also in {seen[item.doc_id]}")
            else:
                seen[item.doc_id] = name
        yield item


# -- shared Markdown helpers -------------------------------------------------------------------


def read_markdown(file: Path, name: str) -> str | Rejection:
    """The file's text (UTF-8 or GB18030), or the Rejection saying why it cannot be read."""
    try:
        return decode_bytes(file.read_bytes(), name).replace("\r\n", "\n").replace("\r", "\n")
    except (UnicodeError, OSError) as exc:
        return Rejection(name, None, str(exc))


def clean_line(line: str) -> str:
    """A line without Markdown heading/bold marks and surrounding (full-width) spaces."""
    line = line.replace("**", "").strip()
    if _RULE.fullmatch(line):  # setext underline or horizontal rule
        return ""
    line = line.lstrip("#").strip()
    return line.lstrip("#").strip()  # "### ### 指导性案例…" occurs


def clean_title(line: str) -> str:
    """A heading as a case name: no breadcrumb (``首页 > 案例``), no spaces between characters."""
    title = clean_line(line)
    if ">" in title:
        title = re.sub(r"^案例\s+", "", title.rsplit(">", 1)[-1].strip())
    return _SPACE_BETWEEN_HAN.sub("", title).strip()


def section_heading(line: str) -> tuple[str, str] | None:
    """(name, text on the same line) when the line opens one of the fixed sections."""
    text = clean_line(line).rstrip("：:").strip()
    compact = re.sub(r"\s+", "", text)
    if compact in SECTION_NAMES:
        return compact, ""
    if text.startswith("关键词"):  # "关键词 民事/合同" and "关键词民事交通事故" carry the content inline
        return "关键词", text[3:].lstrip("：: \u3000").strip()
    return None


def split_fixed_sections(lines: list[str]) -> tuple[list[str], dict[str, str]]:
    """Lines before the first section heading, and the text of each fixed section."""
    preamble: list[str] = []
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines:
        heading = section_heading(line)
        if heading is not None and heading[0] not in sections:
            current = sections.setdefault(heading[0], [])
            if heading[1]:
                current.append(heading[1])
            continue
        target = preamble if current is None else current
        cleaned = clean_line(line)
        if cleaned:
            target.append(cleaned)
    return preamble, {k: "\n".join(v).strip() for k, v in sections.items()}


def split_keywords(text: str) -> list[str]:
    """关键词 are separated by / or spaces (older cases); an unseparated run stays one keyword."""
    return [k for k in re.split(r"[/／\s、]+", text) if k]


def published_date(text: str) -> dt.date | None:
    """The date in （最高人民法院审判委员会讨论通过 YYYY年M月D日发布）, which may wrap lines."""
    match = PUBLISHED.search(re.sub(r"\s+", "", text))
    return _date(*match.groups()) if match else None


def _date(year: str, month: str, day: str) -> dt.date | None:
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError:
        return None


@dataclass(frozen=True)
class Decision:
    """A decision a case narrative names: its court, 案号 (may be ""), date and document type."""

    court: str
    case_number: str
    date: dt.date | None
    doc_type: str | None
    kind_word: str  # 刑事 / 民事 … before 判决, for the category
    end: int = -1  # where the decision's wording ends in the text searched (narrated decisions only)


def first_decision(text: str) -> Decision | None:
    """The decision of the first 案号 in ``text``, with the court and date of its sentence.

    Covers "<court>于<date>作出<案号><type>", "<date>，<court>…以<案号>判决" and "<court><案号>判决";
    the court is "" when the sentence names none that can be expanded to a full name.
    """
    number = _CASE_NO.search(text)
    if number is None:
        return None
    sentence_start = max(text.rfind(mark, 0, number.start()) for mark in "。；\n") + 1
    span = text[sentence_start : number.start()]
    courts = [_clean_court(m.group()) for m in _COURT.finditer(span)]
    courts = [c for c in courts if len(c) >= 4]
    dates = list(_DATE.finditer(span))
    kind = _DECISION_TYPE.match(text, number.end())
    kind_word = kind.group() if kind else ""
    return Decision(
        court=courts[-1] if courts else "",
        case_number=re.sub(r"\s+", "", number.group()),
        date=_date(*dates[-1].groups()) if dates else None,
        doc_type=_doc_type(kind_word),
        kind_word=kind_word,
    )


def narrated_decision(text: str, *, last: bool) -> Decision | None:
    """The first or last "<court>…于<date>判决：" of a narrative, which may carry no 案号."""
    matches = list(_NARRATED_DECISION.finditer(text))
    if not matches:
        return None
    found = matches[-1] if last else matches[0]
    court = _clean_court(found.group("court"))
    if len(court) < 4:
        return None
    return Decision(
        court=court,
        case_number="",
        date=_date(*_DATE.fullmatch(found.group("date")).groups()),
        doc_type=_doc_type(found.group("type")),
        kind_word=found.group("type"),
        end=found.end(),
    )


def _clean_court(name: str) -> str:
    """Drop narrative words glued before the court and expand 辽宁高院 / 南京中院 to full names.

    Returns "" for a name that does not say which court (人民法院, 原审法院).
    """
    name = _COURT_PREFIX.sub("", name)
    if _GENERIC_COURT.fullmatch(name):
        return ""
    if name.endswith("高院"):
        place = name[:-2]
        province = next((p.name for p in PROVINCES if place in (p.short, p.name)), None)
        return f"{province}高级人民法院" if province else ""
    if name.endswith("中院"):
        place = name[:-2]
        if len(place) < 2:
            return ""
        return place + ("" if place.endswith(("市", "州", "盟", "地区")) else "市") + "中级人民法院"
    return name


def _doc_type(kind_word: str) -> str | None:
    return next((v for k, v in _DOC_TYPES.items() if kind_word.endswith(k)), None)


def guess_category(keywords: list[str], decision: Decision | None, title: str) -> CaseCategory | None:
    """类别 from the first 关键词 (刑事/民事/…), else the decision's type, else the 案号 code."""
    candidates = [*keywords[:1], decision.kind_word if decision else ""]
    for word in candidates:
        for prefix, category in _CATEGORY_WORDS:
            if word.startswith(prefix):
                return category
    if decision is not None:
        code = re.sub(r"^[（(〔［\[]\s*\d{4}\s*[）)〕］\]]", "", decision.case_number)
        for char, category in _CASE_NO_CODES:
            if char in code:
                return category
    for words, category in _TITLE_CATEGORIES:
        if any(w in title for w in words):
            return category
    return None


def court_of(name: str) -> Court:
    """A Court with level/province, falling back to the bare name if the parser cannot place it."""
    try:
        return parse_court(name)
    except ValueError:
        return Court(name=name)


def markdown_text(lines: list[str]) -> str:
    """Full text for indexing: markup stripped, blank lines and the source URL line dropped."""
    out = [clean_line(line) for line in lines]
    return "\n".join(line for line in out if line and not line.startswith("原文网址"))


def strip_judges(text: str) -> str:
    """Drop the trailing （生效裁判审判人员：…） line: names of judges are noise for matching."""
    return re.sub(r"\n?[（(]生效裁判审判人员[：:][^\n]*$", "", text.strip()).strip()


# -- guiding cases -----------------------------------------------------------------------------


def parse_guiding(text: str, *, source: str) -> Document | Rejection:
    """Parse one guiding-case file; a Rejection names the part that is missing."""
    lines = text.split("\n")
    first = next((clean_line(line) for line in lines if clean_line(line)), "")
    heading = GUIDING_HEADING.match(first)
    if heading is None:
        return Rejection(source, 1, f"first line is not '指导(性)案例N号：…': {first[:40]!r}")
    number = str(int(heading.group(1)))
    body_start = next(i for i, line in enumerate(lines) if clean_line(line)) + 1
    preamble, sections = split_fixed_sections(lines[body_start:])
    missing = [s for s in ("裁判要点", "基本案情") if not sections.get(s)]
    if missing:
        return Rejection(source, None, f"指导性案例{number}号: missing section(s) {'、'.join(missing)}")
    title = _case_name(heading.group(2), preamble)
    published = published_date("\n".join(preamble)) or published_date(text)
    return document_from_sections(
        doc_id=f"guiding-{number}",
        title=title,
        sections=sections,
        lines=lines,
        authority=Authority(kind=AuthorityKind.GUIDING, number=number, published=published),
        fallback_court=SUPREME_COURT,
        source=source,
    )


def document_from_sections(
    *,
    doc_id: str,
    title: str,
    sections: dict[str, str],
    lines: list[str],
    authority: Authority,
    fallback_court: Court | None,
    source: str,
) -> Document:
    """A Document from the fixed sections of the guiding-case layout (关键词 … 裁判理由).

    The underlying case's court, 案号 and date come from the first decision named in 裁判结果.
    """
    result = sections.get("裁判结果", "")
    decision = first_decision(result) or narrated_decision(result, last=False)
    keywords = split_keywords(sections.get("关键词", ""))
    return Document(
        doc_id=doc_id,
        title=title,
        case_number=(decision.case_number or None) if decision else None,
        court=court_of(decision.court) if decision and decision.court else fallback_court,
        doc_type=decision.doc_type if decision else None,
        category=guess_category(keywords, decision, title),
        decision_date=decision.date if decision else None,
        causes=extract_causes(title=title, result=result),
        articles=extract_articles(sections.get("相关法条", "")),
        sections=Sections(
            facts=sections["基本案情"],
            reasoning=strip_judges(sections.get("裁判理由", "")),
            result=result,
        ),
        full_text=markdown_text(lines),
        authority=authority,
        holding=sections["裁判要点"],
        keywords=keywords,
        source=source,
    )


def _case_name(from_heading: str, preamble: list[str]) -> str:
    """The heading's name, or the name lines under it when the heading was cut short (…)."""
    name = clean_title(from_heading)
    if name and not name.endswith(("...", "…")):
        return name
    parts = []
    for line in preamble:
        if line.startswith("原文网址"):
            continue
        if "讨论通过" in line or line.startswith(("（", "(")):
            break
        parts.append(line)
    joined = _SPACE_BETWEEN_HAN.sub("", "".join(parts)).strip()
    return joined or name.rstrip(".…")
