"""Cited provisions (法条) in judgment text: ``依照《中华人民共和国刑法》第二百六十四条、第六十七条第三款``.

Law names are normalised so that the same statute gets the same key however a judge wrote it:

* brackets, whitespace, the ``中华人民共和国`` prefix and a trailing version note such as
  ``（2019年修订）`` are dropped: ``《中华人民共和国刑法》`` → ``刑法``;
* judicial interpretations lose their issuers (``最高人民法院、最高人民检察院关于…`` → ``关于…``) because
  judges cite them both with and without; law names nested in a title become ``〈刑事诉讼法〉``;
* ``_ABBREVIATIONS`` maps a handful of very common titles and the short forms judges use for them to
  one short name (``关于适用〈刑事诉讼法〉的解释`` and ``刑诉法解释`` → ``刑诉法解释``); every other title
  is kept in full.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from retrieval.cited_article import CitedArticle
from retrieval.parsing.numerals import chinese_to_int

_PRC = "中华人民共和国"
# The prefix as typed, mistyped or with 的 ("中华人民共和国的侵权责任法", "中国人民共和国刑法").
_PRC_PREFIX = re.compile(r"^(?:中华人民共和国|中国人民共和国|中华人民共合国|中华共和国|人民共和国|共和国)的?")

# Short forms that stand for the same statute; keys and values are already normalised.
_ABBREVIATIONS = {
    "刑诉法": "刑事诉讼法",
    "民诉法": "民事诉讼法",
    "行诉法": "行政诉讼法",
    "道交法": "道路交通安全法",
    "治安处罚法": "治安管理处罚法",
    "关于适用〈刑事诉讼法〉的解释": "刑诉法解释",
    "刑诉解释": "刑诉法解释",
    "关于适用〈民事诉讼法〉的解释": "民诉法解释",
    "民诉解释": "民诉法解释",
    "关于适用〈行政诉讼法〉的解释": "行诉法解释",
    "行诉解释": "行诉法解释",
    "关于审理民间借贷案件适用法律若干问题的规定": "民间借贷规定",
    "关于办理盗窃刑事案件适用法律若干问题的解释": "盗窃解释",
    "关于办理诈骗刑事案件具体应用法律若干问题的解释": "诈骗解释",
    "关于办理抢夺刑事案件适用法律若干问题的解释": "抢夺解释",
    "关于审理毒品犯罪案件适用法律若干问题的解释": "毒品犯罪解释",
    "关于审理交通肇事刑事案件具体应用法律若干问题的解释": "交通肇事解释",
    "关于办理贪污贿赂刑事案件适用法律若干问题的解释": "贪污贿赂解释",
    "关于处理自首和立功具体应用法律若干问题的解释": "自首立功解释",
    "关于常见犯罪的量刑指导意见": "量刑指导意见",
    "关于审理人身损害赔偿案件适用法律若干问题的解释": "人身损害赔偿解释",
    "关于审理道路交通事故损害赔偿案件适用法律若干问题的解释": "道路交通事故损害赔偿解释",
    "关于审理买卖合同纠纷案件适用法律问题的解释": "买卖合同解释",
    "关于适用〈民法典〉时间效力的若干规定": "民法典时间效力规定",
    "关于适用〈民法典〉婚姻家庭编的解释（一）": "婚姻家庭编解释（一）",
    "关于审理劳动争议案件适用法律问题的解释（一）": "劳动争议解释（一）",
}

# Statutes recognised without 《》 when directly followed by 第…条 ("依照刑法第二百六十四条").
_BARE_LAWS = (
    "刑法", "刑事诉讼法", "民法典", "民法通则", "民法总则", "合同法", "物权法", "担保法", "侵权责任法",
    "婚姻法", "继承法", "收养法", "民事诉讼法", "行政诉讼法", "行政处罚法", "行政复议法", "行政许可法",
    "国家赔偿法", "劳动法", "劳动合同法", "劳动争议调解仲裁法", "社会保险法", "公司法", "合伙企业法",
    "企业破产法", "证券法", "保险法", "票据法", "商标法", "专利法", "著作权法", "反不正当竞争法",
    "消费者权益保护法", "产品质量法", "食品安全法", "道路交通安全法", "治安管理处罚法", "禁毒法",
    "土地管理法", "城市房地产管理法", "农村土地承包法", "森林法", "环境保护法", "未成年人保护法",
    "仲裁法", "海商法", "经济合同法", "技术合同法", "涉外经济合同法", "刑诉法", "民诉法", "行诉法",
)  # fmt: skip

_ISSUERS = re.compile(
    r"^(?:(?:最高人民法院|最高人民检察院|公安部|司法部|国家安全部|海关总署|全国人民代表大会常务委员会|国务院)"
    r"[、，,和与\s]*)+(?=关于)"
)
_VERSION_NOTE = re.compile(r"[（(][^（）()《》第]*?(?:\d|年|修正|修订|修改)[^（）()《》第]*[）)]$")
_NESTED_TITLE = re.compile(r"[《〈<＜﹤]([^《》〈〉<>＜＞﹤﹥]+)[》〉>＞﹥]")
_OUTER_BRACKETS = "《》〈〉<>＜＞﹤﹥"
# Words that name no particular law unless the text defined them ("（以下简称《解释》）").
_GENERIC_NAMES = frozenset(
    {"法", "本法", "解释", "规定", "意见", "决定", "通知", "批复", "办法", "条例", "纪要"}
)
# A bracketed title is a law (and not a contract, indictment or book) when it ends like one.
_LAW_TITLE_END = re.compile(
    r"(?:法|法典|条例|规定|解释|决定|意见|规则|细则|通则|办法|纪要|通知|批复|答复|公约|修正案)(?:[（(][^（）()]{1,8}[）)])?$"
)

_NUM = r"[零〇○一二两三四五六七八九十百千\d０-９]+"
_LIST_SEP = r"[、，,和及]"
_ITEM_NUM = rf"(?:[（(]{_NUM}[）)]|{_NUM})"
_PAREN_NUM = rf"[（(]{_NUM}[）)]"
# 第 is often left out inside a list ("第五十七条第一款、五十八条"); a number must not start mid-number.
_NOT_IN_NUMBER = r"(?<![第零〇○一二两三四五六七八九十百千\d０-９])"
# Inside a version note ("（根据…《刑法修正案（八）》修正）"): no 第, one level of nested brackets.
_NOTE_PART = r"(?:[^（）()第\n]|[（(][^（）()第\n]{0,10}[）)])"
_TOKEN = re.compile(
    r"(?P<law>《(?:[^《》\n]|《[^《》\n]*》){1,120}》|〈[^〈〉《》\n]{1,60}〉)"
    rf"|(?P<bare>(?:{_PRC})?(?:{'|'.join(sorted(_BARE_LAWS, key=len, reverse=True))}))"
    r"(?=(?:[（(][^（）()《》第\n]{1,20}[）)])?第)"
    r"|(?P<same>该法|同法)(?=第)"
    r"|[（(](?:以下|下文|下)?(?:简称|称)[为:：]?(?P<alias>《[^《》（）()\n]{1,30}》|[^《》（）()，,。\n]{1,30})[）)]"
    rf"|(?P<version>[（(]{_NOTE_PART}{{0,60}}?(?:\d|年|修正|修订|修改){_NOTE_PART}{{0,60}}[）)])"
    r"|(?P<blank>第条)"
    rf"|(?:第|{_NOT_IN_NUMBER})(?P<art>{_NUM}(?:{_LIST_SEP}第?{_NUM})*)条(?!例)(?:之(?P<suffix>[一二三四五六七八九十\d]+))?"
    rf"|(?:第|{_NOT_IN_NUMBER})(?P<clause>{_NUM}(?:{_LIST_SEP}第?{_NUM})*)款"
    rf"|第?(?P<item>{_ITEM_NUM}(?:{_LIST_SEP}第?{_ITEM_NUM}|第?{_PAREN_NUM})*)项"
    rf"|第(?P<pitem>{_PAREN_NUM}(?:{_LIST_SEP}?第?{_PAREN_NUM})*)"
)
# What may stand between two parts of one citation without ending it (incl. "［交通肇事罪］" notes).
_CHAIN_GAP = re.compile(
    r"(?:[\s、，,；;和及与]|以及|［[^［］\n]{0,20}］|【[^【】\n]{0,20}】|\[[^\[\]\n]{0,20}\])*"
)
_NUMBER_IN_LIST = re.compile(_NUM)
_MAX_ARTICLE = 2000
_CHINESE_DIGITS = frozenset("零〇○一二两三四五六七八九")


def normalise_law_name(name: str) -> str:
    """Canonical short name of a statute or judicial interpretation (see the module docstring)."""
    text = re.sub(r"\s+", "", name)
    while True:
        before = text
        if len(text) > 1 and text[0] in _OUTER_BRACKETS and text[-1] in _OUTER_BRACKETS:
            text = text[1:-1]
        text = _VERSION_NOTE.sub("", text)
        if text == before:
            break
    text = _PRC_PREFIX.sub("", text)
    text = _NESTED_TITLE.sub(lambda m: f"〈{normalise_law_name(m[1])}〉", text)
    text = _ISSUERS.sub("", text)
    return _ABBREVIATIONS.get(text, text)


def _numbers(text: str, *, split_digits: bool) -> list[int]:
    """Numbers of a list such as ``一、二``, ``（一）（三）`` or the compressed ``一四五`` (items 1, 4, 5)."""
    values = []
    for raw in _NUMBER_IN_LIST.findall(text):
        compressed = split_digits and len(raw) > 1 and all(ch in _CHINESE_DIGITS for ch in raw)
        for chunk in raw if compressed else [raw]:
            try:
                values.append(chinese_to_int(chunk))
            except ValueError:
                continue
    return [v for v in values if 0 < v <= _MAX_ARTICLE]


class _Citations:
    """Accumulates provisions; a 条 (款) followed by its 款 (项) is replaced by the more specific entry."""

    def __init__(self) -> None:
        self.found: list[CitedArticle] = []
        self.law: str | None = None
        self.article: tuple[int, int] | None = None
        self.clause: int | None = None
        self._article_slot: int | None = None  # index in found of the 条 entry a 款/项 may refine
        self._clause_slot: int | None = None  # index in found of the 款 entry a 项 may refine

    def reset(self, law: str | None = None) -> None:
        self.law, self.article, self.clause = law, None, None
        self._article_slot = self._clause_slot = None

    def articles(self, numbers: list[int], suffix: int) -> None:
        if self.law is None or not numbers:
            return
        for number in numbers:
            self.found.append(CitedArticle(self.law, number, suffix))
        self.article, self.clause = (numbers[-1], suffix), None
        self._article_slot, self._clause_slot = len(self.found) - 1, None

    def clauses(self, numbers: list[int]) -> None:
        if self.law is None or self.article is None or not numbers:
            return
        for number in numbers:
            self._clause_slot = self._put(
                CitedArticle(self.law, *self.article, clause=number), self._article_slot
            )
            self._article_slot = None
        self.clause = numbers[-1]

    def items(self, numbers: list[int]) -> None:
        if self.law is None or self.article is None:
            return
        for number in numbers:
            cited = CitedArticle(self.law, *self.article, clause=self.clause, item=number)
            if self.clause is None:
                self._put(cited, self._article_slot)
                self._article_slot = None
            else:
                self._put(cited, self._clause_slot)
                self._clause_slot = None

    def _put(self, cited: CitedArticle, slot: int | None) -> int:
        """Refine the entry at ``slot`` (when there is one) or append; returns the entry's index."""
        if slot is None:
            self.found.append(cited)
            return len(self.found) - 1
        self.found[slot] = cited
        return slot


