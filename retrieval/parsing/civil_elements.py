"""案件要素 (case elements) of civil cases: what a judge compares between two 民间借贷, 交通事故,
劳动争议, 离婚 or 买卖 cases beyond their shared 案由.

Two 民间借贷纠纷 judgments are alike in law when the same questions arise: was the interest taken in
advance (预扣利息), is the agreed rate above the protected ceiling, is the guarantee 一般 or 连带. The
aspects, their 案由 and their patterns are data (``retrieval/resources/civil_elements.toml``, with
sources); this module reads them and computes the values the patterns cannot (the principal's band,
the rate against the ceiling of its date, the 伤残等级). Aspects hang on nodes of the 案由 tree
(``retrieval.parsing.cause_tree``), so a child cause gets its ancestors' aspects: 民间借贷纠纷 those
of 借款合同纠纷 and of 合同纠纷.

A mention counts by the rules of ``retrieval.parsing.circumstances`` (not negated in its clause,
not in a 《title》, not a rejected argument). An aspect the text does not mention is absent, not
"no": judgments name what is disputed, so absence is weak evidence and the comparison says 未提及.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from retrieval.document import CaseCategory, Document
from retrieval.parsing.cause_tree import is_civil_cause, load_cause_tree
from retrieval.parsing.causes import normalise_cause
from retrieval.parsing.circumstances import CountedMentions, amount_spans, civil_amount_band
from retrieval.parsing.dates import dates_in
from retrieval.parsing.numerals import chinese_to_int

_RESOURCE = "civil_elements.toml"
PATTERN_KINDS = ("flag", "set", "first")
COMPUTED_KINDS = ("principal", "interest_rate", "disability_grade")
ABSENT = "未提及"  # shown for an aspect one side does not mention


@dataclass(frozen=True)
class Aspect:
    """One 要素 (see the resource's header for the keys)."""

    name: str
    causes: tuple[str, ...]
    kind: str
    values: tuple[tuple[str, re.Pattern[str]], ...] = ()
    negatable: bool = True


@dataclass(frozen=True)
class ElementRules:
    aspects: tuple[Aspect, ...]
    lpr: tuple[tuple[dt.date, float], ...]  # one-year LPR by publication date, ascending

    def aspects_of(self, causes: Iterable[str]) -> tuple[Aspect, ...]:
        """The aspects of ``causes`` and of their ancestors in the 案由 tree, in resource order."""
        tree = load_cause_tree()
        lineage: set[str] = set()
        for cause in causes:
            name = tree.canonical(normalise_cause(cause)) if cause else None
            if name:
                lineage.update(tree.lineage(name))
        return tuple(a for a in self.aspects if lineage.intersection(a.causes))


def _aspect(table: Mapping[str, object], tree_names: set[str]) -> Aspect:
    name = str(table["name"])
    kind = str(table["kind"])
    causes = tuple(str(c) for c in table["causes"])  # type: ignore[union-attr]
    unknown = [c for c in causes if c not in tree_names]
    if unknown:
        raise ValueError(f"{_RESOURCE}: aspect {name!r} names causes outside the 案由 tree: {unknown}")
    if kind not in PATTERN_KINDS + COMPUTED_KINDS:
        raise ValueError(f"{_RESOURCE}: aspect {name!r} has unknown kind {kind!r}")
    values = tuple((str(v), re.compile(str(p))) for v, p in table.get("values", []))  # type: ignore[union-attr]
    if (kind in PATTERN_KINDS) != bool(values):
        raise ValueError(f"{_RESOURCE}: aspect {name!r}: kind {kind!r} and its values disagree")
    return Aspect(name, causes, kind, values, bool(table.get("negatable", True)))


@cache
def load_element_rules() -> ElementRules:
    """The rules of ``retrieval/resources/civil_elements.toml``, checked against the 案由 tree."""
    text = resources.files("retrieval").joinpath("resources", _RESOURCE).read_text(encoding="utf-8")
    data = tomllib.loads(text)
    tree_names = set(load_cause_tree().nodes)
    aspects = tuple(_aspect(t, tree_names) for t in data["aspect"])
    names = [a.name for a in aspects]
    if len(set(names)) != len(names):
        raise ValueError(f"{_RESOURCE}: an aspect name is repeated")
    lpr = tuple(sorted((dt.date.fromisoformat(d), float(v)) for d, v in data["lpr"].items()))
    return ElementRules(aspects, lpr)


# -- computed aspects -----------------------------------------------------------------------------

_LOAN_WORDS = re.compile(r"借款|借给|借到|借得|出借|借支|借取|借用|向[^，。；]{0,12}借|本金|贷款")
_NOT_PRINCIPAL = re.compile(r"利息|违约金|罚息|服务费|手续费|诉讼费|受理费|律师费|保证金|已还|归还|偿还了?")
_PRINCIPAL_WINDOW = 16


def principal_band(text: str) -> str | None:
    """The civil band of the loan's principal: the first amount whose clause names the loan
    (借款, 出借, 向…借) and not interest or costs; None without one."""
    for start, _, value in amount_spans(text):
        window = text[max(0, start - _PRINCIPAL_WINDOW) : start]
        window = re.split(r"[，,。；;]", window)[-1]
        if _LOAN_WORDS.search(window) and not _NOT_PRINCIPAL.search(window) and value > 0:
            return civil_amount_band([value])
    return None


_CN_RATE = "零〇一二两三四五六七八九十点"
_RATE = re.compile(
    r"(?P<period>月|年|日)(?:化)?(?:利率|利息|息|费率)(?:及手续费)?(?:为|按|是|按照|约定为?|计|标准为)?\s*"
    r"(?:(?P<pct>\d+(?:\.\d+)?)\s*[%％]|百分之(?P<cn_pct>[" + _CN_RATE + r"]+)"
    r"|(?P<fen>\d+(?:\.\d+)?|[" + _CN_RATE + r"]+)\s*分(?!之))"
    r"|(?:日|每日)(?:利率|利息|息)?(?:为|按)?\s*万分之(?P<wan>[\d" + _CN_RATE + r"]+)"
)


def _number(text: str) -> float:
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    integer, _, fraction = text.partition("点")
    value = float(chinese_to_int(integer)) if integer else 0.0
    if fraction:
        value += float("0." + "".join(str(chinese_to_int(ch)) for ch in fraction))
    return value


# Words before a rate, in its clause, that make it a legal limit or the court's own figure rather
# than what the parties agreed (未超过年利率36%, 超过年利率24%的部分不予支持).
_LIMIT_WORDS = re.compile(r"超过|超出|高于|上限|以内|不得|不高于|保护|调整为|调至|支持|LPR|报价利率")
_AGREED_WORDS = re.compile(r"约定|商定|双方|借条|借据|借款合同|协议|载明|写明|月息|年息")


def annual_rates(text: str) -> list[float]:
    """Agreed interest rates in % a year, in order: 月息2分 / 月利率2% → 24, 年利率24% → 24,
    日利率0.1% → 36.5, 日万分之五 → 18.25 (a 分 of 月息 is 1 % a month, of 年息 10 % a year).

    A rate the clause before it names as a limit (``未超过年利率36%``) is not agreed and left out.
    """
    rates = []
    for match in _RATE.finditer(text):
        before = re.split(r"[，,。；;]", text[max(0, match.start() - 16) : match.start()])[-1]
        if _LIMIT_WORDS.search(before):
            continue
        try:
            if match["wan"]:
                rates.append(round(_number(match["wan"]) / 100 * 365, 4))
                continue
            period = match["period"]
            if match["pct"] or match["cn_pct"]:
                value = _number(match["pct"] or match["cn_pct"])
            else:
                value = _number(match["fen"]) * (10.0 if period == "年" else 1.0)
        except ValueError:
            continue
        rates.append(round(value * {"月": 12, "年": 1, "日": 365}[period], 4))
    return [r for r in rates if 0 < r < 1000]


_NEW_RULES = dt.date(2020, 8, 20)  # 法释〔2020〕6号: four times the LPR for contracts made from this day


def rate_ceiling(made: dt.date | None, lpr: Sequence[tuple[dt.date, float]]) -> tuple[float, str] | None:
    """(protected ceiling in % a year, how it was set) for a contract made on ``made``; None when the
    date is unknown (the ceiling then depends on it)."""
    if made is None:
        return None
    if made < _NEW_RULES:
        return 24.0, "依法释〔2015〕18号"
    dates = [d for d, _ in lpr]
    index = max(0, bisect_right(dates, made) - 1)
    rate = lpr[index][1]
    return round(rate * 4, 2), f"一年期LPR {rate:g}%的四倍"


def first_date(text: str) -> dt.date | None:
    """The first date written in ``text``: in a loan's facts, when the money was lent."""
    found = dates_in(text)
    return found[0] if found else None


def agreed_rates(text: str) -> list[float]:
    """``annual_rates`` of the clauses that say the parties agreed them (约定, 借条 …) when there are
    any, else all of them: a judgment also states the rates it applies."""
    agreed, others = [], []
    for sentence in re.split(r"[。；;\n]", text):
        rates = annual_rates(sentence)
        (agreed if rates and _AGREED_WORDS.search(sentence) else others).extend(rates)
    return agreed or others


def interest_rate_element(text: str, lpr: Sequence[tuple[dt.date, float]]) -> tuple[str, str] | None:
    """(value, detail) of the agreed rate against the protected ceiling of the contract's date.

    Values: 超过保护上限 / 未超过保护上限; a rate between the lowest ceiling the rules ever set
    (4 × the lowest LPR) and 36 % with no date is 上限视借款时间而定. The highest rate found counts.
    """
    rates = agreed_rates(text)
    if not rates:
        return None
    rate = max(rates)
    ceiling = rate_ceiling(first_date(text), lpr)
    if ceiling is None:
        lowest = min(v for _, v in lpr) * 4
        if rate > 36.0:
            return "超过保护上限", f"年利率{rate:g}%，高于任何时期的保护上限"
        if rate <= lowest:
            return "未超过保护上限", f"年利率{rate:g}%，不高于任何时期的保护上限"
        return "上限视借款时间而定", f"年利率{rate:g}%，借款时间不明"
    limit, basis = ceiling
    value = "超过保护上限" if rate > limit else "未超过保护上限"
    return value, f"年利率{rate:g}%，保护上限{limit:g}%，{basis}"


_GRADE = re.compile(
    r"(?P<a>[一二三四五六七八九十]|10|[1-9])\s*级\s*(?:伤残|残疾)"
    r"|(?:伤残|残疾)(?:等级)?(?:程度)?(?:为|评定为|鉴定为|构成|达|属)?\s*(?P<b>[一二三四五六七八九十]|10|[1-9])\s*级"
)
_GRADE_NAMES = "一二三四五六七八九十"


def disability_grade(text: str) -> str | None:
    """The most severe 伤残等级 found (一级 is the most severe): ``十级伤残`` → 十级."""
    grades = []
    for match in _GRADE.finditer(text):
        raw = match["a"] or match["b"]
        grades.append(int(raw) if raw.isdigit() else _GRADE_NAMES.index(raw) + 1)
    grades = [g for g in grades if 1 <= g <= 10]
    return f"{_GRADE_NAMES[min(grades) - 1]}级" if grades else None


# -- documents --------------------------------------------------------------------------------------


def is_civil_document(doc: Document) -> bool:
    """A civil case by its category, or, without one, by a cause of the civil 案由 tree."""
    if doc.category is not None:
        return doc.category == CaseCategory.CIVIL
    return any(is_civil_cause(c) for c in doc.causes)


# The claim (诉讼请求) of a civil judgment: its 标的额, which the facts section often leaves out
# (a labour judgment's facts give the monthly wage, its claim the sum in dispute).
_CLAIM = re.compile(r"(?:诉讼请求|上诉请求|再审请求|起诉请求)[:：]?[^。]{0,400}")


def amount_text(doc: Document, civil: bool) -> str:
    """The text whose amounts band the case: the facts, and for a civil case its first claim too."""
    facts = doc.sections.facts or doc.full_text
    claim = _CLAIM.search(doc.full_text) if civil and doc.full_text else None
    return f"{claim[0]}\n{facts}" if claim else facts


def document_text(doc: Document) -> str:
    """Facts and reasoning, where a judgment states and decides its elements (else the full text)."""
    return "\n".join(t for t in (doc.sections.facts, doc.sections.reasoning) if t) or doc.full_text


# -- extraction -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseElements:
    """The elements of one case: ``values`` (aspect → value) among ``aspects`` (the aspects its
    causes have, present or not); ``details`` say more for display (the rate and its ceiling)."""

    aspects: tuple[str, ...]
    values: dict[str, str]
    details: dict[str, str]

    def to_json(self) -> dict[str, dict[str, str]]:
        return {"values": self.values, "details": self.details}


NO_ELEMENTS = CaseElements((), {}, {})


def aspect_names(causes: Iterable[str]) -> tuple[str, ...]:
    return tuple(a.name for a in load_element_rules().aspects_of(causes))


def extract_elements(text: str, causes: Iterable[str]) -> CaseElements:
    """The elements of ``causes`` (with their ancestors' aspects) that ``text`` states."""
    rules = load_element_rules()
    aspects = rules.aspects_of(causes)
    if not aspects or not text:
        return CaseElements(tuple(a.name for a in aspects), {}, {})
    mentions = CountedMentions(text)
    values: dict[str, str] = {}
    details: dict[str, str] = {}
    for aspect in aspects:
        if aspect.kind == "principal":
            band = principal_band(text)
            if band:
                values[aspect.name] = band
        elif aspect.kind == "interest_rate":
            found = interest_rate_element(mentions.text, rules.lpr)
            if found:
                values[aspect.name], details[aspect.name] = found
        elif aspect.kind == "disability_grade":
            grade = disability_grade(mentions.text)
            if grade:
                values[aspect.name] = grade
        else:
            present = [v for v, p in aspect.values if mentions.any(p, aspect.negatable)]
            if present:
                values[aspect.name] = present[0] if aspect.kind != "set" else "、".join(present)
    return CaseElements(tuple(a.name for a in aspects), values, details)


def stored_elements(data: Mapping[str, Mapping[str, str]] | None, causes: Iterable[str]) -> CaseElements:
    """The elements a build stored (``CaseElements.to_json``) of a case filed under ``causes``."""
    data = data or {}
    return CaseElements(aspect_names(causes), dict(data.get("values", {})), dict(data.get("details", {})))


# -- comparison -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ElementComparison:
    """Same and different elements, each ``{"aspect", "query_value", "case_value"}`` (a value is
    ``ABSENT`` where that side does not mention the aspect), in the resource's aspect order."""

    same: list[dict[str, str]]
    different: list[dict[str, str]]

    @property
    def agreement(self) -> float:
        """Share of the compared aspects that agree, 0 when nothing could be compared."""
        compared = len(self.same) + len(self.different)
        return len(self.same) / compared if compared else 0.0


def compare_elements(query: CaseElements, case: CaseElements) -> ElementComparison:
    """Compare the aspects both causes have (a 民间借贷 case is not compared on 伤残等级) and that
    at least one side mentions; the value with its detail (the rate) is shown where one exists."""
    shared = [name for name in query.aspects if name in set(case.aspects)]
    same, different = [], []
    for name in shared:
        mine, theirs = query.values.get(name), case.values.get(name)
        if mine is None and theirs is None:
            continue
        item = {
            "aspect": name,
            "query_value": _shown(mine, query.details.get(name)),
            "case_value": _shown(theirs, case.details.get(name)),
        }
        (same if mine == theirs else different).append(item)
    return ElementComparison(same, different)


def _shown(value: str | None, detail: str | None) -> str:
    if value is None:
        return ABSENT
    return f"{value}（{detail}）" if detail else value
