"""The data behind a 类案检索报告 (Art. 8 of the SPC 2020 guidance), built from one search.

``build_report`` turns a ``SearchResponse`` plus what the judge supplies (案号, facts, 争议焦点, marks)
into a ``RetrievalReport``; the renderers (DOCX, HTML, Markdown) only lay it out, in the same order:

检索事由 (the Art. 2 trigger) · 检索主体 · 检索时间 · 检索平台 · 检索方法 · 检索结果 (per Art. 4 tier,
tiers 1–4 always listed, "其他" when it has results) · 类案裁判要点 · 待决案件争议焦点 · 类案/非类案标记 ·
参照/参考运用情况分析 · 裁判结果冲突提示 (Art. 11) · 审计编号 and record hash · the closing block
(检索人, signature line, court, date).

Rules kept deliberately simple:

* The report is made from the snapshot of what the judge was shown (``ShownResult``, kept in the
  search record) plus the judge's marks as they stand: the index may have changed since, and a case
  withdrawn since the search is noted (``ReportCase.withdrawn_since``) rather than silently changed.
* A case's key point is its published 裁判要点 when it has one, else whole sentences of its reasoning
  that state the conclusion (``retrieval.report.key_point``); its citation is ``retrieval.citation``'s.
* Art. 6 marks decide what counts as a similar case: only cases marked 类案 feed 类案裁判要点 and the
  Art. 11 conflict check; 非类案 are listed with the judge's reasons; unmarked ones are 待比对 and are
  never called 类案. The effect (Art. 9) of each case follows its mark (``retrieval.tiers.effect_of``).
* Conflicts (Art. 11): among 类案-marked results sharing a 罪名/案由 with the pending case, a pair is
  flagged when its decisive circumstances match and its outcomes differ
  (``retrieval.report.conflicts``: parsed outcomes, 累犯, 主犯/从犯, amount band); each conflict says
  which outcomes differ and why the two are comparable. At most ``MAX_CONFLICTS`` pairs.
* Whether an adjudication committee decided is read as "审判委员会" appearing in the text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from retrieval.audit.records import ShownResult
from retrieval.citation import citation, missing_for_citation, reference, uncitable_note
from retrieval.differences import difference_text
from retrieval.document import Document
from retrieval.guidance import DecisionLabel
from retrieval.parsing.courts import court_level
from retrieval.report.conflicts import comparability, outcome_difference, outcome_profile, outcome_text
from retrieval.report.key_point import key_point
from retrieval.request import KeywordQuery, SearchRequest
from retrieval.search import SearchResponse, SearchResult
from retrieval.tiers import (
    GUIDING_CANDIDATE,
    MAY_REFER,
    MUST_REFER,
    NOT_APPLIED,
    NOT_CITABLE,
    Tier,
    effect_of,
)

SERVICE_NAME = "类案强制检索服务"
TO_BE_FILLED = "【待承办法官填写】"
MAX_CONFLICTS = 20
MARK_LABELS = tuple(label.value for label in DecisionLabel)
PENDING_COMPARISON = "待比对"
"""A result the judge has not marked: listed, never called 类案."""
NO_SIMILAR_YET = "尚无经比对认定为类案的案件；未比对的检索结果不作为类案。"
ART4_TIERS = (Tier.GUIDING, Tier.SPC, Tier.PROVINCIAL_HIGH, Tier.SUPERIOR_AND_SELF)
EFFECT_RULES = (
    f"指导性案例：{GUIDING_CANDIDATE}（《关于统一法律适用加强类案检索的指导意见（试行）》第九条）；"
    f"经比对标记为类案的，{MUST_REFER}；",
    f"其他类案：{MAY_REFER}，可以作为作出裁判的参考；",
    f"经比对标记为非类案的：{NOT_APPLIED}；已被停止参照或撤回的案例：{NOT_CITABLE}。",
)
METHOD_LABELS = {
    "keyword": "关键词检索",
    "statute": "法条关联案件检索",
    "case": "案例关联检索",
    "semantic": "语义检索",
}


@dataclass
class ReportCase:
    doc_id: str
    title: str
    case_number: str | None
    court: str | None
    court_level: str | None
    date: str | None  # ISO decision date
    tier: int
    effect: str  # retrieval.tiers.effect_of, after the judge's mark
    recent: bool
    similarity: str  # the explanation's one-line summary
    key_point: str  # 裁判要点, or the selected sentences of the reasoning
    key_point_kind: str  # "裁判要点" or "裁判理由摘要"
    citation: str = ""  # 指导案例N号 / 《最高人民法院公报》YYYY年第N期 / 案号 (retrieval.citation)
    mark: str = PENDING_COMPARISON  # 类案 / 非类案 / 待比对
    mark_reason: str = ""
    withdrawn_since: str | None = None  # the reason, when withdrawn after the search
    causes: list[str] = field(default_factory=list)
    outcome: str | None = None
    committee: bool = False
    outcome_detail: dict[str, Any] | None = None  # retrieval.report.conflicts.outcome_profile
    differences: list[str] = field(default_factory=list)  # the explanation's, one line each (比对)
    uncitable: str = ""  # 不可引用（缺少案号…）when the case lacks 案号, court or date (retrieval.citation)


@dataclass
class TierGroup:
    tier: int
    label: str
    cases: list[ReportCase] = field(default_factory=list)


@dataclass
class Mark:
    doc_id: str
    title: str | None  # None when the case is not among the results
    label: str  # 类案 / 非类案 / 待比对
    reason: str


@dataclass
class ConflictSide:
    doc_id: str
    title: str
    case_number: str | None  # the citation (retrieval.citation): 指导案例N号, 公报 issue or 案号
    court: str | None
    court_level: str | None
    date: str | None
    outcome: str  # the kind: 实刑 / 缓刑 / 免予刑事处罚 / 无罪 / 支持 / 部分支持 / 驳回 …
    committee: bool  # 审判委员会 decided (the text says so)
    detail: str = ""  # the outcome as read: 有期徒刑1年，缓刑1年6个月，罚金2000元


@dataclass
class Conflict:
    causes: list[str]
    first: ConflictSide
    second: ConflictSide
    difference: str = ""  # which outcomes differ: 缓刑／实刑, 刑期相差悬殊（…）
    comparable: list[str] = field(default_factory=list)  # why the pair may be compared: 均非累犯 …


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


def outcome_of(doc: Document) -> str | None:
    """The kind of outcome read from ``doc``'s result (``retrieval.report.conflicts``); None when unread."""
    profile = outcome_profile(doc)
    return str(profile["kind"]) if profile and profile.get("kind") else None


