"""The Art. 13 periodic summary (类案检索情况定期汇总) of one court's mandatory searches, from audit records.

Pure functions over record dicts (the ``record`` of an export line, or ``AuditRecord.to_dict()``),
read once in seq order; ``summary_source`` feeds them from a verified log. Choices a reader of the
figures needs to know:

* Days are Beijing time (UTC+8, the courts' calendar; China has no daylight saving): ``--from D1
  --to D2`` covers D1 00:00 to D2 24:00 there, both days included; records store UTC.
* A search belongs to the court of the account that ran it (``actor.court``), like every audit scope.
* 案件类型 is 案件类别 + 审理阶段 from the pending case's 案号 (``刑事一审`` for 刑初); a search without a
  parsable 案号 counts as ``未知``.
* Marks (Art. 6) count for the searches of the period, whenever they were made: per result, the
  latest mark in the log the summary read (its tree size is in the source), so a re-mark replaces
  the earlier one instead of counting twice.
* A case (案件) is a distinct pending 案号, compared in its canonical form (so ``(2024)`` and
  ``（2024）`` are one case); Art. 13 asks how many cases were searched, not only how many
  searches were run, and one case is often searched several times. A 案号 that does not parse is
  compared as written, stripped.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from retrieval.audit.beijing_time import BEIJING
from retrieval.audit.records import CaseworkFields, DecisionRecord, RecordKind
from retrieval.audit.store import RecordFilter
from retrieval.guidance import DecisionLabel
from retrieval.parsing.case_number import parse_case_number

MAX_DAYS = 3660  # ten years: a longer period is a typo, and the per-day table would be huge
UNKNOWN_CASE_TYPE = "未知"
HIGH_TIERS = (1, 2)  # 指导性案例; 最高法典型案例 / 入库案例 / SPC judgments
REPORT_KINDS = frozenset({RecordKind.REPORT.value})
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

Cell = int | float | str | None


class PeriodError(ValueError):
    """A date of the period is malformed or the period is impossible; ``field`` names the option."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _date(name: str, text: str) -> dt.date:
    # fromisoformat alone would also take 20250101 and week dates: one spelling keeps reports comparable.
    if not isinstance(text, str) or not _DATE.fullmatch(text.strip()):
        raise PeriodError(name, f"{text!r} is not a date written YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError as exc:
        raise PeriodError(name, f"{text!r} is not a calendar date ({exc})") from exc


@dataclass(frozen=True)
class Period:
    """Calendar days ``first``..``last``, both included, in Beijing time."""

    first: dt.date
    last: dt.date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise PeriodError("to", f"{self.last} is before from {self.first}")
        if self.length > MAX_DAYS:
            raise PeriodError("to", f"the period has {self.length} days; at most {MAX_DAYS}")

    @classmethod
    def parse(cls, first: str, last: str) -> Period:
        return cls(_date("from", first), _date("to", last))

    @property
    def length(self) -> int:
        return (self.last - self.first).days + 1

    def days(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=i) for i in range(self.length)]

    def record_filter(self, court: str | None) -> RecordFilter:
        """The audit filter of the period: since is inclusive, until (the day after ``last``) exclusive."""
        since = dt.datetime.combine(self.first, dt.time(), BEIJING)
        until = dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(), BEIJING)
        return RecordFilter(court=court, since=since, until=until)


def local_day(at: str) -> dt.date:
    """The Beijing-time day of a record's UTC timestamp."""
    return dt.datetime.fromisoformat(at).astimezone(BEIJING).date()


def case_type(case_number: Any) -> str:
    """``刑事一审`` from ``（2024）浙0106刑初123号``; ``未知`` when there is no parsable 案号."""
    if not isinstance(case_number, str) or not case_number.strip():
        return UNKNOWN_CASE_TYPE
    try:
        parsed = parse_case_number(case_number)
    except ValueError:
        return UNKNOWN_CASE_TYPE
    return f"{parsed.category.value}{parsed.stage}"


def case_key(case_number: Any) -> str:
    """The identity of a pending case: its canonical 案号, else the text as written; ``未知`` when none."""
    if not isinstance(case_number, str) or not case_number.strip():
        return UNKNOWN_CASE_TYPE
    try:
        return parse_case_number(case_number).canonical()
    except ValueError:
        return case_number.strip()


