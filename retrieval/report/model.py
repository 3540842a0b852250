"""The data behind a 类案检索报告 (Art. 8 of the SPC 2020 guidance), built from one search.

``build_report`` turns a ``SearchResponse`` plus what the judge supplies (案号, facts, 争议焦点, marks)
into a ``RetrievalReport``; the renderers (DOCX, HTML, Markdown) only lay it out, in the same order:

检索事由 (the Art. 2 trigger) · 检索主体 · 检索时间 · 检索平台 · 检索方法 · 检索结果 (per Art. 4 tier,
tiers 1–4 always listed, "其他" when it has results) · 类案裁判要点 · 待决案件争议焦点 · 类案/非类案标记 ·
参照/参考运用情况分析 · 裁判结果冲突提示 (Art. 11) · 审计编号 and record hash · the closing block
(检索人, signature line, court, date).

Rules kept deliberately simple:

* A case's key point is its 裁判要点 (``doc.holding``) when it has one, else the first
  ``KEY_PASSAGE_CHARS`` characters of its reasoning starting at "本院认为" (from the start when absent).
* The 类案裁判要点 summary lists the tier-1/2 results' key points, else those of the top three results.
* Conflicts (Art. 11): among results sharing a 罪名/案由 with the pending case, each
  ``doc.sections.result`` is read into one coarse outcome (criminal: 无罪 / 免予刑事处罚 / 缓刑 / 实刑;
  civil and others: 驳回诉讼请求 / 支持诉讼请求); a pair with two different known outcomes is flagged.
  An outcome that cannot be read (驳回上诉，维持原判 …) never conflicts. At most ``MAX_CONFLICTS`` pairs.
* Whether an adjudication committee decided is read as "审判委员会" appearing in the text.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from retrieval.document import CaseCategory, Document
from retrieval.guidance import DecisionLabel
from retrieval.parsing.courts import court_level
from retrieval.request import KeywordQuery, SearchRequest
from retrieval.search import SearchResponse, SearchResult
from retrieval.tiers import MAY_REFER, MUST_REFER, Tier

SERVICE_NAME = "类案强制检索服务"
TO_BE_FILLED = "【待承办法官填写】"
KEY_PASSAGE_CHARS = 200
SUMMARY_FALLBACK_COUNT = 3
MAX_CONFLICTS = 20
MARK_LABELS = tuple(label.value for label in DecisionLabel)
ART4_TIERS = (Tier.GUIDING, Tier.SPC, Tier.PROVINCIAL_HIGH, Tier.SUPERIOR_AND_SELF)
EFFECT_RULES = (
    f"指导性案例：{MUST_REFER}（《关于统一法律适用加强类案检索的指导意见（试行）》第九条）；",
    f"其他类案：{MAY_REFER}，可以作为作出裁判的参考。",
)
METHOD_LABELS = {
    "keyword": "关键词检索",
    "statute": "法条关联案件检索",
    "case": "案例关联检索",
    "semantic": "语义检索",
}

_REASONING_START = "本院认为"
_CUSTODIAL = re.compile(r"判处(?:有期徒刑|拘役|无期徒刑|死刑)")
_SUPPORT = re.compile(r"(?:判令|应于|应当于|于本判决生效之日起|支付|偿还|返还|赔偿|给付|继续履行|解除)")
_REJECT_CLAIMS = re.compile(r"驳回[^。；;]*?诉讼请求")


@dataclass
class ReportCase:
    doc_id: str
    title: str
    case_number: str | None
    court: str | None
    court_level: str | None
    date: str | None  # ISO decision date
    tier: int
    effect: str  # 应当参照 / 可以参考
    recent: bool
    similarity: str  # the explanation's one-line summary
    key_point: str  # 裁判要点, or the key passage of the reasoning
    key_point_kind: str  # "裁判要点" or "裁判理由摘要"


@dataclass
class TierGroup:
    tier: int
    label: str
    cases: list[ReportCase] = field(default_factory=list)


@dataclass
class Mark:
    doc_id: str
    title: str | None  # None when the case is not among the results
    label: str  # 类案 / 非类案
    reason: str


@dataclass
class ConflictSide:
    doc_id: str
    title: str
    case_number: str | None
    court: str | None
    court_level: str | None
    date: str | None
    outcome: str
    committee: bool  # 审判委员会 decided (the text says so)


@dataclass
class Conflict:
    causes: list[str]
    first: ConflictSide
    second: ConflictSide


@dataclass
class RetrievalReport:
    pending_case_number: str | None
    pending_facts: str
    judge: dict[str, str]  # 检索主体: name, court, role
    searched_at: str  # 检索时间, ISO
    platform: dict[str, Any]  # 检索平台: service, build_id, documents, description
    methods: list[str]  # 检索方法 (Chinese labels of the methods run)
    query_text: str  # the exact facts text searched
    keywords: list[str]  # printed boolean terms (+must, -must_not, "phrase", should)
    articles: list[str]
    causes: list[str]
    causes_predicted: bool
    seed_case: str | None
    tiers: list[TierGroup]  # Art. 4 order
    holdings_summary: list[str]  # 类案裁判要点
    dispute_focus: str  # given, else TO_BE_FILLED
    marks: list[Mark]
    application_analysis: str  # 参照/参考运用情况分析: TO_BE_FILLED
    effect_rules: list[str]
    conflicts: list[Conflict]
    audit_search_id: int | None
    audit_hash: str | None
    trigger: str | None = None  # 检索事由: the Art. 2 item that made the search mandatory
    title: str = "类案检索报告"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (only str, int, bool, None, lists and dicts)."""
        return asdict(self)

    def result_count(self) -> int:
        return sum(len(group.cases) for group in self.tiers)


