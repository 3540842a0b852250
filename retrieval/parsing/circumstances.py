"""量刑情节 and other legally relevant circumstances, and 涉案金额, in facts or reasoning text.

Two similar cases are more alike when they share the circumstances that move the sentence (自首, 累犯,
入户, 数额巨大 …) or decide a civil claim (借条, 利息约定, 未签劳动合同 …), so the explanation of a hit names
them. Judgments mention a circumstance far more often than they find it, so a mention only counts when:

* it is not negated in its clause: ``不构成自首``, ``不认定为累犯``, ``无自首情节``, ``自首不成立``;
* it is not inside a 《title》 (``《关于处理自首和立功具体应用法律若干问题的解释》``);
* when it sits in a party's argument (``辩护人提出被告人系从犯的意见``), the court's answer that follows in
  the sentence (or in a next sentence opening with 经查) accepts it (``予以采纳``); a rejected argument
  (``不予采信``, ``与事实不符``) and one left unanswered do not count.

A circumstance is present when one mention counts, so one defendant's 自首 is enough in a joint case.
自首 is also read from its description (``主动投案，如实供述自己的罪行``), because a pending case's facts
describe it rather than name it; ``如实供述`` alone is 坦白. Measured on 400 hand-labelled LeCaRD reasoning
texts that mention 自首: precision 0.997, recall 1.0 (``tests/test_circumstances.py``).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from retrieval.parsing.numerals import chinese_to_int

# -- circumstance rules ------------------------------------------------------------------------

_NOT_CLAUSE_END = r"[^，,。；;：:！!？?\n]"
_NOT_SENTENCE_END = r"[^。；;！!？?\n]"


@dataclass(frozen=True)
class _Rule:
    label: str
    pattern: re.Pattern[str]
    # Substrings one of which every match contains: one scan for all rules' triggers picks the
    # sentences each pattern runs on, because a scan of the whole text per rule cost most of the time.
    triggers: tuple[str, ...]
    negatable: bool = True  # False when the pattern itself is a negative (未签订劳动合同)
    accept: Callable[[re.Match[str], str, int], bool] | None = None  # (match, text, clause start)


def _rule(label: str, pattern: str, triggers: tuple[str, ...] | None = None, **options: Any) -> _Rule:
    """A rule; ``triggers`` may be left out only when the pattern is an alternation of literals."""
    if triggers is None:
        triggers = tuple(pattern.split("|"))
        if any(re.escape(literal) != literal for literal in triggers):
            raise ValueError(f"rule {label!r}: a regex pattern needs explicit triggers")
    return _Rule(label, re.compile(pattern), triggers, **options)


def _min_count(minimum: int) -> Callable[[re.Match[str], str, int], bool]:
    def accept(match: re.Match[str], text: str, clause_start: int) -> bool:
        count = match.groupdict().get("count")
        if count is None:
            return True
        try:
            return chinese_to_int(count) >= minimum
        except ValueError:
            return False

    return accept


def _drunk(match: re.Match[str], text: str, clause_start: int) -> bool:
    """醉酒 by the 80 mg/100 ml blood-alcohol threshold when the text gives the value, not the word."""
    value = match.groupdict().get("bac")
    return value is None or float(value) >= 80


def _defendant_minor(match: re.Match[str], text: str, clause_start: int) -> bool:
    """未成年人 as a 量刑情节 is about the defendant; a minor victim is something else."""
    return "被害" not in text[clause_start : match.start()]


def _confession(match: re.Match[str], text: str, clause_start: int) -> bool:
    """``如实供述`` is 坦白 unless the sentence makes it part of 自首 (投案 + 如实供述)."""
    if match[0] == "坦白":
        return True
    if "投案" in text:
        return False
    return all(
        re.search("不|未|无|没有|非", text[max(0, m.start() - 6) : m.start()])
        for m in re.finditer("自首", text)
    )


def _no_inner_negation(match: re.Match[str], text: str, clause_start: int) -> bool:
    """投案 …如实供述 is 自首 unless the span itself denies a part (``投案，但未如实供述``)."""
    return not re.search(r"未|没有|不|拒|否认|虽", match[0])


def _not_ordered(match: re.Match[str], text: str, clause_start: int) -> bool:
    """``责令退赔`` is the court's order, not the defendant's 退赃退赔."""
    return "责令" not in text[max(clause_start, match.start() - 6) : match.start()]


def _not_examination(match: re.Match[str], text: str, clause_start: int) -> bool:
    """``精神病鉴定`` names the examination, not its finding."""
    return not text.startswith("鉴定", match.end()) and not text.startswith("司法鉴定", match.end())


_COUNT = r"(?P<count>[0-9一二三四五六七八九十两]+)"
_RULE_SPECS: list[tuple[str, str, dict]] = [
    # criminal: 法定 and 酌定 sentencing circumstances
    ("自首", r"自首", {}),
    (  # described rather than named, as a pending case's facts do: 主动投案，如实供述自己的罪行
        "自首",
        r"(?:自动|主动)?投案" + _NOT_SENTENCE_END + r"{0,30}?如实(?:供述|交代|交待|供认)",
        {"triggers": ("投案",), "accept": _no_inner_negation},
    ),
    ("坦白", r"坦白|如实供述", {"accept": _confession}),
    ("重大立功", r"重大立功", {}),
    ("立功", r"(?<!重大)立功", {"triggers": ("立功",)}),
    ("累犯", r"累犯", {}),
    ("毒品再犯", r"毒品再犯|(?:系|是|构成|属于?|认定为)再犯", {"triggers": ("再犯",)}),
    ("未遂", r"未遂", {}),
    ("中止", r"犯罪中止|(?:系|属于?|构成)中止|中止犯", {"triggers": ("中止",)}),
    ("预备", r"犯罪预备|(?:系|属于?|构成)预备|预备犯", {"triggers": ("预备",)}),
    ("主犯", r"主犯|起主要作用", {}),
    (
        "从犯",
        r"(?<![主、胁])从犯|起(?:次要|辅助)(?:或(?:次要|辅助))?作用",
        {"triggers": ("从犯", "起次要", "起辅助")},
    ),
    ("胁从犯", r"胁从犯|被胁迫参加犯罪", {}),
    ("教唆", r"教唆", {}),
    (
        "未成年人",
        r"(?:未满|不满)十八周岁|已满十[四六]周岁(?:不满|未满)十八周岁|未成年人?犯罪|系未成年人?",
        {"triggers": ("十八周岁", "未成年"), "accept": _defendant_minor},
    ),
    ("认罪认罚", r"认罪认罚", {}),
    ("取得谅解", r"谅解", {}),
    (
        "退赃退赔",
        r"退赃|退赔|退缴|退还" + _NOT_CLAUSE_END + r"{0,8}?(?:赃|违法所得)",
        {"triggers": ("退赃", "退赔", "退缴", "退还"), "accept": _not_ordered},
    ),
    ("入户", r"入户(?!籍|口)", {"triggers": ("入户",)}),
    (
        "携带凶器",
        r"携带凶器|携带" + _NOT_CLAUSE_END + r"{0,4}?(?:管制刀具|刀|匕首|棍棒|斧|枪)",
        {"triggers": ("携带",)},
    ),
    ("扒窃", r"扒窃", {}),
    (
        "多次",
        r"多次(?!催|索|讨|要求|协商|联系|打电话|电话|找|向|通知|督促|提醒|沟通|前往|到|来)"
        rf"|(?:先后|共计?|累计|连续){_COUNT}次",
        {"triggers": ("次",), "accept": _min_count(3)},
    ),
    (
        "持械",
        r"持械|持(?:刀|枪|棍|棒|斧|砍刀|匕首|铁棍|木棍|钢管|菜刀|水果刀|凶器|铁锹|啤酒瓶|酒瓶)",
        {"triggers": ("持",)},
    ),
    (
        "醉酒",
        r"醉酒|(?:乙醇|酒精)(?:含量|浓度)(?:为|是|达到?)?\s*(?P<bac>\d+(?:\.\d+)?)\s*(?:mg|毫克)",
        {"triggers": ("醉酒", "乙醇", "酒精"), "accept": _drunk},
    ),
    (
        "致人死亡",
        r"(?:致|造成|导致)" + _NOT_CLAUSE_END + r"{0,12}?死亡|抢救无效" + _NOT_CLAUSE_END + r"{0,8}?死亡"
        r"|当场死亡|死亡后果|殁年|死者",
        {"triggers": ("死亡", "殁年", "死者")},
    ),
    ("致人重伤", r"重伤", {}),
    ("轻伤", r"轻伤", {}),
    ("数额较大", r"数额较大", {}),
    ("数额巨大", r"数额巨大", {}),
    ("数额特别巨大", r"数额特别巨大", {}),
    ("情节严重", r"情节严重", {}),
    ("情节特别严重", r"情节特别严重", {}),
    ("共同犯罪", r"共同犯罪|共犯", {}),
    ("初犯", r"初犯", {}),
    ("偶犯", r"偶犯", {}),
    (
        "限制刑事责任能力",
        r"限制(?:刑事)?(?:责任|行为)能力|部分(?:刑事)?责任能力",
        {"triggers": ("责任能力", "行为能力")},
    ),
    ("精神病", r"精神病|精神障碍|精神分裂|精神发育迟滞", {"accept": _not_examination}),
    # civil
    ("借条", r"借条|借据", {}),
    ("欠条", r"欠条|欠据", {}),
    (
        "利息约定",
        r"约定" + _NOT_CLAUSE_END + r"{0,10}?(?:利息|利率|月息|年息)|月息|年息|[月年日]利率",
        {"triggers": ("利息", "利率", "月息", "年息")},
    ),
    ("逾期", r"逾期", {}),
    (
        "担保",
        r"担保|保证人|保证责任|连带(?:责任)?保证|抵押|质押",
        {"triggers": ("担保", "保证", "抵押", "质押")},
    ),
    (
        "书面合同",
        r"(?:签订|订立|签署)" + _NOT_CLAUSE_END + r"{0,20}?(?:合同|协议)|书面(?:合同|协议)",
        {"triggers": ("合同", "协议")},
    ),
    (
        "未签劳动合同",
        r"(?:未|没有|没|未曾|未能|拒绝|不)(?:与" + _NOT_CLAUSE_END + r"{0,15}?)?"
        r"(?:依法)?(?:签订|订立|签)(?:书面)?劳动合同",
        {"triggers": ("劳动合同",), "negatable": False},
    ),
    ("违法解除", r"违法(?:解除|终止)|非法解除", {"triggers": ("违法解除", "违法终止", "非法解除")}),
]
_RULES = tuple(_rule(label, pattern, **options) for label, pattern, options in _RULE_SPECS)

CIRCUMSTANCES: tuple[str, ...] = tuple(dict.fromkeys(rule.label for rule in _RULES))
"""Every label ``extract_circumstances`` may return, in display order (criminal first, then civil)."""


def _trigger_index(rules: Sequence[_Rule]) -> tuple[re.Pattern[str], dict[str, tuple[int, ...]]]:
    """One pattern for every trigger, longest first, and for each trigger the rules (indexes in
    ``rules``) that an occurrence of it concerns: its own and those of the triggers it starts with."""
    triggers = sorted({t for rule in rules for t in rule.triggers}, key=lambda t: (-len(t), t))
    rules_at = {
        trigger: tuple(i for i, rule in enumerate(rules) if any(trigger.startswith(t) for t in rule.triggers))
        for trigger in triggers
    }
    return re.compile("|".join(map(re.escape, triggers))), rules_at


_TRIGGER, _RULES_AT = _trigger_index(_RULES)

# -- negation and argument handling ------------------------------------------------------------

_SENTENCE = re.compile(r"[^。！？!?；;\n]+[。！？!?；;\n]*")
_CLAUSE_BREAK = re.compile(r"[，,：:]")
_TITLE = re.compile(r"《[^《》\n]{0,120}》")
_NEGATION_WINDOW = 12
# Negation in the clause before a mention, or right after it.
_PRE_NEGATION = re.compile(
    r"(?:不|未|没有|无法|难以|尚不|并不|并未|不能|不应|不宜)(?:应当?|能够?|宜|予|被|依法|足以)?以?"
    r"(?:认定|构成|成立|属于?|具有|具备|存在|符合|系|是|视为|论|区分|分)"
    r"|未(?:能)?(?:取得|获得|得到|达成|造成)|没有(?:取得|获得|得到|造成)|无法取得"
    r"|并非|并无|均无|是否|否认|不再|拒绝|不予|不愿|不同意"
    r"|(?:不能|无法|未能|难以|不足以)证[明实]|(?:没有|无)证据"  # 不能证明被告人系自首
    r"|准备|打算|意欲|企图"  # an intention (准备投案自首) is not the circumstance
)
_ADJACENT_NEGATION = re.compile(r"(?:无|没有|未|非|不|并无|均无|未有)$")
_POST_NEGATION = re.compile(
    r"[^，,。；;]{0,10}?(?:不(?:能|足以)?成立|不予认定|不能认定|不应认定|不符|错误|不当|纠正)"  # 认定自首错误
)
# A party's argument; what the court answers decides whether the mention counts.
_ARGUMENT = re.compile(
    r"辩护|辩称|辩解|上诉理由|上诉意见|代理意见|所提|提出|所称|所持|申诉|关于|对于|[人其]称|声称"
)
_ARGUMENT_CLOSE = re.compile(r"意见|理由|观点|辩解|主张|请求")
_VERDICT = re.compile(
    r"(?P<reject>不予以?(?:采纳|采信|支持|认定|确认|考虑|认可)|不(?:能|足以)?成立|不符|不能认定|不应认定"
    r"|不构成|不采纳|不采信|没有(?:事实|法律)|无(?:事实|法律)|(?:依据|根据|理由|理据|证据)不足|缺乏)"
    r"|(?P<accept>予以(?:采纳|采信|支持|认定|确认|认可)|采纳|采信|(?:意见|理由)(?:成立|有理)|属实|相符"
    r"|可以成立|能够成立)"
)
_CLAUSE_END = re.compile(r"[，,。；;：:]")
_COURT_SPEAKS = re.compile(r"经查|经审查|经核查|经审理|经核实|本院认为")
_ANSWER_OPENING = re.compile(r"\s*(?:经查|经审查|经核查|经审理|经核实|对此|对该)")


def _mask_titles(text: str) -> str:
    """Blank out 《…》 so that statute titles neither match nor end a clause; offsets stay the same."""
    return _TITLE.sub(lambda m: "＃" * len(m[0]), text)


def _negated(text: str, clause_start: int, match: re.Match[str]) -> bool:
    before = text[max(clause_start, match.start() - _NEGATION_WINDOW) : match.start()]
    if _PRE_NEGATION.search(before) or _ADJACENT_NEGATION.search(before):
        return True
    return bool(_POST_NEGATION.match(text, match.end()))


def _argument_verdict(sentence: str, match: re.Match[str], next_sentence: str) -> bool | None:
    """None when the mention is the court's own statement; else whether the court accepts the argument.

    A mention is argued when a party's words open before it (``辩护人提出``) and the argument closes after
    it (``…的辩护意见``) or the court answers it (``…，经查属实，予以采纳``). The answer is the first one
    after the mention, in the sentence or in a next sentence that opens with 经查.
    """
    clause_end = _CLAUSE_END.search(sentence, match.end())
    closed_in_clause = _ARGUMENT_CLOSE.search(
        sentence, match.end(), clause_end.start() if clause_end else len(sentence)
    )
    openings = list(_ARGUMENT.finditer(sentence, 0, match.start()))
    if closed_in_clause is None and (
        not openings or _COURT_SPEAKS.search(sentence, openings[-1].end(), match.start())
    ):
        return None  # no argument, or the mention is in the court's answer (…的意见，经查，被告人系自首)
    verdict = _VERDICT.search(sentence, match.end())
    if verdict is not None:
        return verdict.lastgroup == "accept"
    if _ANSWER_OPENING.match(next_sentence):  # 经查…: the court answers; without a clear yes it is no
        verdict = _VERDICT.search(next_sentence)
        return verdict is not None and verdict.lastgroup == "accept"
    if _ARGUMENT_CLOSE.search(sentence, match.end()):
        return False
    if sentence.rstrip().endswith(("；", ";")):  # an argument listed over several ；-separated parts
        verdict = _VERDICT.search(next_sentence)
        if verdict is not None:
            return verdict.lastgroup == "accept"
        if _ARGUMENT_CLOSE.search(next_sentence):
            return False
    return None


@dataclass(frozen=True)
class _Sentences:
    """A title-masked text cut into sentences (``starts``/``ends`` are offsets in ``text``)."""

    text: str
    starts: list[int]
    ends: list[int]

    @classmethod
    def of(cls, text: str) -> _Sentences:
        masked = _mask_titles(text)
        spans = [m.span() for m in _SENTENCE.finditer(masked)]
        return cls(masked, [start for start, _ in spans], [end for _, end in spans])

    def sentence(self, index: int) -> str:
        if index >= len(self.starts):
            return ""
        return self.text[self.starts[index] : self.ends[index]]


def _sentences_to_search(sentences: _Sentences) -> list[set[int]]:
    """For each rule of ``_RULES``, the indexes of the sentences that hold one of its triggers.

    One scan finds every place where a trigger starts (``_TRIGGER`` reports the longest one there;
    the others that start there are its prefixes), then the next scan starts one character on.
    """
    found: list[set[int]] = [set() for _ in _RULES]
    text, starts = sentences.text, sentences.starts
    match = _TRIGGER.search(text)
    while match is not None:
        index = bisect_right(starts, match.start()) - 1
        if index >= 0:  # else before the first sentence: only sentence ends, which no trigger holds
            for rule in _RULES_AT[match[0]]:
                found[rule].add(index)
        match = _TRIGGER.search(text, match.start() + 1)
    return found


def _mentions(rule: _Rule, sentences: _Sentences, where: Iterable[int]) -> Iterator[bool]:
    """Each mention of ``rule``'s circumstance in the sentences ``where``: whether it counts (see
    the module docstring). A mention never spans sentences."""
    for index in where:
        sentence = sentences.sentence(index)
        for match in rule.pattern.finditer(sentence):
            clause_start = 0
            for brk in _CLAUSE_BREAK.finditer(sentence, 0, match.start()):
                clause_start = brk.end()
            if rule.accept is not None and not rule.accept(match, sentence, clause_start):
                continue
            if rule.negatable and _negated(sentence, clause_start, match):
                yield False
                continue
            accepted = _argument_verdict(sentence, match, sentences.sentence(index + 1))
            yield accepted is None or accepted


def extract_circumstances(text: str) -> frozenset[str]:
    """Circumstances that ``text`` (facts, reasoning or a whole judgment) finds present.

    A rule's pattern runs only on the sentences that hold one of its triggers (a regex scan of the
    whole text per rule cost ten times as much), and stops at its first mention that counts; a
    label already found is not looked for again (two rules give 自首).
    """
    if not text:
        return frozenset()
    sentences = _Sentences.of(text)
    found: set[str] = set()
    for rule, where in zip(_RULES, _sentences_to_search(sentences), strict=True):
        if where and rule.label not in found and any(_mentions(rule, sentences, sorted(where))):
            found.add(rule.label)
    return frozenset(found)


_STATUTE_TITLE = re.compile(r"法》|条例》|规定|解释|办法》|决定》|意见|批复|通知》|细则》|纪要》")


class CountedMentions:
    """The counting rules of ``extract_circumstances`` for any pattern, on one text cut once.

    ``retrieval.parsing.civil_elements`` reads its 要素 with the same rules (negation in the clause,
    《titles》 masked, rejected arguments dropped), so they are applied here, once, for both.
    """

    def __init__(self, text: str) -> None:
        # Only the titles of laws and interpretations are masked: a civil case's 《借款协议》 or
        # 《劳动合同》 is evidence of what it names, while 《工伤保险条例》 says nothing of the case.
        masked = _TITLE.sub(lambda m: "＃" * len(m[0]) if _STATUTE_TITLE.search(m[0]) else m[0], text or "")
        spans = [m.span() for m in _SENTENCE.finditer(masked)]
        self._sentences = _Sentences(masked, [s for s, _ in spans], [e for _, e in spans])

    @property
    def text(self) -> str:
        """The text with its 《titles》 blanked (offsets as in the original)."""
        return self._sentences.text

    def counted(self, pattern: re.Pattern[str], negatable: bool = True) -> Iterator[re.Match[str]]:
        """Each match of ``pattern`` (within one sentence) that counts, in order of appearance."""
        sentences = self._sentences
        # a pattern runs only on the sentences where it matches in the whole text (few of them)
        where = sorted(
            {bisect_right(sentences.starts, m.start()) - 1 for m in pattern.finditer(sentences.text)} - {-1}
        )
        for index in where:
            sentence = sentences.sentence(index)
            for match in pattern.finditer(sentence):
                clause_start = 0
                for brk in _CLAUSE_BREAK.finditer(sentence, 0, match.start()):
                    clause_start = brk.end()
                if negatable and _negated(sentence, clause_start, match):
                    continue
                accepted = _argument_verdict(sentence, match, sentences.sentence(index + 1))
                if accepted is None or accepted:
                    yield match

    def any(self, pattern: re.Pattern[str], negatable: bool = True) -> bool:
        return next(self.counted(pattern, negatable), None) is not None


def ordered(labels: Iterable[str]) -> list[str]:
    """Labels in ``CIRCUMSTANCES`` display order (unknown ones last, alphabetically)."""
    rank = {label: i for i, label in enumerate(CIRCUMSTANCES)}
    return sorted(set(labels), key=lambda label: (rank.get(label, len(rank)), label))


# -- amounts -----------------------------------------------------------------------------------

_FULLWIDTH = tuple(zip("０１２３４５６７８９．，", "0123456789.,", strict=True))
_CN_NUMERAL = "零〇一二两三四五六七八九十百千万亿壹贰叁肆伍陆柒捌玖拾佰仟"
_CN_DIGIT = set("一二两三四五六七八九壹贰叁肆伍陆柒捌玖")
_AMOUNT = re.compile(
    r"(?:(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*(?P<unit>亿|万|千|百)?"
    rf"|(?P<cn>[{_CN_NUMERAL}]+(?:点[零〇一二三四五六七八九]+)?))"
    r"\s*余?\s*(?:元|圆)(?!月)"
)
# Every character a match of _AMOUNT may hold, besides \d and \s (``str.isdecimal``/``isspace``, which
# are what ``re`` uses for them): amounts are looked for only in runs of these around a 元 or 圆.
_AMOUNT_CHARS = frozenset(f",.点余元圆{_CN_NUMERAL}")
_CURRENCY = re.compile("[元圆]")
_FOREIGN_CURRENCY = re.compile(r"(?:美元|港币|港元|欧元|日元|英镑|澳元|外币|美金)\s*$")
_ASCII_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_UNIT = {"亿": 100_000_000, "万": 10_000, "千": 1_000, "百": 100, None: 1}
# Context words before an amount that make it a penalty, a cost or a compensation, not what the case
# is about (the stolen value, the loan): used by ``involved_amounts``.
_CONTEXT = 12  # characters before an amount, within its clause, that ``_NOT_INVOLVED`` looks at
_NOT_INVOLVED = re.compile(
    r"罚金|罚款|赔偿|补偿|诉讼费|受理费|保全费|鉴定费|保险|保证金|丧葬费|医疗费|抚慰金|奖励|悬赏|工资|退赔|退还|退缴"
)


def _chinese_amount(text: str) -> float | None:
    integer, _, fraction = text.partition("点")
    if not (_CN_DIGIT & set(integer) or integer.startswith(("十", "拾"))):
        return None  # 千元, 万元 after 数/几/上: no value
    try:
        value = float(chinese_to_int(integer))
    except ValueError:
        return None
    if fraction:
        digits = "".join(str(chinese_to_int(ch)) for ch in fraction)
        value += float("0." + digits)
    return value


def _halfwidth(text: str) -> str:
    """Full-width digits, point and comma as ASCII; ``str.translate`` did the same ~20x slower on CJK."""
    for wide, narrow in _FULLWIDTH:
        if wide in text:
            text = text.replace(wide, narrow)
    return text


def _in_amount(ch: str) -> bool:
    return ch in _AMOUNT_CHARS or ch.isdecimal() or ch.isspace()


def _amount_runs(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each longest run of ``_in_amount`` characters that holds a 元 or 圆.

    An amount lies inside one such run, so searching only them finds what a scan of the whole text
    finds, at a fraction of the cost (the scan tried the pattern at every character).
    """
    end = 0
    for currency in _CURRENCY.finditer(text):
        start = currency.start()
        if start < end:
            continue
        while start > end and _in_amount(text[start - 1]):
            start -= 1
        end = currency.end()
        while end < len(text) and _in_amount(text[end]):
            end += 1
        yield start, end


