"""诉讼请求 and outcome of a civil judgment as structure: what was asked, what was decided.

A judge comparing civil precedents asks what the plaintiff claimed and how much of it the court
granted: the whole (支持), part (部分支持: orders plus 驳回…其他诉讼请求) or nothing (驳回), the sums
ordered paid, any 违约金 and the interest rate applied (年利率 24%, LPR 的四倍 …). Computed from the
text on demand, like the 案号, so that the index format does not change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from retrieval.parsing.sections import split_sections


class Disposition(StrEnum):
    """How a first-instance civil judgment answers the claims."""

    UPHELD = "支持"
    PARTLY_UPHELD = "部分支持"
    DISMISSED = "驳回"


@dataclass(frozen=True)
class CivilOutcome:
    claims: tuple[str, ...]  # 诉讼请求, one item each, as written
    disposition: Disposition | None  # None: no result found, or an appeal/ruling outside the three
    awarded: tuple[Decimal, ...]  # sums (元) the result orders paid, in order of appearance
    penalties: tuple[Decimal, ...]  # of those, the ones in a clause on 违约金
    interest_rates: tuple[str, ...]  # rate terms the result applies, as written


_CLAIMS_START = re.compile(r"(?:诉讼|上诉|仲裁)请求[：:，,]?|请求(?:法院|本院|人民法院)?判令")
_CLAIMS_END = re.compile(
    r"事实(?:和|与|及)理由|(?:被告|第三人|被上诉人)[^，。；]{0,20}?辩称|诉称|[。]\s*(?:被告|原告)"
)
_CLAIMS_MAX = 800
_ITEM = re.compile(
    r"(?:^|(?<=[；;。，,\s]))(?:\d{1,2}|[一二三四五六七八九十]{1,2})[、.．](?!\d)|（\d{1,2}）|\(\d{1,2}\)"
)
_COSTS = re.compile(r"(?:案件|本案)?(?:受理费|诉讼费|保全费|公告费|鉴定费|申请费)[^。；\n]*[。；\n]?")
_REJECT_REST = re.compile(r"驳回[^。；\n]{0,40}?(?:其他|其余|剩余)[^。；\n]{0,10}?(?:诉讼)?请求")
_REJECT = re.compile(r"驳回[^。；\n]{0,40}?(?:诉讼|全部)?请求|驳回[^。；\n]{0,20}?起诉")
_APPEAL = re.compile(r"驳回上诉|维持原判|撤销[^。；]{0,40}?判决")
_ORDER = re.compile(
    r"支付|偿还|返还|赔偿|给付|归还|交付|清偿|承担|解除|确认|准予|准许|腾退|搬离|继续履行|办理|过户|停止|消除|赔礼道歉|离婚|抚养|分割"
)
_AMOUNT = re.compile(r"(\d[\d,，]*(?:\.\d+)?)\s*(万)?元")
_CLAUSE = re.compile(r"[^；;。\n]+")
_RATE = re.compile(
    r"(?:年|月|日)(?:利率|息|利息|费率)[^，。；]{0,12}?(?:\d+(?:\.\d+)?\s*[%％‰]|[百千万]分之[\d一二三四五六七八九十零.]+)"
    r"|日万分之[\d一二三四五六七八九十.]+"
    r"|(?:全国银行间同业拆借中心公布的)?(?:一年期)?贷款市场报价利率(?:（LPR）|\(LPR\))?(?:的)?(?:[\d一二三四.]+倍)?"
    r"|中国人民银行(?:发布的)?(?:同期|同类|同档次)*(?:人民币)?(?:贷款)?(?:基准)?利率(?:的)?(?:[\d一二三四.]+倍)?"
)


def _claims(text: str) -> tuple[str, ...]:
    start = _CLAIMS_START.search(text)
    if start is None:
        return ()
    window = text[start.end() : start.end() + _CLAIMS_MAX]
    end = _CLAIMS_END.search(window)
    body = window[: end.start()] if end else window
    starts = list(_ITEM.finditer(body))
    if not starts:
        item = body.strip(" ，,：:；;。\n")
        return (item,) if item else ()
    items = []
    for this, following in zip(starts, [*starts[1:], None], strict=True):
        item = body[this.end() : following.start() if following else len(body)].strip(" ，,：:；;。\n")
        if item:
            items.append(item)
    return tuple(items)


def _amount(match: re.Match[str]) -> Decimal:
    value = Decimal(match[1].replace(",", "").replace("，", ""))
    return value * 10000 if match[2] else value


def _disposition(result: str) -> Disposition | None:
    text = _COSTS.sub("", result)
    if _APPEAL.search(text):
        return None
    partly = _REJECT_REST.search(text)
    orders = _ORDER.search(_REJECT.sub("", text))
    if orders:
        return Disposition.PARTLY_UPHELD if partly else Disposition.UPHELD
    if _REJECT.search(text):
        return Disposition.DISMISSED
    return None


def civil_outcome(full_text: str, *, result: str | None = None) -> CivilOutcome:
    """Claims from the text, disposition, sums, 违约金 and interest rates from the result (判决如下 …)."""
    if result is None:
        result = split_sections(full_text, findings_are_facts=True).result
    ordered = _COSTS.sub("", result)
    awarded: list[Decimal] = []
    penalties: list[Decimal] = []
    for clause in _CLAUSE.finditer(ordered):
        sums = [_amount(m) for m in _AMOUNT.finditer(clause.group())]
        awarded += sums
        if "违约金" in clause.group():
            penalties += sums
    rates = tuple(dict.fromkeys(m.group() for m in _RATE.finditer(ordered)))
    return CivilOutcome(
        claims=_claims(full_text),
        disposition=_disposition(result) if result else None,
        awarded=tuple(awarded),
        penalties=tuple(penalties),
        interest_rates=rates,
    )