def _level(court: dict[str, Any] | None) -> str | None:
    if not court or not court.get("name"):
        return None
    level = court.get("level") or court_level(str(court["name"]))
    return str(level) if level else None


def explanation_json(result: SearchResult) -> dict[str, Any] | None:
    """The explanation as JSON (highlight spans as lists), as the API answers it and the snapshot keeps it."""
    if result.explanation is None:
        return None
    data = result.explanation.to_dict()
    passages: list[dict[str, Any]] = data["passages"]  # type: ignore[assignment]
    data["passages"] = [{**p, "highlights": [list(h) for h in p["highlights"]]} for p in passages]
    return data


def shown_result(result: SearchResult) -> ShownResult:
    """What the judge is shown of one result, kept in the search record so a later report can use it."""
    doc = result.document
    kind, text = key_point(doc)
    court = doc.court
    profile = outcome_profile(doc)
    return ShownResult(
        doc_id=doc.doc_id,
        title=doc.title or None,
        case_number=doc.case_number,
        court=(
            {
                "name": court.name,
                "level": court.level.value if court.level else None,
                "province": court.province,
            }
            if court is not None
            else None
        ),
        decision_date=doc.decision_date.isoformat() if doc.decision_date else None,
        holding=text,
        tier=int(result.tier) if result.tier is not None else None,
        effect=result.effect,
        explanation=explanation_json(result),
        citation=citation(doc),
        key_point_kind=kind,
        authority_kind=doc.authority.kind.value,
        recent=result.recent,
        causes=tuple(doc.causes),
        outcome=str(profile["kind"]) if profile and profile.get("kind") else None,
        committee="审判委员会" in doc.text(),
        outcome_detail=profile,
    )


