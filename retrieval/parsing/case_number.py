"""案号 (case numbers): parse, normalise and find them in judgment text.

A 案号 is "(" 收案年度 ")" 法院代字 类型代字 编号 "号" (SPC 《关于人民法院案件案号的若干规定》, in force
2016-01-01). Before 2016 courts printed their own abbreviations and ``字第`` ("（2015）嘉桐刑初字第328号");
from 2016 the 法院代字 is the high court's abbreviation plus a 2-digit (中院) or 4-digit (基层) code
("（2016）浙0483刑初123号") or ``最高法``. Judgments cite lower-court numbers, so both styles matter, and
the same number is printed with different brackets, digits and ``字第``: ``canonical()`` is the identity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from retrieval.document import CaseCategory
from retrieval.parsing.courts import PROVINCE_BY_COURT_CODE
from retrieval.parsing.numerals import chinese_to_int


class Stage(StrEnum):
    """审理阶段 / procedure the 类型代字 stands for."""

    FIRST_INSTANCE = "一审"
    SECOND_INSTANCE = "二审"
    RETRIAL = "再审"
    RETRIAL_REVIEW = "再审审查"
    REVIEW = "复核"
    SENTENCE_CHANGE = "减刑假释"
    SPECIAL_PROCEDURE = "特别程序"
    JURISDICTION = "管辖"
    ENFORCEMENT = "执行"
    ENFORCEMENT_OBJECTION = "执行异议"
    ENFORCEMENT_RECONSIDERATION = "执行复议"
    ENFORCEMENT_SUPERVISION = "执行监督"
    PRESERVATION = "保全"
    BANKRUPTCY = "破产清算"
    COMPENSATION = "国家赔偿"
    JUDICIAL_AID = "司法救助"
    SANCTION = "司法制裁"
    JUDICIAL_ASSISTANCE = "司法协助"
    OTHER = "其他"


_C, _M, _X, _Z = (
    CaseCategory.CRIMINAL,
    CaseCategory.CIVIL,
    CaseCategory.ADMINISTRATIVE,
    CaseCategory.ENFORCEMENT,
)
_P, _O = CaseCategory.STATE_COMPENSATION, CaseCategory.OTHER
_S = Stage

TYPE_CODES: dict[str, tuple[CaseCategory, Stage]] = {
    # 管辖
    "刑辖": (_C, _S.JURISDICTION), "民辖": (_M, _S.JURISDICTION), "民辖终": (_M, _S.JURISDICTION),
    "民辖监": (_M, _S.JURISDICTION), "行辖": (_X, _S.JURISDICTION), "行辖终": (_X, _S.JURISDICTION),
    "行辖监": (_X, _S.JURISDICTION),
    # 刑事
    "刑初": (_C, _S.FIRST_INSTANCE), "刑终": (_C, _S.SECOND_INSTANCE), "刑再": (_C, _S.RETRIAL),
    "刑监": (_C, _S.RETRIAL_REVIEW), "刑申": (_C, _S.RETRIAL_REVIEW), "刑抗": (_C, _S.RETRIAL_REVIEW),
    "刑核": (_C, _S.REVIEW), "刑更": (_C, _S.SENTENCE_CHANGE), "刑更监": (_C, _S.SENTENCE_CHANGE),
    "刑更备": (_C, _S.SENTENCE_CHANGE), "刑没": (_C, _S.SPECIAL_PROCEDURE),
    "刑医": (_C, _S.SPECIAL_PROCEDURE), "刑医解": (_C, _S.SPECIAL_PROCEDURE),
    "刑医复": (_C, _S.SPECIAL_PROCEDURE), "刑医监": (_C, _S.SPECIAL_PROCEDURE), "刑他": (_C, _S.OTHER),
    # 刑事, before 2016: 重 重审 after remand, 自 自诉, 公 公诉, 速 速裁, 经 经济犯罪庭, 知 知识产权庭
    "刑": (_C, _S.OTHER), "刑再初": (_C, _S.RETRIAL), "刑再终": (_C, _S.RETRIAL),
    "刑再重": (_C, _S.RETRIAL), "刑提": (_C, _S.RETRIAL), "刑抗再": (_C, _S.RETRIAL),
    "刑抗终": (_C, _S.SECOND_INSTANCE), "刑重": (_C, _S.FIRST_INSTANCE), "刑重初": (_C, _S.FIRST_INSTANCE),
    "刑初重": (_C, _S.FIRST_INSTANCE), "刑自": (_C, _S.FIRST_INSTANCE), "刑自初": (_C, _S.FIRST_INSTANCE),
    "刑公初": (_C, _S.FIRST_INSTANCE), "刑速初": (_C, _S.FIRST_INSTANCE), "刑经初": (_C, _S.FIRST_INSTANCE),
    "刑经终": (_C, _S.SECOND_INSTANCE), "刑知初": (_C, _S.FIRST_INSTANCE), "刑知终": (_C, _S.SECOND_INSTANCE),
    "刑复": (_C, _S.REVIEW), "刑执": (_C, _S.SENTENCE_CHANGE),
    # 民事
    "民初": (_M, _S.FIRST_INSTANCE), "民终": (_M, _S.SECOND_INSTANCE), "民再": (_M, _S.RETRIAL),
    "民监": (_M, _S.RETRIAL_REVIEW), "民申": (_M, _S.RETRIAL_REVIEW), "民抗": (_M, _S.RETRIAL_REVIEW),
    "民撤": (_M, _S.FIRST_INSTANCE), "民特": (_M, _S.SPECIAL_PROCEDURE),
    "民特监": (_M, _S.SPECIAL_PROCEDURE), "民催": (_M, _S.SPECIAL_PROCEDURE),
    "民督": (_M, _S.SPECIAL_PROCEDURE), "民督监": (_M, _S.SPECIAL_PROCEDURE), "民他": (_M, _S.OTHER),
    # 民事, before 2016 (商 and 知 were separate divisions' codes)
    "民再初": (_M, _S.RETRIAL), "民再终": (_M, _S.RETRIAL), "民提": (_M, _S.RETRIAL),
    "商初": (_M, _S.FIRST_INSTANCE), "商终": (_M, _S.SECOND_INSTANCE), "知初": (_M, _S.FIRST_INSTANCE),
    "知终": (_M, _S.SECOND_INSTANCE), "民保": (_M, _S.PRESERVATION),
    # 行政
    "行初": (_X, _S.FIRST_INSTANCE), "行终": (_X, _S.SECOND_INSTANCE), "行再": (_X, _S.RETRIAL),
    "行监": (_X, _S.RETRIAL_REVIEW), "行申": (_X, _S.RETRIAL_REVIEW), "行抗": (_X, _S.RETRIAL_REVIEW),
    "行审": (_X, _S.OTHER), "行审复": (_X, _S.OTHER), "行他": (_X, _S.OTHER),
    "行赔初": (_X, _S.FIRST_INSTANCE), "行赔终": (_X, _S.SECOND_INSTANCE),
    "行赔申": (_X, _S.RETRIAL_REVIEW), "行赔再": (_X, _S.RETRIAL),
    # 执行
    "执": (_Z, _S.ENFORCEMENT), "执恢": (_Z, _S.ENFORCEMENT), "执保": (_Z, _S.ENFORCEMENT),
    "执异": (_Z, _S.ENFORCEMENT_OBJECTION), "执复": (_Z, _S.ENFORCEMENT_RECONSIDERATION),
    "执监": (_Z, _S.ENFORCEMENT_SUPERVISION), "执协": (_Z, _S.ENFORCEMENT), "执他": (_Z, _S.ENFORCEMENT),
    "执民": (_Z, _S.ENFORCEMENT),
    # 国家赔偿
    "法赔": (_P, _S.COMPENSATION), "委赔": (_P, _S.COMPENSATION), "委赔监": (_P, _S.COMPENSATION),
    "赔": (_P, _S.COMPENSATION),
    # 非诉保全审查
    "财保": (_O, _S.PRESERVATION), "行保": (_O, _S.PRESERVATION), "证保": (_O, _S.PRESERVATION),
    # 强制清算与破产
    "破申": (_O, _S.BANKRUPTCY), "破": (_O, _S.BANKRUPTCY), "破终": (_O, _S.BANKRUPTCY),
    "破监": (_O, _S.BANKRUPTCY), "强清申": (_O, _S.BANKRUPTCY), "强清": (_O, _S.BANKRUPTCY),
    "强清终": (_O, _S.BANKRUPTCY), "强清监": (_O, _S.BANKRUPTCY),
    # 司法救助, 司法制裁, 区际与国际司法协助
    "司救刑": (_O, _S.JUDICIAL_AID), "司救民": (_O, _S.JUDICIAL_AID), "司救行": (_O, _S.JUDICIAL_AID),
    "司救赔": (_O, _S.JUDICIAL_AID), "司救执": (_O, _S.JUDICIAL_AID), "司救访": (_O, _S.JUDICIAL_AID),
    "司救他": (_O, _S.JUDICIAL_AID), "司惩": (_O, _S.SANCTION), "司惩复": (_O, _S.SANCTION),
    "认港": (_O, _S.JUDICIAL_ASSISTANCE), "认澳": (_O, _S.JUDICIAL_ASSISTANCE),
    "认台": (_O, _S.JUDICIAL_ASSISTANCE), "协外认": (_O, _S.JUDICIAL_ASSISTANCE),
}  # fmt: skip
"""类型代字 → (category, stage): the 2016 standard's codes plus the pre-2016 ones met in judgments."""