def _amount_matches(normalised: str) -> Iterable[tuple[re.Match[str], float]]:
    """Amounts in ``normalised`` (a ``_halfwidth`` text) with their values in 元."""
    for start, end in _amount_runs(normalised):
        # one character past the run, for the pattern's look-ahead (元月 is a date, not an amount)
        for match in _AMOUNT.finditer(normalised, start, end + 1):
            if _FOREIGN_CURRENCY.search(normalised, max(0, match.start() - 4), match.start()):
                continue  # 美元 100万元
            if match["num"] is not None:
                if match.start() > 0 and normalised[match.start() - 1] in _ASCII_LETTERS:
                    continue  # the tail of a code (a plate, a model number), not an amount
                value = float(match["num"].replace(",", "")) * _UNIT[match["unit"]]
            else:
                chinese = _chinese_amount(match["cn"])
                if chinese is None:
                    continue
                value = chinese
            yield match, value


def extract_amounts(text: str) -> list[float]:
    """Every amount of money in 元 written in ``text``, in order of appearance.

    ``价值人民币3.5万元`` → 35000, ``共计人民币一万二千元`` → 12000, ``12,000元`` → 12000,
    ``457000余元`` → 457000. Vague amounts (``数千元``) and other currencies (``美元``) are skipped.
    """
    if not text:
        return []
    return [value for _, value in _amount_matches(_halfwidth(text))]


