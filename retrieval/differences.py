"""Where the pending case and a candidate differ (Art. 6 比对: 基本案情 and 法律适用, same and different).

An explanation that lists only what two cases share invites the judge to call them 类案; the
comparison the SPC guidance asks for also names what differs. Each ``Difference`` is one aspect with
the pending case's value and the candidate's side by side, from one source:

* ``circumstance``: a 量刑情节 or civil circumstance found on one side only (累犯, 多次, 自首, 退赃退赔…);
* ``role``: the 主犯/从犯/胁从犯 roles differ;
* ``measure``: a measured value differs (blood alcohol, injury grade, 伤残等级, amount band:
  ``retrieval.parsing.measures``);
* ``element``: civil case elements (要素), added by their own module as one more source.

A value of None means the text does not state it ("未见"), not that the case lacks it: a pending
case's facts describe rather than conclude, so 累犯 found in a candidate's reasoning and not in the
pending facts is a point for the judge to check, which is what the list is for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from retrieval.parsing.circumstances import ordered
from retrieval.parsing.measures import BLOOD_ALCOHOL, INJURY, Measure

ROLES = ("主犯", "从犯", "胁从犯")
ROLE_ASPECT = "地位作用"
PRESENT = "有"
# Amount labels are the band seen through the statute; the measured amount says the same, better.
_AMOUNT_LABELS = frozenset({"数额较大", "数额巨大", "数额特别巨大"})
NOT_STATED = "未见"
# Circumstances a measured value states better: 轻伤 beside 轻伤一级 would say the same thing twice.
_MEASURED = {INJURY: frozenset({"轻伤", "致人重伤"}), BLOOD_ALCOHOL: frozenset({"醉酒"})}


@dataclass(frozen=True)
class Difference:
    """One aspect in which the two cases differ; a value None is "not stated in the text"."""

    aspect: str  # 累犯, 地位作用, 血液酒精含量, 涉案金额, or a civil 要素's name
    query_value: str | None  # the pending case's
    case_value: str | None  # the candidate's
    source: str  # circumstance / role / measure / element

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)

    def text(self) -> str:
        """``累犯（待决案件：未见；本案例：有）``."""
        return f"{self.aspect}（待决案件：{self.query_value or NOT_STATED}；本案例：{self.case_value or NOT_STATED}）"


def circumstance_differences(pending: frozenset[str], case: frozenset[str]) -> list[Difference]:
    """Circumstances on one side only, roles apart (``role_difference``), in display order."""
    one_sided = (pending ^ case) - set(ROLES) - _AMOUNT_LABELS
    return [
        Difference(
            label, PRESENT if label in pending else None, PRESENT if label in case else None, "circumstance"
        )
        for label in ordered(one_sided)
    ]


def role_difference(pending: frozenset[str], case: frozenset[str]) -> Difference | None:
    mine = [r for r in ROLES if r in pending]
    theirs = [r for r in ROLES if r in case]
    if mine == theirs:
        return None
    return Difference(ROLE_ASPECT, "、".join(mine) or None, "、".join(theirs) or None, "role")


def measure_differences(pending: Mapping[str, Measure], case: Mapping[str, Measure]) -> list[Difference]:
    """Measured values stated on both sides that differ, and those stated on one side only."""
    out = []
    for aspect in dict.fromkeys([*pending, *case]):
        mine, theirs = pending.get(aspect), case.get(aspect)
        if mine is not None and theirs is not None and mine.key == theirs.key:
            continue
        out.append(
            Difference(aspect, mine.text if mine else None, theirs.text if theirs else None, "measure")
        )
    return out


def differences(
    pending_circumstances: frozenset[str],
    case_circumstances: frozenset[str],
    pending_measures: Mapping[str, Measure],
    case_measures: Mapping[str, Measure],
) -> list[Difference]:
    """Role first (it decides comparability in joint crimes), then measures, then one-sided circumstances."""
    role = role_difference(pending_circumstances, case_circumstances)
    measured = measure_differences(pending_measures, case_measures)
    covered = frozenset().union(*(_MEASURED.get(d.aspect, frozenset()) for d in measured))
    one_sided = [
        d
        for d in circumstance_differences(pending_circumstances, case_circumstances)
        if d.aspect not in covered
    ]
    return ([role] if role is not None else []) + measured + one_sided


def difference_text(data: Mapping[str, object]) -> str:
    """A difference kept as JSON (a search record's snapshot) as one line."""
    return Difference(
        str(data.get("aspect") or ""),
        str(data["query_value"]) if data.get("query_value") is not None else None,
        str(data["case_value"]) if data.get("case_value") is not None else None,
        str(data.get("source") or ""),
    ).text()