# A 审判庭 number or 少(年庭) may follow the category character: 刑一初, 民四终, 刑少初, 执二.
_DIVISION = "[一二三四五六七八九十]{1,2}|少"
_DIVISIBLE = "刑民行执"


def _type_pattern(code: str) -> str:
    rest = re.escape(code[1:])
    if code[1:2] == "知":  # 上海 courts print 刑（知）初
        rest = "[（(]?知[）)]?" + re.escape(code[2:])
    if code[0] in _DIVISIBLE:
        return re.escape(code[0]) + f"(?:{_DIVISION})?" + rest
    return re.escape(code[0]) + rest


_OPEN, _CLOSE = "（(〔[【﹝［", "）)〕]】﹞］"
_DIGIT = "[0-9０-９]"
_HIGH_COURT_CODES = "".join(PROVINCE_BY_COURT_CODE) + "军"
_TYPES = "|".join(_type_pattern(c) for c in sorted(TYPE_CODES, key=len, reverse=True))
_CASE_NUMBER = re.compile(
    rf"[{re.escape(_OPEN)}]\s*(?P<year>[12１２]{_DIGIT}{{3}})\s*[{re.escape(_CLOSE)}]\s*"
    # court: 最高法, or a high-court character with a 2- or 4-digit code, or an old abbreviation (may be
    # empty for the SPC's own pre-2016 numbers such as "（2013）民二终字第1号"); lazy, so the type is longest.
    # 检 and 鉴 never occur in court codes but do in 抗诉书 and 鉴定书 numbers of the same shape.
    rf"(?P<court>最高法|[{_HIGH_COURT_CODES}]{_DIGIT}{{2,4}}|(?:(?![检鉴])[\u4e00-\u9fff]){{0,8}}?)"
    rf"(?P<type>{_TYPES})\s*字?\s*第?\s*"
    rf"(?P<seq>{_DIGIT}{{1,9}})\s*"
    # a later document in the same case: "15-1号" or "52号之一"
    rf"(?:[-－—–]\s*(?P<sub>{_DIGIT}{{1,2}})\s*号|号(?:之(?P<sub_cn>[一二三四五六七八九十]{{1,3}}))?)"
)
_DIVISION_RE = re.compile(_DIVISION)