def involved_amounts(text: str) -> list[float]:
    """Like ``extract_amounts`` but without fines, costs and compensation named just before the amount."""
    return _amounts_not_named_as(text, _NOT_INVOLVED)


def _amounts_not_named_as(text: str, excluded: re.Pattern[str]) -> list[float]:
    """The amounts of ``text`` save those that ``excluded`` names in the same clause just before them."""
    if not text:
        return []
    normalised = _halfwidth(text)
    kept = []
    for match, value in _amount_matches(normalised):
        window = max(0, match.start() - _CONTEXT)
        before = match.start()
        clause_start = 1 + max(  # the four calls spelled out: a generator cost more than the searches
            normalised.rfind(",", window, before),
            normalised.rfind("。", window, before),
            normalised.rfind("；", window, before),
            normalised.rfind(";", window, before),
        )
        if not excluded.search(normalised, max(clause_start, window), match.start()):
            kept.append(value)
    return kept


# Lower bounds (inclusive) of the bands, from the 盗窃 (法释〔2013〕8号) and 诈骗 (法释〔2011〕7号) interpretations:
# 数额较大 starts at 1千–3千 (盗窃) / 3千–1万 (诈骗), 数额巨大 at 3万–10万 and 数额特别巨大 at 30万–50万 (盗窃)
# / 50万 (诈骗), each province picking its figure inside the range. A band therefore says which
# threshold a case has certainly passed everywhere.
AMOUNT_BANDS: tuple[tuple[float, str], ...] = (
    (0.0, "1千元以下"),
    (1_000.0, "1千至3万元"),
    (30_000.0, "3万至30万元"),
    (300_000.0, "30万至50万元"),
    (500_000.0, "50万元以上"),
)


