"""Art. 4 / Art. 9 tiers of the 2020 SPC guidance, relative to the court that asks.

《关于统一法律适用加强类案检索的指导意见（试行）》 Art. 4 lists what a search covers, in order: 指导性案例;
最高人民法院 典型案例 and 裁判生效的案件; 本省（自治区、直辖市）高级人民法院 参考性案例 and 裁判生效的案件;
上一级人民法院 and 本院 裁判生效的案件. Art. 4 also lets a search stop at a tier once a higher one has
yielded a similar case, and asks for cases of the last three years first (指导性案例 excepted). Art. 9 makes
a guiding case binding when it is a similar case (检索到的类案为指导性案例的，应当参照) and everything else
persuasive (可以作为作出裁判的参考). Whether a result *is* a similar case is the judge's Art. 6 comparison
(``retrieval.guidance.DecisionLabel``), never the search's: until the judge marks it, a guiding case is a
candidate (经比对属于类案的，应当参照); marked 类案 it binds (应当参照); marked 非类案 it is not applied.

Decisions where the text leaves room:

* 入库案例 (人民法院案例库) go to tier 2: the SPC reviews and publishes them as reference cases, so they
  stand with the SPC's 典型案例, whatever court decided them.
* A 参考性案例 belongs to the province of the court that decided it (the only province a ``Document``
  records); one without a court, or from another province, is "other".
* Without a requesting court only tiers 1 and 2 can be told (they are the same for every court);
  a High Court's judgment or a 参考性案例 is then "other", since "本省" is undefined.
* Tier 4 is the requesting court and the court one level up. For an intermediate court the court one
  level up is the High Court, already tier 3; for a High Court, tier 4 is itself, also already tier 3.
* A higher tier wins when several apply (an SPC typical case decided by the requesting court is tier 2).
* A withdrawn case (``authority.withdrawn``) is never citable: ``order_by_tier`` drops it and
  ``effect_label`` says ``不再参照``; ``assign_tier`` still classifies it, for reporting.
* Missing ``Court.level`` / ``Court.province`` are read from the court's name; which court a name
  denotes, and the court one level up, are ``retrieval.parsing.courts``' questions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Generic, TypeVar

from retrieval.document import AuthorityKind, Court, CourtLevel, Document
from retrieval.guidance import DecisionLabel
from retrieval.parsing.courts import level_of, province_of, same_court, superior_court_name

T = TypeVar("T")

MUST_REFER = "应当参照"
"""Art. 9: a guiding case in force that the judge found to be a similar case (类案) binds."""
GUIDING_CANDIDATE = "经比对属于类案的，应当参照"
"""Art. 9: a guiding case in force not yet compared by the judge; it binds only once marked 类案."""
MAY_REFER = "可以参考"
"""Art. 9: every other case is persuasive only."""
NOT_APPLIED = "经比对不属于类案，不予参照"
"""Art. 6: the judge marked the case 非类案, so it is neither followed nor referred to (the reason is the mark's)."""
NOT_CITABLE = "不再参照"
"""The SPC's wording for a withdrawn guiding case; used for any withdrawn case."""
EFFECT_LABELS = (MUST_REFER, GUIDING_CANDIDATE, MAY_REFER, NOT_APPLIED, NOT_CITABLE)
"""Every effect a result, a case view or a report can carry; this module is their one owner."""
RECENT_YEARS = 3
"""Art. 4: cases of the last three years first (guiding cases excepted)."""


class Tier(IntEnum):
    """Art. 4 search tiers; lower is higher authority. OTHER is shown below the four tiers."""

    GUIDING = 1
    SPC = 2
    PROVINCIAL_HIGH = 3
    SUPERIOR_AND_SELF = 4
    OTHER = 5

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS: dict[Tier, str] = {
    Tier.GUIDING: "指导性案例",
    Tier.SPC: "最高人民法院典型案例及裁判",
    Tier.PROVINCIAL_HIGH: "本省高级人民法院参考性案例及裁判",
    Tier.SUPERIOR_AND_SELF: "上一级法院及本院裁判",
    Tier.OTHER: "其他",
}


# --------------------------------------------------------------------------- tiers and labels


def assign_tier(doc: Document, requesting_court: Court | None) -> Tier:
    """The Art. 4 tier of ``doc`` for a search by ``requesting_court`` (``None``: tiers 1, 2, else OTHER)."""
    kind = doc.authority.kind
    if kind is AuthorityKind.GUIDING:
        return Tier.GUIDING
    court = doc.court
    if kind in (AuthorityKind.SPC_TYPICAL, AuthorityKind.CASE_DATABASE):
        return Tier.SPC
    if court is not None and level_of(court) is CourtLevel.SUPREME:
        return Tier.SPC
    if requesting_court is None or court is None:
        return Tier.OTHER
    home = province_of(requesting_court)
    provincial = kind is AuthorityKind.PROVINCIAL_REFERENCE or level_of(court) is CourtLevel.HIGH
    if provincial and home is not None and province_of(court) == home:
        return Tier.PROVINCIAL_HIGH
    if same_court(court.name, requesting_court.name):
        return Tier.SUPERIOR_AND_SELF
    superior = superior_court_name(requesting_court)
    if superior is not None and same_court(court.name, superior):
        return Tier.SUPERIOR_AND_SELF
    return Tier.OTHER


def is_citable(doc: Document) -> bool:
    """A withdrawn case (不再参照, 已撤销, withdrawn from the index) may not be cited at all."""
    return not doc.authority.withdrawn


def effect_label(doc: Document, mark: DecisionLabel | str | None = None) -> str:
    """Art. 9 effect of ``doc`` given the judge's Art. 6 ``mark`` (``None``: not compared yet)."""
    return effect_of(doc.authority.kind, withdrawn=not is_citable(doc), mark=mark)


def effect_of(kind: AuthorityKind | str | None, *, withdrawn: bool, mark: DecisionLabel | str | None) -> str:
    """The effect from what a snapshot keeps (authority kind, withdrawn, mark); ``effect_label``'s rule.

    Withdrawn → 不再参照 whatever the mark; 非类案 → 经比对不属于类案，不予参照; a guiding case →
    应当参照 once marked 类案, else the candidate wording; every other case → 可以参考.
    """
    if withdrawn:
        return NOT_CITABLE
    label = DecisionLabel(mark) if mark is not None else None
    if label is DecisionLabel.NOT_SIMILAR:
        return NOT_APPLIED
    if kind is not None and AuthorityKind(kind) is AuthorityKind.GUIDING:
        return MUST_REFER if label is DecisionLabel.SIMILAR else GUIDING_CANDIDATE
    return MAY_REFER


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def is_recent(doc: Document, today: dt.date, years: int = RECENT_YEARS) -> bool:
    """Decided (else published) on or after the same day ``years`` years before ``today``; unknown → False."""
    if years < 0:
        raise ValueError("years: must not be negative")
    when = doc.decision_date or doc.authority.published
    return when is not None and when >= _years_before(today, years)


# --------------------------------------------------------------------------- ordering


@dataclass
class TieredOrder(Generic[T]):
    """Items grouped by tier; ``first_tier_with_results`` is where Art. 4 lets a search stop."""

    ordered: list[tuple[T, Tier, bool]] = field(default_factory=list)  # (item, tier, recent)
    first_tier_with_results: Tier | None = None  # OTHER when no Art. 4 tier yielded anything
    counts: dict[Tier, int] = field(default_factory=lambda: dict.fromkeys(Tier, 0))
    dropped_withdrawn: int = 0

    def items(self) -> list[T]:
        return [item for item, _, _ in self.ordered]

    def groups(self) -> dict[Tier, list[T]]:
        """Items per tier (only tiers that have some), in display order."""
        out: dict[Tier, list[T]] = {}
        for item, tier, _ in self.ordered:
            out.setdefault(tier, []).append(item)
        return out


def order_by_tier(
    items: Sequence[T],
    doc_of: Callable[[T], Document],
    requesting_court: Court | None,
    today: dt.date | None = None,
    recency_years: int | None = RECENT_YEARS,
) -> TieredOrder[T]:
    """Stable order: tier, then (tiers 2–5) the last ``recency_years`` years first, then given order.

    The given order is the similarity order, so within each band the best match stays first. Withdrawn
    documents are dropped. ``recency_years=None`` switches the recency band off (every ``recent`` is
    False); ``today`` defaults to the current date.
    """
    today = today or dt.date.today()
    result: TieredOrder[T] = TieredOrder()
    keyed: list[tuple[tuple[int, int, int], T, Tier, bool]] = []
    for position, item in enumerate(items):
        doc = doc_of(item)
        if not is_citable(doc):
            result.dropped_withdrawn += 1
            continue
        tier = assign_tier(doc, requesting_court)
        recent = recency_years is not None and is_recent(doc, today, recency_years)
        band = 0 if recent and tier is not Tier.GUIDING else 1
        keyed.append(((int(tier), band, position), item, tier, recent))
    keyed.sort(key=lambda entry: entry[0])
    result.ordered = [(item, tier, recent) for _, item, tier, recent in keyed]
    for _, tier, _ in result.ordered:
        result.counts[tier] += 1
    result.first_tier_with_results = result.ordered[0][1] if result.ordered else None
    return result