def snapshot(results: list[SearchResult]) -> tuple[ShownResult, ...]:
    return tuple(shown_result(r) for r in results)


def _case(shown: ShownResult, mark: tuple[str, str] | None, withdrawn_since: str | None) -> ReportCase:
    label, reason = mark if mark is not None else (PENDING_COMPARISON, "")
    court = dict(shown.court) if shown.court is not None else None
    explanation = shown.explanation or {}
    return ReportCase(
        doc_id=shown.doc_id,
        title=shown.title or shown.citation or shown.doc_id,
        case_number=shown.case_number,
        court=str(court["name"]) if court and court.get("name") else None,
        court_level=_level(court),
        date=shown.decision_date,
        tier=int(shown.tier or Tier.OTHER),
        effect=effect_of(
            shown.authority_kind,
            withdrawn=withdrawn_since is not None,
            mark=label if mark is not None else None,
        ),
        recent=shown.recent,
        similarity=str(explanation.get("summary") or ""),
        key_point=shown.holding or "",
        key_point_kind=shown.key_point_kind or "",
        citation=shown.citation or shown.case_number or shown.doc_id,
        mark=label,
        mark_reason=reason,
        withdrawn_since=withdrawn_since,
        causes=list(shown.causes),
        outcome=shown.outcome,
        committee=shown.committee,
        outcome_detail=dict(shown.outcome_detail) if shown.outcome_detail is not None else None,
        differences=[difference_text(d) for d in explanation.get("differences") or () if isinstance(d, dict)],
        uncitable=uncitable_note(
            missing_for_citation(
                shown.case_number,
                str(court["name"]) if court and court.get("name") else None,
                shown.decision_date,
                shown.authority_kind,
            )
        ),
    )


def _tiers(cases: list[ReportCase]) -> list[TierGroup]:
    groups = {tier: TierGroup(int(tier), tier.label) for tier in Tier}
    for case in cases:
        groups[Tier(case.tier)].cases.append(case)
    return [groups[t] for t in ART4_TIERS] + ([groups[Tier.OTHER]] if groups[Tier.OTHER].cases else [])


def similar_cases(cases: list[ReportCase]) -> list[ReportCase]:
    """The cases the judge marked 类案 and that may still be cited: the only ones called 类案."""
    return [c for c in cases if c.mark == DecisionLabel.SIMILAR and c.withdrawn_since is None]


def _summary(cases: list[ReportCase]) -> list[str]:
    return [f"{reference(c.title, c.citation)}：{c.key_point}" for c in similar_cases(cases) if c.key_point]


def _profile(case: ReportCase) -> dict[str, Any] | None:
    """The case's outcome profile; a snapshot from before profiles were kept has only the kind."""
    if case.outcome_detail is not None:
        return case.outcome_detail if case.outcome_detail.get("kind") else None
    return {"kind": case.outcome} if case.outcome else None


def _side(case: ReportCase, profile: dict[str, Any]) -> ConflictSide:
    return ConflictSide(
        doc_id=case.doc_id,
        title=case.title,
        case_number=case.citation,
        court=case.court,
        court_level=case.court_level,
        date=case.date,
        outcome=str(profile["kind"]),
        committee=case.committee,
        detail=outcome_text(profile),
    )