@dataclass(frozen=True)
class CaseFigures:
    """One pending case's line in the summary: how often it was searched, by whom, and what came of it."""

    case_number: str  # as first written in the period
    case_type: str
    searches: int
    triggers: tuple[str, ...]
    users: tuple[str, ...]
    first_day: dt.date
    last_day: dt.date
    found_tier_1_2: bool
    marked_results: int
    marked_similar: int
    reports: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_number": self.case_number,
            "case_type": self.case_type,
            "searches": self.searches,
            "triggers": list(self.triggers),
            "users": list(self.users),
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "found_tier_1_2": self.found_tier_1_2,
            "marked_results": self.marked_results,
            "marked_similar": self.marked_similar,
            "reports": self.reports,
        }


@dataclass
class _CaseTally:
    case_number: str
    case_type: str
    searches: int = 0
    triggers: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    days: list[dt.date] = field(default_factory=list)
    high_tier: bool = False
    reports: int = 0

    def figures(self, marks: list[str]) -> CaseFigures:
        return CaseFigures(
            case_number=self.case_number,
            case_type=self.case_type,
            searches=self.searches,
            triggers=tuple(sorted(self.triggers)),
            users=tuple(sorted(self.users)),
            first_day=min(self.days),
            last_day=max(self.days),
            found_tier_1_2=self.high_tier,
            marked_results=len(marks),
            marked_similar=sum(label == DecisionLabel.SIMILAR for label in marks),
            reports=self.reports,
        )


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _percent(share: float | None) -> float | None:
    """Tables show percentages (what a reader of the report expects); JSON keeps the fraction."""
    return None if share is None else round(share * 100, 2)