def extract_articles(text: str) -> list[CitedArticle]:
    """Every provision cited in ``text``, deduplicated in order of first appearance.

    A law name carries over the list that follows it (``、，,和及`` and the like) until another law name
    or any other text; 条 without a law in force (``第一次``, a contract's ``第五条``) are ignored.
    Short names the text defines (``（以下简称《解释》）``) and ``该法``/``同法`` resolve to the full law.
    """
    state = _Citations()
    last_law: str | None = None
    aliases: dict[str, str] = {}  # short names the text itself defines
    previous_end = 0
    for match in _TOKEN.finditer(text):
        if not _CHAIN_GAP.fullmatch(text, previous_end, match.start()):
            state.reset()
        previous_end = match.end()
        kind = match.lastgroup if match.lastgroup != "suffix" else "art"
        value = match[kind]
        if kind == "law":
            law = normalise_law_name(value)
            law = aliases.get(law) or (
                None if law in _GENERIC_NAMES or not _LAW_TITLE_END.search(law) else law
            )
            state.reset(law)
            last_law = law or last_law
        elif kind == "alias":
            if state.law is not None:
                aliases[normalise_law_name(value)] = state.law
        elif kind == "bare":
            last_law = normalise_law_name(value)
            state.reset(last_law)
        elif kind == "same":
            state.reset(last_law)
        elif kind == "blank":  # a redacted or mistyped number ("第条第二款"): skip it, keep the law
            state.article = None
        elif kind == "art":
            suffix = _numbers(match["suffix"], split_digits=False) if match["suffix"] else []
            state.articles(_numbers(value, split_digits=False), suffix[0] if suffix else 0)
        elif kind == "clause":
            state.clauses(_numbers(value, split_digits=True))
        elif kind in ("item", "pitem"):
            state.items(_numbers(value, split_digits=True))
        # a version note ("（2019年修订）") neither starts nor ends a citation
    return list(dict.fromkeys(state.found))