def key_point(doc: Document) -> tuple[str, str]:
    """(kind, text): the 裁判要点 when the case has one, else the key passage of its reasoning."""
    if doc.holding and doc.holding.strip():
        return "裁判要点", doc.holding.strip()
    reasoning = doc.sections.reasoning.strip()
    start = reasoning.find(_REASONING_START)
    passage = reasoning[max(start, 0) : max(start, 0) + KEY_PASSAGE_CHARS]
    cut = len(reasoning) - max(start, 0) > KEY_PASSAGE_CHARS
    return "裁判理由摘要", passage + ("……" if cut else "")


def outcome_of(doc: Document) -> str | None:
    """A coarse outcome read from ``doc.sections.result``; ``None`` when it cannot be told."""
    text = doc.sections.result
    if not text.strip():
        return None
    criminal = doc.category is CaseCategory.CRIMINAL or "刑" in (doc.case_number or "")
    if criminal:
        if "无罪" in text:
            return "无罪"
        if "免予刑事处罚" in text or "免除刑事处罚" in text:
            return "免予刑事处罚"
        if "缓刑" in text:
            return "缓刑"
        if _CUSTODIAL.search(text):
            return "实刑"
        return None
    if "驳回上诉" in text:
        return None
    if _SUPPORT.search(text):
        return "支持诉讼请求"
    if _REJECT_CLAIMS.search(text):
        return "驳回诉讼请求"
    return None


def _level(doc: Document) -> str | None:
    if doc.court is None:
        return None
    level = doc.court.level or court_level(doc.court.name)
    return level.value if level else None


def _date(doc: Document) -> str | None:
    return doc.decision_date.isoformat() if doc.decision_date else None


def _case(result: SearchResult) -> ReportCase:
    doc = result.document
    kind, text = key_point(doc)
    return ReportCase(
        doc_id=doc.doc_id,
        title=doc.title or doc.doc_id,
        case_number=doc.case_number,
        court=doc.court.name if doc.court else None,
        court_level=_level(doc),
        date=_date(doc),
        tier=int(result.tier or Tier.OTHER),
        effect=result.effect,
        recent=result.recent,
        similarity=result.explanation.summary if result.explanation else "",
        key_point=text,
        key_point_kind=kind,
    )


def _tiers(results: list[SearchResult]) -> list[TierGroup]:
    groups = {tier: TierGroup(int(tier), tier.label) for tier in Tier}
    for result in results:
        groups[Tier(result.tier or Tier.OTHER)].cases.append(_case(result))
    return [groups[t] for t in ART4_TIERS] + ([groups[Tier.OTHER]] if groups[Tier.OTHER].cases else [])


def _summary(tiers: list[TierGroup]) -> list[str]:
    high = [c for g in tiers if g.tier in (Tier.GUIDING, Tier.SPC) for c in g.cases]
    chosen = high or [c for g in tiers for c in g.cases][:SUMMARY_FALLBACK_COUNT]
    return [
        f"{case_reference(c.title, c.case_number, c.doc_id)}：{c.key_point}" for c in chosen if c.key_point
    ]


def _side(doc: Document, outcome: str) -> ConflictSide:
    return ConflictSide(
        doc_id=doc.doc_id,
        title=doc.title or doc.doc_id,
        case_number=doc.case_number,
        court=doc.court.name if doc.court else None,
        court_level=_level(doc),
        date=_date(doc),
        outcome=outcome,
        committee="审判委员会" in doc.text(),
    )