@dataclass(frozen=True, eq=False)
class CaseNumber:
    """A parsed 案号; equality and hashing follow ``canonical()`` so print variants compare equal."""

    raw: str
    year: int
    court_code: str
    type_code: str
    sequence: int
    division: str | None = None
    sub_sequence: int | None = None  # 之一 / -1: a later document in the same case
    key: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.type_code not in TYPE_CODES:
            raise ValueError(f"unknown 类型代字 {self.type_code!r} in {self.raw!r}")
        object.__setattr__(self, "key", self._canonical())

    def _canonical(self) -> str:
        type_text = self.type_code[0] + (self.division or "") + self.type_code[1:]
        tail = f"号之{_int_to_chinese(self.sub_sequence)}" if self.sub_sequence else "号"
        return f"({self.year}){self.court_code}{type_text}{self.sequence}{tail}"

    def canonical(self) -> str:
        """Half-width parentheses, Arabic digits, no 字第, no leading zeros: ``(2015)嘉桐刑初328号``."""
        return self.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CaseNumber) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __str__(self) -> str:
        return self.key

    @property
    def category(self) -> CaseCategory:
        return TYPE_CODES[self.type_code][0]

    @property
    def stage(self) -> str:
        return TYPE_CODES[self.type_code][1]

    @property
    def province(self) -> str | None:
        """From the 法院代字 of post-2016 numbers only: before 2016 "湘" may mean 湘阴, "新" 新城区."""
        return province_from_court_code(self.court_code) if self.year >= _NEW_STYLE_FROM else None