def find_conflicts(cases: list[ReportCase], causes: list[str]) -> list[Conflict]:
    """Pairs of comparable 类案-marked cases sharing a pending cause whose outcomes differ (module docstring)."""
    wanted = set(causes)
    read: list[tuple[ReportCase, dict[str, Any], list[str]]] = []
    for case in similar_cases(cases):
        shared = [c for c in case.causes if c in wanted]
        profile = _profile(case)
        if shared and profile is not None:
            read.append((case, profile, shared))
    conflicts: list[Conflict] = []
    for i, (case_a, profile_a, causes_a) in enumerate(read):
        for case_b, profile_b, causes_b in read[i + 1 :]:
            common = [c for c in causes_a if c in causes_b]
            if not common:
                continue
            same, blocker = comparability(profile_a, profile_b)
            difference = outcome_difference(profile_a, profile_b) if blocker is None else None
            if difference is None:
                continue
            conflicts.append(
                Conflict(common, _side(case_a, profile_a), _side(case_b, profile_b), difference, same)
            )
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


def _checked_marks(marks: dict[str, tuple[str, str]] | None) -> dict[str, tuple[str, str]]:
    for doc_id, (label, _) in (marks or {}).items():
        if label not in MARK_LABELS:
            raise ValueError(f"marks: label for {doc_id!r} must be 类案 or 非类案, not {label!r}")
    return dict(marks or {})


def _marks(marks: dict[str, tuple[str, str]], cases: list[ReportCase]) -> list[Mark]:
    """类案 first, then 非类案 with the judge's reasons, then the results still 待比对 (unmarked)."""
    shown = {c.doc_id for c in cases}
    out = [Mark(c.doc_id, reference(c.title, c.citation), c.mark, c.mark_reason) for c in cases]
    out += [
        Mark(doc_id, None, label, reason) for doc_id, (label, reason) in marks.items() if doc_id not in shown
    ]
    order = {DecisionLabel.SIMILAR.value: 0, DecisionLabel.NOT_SIMILAR.value: 1, PENDING_COMPARISON: 2}
    return sorted(out, key=lambda m: order.get(m.label, 3))


@dataclass
class SearchShown:
    """One search as the report needs it: what was shown (the snapshot) and how it was run."""

    shown: tuple[ShownResult, ...]
    methods: list[str]
    causes_used: list[str]
    causes_predicted: bool
    seed_doc_id: str | None
    build_id: str
    documents: int | None

    @classmethod
    def of_response(cls, response: SearchResponse) -> SearchShown:
        documents = response.index.get("documents")
        return cls(
            shown=snapshot(response.results),
            methods=list(response.methods),
            causes_used=list(response.causes_used),
            causes_predicted=response.causes_predicted,
            seed_doc_id=response.seed_doc_id,
            build_id=str(response.index.get("build_id") or ""),
            documents=int(documents) if isinstance(documents, int) else None,
        )


def build_report(
    response: SearchResponse | SearchShown,
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
    withdrawn_since: dict[str, str] | None = None,
) -> RetrievalReport:
    """The Art. 8 report for one search; ``request`` (when given) supplies the keywords and articles.

    ``withdrawn_since`` maps a shown case withdrawn after the search to the reason. Raises ValueError
    on a mark label other than 类案/非类案 or a judge without name/court/role.
    """
    missing = [k for k in ("name", "court", "role") if not str(judge.get(k) or "").strip()]
    if missing:
        raise ValueError(f"judge: missing {', '.join(missing)}")
    searched = response if isinstance(response, SearchShown) else SearchShown.of_response(response)
    checked = _checked_marks(marks)
    gone = withdrawn_since or {}
    cases = [_case(s, checked.get(s.doc_id), gone.get(s.doc_id)) for s in searched.shown]
    documents = searched.documents
    platform = {
        "service": SERVICE_NAME,
        "build_id": searched.build_id,
        "documents": documents,
        "description": f"索引收录裁判文书及案例 {documents} 篇" if documents is not None else "",
    }
    return RetrievalReport(
        pending_case_number=pending_case_number,
        pending_facts=pending_facts,
        judge={k: str(judge[k]) for k in ("name", "court", "role")},
        searched_at=searched_at.isoformat(timespec="seconds"),
        platform=platform,
        methods=[METHOD_LABELS.get(m, m) for m in searched.methods],
        query_text=request.facts if request is not None and request.facts else pending_facts,
        keywords=_keyword_terms(request.keywords) if request is not None else [],
        articles=request.provision_keys() if request is not None else [],
        causes=list(searched.causes_used),
        causes_predicted=searched.causes_predicted,
        seed_case=searched.seed_doc_id,
        tiers=_tiers(cases),
        holdings_summary=_summary(cases),
        dispute_focus=dispute_focus.strip() if dispute_focus and dispute_focus.strip() else TO_BE_FILLED,
        marks=_marks(checked, cases),
        application_analysis=TO_BE_FILLED,
        effect_rules=list(EFFECT_RULES),
        conflicts=find_conflicts(cases, searched.causes_used),
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
        f"比对结论：{case.mark}{'。理由：' + case.mark_reason if case.mark_reason else ''}",
        f"相似之处：{case.similarity or '（无）'}",
    ]
    if case.differences:
        lines.append(f"不同之处：{'；'.join(case.differences)}")
    if case.withdrawn_since is not None:
        lines.insert(2, f"检索后已停止参照或撤回：{case.withdrawn_since}")
    if case.uncitable:
        lines.insert(2, f"引用：{case.uncitable}，不作为类案引用")
    if case.key_point:
        lines.append(f"{case.key_point_kind}：{case.key_point}")
    return lines