def _ranked(counts: Counter[str]) -> list[tuple[str, int]]:
    """Largest first, then by name, so that the same figures always make the same table."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


@dataclass(frozen=True)
class Summary:
    """The figures of Art. 13 for one court (``None``: every court) and one period."""

    court: str | None
    period: Period
    searches: int
    by_trigger: list[tuple[str, int]]
    by_user: list[tuple[str, int]]
    by_case_type: list[tuple[str, int]]
    per_day: list[tuple[dt.date, int]]
    searches_with_tier_1_2: int
    marked_results: int
    marked_similar: int
    reports: int
    per_case: list[CaseFigures] = field(default_factory=list)  # most searched first, then by 案号
    source: list[tuple[str, str]] = field(default_factory=list)  # where the records came from, checked how

    @property
    def cases(self) -> int:
        """Distinct pending cases (案号) searched in the period."""
        return len(self.per_case)

    @property
    def cases_with_tier_1_2(self) -> int:
        return sum(c.found_tier_1_2 for c in self.per_case)

    @property
    def cases_with_report(self) -> int:
        return sum(c.reports > 0 for c in self.per_case)

    @property
    def cases_by_case_type(self) -> list[tuple[str, int]]:
        return _ranked(Counter(c.case_type for c in self.per_case))

    @property
    def tier_1_2_share(self) -> float | None:
        return _share(self.searches_with_tier_1_2, self.searches)

    @property
    def similar_share(self) -> float | None:
        return _share(self.marked_similar, self.marked_results)

    def table(self) -> list[tuple[str, str, Cell]]:
        """(section, item, value) rows: the one table that the CSV and the XLSX both hold."""
        rows: list[tuple[str, str, Cell]] = [
            ("范围", "法院", self.court or "全部法院"),
            ("范围", "起始日期（含）", self.period.first.isoformat()),
            ("范围", "截止日期（含）", self.period.last.isoformat()),
            ("范围", "时区", "北京时间 UTC+8"),
            ("概要", "强制检索次数", self.searches),
            ("概要", "检索涉及案件数（不同案号）", self.cases),
            ("概要", "检索到第一、二层级案例的案件数", self.cases_with_tier_1_2),
            ("概要", "已生成类案检索报告的案件数", self.cases_with_report),
            ("概要", "检索到第一、二层级案例的检索次数", self.searches_with_tier_1_2),
            ("概要", "检索到第一、二层级案例的比例（%）", _percent(self.tier_1_2_share)),
            ("概要", "已标注的检索结果数", self.marked_results),
            ("概要", "标注为类案的结果数", self.marked_similar),
            ("概要", "标注为类案的比例（%）", _percent(self.similar_share)),
            ("概要", "生成类案检索报告数", self.reports),
        ]
        rows += [("按触发情形", k, n) for k, n in self.by_trigger]
        rows += [("按检索人", k, n) for k, n in self.by_user]
        rows += [("按案件类型", k, n) for k, n in self.by_case_type]
        rows += [("按案件类型（案件数）", k, n) for k, n in self.cases_by_case_type]
        rows += [("按案件（检索次数）", c.case_number, c.searches) for c in self.per_case]
        rows += [("按日", d.isoformat(), n) for d, n in self.per_day]
        rows += [("数据来源", k, v) for k, v in self.source]
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "court": self.court,
            "from": self.period.first.isoformat(),
            "to": self.period.last.isoformat(),
            "timezone": "UTC+08:00",
            "searches": self.searches,
            "cases": self.cases,
            "cases_with_tier_1_2": self.cases_with_tier_1_2,
            "cases_with_report": self.cases_with_report,
            "cases_by_case_type": dict(self.cases_by_case_type),
            "by_trigger": dict(self.by_trigger),
            "by_user": dict(self.by_user),
            "by_case_type": dict(self.by_case_type),
            "searches_with_tier_1_2": self.searches_with_tier_1_2,
            "tier_1_2_share": self.tier_1_2_share,
            "marked_results": self.marked_results,
            "marked_similar": self.marked_similar,
            "similar_share": self.similar_share,
            "reports": self.reports,
            "per_day": [{"date": d.isoformat(), "searches": n} for d, n in self.per_day],
            "per_case": [c.to_dict() for c in self.per_case],
            "source": dict(self.source),
        }


def _found_high_tier(fields: CaseworkFields) -> bool:
    return any(tier in HIGH_TIERS for tier in fields.result_tiers)


def summarise(records: Iterable[Mapping[str, Any]], court: str | None, period: Period) -> Summary:
    """One pass over records in seq order (a decision always follows the search it marks)."""
    in_scope = period.record_filter(court).matcher()
    search_seqs: set[int] = set()
    by_trigger: Counter[str] = Counter()
    by_user: Counter[str] = Counter()
    by_case_type: Counter[str] = Counter()
    per_day: Counter[dt.date] = Counter()
    high_tier = reports = 0
    marks: dict[tuple[int, str], str] = {}  # (search seq, doc id) -> latest label
    cases: dict[str, _CaseTally] = {}  # case key -> tally
    case_of_search: dict[int, str] = {}  # search seq -> case key
    for record in records:
        kind = record.get("kind")
        payload = record.get("payload") or {}
        if kind == RecordKind.DECISION:
            decision = DecisionRecord.from_payload(payload)
            if decision.search_id in search_seqs:
                for mark in decision.marks:
                    marks[(decision.search_id, mark.doc_id)] = mark.label
            continue
        if not in_scope(record):
            continue
        if kind == RecordKind.SEARCH:
            search_seqs.add(record["seq"])
            fields = CaseworkFields.of(payload)
            by_trigger[str(fields.trigger or "未填写")] += 1
            by_user[str((record.get("actor") or {}).get("user"))] += 1
            by_case_type[case_type(fields.case_number)] += 1
            day = local_day(record["at"])
            per_day[day] += 1
            found = _found_high_tier(fields)
            high_tier += found
            key = case_key(fields.case_number)
            tally = cases.get(key)
            if tally is None:
                written = str(fields.case_number or "").strip() or UNKNOWN_CASE_TYPE
                tally = cases[key] = _CaseTally(written, case_type(fields.case_number))
            tally.searches += 1
            tally.triggers.add(str(fields.trigger or "未填写"))
            tally.users.add(str((record.get("actor") or {}).get("user")))
            tally.days.append(day)
            tally.high_tier = tally.high_tier or found
            case_of_search[record["seq"]] = key
        elif kind in REPORT_KINDS:
            reports += 1
            searched = payload.get("search_id")
            key = case_of_search.get(searched) if isinstance(searched, int) else None
            if key is None:  # a report of a search before the period: its case counts if searched in it
                key = case_key(payload.get("case_number"))
            if key in cases:
                cases[key].reports += 1
    labels: dict[str, list[str]] = {}
    for (search_seq, _doc), label in marks.items():
        labels.setdefault(case_of_search[search_seq], []).append(label)
    per_case = [tally.figures(labels.get(key, [])) for key, tally in cases.items()]
    per_case.sort(key=lambda c: (-c.searches, c.case_number))
    return Summary(
        court=court,
        period=period,
        searches=len(search_seqs),
        by_trigger=_ranked(by_trigger),
        by_user=_ranked(by_user),
        by_case_type=_ranked(by_case_type),
        per_day=[(day, per_day[day]) for day in period.days()],
        searches_with_tier_1_2=high_tier,
        marked_results=len(marks),
        marked_similar=sum(label == DecisionLabel.SIMILAR for label in marks.values()),
        reports=reports,
        per_case=per_case,
    )
