"""The document model shared by indexing and querying.

Every reader produces a ``Document``; the metadata store keeps its JSON form (``to_dict``), which is
also the project's own JSON Lines input schema (documented in the README).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from retrieval.cited_article import CitedArticle

SCHEMA_VERSION = 1


class CourtLevel(StrEnum):
    """法院层级."""

    SUPREME = "最高"
    HIGH = "高级"
    INTERMEDIATE = "中级"
    BASIC = "基层"


class CaseCategory(StrEnum):
    """案件类别, from the 案号 type code or the document title."""

    CRIMINAL = "刑事"
    CIVIL = "民事"
    ADMINISTRATIVE = "行政"
    ENFORCEMENT = "执行"
    STATE_COMPENSATION = "国家赔偿"
    OTHER = "其他"


class AuthorityKind(StrEnum):
    """Why a case may be cited (Art. 4 of the 2020 SPC guidance); ORDINARY is a plain judgment."""

    GUIDING = "指导性案例"  # 最高法指导性案例: 应当参照
    SPC_TYPICAL = "最高法典型案例"  # includes 公报案例
    PROVINCIAL_REFERENCE = "参考性案例"  # 高级法院参考性案例
    CASE_DATABASE = "入库案例"  # 人民法院案例库
    ORDINARY = "普通裁判"


@dataclass(frozen=True)
class Court:
    name: str
    level: CourtLevel | None = None
    province: str | None = None


@dataclass(frozen=True)
class Party:
    """当事人: a name with its procedural role (被告人, 原告, 上诉人 …)."""

    name: str
    role: str


@dataclass(frozen=True)
class Authority:
    kind: AuthorityKind = AuthorityKind.ORDINARY
    number: str | None = None  # e.g. 指导性案例 24 → "24"; 入库编号
    published: dt.date | None = None
    withdrawn: bool = False  # 不再参照 / 已撤销 / withdrawn from the index
    withdrawn_reason: str | None = None


@dataclass
class Sections:
    """The three parts a judge compares: 事实 (facts), 理由 (reasoning), 裁判结果 (result)."""

    facts: str = ""
    reasoning: str = ""
    result: str = ""


@dataclass
class Document:
    doc_id: str
    title: str = ""
    case_number: str | None = None  # raw 案号 as printed; parsed on demand by retrieval.parsing.case_number
    court: Court | None = None
    doc_type: str | None = None  # 判决书 / 裁定书 / 调解书 / 决定书 / 通知书
    category: CaseCategory | None = None
    decision_date: dt.date | None = None
    causes: list[str] = field(default_factory=list)  # 罪名 or 案由, normalised (盗窃罪, 民间借贷纠纷)
    articles: list[CitedArticle] = field(default_factory=list)
    parties: list[Party] = field(default_factory=list)
    sections: Sections = field(default_factory=Sections)
    full_text: str = ""
    authority: Authority = field(default_factory=Authority)
    holding: str | None = None  # 裁判要点 / 裁判要旨
    keywords: list[str] = field(default_factory=list)  # 关键词 of a published case
    source: str | None = None  # where it was read from: "lecard:candidates/3/1176.json", "file.jsonl:12"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; the project's JSON Lines schema is exactly this.

        Written out field by field (``dataclasses.asdict`` deep-copies every value and cost ten
        times as much); keys in field order, then ``schema_version``.
        """
        court, sections, auth = self.court, self.sections, self.authority
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "case_number": self.case_number,
            "court": None
            if court is None
            else {"name": court.name, "level": court.level, "province": court.province},
            "doc_type": self.doc_type,
            "category": self.category,
            "decision_date": self.decision_date.isoformat() if self.decision_date else None,
            "causes": list(self.causes),
            "articles": [a.key() for a in self.articles],
            "parties": [{"name": p.name, "role": p.role} for p in self.parties],
            "sections": {"facts": sections.facts, "reasoning": sections.reasoning, "result": sections.result},
            "full_text": self.full_text,
            "authority": {
                "kind": auth.kind,
                "number": auth.number,
                "published": auth.published.isoformat() if auth.published else None,
                "withdrawn": auth.withdrawn,
                "withdrawn_reason": auth.withdrawn_reason,
            },
            "holding": self.holding,
            "keywords": list(self.keywords),
            "source": self.source,
            "schema_version": SCHEMA_VERSION,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Document:
        """Build from the JSON form; raises ValueError (with the field named) on malformed input."""
        if not isinstance(data, dict):
            raise ValueError("a document must be a JSON object")
        doc_id = data.get("doc_id")
        if not isinstance(doc_id, str) or not doc_id.strip():
            raise ValueError("doc_id: required non-empty string")
        try:
            court_data = data.get("court")
            court = None
            if court_data:
                level = court_data.get("level")
                court = Court(
                    name=str(court_data["name"]),
                    level=CourtLevel(level) if level else None,
                    province=_text(court_data.get("province"), "court.province"),
                )
            category = data.get("category")
            auth = data.get("authority") or {}
            sections = data.get("sections") or {}
            return cls(
                doc_id=doc_id.strip(),
                title=str(data.get("title") or ""),
                case_number=_text(data.get("case_number"), "case_number"),
                court=court,
                doc_type=_text(data.get("doc_type"), "doc_type"),
                category=CaseCategory(category) if category else None,
                decision_date=_parse_date(data.get("decision_date"), "decision_date"),
                causes=[str(c) for c in data.get("causes") or []],
                articles=[CitedArticle.from_key(str(a)) for a in data.get("articles") or []],
                parties=[Party(name=str(p["name"]), role=str(p["role"])) for p in data.get("parties") or []],
                sections=Sections(
                    facts=str(sections.get("facts") or ""),
                    reasoning=str(sections.get("reasoning") or ""),
                    result=str(sections.get("result") or ""),
                ),
                full_text=str(data.get("full_text") or ""),
                authority=Authority(
                    kind=AuthorityKind(auth.get("kind") or AuthorityKind.ORDINARY),
                    number=_text(auth.get("number"), "authority.number"),
                    published=_parse_date(auth.get("published"), "authority.published"),
                    withdrawn=bool(auth.get("withdrawn", False)),
                    withdrawn_reason=_text(auth.get("withdrawn_reason"), "authority.withdrawn_reason"),
                ),
                holding=_text(data.get("holding"), "holding"),
                keywords=[str(k) for k in data.get("keywords") or []],
                source=_text(data.get("source"), "source"),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed document {doc_id!r}: {exc!r}") from exc

    def text(self) -> str:
        """The whole judgment, or its parts joined when no full text was given."""
        if self.full_text:
            return self.full_text
        parts = [
            self.title,
            self.holding or "",
            self.sections.facts,
            self.sections.reasoning,
            self.sections.result,
        ]
        return "\n".join(p for p in parts if p)

    def searchable_facts(self) -> str:
        """Text that represents the case's facts for matching against a pending case's facts."""
        return self.sections.facts or self.full_text


def _text(value: Any, name: str) -> str | None:
    """An optional text field as given (None when empty); a number is its digits, anything else an error."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):  # e.g. a guiding case's number
        return str(value)
    raise ValueError(f"{name}: expected a string, got {type(value).__name__}")


def _parse_date(value: Any, name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError(f"{name}: not an ISO date (YYYY-MM-DD): {value!r}") from exc