def amount_band(amounts: Sequence[float]) -> str | None:
    """The band of the largest amount (see ``AMOUNT_BANDS``), or None without amounts.

    ``<1千``: below every 数额较大 threshold; ``1千–3万``: 数额较大 for 盗窃; ``3万–30万``: 数额巨大 under
    every province's 盗窃 and 诈骗 figures; ``30万–50万``: 特别巨大 for 盗窃 in some provinces; ``>50万``:
    特别巨大 for both. Lower bounds are inclusive (a threshold is "达到", reached).
    """
    return _band_of_largest(amounts, AMOUNT_BANDS)


def _band_of_largest(amounts: Sequence[float], bands: tuple[tuple[float, str], ...]) -> str | None:
    """The band (lower bounds inclusive, ascending) of the largest positive amount; None without one."""
    positive = [a for a in amounts if a > 0]
    if not positive:
        return None
    largest = max(positive)
    return [name for lower, name in bands if largest >= lower][-1]


def amount_spans(text: str) -> list[tuple[int, int, float]]:
    """``(start, end, value in 元)`` of every amount in ``text``: offsets into ``text`` itself
    (``_halfwidth`` maps one character to one), for readers that need the words around an amount."""
    if not text:
        return []
    return [(match.start(), match.end(), value) for match, value in _amount_matches(_halfwidth(text))]