@dataclass(frozen=True)
class StatuteBook:
    """Article numbers of one law read from lawrefbook Markdown, to check extracted citations exist.

    ``structure`` maps (条, 之N) to the number of 项 in each of its 款 (``[0, 5, 0]``: three 款,
    the second with five 项).
    """

    law: str
    structure: dict[tuple[int, int], list[int]]

    @classmethod
    def from_markdown(cls, law: str, paths: Path | Iterable[Path]) -> StatuteBook:
        """Read one file or several (民法典 comes as one file per 编); a folder means its ``*.md``."""
        files: list[Path] = []
        for path in [paths] if isinstance(paths, Path) else paths:
            files.extend(sorted(path.glob("*.md")) if path.is_dir() else [path])
        structure: dict[tuple[int, int], list[int]] = {}
        for file in files:
            current: list[int] | None = None
            body = file.read_text(encoding="utf-8").split("<!-- INFO END -->")[-1]
            for paragraph in (p.strip() for p in body.split("\n\n")):
                if not paragraph or paragraph.startswith("#"):
                    continue
                heading = _ARTICLE_HEADING.match(paragraph)
                if heading:
                    number = chinese_to_int(heading["number"])
                    suffix = chinese_to_int(heading["suffix"]) if heading["suffix"] else 0
                    current = structure.setdefault((number, suffix), [0])
                elif current is not None and _ITEM_HEADING.match(paragraph):
                    current[-1] += 1
                elif current is not None:
                    current.append(0)
        return cls(law=law, structure=structure)

    def __contains__(self, cited: object) -> bool:
        """Whether the 条 (and the 款 and 项 it names) exist; a CitedArticle of another law is not in."""
        if not isinstance(cited, CitedArticle) or cited.law != self.law:
            return False
        clauses = self.structure.get((cited.article, cited.article_suffix))
        if clauses is None:
            return False
        if cited.clause is not None and not 1 <= cited.clause <= len(clauses):
            return False
        if cited.item is None:
            return True
        items = clauses[cited.clause - 1] if cited.clause is not None else max(clauses)
        return 1 <= cited.item <= items

    def __len__(self) -> int:
        return len(self.structure)


_ARTICLE_HEADING = re.compile(
    r"第(?P<number>[零〇一二两三四五六七八九十百千]+)条(?:之(?P<suffix>[一二三四五六七八九十]+))?[\s\u3000]"
)
_ITEM_HEADING = re.compile(r"[（(][一二三四五六七八九十]+[）)]")
