"""Measured values a judge sets side by side when comparing two cases: blood alcohol, injury, amount.

Whether a drunk-driving case is 醉酒 turns on 80 mg/100ml and its sentence on how far above it the
driver was; a 故意伤害 case turns on 轻伤 against 重伤, a traffic or tort claim on the 伤残等级; a
theft or fraud on the amount. Circumstances (``retrieval.parsing.circumstances``) say that a case
has such a feature; this module reads its value, so an explanation can print ``186mg/100ml`` beside
``92mg/100ml`` instead of "both 醉酒".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.parsing.circumstances import amount_band, involved_amounts
from retrieval.parsing.numerals import chinese_to_int

BLOOD_ALCOHOL = "血液酒精含量"
INJURY = "伤情"
DISABILITY = "伤残等级"
AMOUNT = "涉案金额"

_ALCOHOL = re.compile(
    r"(?:乙醇|酒精)(?:含量|浓度)[^0-9。，,；;]{0,6}?(\d+(?:\.\d+)?)\s*(?:mg|毫克)\s*/\s*(?:100\s*(?:ml|mL|毫升))"
)
# Most severe first: the order a judge ranks them and the one kept when a text names several.
_INJURY_GRADES = ("重伤一级", "重伤二级", "轻伤一级", "轻伤二级", "轻微伤")
_INJURY = re.compile("|".join(_INJURY_GRADES))
_DISABILITY = re.compile(
    r"伤残(?:等级)?(?:为|评定为|构成|达)?([一二三四五六七八九十]{1,2})级|([一二三四五六七八九十]{1,2})级伤残"
)


@dataclass(frozen=True)
class Measure:
    """A value as printed (``186mg/100ml``) and the key it is compared by (the same value, or a rank)."""

    text: str
    key: float | str


def _alcohol(text: str) -> Measure | None:
    values = [float(m[1]) for m in _ALCOHOL.finditer(text)]
    if not values:
        return None
    value = max(values)
    return Measure(f"{value:g}mg/100ml", value)


def _injury(text: str) -> Measure | None:
    found = {m[0] for m in _INJURY.finditer(text)}
    for grade in _INJURY_GRADES:
        if grade in found:
            return Measure(grade, grade)
    return None


def _disability(text: str) -> Measure | None:
    grades = []
    for m in _DISABILITY.finditer(text):
        try:
            grades.append(chinese_to_int(m[1] or m[2]))
        except ValueError:
            continue
    if not grades:
        return None
    grade = min(grades)  # 一级 is the most severe
    return Measure(f"{'一二三四五六七八九十'[grade - 1] if grade <= 10 else grade}级", grade)


def _amount(text: str) -> Measure | None:
    amounts = [a for a in involved_amounts(text) if a > 0]
    if not amounts:
        return None
    largest = max(amounts)
    shown = f"{largest / 10000:g}万元" if largest >= 10000 else f"{largest:g}元"
    # compared by band: two thefts of 5,000 and 8,000 元 are in the same legal position
    return Measure(f"{shown}（{amount_band(amounts)}）", amount_band(amounts) or "")


def measures(text: str) -> dict[str, Measure]:
    """The measured values ``text`` states, by aspect (``BLOOD_ALCOHOL``, ``INJURY``, ``DISABILITY``, ``AMOUNT``)."""
    out: dict[str, Measure] = {}
    for aspect, read in (
        (BLOOD_ALCOHOL, _alcohol),
        (INJURY, _injury),
        (DISABILITY, _disability),
        (AMOUNT, _amount),
    ):
        value = read(text)
        if value is not None:
            out[aspect] = value
    return out
