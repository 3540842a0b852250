"""Chinese numerals as they appear in judgments: 第二百六十四条, 二〇一五年, 十一月, 第（三）项."""

from __future__ import annotations

_DIGITS = {
    "零": 0,
    "〇": 0,
    "○": 0,
    "Ｏ": 0,
    "O": 0,
    "一": 1,
    "壹": 1,
    "二": 2,
    "贰": 2,
    "两": 2,
    "三": 3,
    "叁": 3,
    "四": 4,
    "肆": 4,
    "五": 5,
    "伍": 5,
    "六": 6,
    "陆": 6,
    "七": 7,
    "柒": 7,
    "八": 8,
    "捌": 8,
    "九": 9,
    "玖": 9,
}
_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_BIG_UNITS = {"万": 10_000, "亿": 100_000_000}


def chinese_to_int(text: str) -> int:
    """Value of a Chinese or Arabic numeral string; raises ValueError when it is neither.

    Handles positional forms (二百六十四, 一百零三, 十一) and digit-by-digit forms used for years
    (二〇一五 → 2015). Full-width Arabic digits are accepted because OCR'd judgments use them.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty numeral")
    normalised = text.translate(_FULLWIDTH_DIGITS)
    if normalised.isdigit() and normalised.isascii():
        return int(normalised)
    if any(ch not in _DIGITS and ch not in _UNITS and ch not in _BIG_UNITS for ch in text):
        raise ValueError(f"not a Chinese numeral: {text!r}")
    if not any(ch in _UNITS or ch in _BIG_UNITS for ch in text):
        # digit-by-digit form: 二〇一五
        return int("".join(str(_DIGITS[ch]) for ch in text))
    total = 0
    section = 0
    digit = 0
    for ch in text:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        elif ch in _UNITS:
            section += (digit or 1) * _UNITS[ch]
            digit = 0
        else:
            section += digit
            total += (section or 1) * _BIG_UNITS[ch]
            section = 0
            digit = 0
    return total + section + digit


_FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