def find_conflicts(results: list[SearchResult], causes: list[str]) -> list[Conflict]:
    """Pairs of results sharing a pending cause whose outcomes differ (see the module docstring)."""
    wanted = set(causes)
    read: list[tuple[Document, str, list[str]]] = []
    for result in results:
        doc = result.document
        shared = [c for c in doc.causes if c in wanted]
        outcome = outcome_of(doc) if shared else None
        if outcome is not None:
            read.append((doc, outcome, shared))
    conflicts: list[Conflict] = []
    for i, (doc_a, outcome_a, causes_a) in enumerate(read):
        for doc_b, outcome_b, causes_b in read[i + 1 :]:
            common = [c for c in causes_a if c in causes_b]
            if common and outcome_a != outcome_b:
                conflicts.append(Conflict(common, _side(doc_a, outcome_a), _side(doc_b, outcome_b)))
                if len(conflicts) == MAX_CONFLICTS:
                    return conflicts
    return conflicts


def _keyword_terms(query: KeywordQuery) -> list[str]:
    return (
        [f"+{t}" for t in query.must]
        + [f'"{t}"' for t in query.phrases]
        + list(query.should)
        + [f"-{t}" for t in query.must_not]
    )


def _marks(marks: dict[str, tuple[str, str]] | None, results: list[SearchResult]) -> list[Mark]:
    titles = {r.document.doc_id: r.document.title or r.document.doc_id for r in results}
    out = []
    for doc_id, (label, reason) in (marks or {}).items():
        if label not in MARK_LABELS:
            raise ValueError(f"marks: label for {doc_id!r} must be 类案 or 非类案, not {label!r}")
        out.append(Mark(doc_id, titles.get(doc_id), label, reason))
    return out


def build_report(
    response: SearchResponse,
    *,
    pending_case_number: str | None,
    pending_facts: str,
    dispute_focus: str | None,
    judge: dict[str, str],
    searched_at: dt.datetime,
    audit_search_id: int | None,
    audit_hash: str | None,
    marks: dict[str, tuple[str, str]] | None = None,
    request: SearchRequest | None = None,
    trigger: str | None = None,
) -> RetrievalReport:
    """The Art. 8 report for one search; ``request`` (when given) supplies the keywords and articles.

    Raises ValueError on a mark label other than 类案/非类案 or a judge without name/court/role.
    """
    missing = [k for k in ("name", "court", "role") if not str(judge.get(k) or "").strip()]
    if missing:
        raise ValueError(f"judge: missing {', '.join(missing)}")
    documents = response.index.get("documents")
    platform = {
        "service": SERVICE_NAME,
        "build_id": str(response.index.get("build_id") or ""),
        "documents": documents,
        "description": f"索引收录裁判文书及案例 {documents} 篇" if documents is not None else "",
    }
    tiers = _tiers(response.results)
    return RetrievalReport(
        pending_case_number=pending_case_number,
        pending_facts=pending_facts,
        judge={k: str(judge[k]) for k in ("name", "court", "role")},
        searched_at=searched_at.isoformat(timespec="seconds"),
        platform=platform,
        methods=[METHOD_LABELS.get(m, m) for m in response.methods],
        query_text=request.facts if request is not None and request.facts else pending_facts,
        keywords=_keyword_terms(request.keywords) if request is not None else [],
        articles=request.provision_keys() if request is not None else [],
        causes=list(response.causes_used),
        causes_predicted=response.causes_predicted,
        seed_case=response.seed_doc_id,
        tiers=tiers,
        holdings_summary=_summary(tiers),
        dispute_focus=dispute_focus.strip() if dispute_focus and dispute_focus.strip() else TO_BE_FILLED,
        marks=_marks(marks, response.results),
        application_analysis=TO_BE_FILLED,
        effect_rules=list(EFFECT_RULES),
        conflicts=find_conflicts(response.results, response.causes_used),
        audit_search_id=audit_search_id,
        audit_hash=audit_hash,
        trigger=trigger,
    )


# --------------------------------------------------------------------------- text shared by the renderers

SECTIONS = (
    "一、检索方法",
    "二、检索结果（按层级）",
    "三、类案裁判要点",
    "四、待决案件争议焦点",
    "五、类案/非类案标记",
    "六、参照/参考运用情况分析",
    "七、裁判结果冲突提示",
)
NONE_FOUND = "未检索到该层级的类案。"


def display_time(iso: str) -> str:
    """``2025-06-01T09:30:00+08:00`` as a court document writes it: 2025年6月1日 09:30:00 (offset if not +8)."""
    try:
        moment = dt.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    text = f"{moment.year}年{moment.month}月{moment.day}日 {moment:%H:%M:%S}"
    offset = moment.utcoffset()
    if offset is not None and offset != dt.timedelta(hours=8):
        text += f"（UTC{moment:%z}）"
    return text


