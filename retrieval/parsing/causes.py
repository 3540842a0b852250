"""罪名 (criminal charges) and 案由 (civil and administrative causes of action) of a judgment.

Names are validated against ``charges.txt`` (the 罪名 in force, per the 最高法/最高检 确定罪名 rules) and
the 案由 tree (``cause_tree.py``: 民事案件案由规定 2020 and 行政案由 2020, with the 2008/2011 names
mapped to the 2020 ones). Judgments write charges in three other ways that must land on the same name
for similar-case matching:

* a former name of a renamed charge (``非法获取公民个人信息罪`` before 2015): mapped to the current name;
* part of a 选择性罪名 (``贩卖毒品罪``, ``非法持有枪支罪``): resolved to the full charge when the short
  name is the full one with some 、-separated items left out;
* CAIL2018 labels (``[走私、贩卖、运输、制造]毒品``): brackets dropped, 罪 added.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from importlib import resources

from retrieval.parsing.cause_tree import load_cause_tree

_CRIME = "罪"
# The longest 罪名 is 32 characters; a candidate longer than this is not a name.
_MAX_NAME = 40

# Renamed or merged charges (刑法修正案 三, 四, 六, 七, 八, 九, 十, 十一, 十二) → the name in force.
_FORMER_CHARGES = {
    "投毒罪": "投放危险物质罪",
    "过失投毒罪": "过失投放危险物质罪",
    "非法制造、买卖、运输、储存毒害性、放射性、传染病病原体等物质罪": "非法制造、买卖、运输、储存危险物质罪",
    "盗窃、抢夺枪支、弹药、爆炸物罪": "盗窃、抢夺枪支、弹药、爆炸物、危险物质罪",
    "抢劫枪支、弹药、爆炸物罪": "抢劫枪支、弹药、爆炸物、危险物质罪",
    "资助恐怖活动罪": "帮助恐怖活动罪",
    "强令违章冒险作业罪": "强令、组织他人违章冒险作业罪",
    "生产、销售假药罪": "生产、销售、提供假药罪",
    "生产、销售劣药罪": "生产、销售、提供劣药罪",
    "生产、销售不符合卫生标准的食品罪": "生产、销售不符合安全标准的食品罪",
    "生产、销售不符合标准的卫生器材罪": "生产、销售不符合标准的医用器材罪",
    "走私固体废物罪": "走私废物罪",
    "走私珍稀植物、珍稀植物制品罪": "走私国家禁止进出口的货物、物品罪",
    "欺诈发行股票、债券罪": "欺诈发行证券罪",
    "提供虚假财会报告罪": "违规披露、不披露重要信息罪",
    "公司、企业人员受贿罪": "非国家工作人员受贿罪",
    "对公司、企业人员行贿罪": "对非国家工作人员行贿罪",
    "徇私舞弊低价折股、出售国有资产罪": "徇私舞弊低价折股、出售公司、企业资产罪",
    "非法出具金融票证罪": "违规出具金融票证罪",
    "用账外客户资金非法拆借、发放贷款罪": "吸收客户资金不入账罪",
    "违法向关系人发放贷款罪": "违法发放贷款罪",
    "偷税罪": "逃税罪",
    "强迫职工劳动罪": "强迫劳动罪",
    "强制猥亵、侮辱妇女罪": "强制猥亵、侮辱罪",
    "出售、非法提供公民个人信息罪": "侵犯公民个人信息罪",
    "非法获取公民个人信息罪": "侵犯公民个人信息罪",
    "伪造、变造居民身份证罪": "伪造、变造、买卖身份证件罪",
    "非法生产、销售间谍专用器材罪": "非法生产、销售专用间谍器材、窃听、窃照专用器材罪",
    "盗窃、侮辱尸体罪": "盗窃、侮辱、故意毁坏尸体、尸骨、骨灰罪",
    "盗窃、侮辱、故意毁坏尸体罪": "盗窃、侮辱、故意毁坏尸体、尸骨、骨灰罪",
    "侮辱国旗、国徽罪": "侮辱国旗、国徽、国歌罪",
    "侮辱国歌罪": "侮辱国旗、国徽、国歌罪",
    "拒绝提供间谍犯罪证据罪": "拒绝提供间谍犯罪、恐怖主义犯罪、极端主义犯罪证据罪",
    "窝藏、转移、收购、销售赃物罪": "掩饰、隐瞒犯罪所得、犯罪所得收益罪",
    "重大环境污染事故罪": "污染环境罪",
    "非法猎捕、杀害珍贵、濒危野生动物罪": "危害珍贵、濒危野生动物罪",
    "非法收购、运输、出售珍贵、濒危野生动物、珍贵、濒危野生动物制品罪": "危害珍贵、濒危野生动物罪",
    "非法采伐、毁坏珍贵树木罪": "危害国家重点保护植物罪",
    "非法采伐、毁坏国家重点保护植物罪": "危害国家重点保护植物罪",
    "非法收购、运输、加工、出售国家重点保护植物、国家重点保护植物制品罪": "危害国家重点保护植物罪",
    "非法收购盗伐、滥伐的林木罪": "非法收购、运输盗伐、滥伐的林木罪",
    "走私制毒物品罪": "非法生产、买卖、运输制毒物品、走私制毒物品罪",
    "非法买卖制毒物品罪": "非法生产、买卖、运输制毒物品、走私制毒物品罪",
    "食品监管渎职罪": "食品、药品监管渎职罪",
}

# Short forms common in titles and results that are not a plain part of the full name.
_COLLOQUIAL_CHARGES = {
    "掩饰、隐瞒犯罪": "掩饰、隐瞒犯罪所得、犯罪所得收益罪",
    "掩饰隐瞒犯罪": "掩饰、隐瞒犯罪所得、犯罪所得收益罪",
    "组织他人偷越国境罪": "组织他人偷越国（边）境罪",
    "运送他人偷越国境罪": "运送他人偷越国（边）境罪",
    "偷越国境罪": "偷越国（边）境罪",
    "组织参与国外赌博罪": "组织参与国（境）外赌博罪",
    "抽逃资金罪": "虚假出资、抽逃出资罪",
    "非法占用农地罪": "非法占用农用地罪",
}

# Spelling variants seen in judgments and data sets (会计帐簿 is the pre-2002 spelling).
# Misprints judgments and datasets carry (CJRC labels five texts 非法吸收公共存款罪).
_SPELLINGS = (("帐簿", "账簿"), ("剌探", "刺探"), ("公共存款", "公众存款"))
_BRACKETS = str.maketrans({"[": None, "]": None, "【": None, "】": None, "(": "（", ")": "）"})
_STAGE = re.compile(r"（(?:未遂|既遂|中止|预备)）")
_SPACE = re.compile(r"\s+")
_LIST_SEP = "、和及与"
# Where a charge name starts in a judgment's result, and additionally in free text (起诉书, CAIL facts).
_RESULT_START = re.compile(r"犯有?")
_TEXT_START = re.compile(r"犯有?|以|构成|涉嫌")
_NAME_STOP = frozenset("，。；：,.;:！!？?“”\"'《》\n\r\t 　")
_DECISION = re.compile(r"(?:判决|裁定|决定)如下")
# The end of a title's case name: "一案", the instance and the document type.
_TITLE_END = re.compile(
    r"一案|[一二]审|再审|重审|复核|上诉(?!人)|审判监督|管辖权异议|执行复议|(?:刑事)?附带民事(?:公益)?诉讼"
    r"|(?:刑事附带民事|刑事|民事|行政|执行|国家赔偿)?(?:判决书|裁定书|调解书|决定书|通知书)"
)
_TITLE_TRAILER = re.compile(r"(?:等罪|等|一案|案)+$")
_CASE_MENTION = re.compile(r"([^。；，,：:\n]{2,80}?)一?案")
# The opening of a judgment (parties, how the case came) ends where facts or arguments begin.
_OPENING_END = re.compile(r"经审理查明|本院认为|诉讼请求|事实和理由|事实与理由|辩称|指控")
_OPENING_MAX = 3000
_CAUSE_LABEL = re.compile(r"案由[:：]\s*([^\s，。；,]{2,40})")


def _resource_names(name: str) -> frozenset[str]:
    text = resources.files("retrieval").joinpath("resources", name).read_text(encoding="utf-8")
    lines = (line.strip() for line in text.splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


@cache
def load_charges() -> frozenset[str]:
    """The 罪名 in force, each ending in 罪 (``retrieval/resources/charges.txt``)."""
    return _resource_names("charges.txt")


@cache
def load_civil_causes() -> frozenset[str]:
    """Civil and administrative 案由: every node of the 案由 tree (``retrieval/resources/cause_tree.txt``)."""
    return frozenset(load_cause_tree().nodes)


def _clean(name: str) -> str:
    text = _STAGE.sub("", _SPACE.sub("", name).translate(_BRACKETS))
    for variant, standard in _SPELLINGS:
        text = text.replace(variant, standard)
    return text


def normalise_cause(name: str) -> str:
    """The canonical form of a 罪名 or 案由; a name it cannot resolve comes back cleaned but unchanged.

    ``[走私、贩卖、运输、制造]毒品`` → ``走私、贩卖、运输、制造毒品罪``; ``盗窃`` → ``盗窃罪``;
    ``贩卖毒品罪`` → ``走私、贩卖、运输、制造毒品罪``; ``劳动争议纠纷`` → ``劳动争议``.
    """
    text = _clean(name)
    return _resolve_civil(text) or _resolve_charge(text) or text


def _resolve_civil(text: str) -> str | None:
    if text.endswith("争议纠纷"):
        text = text.removesuffix("纠纷")
    tree = load_cause_tree()
    candidates = [text]
    if text.startswith("侵犯"):
        candidates += ["侵害" + text.removeprefix("侵犯"), text.removeprefix("侵犯")]
    for candidate in candidates:
        resolved = tree.canonical(candidate)
        if resolved:
            return resolved
    return None


# What administrative case names say for a 二级 行政案由 that they do not name (工伤认定 is a 行政确认).
_ADMIN_WORDS = (
    (re.compile(r"工伤认定|工伤决定|伤残等级"), "行政确认"),
    (re.compile(r"(?<!政府)信息公开"), "政府信息公开"),
    (re.compile(r"不履行[^，。]{0,12}?职责|行政不作为"), "不履行职责"),
    (re.compile(r"征收|征用"), "行政征收或者征用"),
)


def _administrative_causes(title: str) -> list[str]:
    """二级 行政案由 a case name names (…行政处罚决定案, …政府信息公开案) or implies (…工伤认定案)."""
    tree = load_cause_tree()
    names = [
        n.name for n in tree.nodes.values() if n.system == "行政" and n.level == 2 and n.name != "公益诉讼"
    ]
    # 公益诉讼 is left out: 民事公益诉讼 names carry it too
    found = [name for name in names if name in title]
    found += [cause for pattern, cause in _ADMIN_WORDS if pattern.search(title) and cause not in found]
    return sorted(found, key=title.find) if found else []


@lru_cache(maxsize=1 << 16)
def _resolve_charge(text: str) -> str | None:
    """The charge in force that ``text`` (with or without 罪) names, or None."""
    name = text if text.endswith(_CRIME) else text + _CRIME
    if len(name) < 3 or len(name) > _MAX_NAME:
        return None
    if name in load_charges():
        return name
    if name in _FORMER_CHARGES:
        return _FORMER_CHARGES[name]
    if name in _COLLOQUIAL_CHARGES:
        return _COLLOQUIAL_CHARGES[name]
    resolved = _resolve_partial(name) or _unseparated_names().get(name.replace("、", ""))
    if resolved is None and name.endswith("犯罪"):  # "涉嫌赌博犯罪", "犯串通投标犯罪"
        resolved = _resolve_charge(name.removesuffix("犯罪"))
    return resolved


@cache
def _unseparated_names() -> dict[str, str]:
    """Names with their 、 left out, as some judgments write them (``组织领导传销活动罪``)."""
    names = {n: n for n in load_charges()} | _FORMER_CHARGES
    return {full.replace("、", ""): target for full, target in names.items() if "、" in full}


@cache
def _partial_index() -> tuple[tuple[str, str], dict[str, int]]:
    """All full names (in force and former) with their targets, and per character a bitmask of them."""
    names = [(n, n) for n in sorted(load_charges())] + sorted(_FORMER_CHARGES.items())
    masks: dict[str, int] = {}
    for bit, (full, _) in enumerate(names):
        for ch in set(full):
            masks[ch] = masks.get(ch, 0) | (1 << bit)
    return tuple(names), masks


def _resolve_partial(name: str) -> str | None:
    """Resolve part of a 选择性罪名 to the full charge; the closest (shortest) full name wins."""
    names, masks = _partial_index()
    candidates = -1
    for ch in set(name):
        candidates &= masks.get(ch, 0)
        if not candidates:
            return None
    best: tuple[int, str] | None = None
    bit = 0
    while candidates:
        if candidates & 1:
            full, target = names[bit]
            if "、" in full and (best is None or len(full) < best[0]) and _is_part_of(name[:-1], full[:-1]):
                best = (len(full), target)
        candidates >>= 1
        bit += 1
    return best[1] if best else None


def _is_part_of(short: str, full: str) -> bool:
    """Whether ``short`` is ``full`` with whole 、-separated items left out.

    An item goes with one separator (``走私、`` or ``、运输``) and may end inside the next token
    (``、制造`` of ``制造毒品``). The last token may go only when it is no longer than another token or
    another token is a phrase (4+ characters) rather than a bare verb: ``走私、贩卖、运输、制造毒品`` yields
    ``走私毒品`` but never ``走私``, while ``内幕交易、泄露内幕信息`` yields ``内幕交易``.
    """
    if short == full:
        return True
    tokens = full.split("、")
    longest_other = max((len(t) for t in tokens[:-1]), default=0)
    tail_may_go = len(tokens) > 1 and (len(tokens[-1]) <= longest_other or longest_other >= 4)
    n, m = len(short), len(full)
    stack = [(0, 0)]
    seen: set[tuple[int, int]] = set()
    while stack:
        state = stack.pop()
        if state in seen:
            continue
        seen.add(state)
        i, j = state
        if i == n and j == m:
            return True
        if j == m:
            continue
        if i < n and short[i] == full[j]:
            stack.append((i + 1, j + 1))
        next_sep = full.find("、", j + 1)
        if full[j] == "、":
            last = next_sep if next_sep != -1 else m
            stack.extend((i, k) for k in range(j + 2, last + 1) if k < m or tail_may_go)
        elif next_sep != -1:
            stack.append((i, next_sep + 1))
    return False


def _charges_after(text: str, starts: re.Pattern[str]) -> list[str]:
    """Charges named right after each start marker (``犯``): ``犯故意伤害罪、寻衅滋事罪`` gives both."""
    found: list[str] = []
    for start in starts.finditer(text):
        position = start.end()
        while True:
            name, end = _longest_charge_at(text, position)
            if name is None:
                break
            found.append(name)
            if end >= len(text) or text[end] not in _LIST_SEP:
                break
            position = end + 2 if text.startswith("犯", end + 1) else end + 1
    return found


def _longest_charge_at(text: str, position: int) -> tuple[str | None, int]:
    """The longest resolvable ``…罪`` starting at ``position``; a 罪 not in 犯罪 ends the search."""
    best: tuple[str | None, int] = (None, position)
    limit = min(len(text), position + _MAX_NAME)
    for q in range(position, limit):
        ch = text[q]
        if ch in _NAME_STOP:
            break
        if ch != _CRIME:
            continue
        if q - position >= 2:
            resolved = _resolve_charge(text[position : q + 1])
            if resolved:
                best = (resolved, q + 1)
        if q == 0 or text[q - 1] != "犯":
            break
    return best


def _resolve_item(text: str, tail: str) -> str | None:
    """A title item as a 案由 or 罪名; ``名誉权、荣誉权纠纷`` lends 纠纷 to ``名誉权``."""
    resolved = _resolve_civil(text) or _resolve_charge(text)
    if resolved is None and tail and not text.endswith(tail):
        resolved = _resolve_civil(text + tail)
    if resolved is None and not tail and len(text) >= 2 and not text.endswith(("争议", "之诉", "诉讼")):
        resolved = _resolve_civil(text + "纠纷")  # case names drop it: 聂美兰诉…确认劳动关系案
    return resolved


def _causes_in_case_name(case_name: str) -> list[str]:
    """Causes that end a case name: ``施李昌、杨保春抢劫、抢夺、盗窃`` → 抢劫罪, 抢夺罪, 盗窃罪.

    The longest tail that splits entirely into known causes (separated by 、和及与) wins, so the parties
    in front are skipped and ``房屋买卖合同纠纷`` beats ``买卖合同纠纷``.
    """
    core = _TITLE_TRAILER.sub("", _clean(case_name))
    n = len(core)
    tail = "纠纷" if core.endswith("纠纷") else ""
    parse: list[tuple[int, str] | None] = [None] * (n + 1)  # parse[s]: (end, cause) of the item at s
    parsed = [False] * (n + 1)
    parsed[n] = True
    first = None
    for s in range(n - 1, -1, -1):
        for e in range(min(n, s + _MAX_NAME), s + 1, -1):
            if e < n and not (core[e] in _LIST_SEP and parsed[e + 1]):
                continue
            resolved = _resolve_item(core[s:e], tail)
            if resolved:
                parse[s], parsed[s], first = (e, resolved), True, s
                break
    causes: list[str] = []
    position = first
    while position is not None and position < n:
        item = parse[position]
        if item is None:
            break
        causes.append(item[1])
        position = item[0] + 1
    return causes


def _title_causes(title: str) -> list[str]:
    match = _TITLE_END.search(title)
    return _causes_in_case_name(title[: match.start()] if match else title)


def _text_causes(text: str) -> list[str]:
    """Fallback without result or title: the decision part, a 案由 label, the case named in the opening
    (``原告张某与被告李某民间借贷纠纷一案``), else any charge the text attributes (``以盗窃罪追究``)."""
    decision = _DECISION.search(text)
    if decision:
        charges = _charges_after(text[decision.end() :], _RESULT_START)
        if charges:
            return charges
    label = _CAUSE_LABEL.search(text)
    if label:
        resolved = normalise_cause(label[1])
        if resolved in load_civil_causes() or resolved in load_charges():
            return [resolved]
    opening_end = _OPENING_END.search(text)
    for mention in _CASE_MENTION.finditer(text, 0, opening_end.start() if opening_end else _OPENING_MAX):
        causes = _causes_in_case_name(mention[1])
        if causes:
            return causes
    return _charges_after(text, _TEXT_START)


def extract_causes(*, title: str = "", result: str = "", text: str = "") -> list[str]:
    """罪名/案由 of a judgment, validated and normalised, deduplicated in order.

    The result (``被告人X犯盗窃罪，判处…``) wins when it names a charge, because the title often repeats
    the prosecution's charge that the court changed; otherwise the title (``…盗窃一审刑事判决书``,
    ``张某与李某民间借贷纠纷一审民事判决书``); otherwise ``text``. A title naming only civil causes wins
    over the result, whose narrative may mention a related criminal case.
    """
    title_causes = (_title_causes(title) or _administrative_causes(title)) if title else []
    if title_causes and not any(c.endswith("罪") for c in title_causes):
        # a civil title is not overridden by a charge the result mentions (a related criminal case)
        return list(dict.fromkeys(title_causes))
    for causes in (
        _charges_after(result, _RESULT_START) if result else [],
        title_causes,
        _text_causes(text) if text else [],
    ):
        if causes:
            return list(dict.fromkeys(causes))
    return []