def tier_heading(group: TierGroup) -> str:
    if group.tier == Tier.OTHER:
        return f"其他裁判（第四条所列范围以外，{len(group.cases)}件）"
    return f"第{group.tier}层级：{group.label}（{len(group.cases)}件）"


def case_heading(number: int, case: ReportCase) -> str:
    return f"{number}. {reference(case.title, case.citation)}"


def mark_line(mark: Mark) -> str:
    title = mark.title or f"{mark.doc_id}（不在本次检索结果中）"
    if mark.label == PENDING_COMPARISON:
        return f"{title}：{PENDING_COMPARISON}（尚未比对，不作为类案）"
    return f"{title}：{mark.label}。理由：{mark.reason or '（未说明）'}"


def _side_text(s: ConflictSide) -> str:
    committee = "，经审判委员会讨论" if s.committee else ""
    return (
        f"{reference(s.title, s.case_number or s.doc_id)}（{s.court or '法院不详'}，"
        f"{s.court_level or '层级不详'}法院，{s.date or '日期不详'}{committee}）"
    )


def conflict_lines(report: RetrievalReport) -> list[str]:
    """One line per 罪名/案由 and set of matching circumstances: why the cases are comparable, then each
    outcome with the cases that reached it, each case named once.

    The data keeps pairs (``Conflict``); printed pair by pair, a case in five pairs would be named five
    times, which buries the point Art. 11 wants made: that comparable cases were decided differently.
    """
    groups: dict[tuple[str, str], tuple[dict[str, None], dict[str, dict[str, ConflictSide]]]] = {}
    for conflict in report.conflicts:
        key = ("、".join(conflict.causes), "、".join(conflict.comparable))
        differences, outcomes = groups.setdefault(key, ({}, {}))
        differences[conflict.difference] = None
        for side in (conflict.first, conflict.second):
            outcomes.setdefault(side.detail or side.outcome, {})[side.doc_id] = side
    lines = []
    for (cause, comparable), (differences, outcomes) in groups.items():
        basis = f"，{comparable}" if comparable else "（未保存可比情节，未核对可比性）"
        lines.append(
            f"同为{cause}{basis}，裁判结果不一致（{'；'.join(d for d in differences if d)}）。"
            + "".join(
                f"{outcome}（{len(sides)}件）：{'；'.join(_side_text(s) for s in sides.values())}。"
                for outcome, sides in outcomes.items()
            )
        )
    return lines


def no_conflict_text() -> str:
    return "未发现同一罪名/案由、可比情节相同而裁判结果明显不一致的类案。"


def signature_lines(report: RetrievalReport) -> list[str]:
    """The closing block: who searched and when, with room for the signature a filed report carries."""
    day = display_time(report.searched_at).split(" ")[0]
    return [
        f"检索人：{report.judge['name']}（{report.judge['role']}）",
        "签　名：＿＿＿＿＿＿",
        report.judge["court"],
        day,
    ]