def case_reference(title: str, case_number: str | None, doc_id: str) -> str:
    """Name and 案号 of a case; a 案号 already carries its year in （）, so it is not bracketed again."""
    if case_number:
        return f"{title}　{case_number}"
    return f"{title}（{doc_id}）"


def basic_info(report: RetrievalReport) -> list[tuple[str, str]]:
    """The basic-information table: (label, value) rows."""
    p = report.platform
    return [
        ("待决案件案号", report.pending_case_number or "（未提供）"),
        ("检索事由", report.trigger or "（未说明）"),
        ("检索人", f"{report.judge['name']}（{report.judge['role']}）"),
        ("检索法院", report.judge["court"]),
        ("检索时间", display_time(report.searched_at)),
        ("检索平台", f"{p['service']}；索引版本 {p['build_id']}；{p['description']}"),
        ("审计编号", audit_line(report)),
    ]


def audit_line(report: RetrievalReport) -> str:
    search_id = "（无）" if report.audit_search_id is None else str(report.audit_search_id)
    return f"检索审计编号 {search_id}；记录哈希 {report.audit_hash or '（无）'}"


def method_lines(report: RetrievalReport) -> list[str]:
    causes = "、".join(report.causes) or "（无）"
    return [
        f"检索方法：{'、'.join(report.methods) or '（无）'}",
        f"关键词：{' '.join(report.keywords) or '（未指定，以案件事实检索）'}",
        f"法条：{'、'.join(report.articles) or '（未指定）'}",
        f"罪名/案由：{causes}{'（系根据相似案件预测）' if report.causes_predicted else ''}",
        f"关联案例：{report.seed_case or '（无）'}",
        "检索文本（原文）：",
    ]


def case_lines(case: ReportCase) -> list[str]:
    """The lines under a case's heading line (``case_heading``)."""
    lines = [
        f"法院：{case.court or '（不详）'}；裁判日期：{case.date or '（不详）'}",
        f"效力：{case.effect}{'；近三年裁判' if case.recent else ''}",
        f"相似之处：{case.similarity or '（无）'}",
    ]
    if case.key_point:
        lines.append(f"{case.key_point_kind}：{case.key_point}")
    return lines


def tier_heading(group: TierGroup) -> str:
    if group.tier == Tier.OTHER:
        return f"其他裁判（第四条所列范围以外，{len(group.cases)}件）"
    return f"第{group.tier}层级：{group.label}（{len(group.cases)}件）"


def case_heading(number: int, case: ReportCase) -> str:
    return f"{number}. {case_reference(case.title, case.case_number, case.doc_id)}"


def mark_line(mark: Mark) -> str:
    title = mark.title or f"{mark.doc_id}（不在本次检索结果中）"
    return f"{title}：{mark.label}。理由：{mark.reason or '（未说明）'}"


def _side_text(s: ConflictSide) -> str:
    committee = "，经审判委员会讨论" if s.committee else ""
    return (
        f"{case_reference(s.title, s.case_number, s.doc_id)}（{s.court or '法院不详'}，"
        f"{s.court_level or '层级不详'}法院，{s.date or '日期不详'}{committee}）"
    )


def conflict_lines(report: RetrievalReport) -> list[str]:
    """One line per 罪名/案由: each outcome with the cases that reached it, each case named once.

    The data keeps pairs (``Conflict``); printed pair by pair, a case in five pairs would be named five
    times, which buries the point Art. 11 wants made: that these cases were decided differently.
    """
    by_cause: dict[str, dict[str, dict[str, ConflictSide]]] = {}
    for conflict in report.conflicts:
        outcomes = by_cause.setdefault("、".join(conflict.causes), {})
        for side in (conflict.first, conflict.second):
            outcomes.setdefault(side.outcome, {})[side.doc_id] = side
    return [
        f"同为{cause}，裁判结果不一致。"
        + "".join(
            f"{outcome}（{len(sides)}件）：{'；'.join(_side_text(s) for s in sides.values())}。"
            for outcome, sides in outcomes.items()
        )
        for cause, outcomes in by_cause.items()
    ]


def no_conflict_text() -> str:
    return "未发现同一罪名/案由下裁判结果明显不一致的类案。"


def signature_lines(report: RetrievalReport) -> list[str]:
    """The closing block: who searched and when, with room for the signature a filed report carries."""
    day = display_time(report.searched_at).split(" ")[0]
    return [
        f"检索人：{report.judge['name']}（{report.judge['role']}）",
        "签　名：＿＿＿＿＿＿",
        report.judge["court"],
        day,
    ]