# Costs of the proceedings and limits (an insurance's 保险金额), never what a civil claim is about; unlike ``_NOT_INVOLVED`` a civil claim's
# 赔偿, 补偿, 工资 and 医疗费 are its subject (交通事故, 劳动争议), so they stay.
_NOT_CLAIMED = re.compile(
    r"诉讼费|受理费|保全费|公告费|鉴定费|评估费|执行费|律师费|代理费|保险金额|责任限额|赔偿限额|保额|注册资本"
)


def claimed_amounts(text: str) -> list[float]:
    """The amounts of a civil text without the costs of the proceedings named just before them."""
    return _amounts_not_named_as(text, _NOT_CLAIMED)


# Civil 标的额 bands. Civil amounts have no 数额较大 thresholds; the brackets of 《诉讼费用交纳办法》
# 第13条 (1万, 10万, 20万, 50万, 100万, 200万, 500万, 1000万 …), merged where the rate changes little,
# are where the law itself treats a claim as bigger. Lower bounds inclusive.
CIVIL_AMOUNT_BANDS: tuple[tuple[float, str], ...] = (
    (0.0, "1万元以下"),
    (10_000.0, "1万至10万元"),
    (100_000.0, "10万至50万元"),
    (500_000.0, "50万至100万元"),
    (1_000_000.0, "100万至1000万元"),
    (10_000_000.0, "1000万元以上"),
)


def civil_amount_band(amounts: Sequence[float]) -> str | None:
    """The ``CIVIL_AMOUNT_BANDS`` band of the largest amount, or None without amounts."""
    return _band_of_largest(amounts, CIVIL_AMOUNT_BANDS)


def case_amount_band(facts: str, civil: bool) -> str | None:
    """The amount band a case is compared on: the 标的额 band for a civil case (``claimed_amounts``,
    ``CIVIL_AMOUNT_BANDS``), the criminal 涉案金额 band (``involved_amounts``, ``AMOUNT_BANDS``) otherwise."""
    if civil:
        return civil_amount_band(claimed_amounts(facts))
    return amount_band(involved_amounts(facts))
