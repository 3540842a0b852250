"""Dates as judgments print them, and the decision date from the signature block.

The decision date is the one signed under the judges' names (审判长… 二〇一五年六月十日 书记员…);
the body is full of other dates (arrest, offence, term of sentence), so position and the
signature words around a date decide which one it is.
"""

from __future__ import annotations

import datetime as dt
import re

from retrieval.parsing.numerals import chinese_to_int

_YEAR_DIGIT = "〇○零ＯO0０一二三四五六七八九1-9１-９"
_SMALL_NUMBER = r"[0-9０-９]{1,2}|[一二三四五六七八九十]{1,3}"
_DATE_RE = re.compile(
    rf"(?P<year>[{_YEAR_DIGIT}]{{4}})\s*年\s*(?P<month>{_SMALL_NUMBER})\s*月\s*(?P<day>{_SMALL_NUMBER})\s*[日号]"
)
_CHINESE_YEAR_RE = re.compile(r"[〇○零ＯO一二三四五六七八九]{4}")
_ARABIC_DIGITS = "0123456789０１２３４５６７８９"
_ARABIC_TO_CHINESE = str.maketrans(_ARABIC_DIGITS, "〇一二三四五六七八九" * 2)

_SIGNATURE_WORDS = re.compile(r"审\s*判\s*长|审\s*判\s*员|陪\s*审\s*员|书\s*记\s*员|执\s*行\s*员|法官助理")
_SIGNATURE_WINDOW = 40  # characters on each side of a date that may hold the judges' names
_FINAL_PART = 0.3  # the share of the text, at its end, where an unlabelled decision date may sit
_DECIDED_RE = re.compile(r"\s?(?:作出)?(?:判决|裁定|决定)")  # 于2020年5月28日判决：


def _number(text: str) -> int:
    """Value of a year/month/day field, which may mix Arabic and Chinese digits (二0一五)."""
    if not all(ch in _ARABIC_DIGITS for ch in text):
        text = text.translate(_ARABIC_TO_CHINESE)
    return chinese_to_int(text)


def _date_of(match: re.Match[str]) -> dt.date:
    return dt.date(_number(match["year"]), _number(match["month"]), _number(match["day"]))


def extract_decision_date(text: str) -> dt.date | None:
    """The date the decision was signed, or None when no date looks like one.

    Preference: the last date with signature words (审判长, 书记员 …) next to it; else the last
    date in the final part of the text that is in Chinese numerals (only the signature date is
    conventionally written so) or is followed by 判决/裁定 (case reports: 于2020年5月28日判决).
    """
    labelled: dt.date | None = None
    final_part: dt.date | None = None
    final_from = int(len(text) * (1 - _FINAL_PART))
    for match in _DATE_RE.finditer(text):
        try:
            date = _date_of(match)
        except ValueError:
            continue
        before = text[max(0, match.start() - _SIGNATURE_WINDOW) : match.start()]
        after = text[match.end() : match.end() + _SIGNATURE_WINDOW]
        if _SIGNATURE_WORDS.search(before) or _SIGNATURE_WORDS.search(after):
            labelled = date
        elif match.start() >= final_from and (
            _CHINESE_YEAR_RE.fullmatch(match["year"]) or _DECIDED_RE.match(text, match.end())
        ):
            final_part = date
    return labelled or final_part


def dates_in(text: str) -> list[dt.date]:
    """Every valid date written in ``text`` (二〇二一年三月五日, 2021年3月5日), in order."""
    found = []
    for match in _DATE_RE.finditer(text):
        try:
            found.append(_date_of(match))
        except ValueError:
            continue
    return found