@dataclass(frozen=True)
class CaseNumberMatch:
    case_number: CaseNumber
    start: int
    end: int


def parse_case_number(text: str) -> CaseNumber:
    """Parse exactly one 案号 (surrounding whitespace allowed); ValueError says which part is wrong."""
    stripped = text.strip()
    match = _CASE_NUMBER.fullmatch(stripped)
    if match is None:
        raise ValueError(f"not a 案号: {text!r}: {_diagnose(stripped)}")
    return _from_match(match, stripped)


def find_case_numbers(text: str) -> list[CaseNumberMatch]:
    """Every 案号 in ``text`` in order of position, with character offsets into ``text``."""
    return [
        CaseNumberMatch(_from_match(m, m.group()), m.start(), m.end()) for m in _CASE_NUMBER.finditer(text)
    ]


def province_from_court_code(code: str) -> str | None:
    """Province of a post-2016 法院代字 (浙0483 → 浙江省, 兵08 → 新疆生产建设兵团); ``None`` otherwise.

    Only the new shapes qualify: a high-court character alone (高院) or with 2 (中院) or 4 (基层)
    digits. 最高法 and 军 belong to no province; old abbreviations such as 浙杭 return ``None``.
    """
    code = code.translate(_FULLWIDTH)
    if re.fullmatch(r"\S(?:\d{2}|\d{4})?", code) is None:
        return None
    return PROVINCE_BY_COURT_CODE.get(code[0])


_YEAR_PREFIX = re.compile(rf"[{re.escape(_OPEN)}]\s*[12１２]{_DIGIT}{{3}}\s*[{re.escape(_CLOSE)}]")


def _diagnose(text: str) -> str:
    if not _YEAR_PREFIX.match(text):
        return "it must start with the 收案年度 in brackets, e.g. （2015）"
    if not re.search("号(?:之[一二三四五六七八九十]+)?$", text):
        return "it must end with 号"
    return "no known 类型代字 (刑初, 民终, 执, …) after the 法院代字, or a malformed number"


def _from_match(match: re.Match[str], raw: str) -> CaseNumber:
    year = chinese_to_int(match["year"])
    type_text = re.sub("[（()）]", "", match["type"])
    division = _DIVISION_RE.match(type_text, 1) if type_text[0] in _DIVISIBLE else None
    type_code = type_text if division is None else type_text[0] + type_text[division.end() :]
    if match["sub"]:
        sub: int | None = chinese_to_int(match["sub"])
    elif match["sub_cn"]:
        sub = chinese_to_int(match["sub_cn"])
    else:
        sub = None
    return CaseNumber(
        raw=raw,
        year=year,
        court_code=match["court"].translate(_FULLWIDTH),
        type_code=type_code,
        sequence=chinese_to_int(match["seq"]),
        division=division.group() if division else None,
        sub_sequence=sub or None,
    )


_NEW_STYLE_FROM = 2016  # the SPC rules took effect on 2016-01-01
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
_CN_DIGITS = "零一二三四五六七八九"


def _int_to_chinese(n: int) -> str:
    """Small positive integers as printed after 之 (之一, 之十二); 案号 never go past a few dozen."""
    if n < 10:
        return _CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _CN_DIGITS[tens]) + "十" + (_CN_DIGITS[ones] if ones else "")
