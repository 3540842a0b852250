"""The cheap pre-filters of ``retrieval.parsing.circumstances`` change no result.

Circumstance rules run only on the sentences that hold one of their triggers, and amounts are looked
for only in runs of amount characters around a 元; each is compared here with a scan of the whole
text, the way both were found before the pre-filters, on real and on random text.
"""

from __future__ import annotations

import json
import random
from bisect import bisect_right
from functools import cache

import pytest

from retrieval.parsing import circumstances
from retrieval.parsing.circumstances import extract_amounts, extract_circumstances, involved_amounts
from tests.conftest import SAMPLES, distinct_lecard_candidates

# Phrases for each alternative of every rule whose pattern is a regex (a rule made of literals has
# them as its triggers): every match of the rule in them must hold one of the rule's triggers.
RULE_PHRASES = {
    "自首": ["主动投案，如实供述", "自动投案后如实交代", "投案并如实供认"],
    "立功": ["有立功表现"],
    "毒品再犯": ["毒品再犯", "系再犯", "是再犯", "构成再犯", "属再犯", "属于再犯", "认定为再犯"],
    "中止": ["犯罪中止", "系中止", "属于中止", "构成中止", "中止犯"],
    "预备": ["犯罪预备", "系预备", "属预备", "构成预备", "预备犯"],
    "从犯": ["从犯", "起次要作用", "起辅助作用", "起次要或辅助作用"],
    "未成年人": ["未满十八周岁", "不满十八周岁", "已满十六周岁不满十八周岁", "未成年犯罪", "系未成年人"],
    "退赃退赔": ["退赃", "退赔", "退缴", "退还全部赃款", "退还违法所得"],
    "入户": ["入户盗窃"],
    "携带凶器": ["携带凶器", "携带管制刀具", "携带一把刀", "携带匕首", "携带棍棒", "携带斧头", "携带枪"],
    "多次": ["多次盗窃", "先后3次", "共计五次", "共3次", "累计4次", "连续三次"],
    "持械": ["持械", "持刀", "持菜刀", "持啤酒瓶"],
    "醉酒": ["醉酒驾驶", "血液中乙醇含量为 156.3mg", "酒精浓度达到85毫克"],
    "致人死亡": ["致被害人死亡", "造成一人死亡", "导致其死亡", "经抢救无效死亡", "当场死亡", "死亡后果", "殁年45岁", "死者"],
    "限制刑事责任能力": ["限制刑事责任能力", "限制责任能力", "限制行为能力", "部分刑事责任能力", "部分责任能力"],
    "利息约定": ["约定月利率2%", "约定利息", "月息2分", "年息10%", "年利率", "月利率", "日利率"],
    "担保": ["担保", "保证人", "保证责任", "连带保证", "连带责任保证", "抵押", "质押"],
    "书面合同": ["签订了借款合同", "订立协议", "签署合同", "书面合同", "书面协议"],
    "未签劳动合同": ["未签订劳动合同", "没有与原告签订书面劳动合同", "拒绝签劳动合同", "未依法订立劳动合同"],
    "违法解除": ["违法解除", "违法终止", "非法解除"],
}  # fmt: skip


@pytest.mark.parametrize("label", sorted(RULE_PHRASES))
def test_every_match_holds_a_trigger(label: str) -> None:
    rules = [rule for rule in circumstances._RULES if rule.label == label]
    assert rules, label
    for phrase in RULE_PHRASES[label]:
        matches = [(rule, m[0]) for rule in rules for m in rule.pattern.finditer(phrase)]
        assert matches, phrase
        for rule, matched in matches:
            assert any(t in matched for t in rule.triggers), (label, phrase, matched)


def test_a_regex_rule_must_name_its_triggers() -> None:
    assert circumstances._rule("甲", "自首|坦白").triggers == ("自首", "坦白")
    with pytest.raises(ValueError, match="explicit triggers"):
        circumstances._rule("乙", "(?<!重大)立功")


def test_a_trigger_that_starts_another_is_found_with_it() -> None:
    """Only the longest trigger starting at a place is reported; the rules of its prefixes count too."""
    rules = [
        circumstances._rule("担保", "保证"),
        circumstances._rule("保证人", "保证人"),
        circumstances._rule("人", "人"),
    ]
    pattern, rules_at = circumstances._trigger_index(rules)
    found = [(m[0], rules_at[m[0]]) for m in pattern.finditer("由保证人承担")]
    assert found == [("保证人", (0, 1))]
    assert rules_at["人"] == (2,)


def full_scan_circumstances(text: str) -> frozenset[str]:
    """``extract_circumstances`` as it was: each rule's pattern over the whole text picks the sentences."""
    sentences = circumstances._Sentences.of(text)
    found = set()
    for rule in circumstances._RULES:
        where = sorted(
            {bisect_right(sentences.starts, m.start()) - 1 for m in rule.pattern.finditer(sentences.text)}
        )
        if any(circumstances._mentions(rule, sentences, where)):
            found.add(rule.label)
    return frozenset(found)


_FULLWIDTH = str.maketrans("０１２３４５６７８９．，", "0123456789.,")


def full_scan_amounts(text: str) -> tuple[list[float], list[float]]:
    """``extract_amounts`` and ``involved_amounts`` as they were: the pattern over the whole text."""
    normalised = text.translate(_FULLWIDTH)
    found, involved = [], []
    for match in circumstances._AMOUNT.finditer(normalised):
        if circumstances._FOREIGN_CURRENCY.search(normalised, max(0, match.start() - 4), match.start()):
            continue
        if match["num"] is not None:
            if match.start() > 0 and normalised[match.start() - 1] in circumstances._ASCII_LETTERS:
                continue
            value = float(match["num"].replace(",", "")) * circumstances._UNIT[match["unit"]]
        else:
            value = circumstances._chinese_amount(match["cn"])
            if value is None:
                continue
        found.append(value)
        clause_start = max(normalised.rfind(ch, 0, match.start()) for ch in "，,。；;") + 1
        if not circumstances._NOT_INVOLVED.search(
            normalised, max(clause_start, match.start() - 12), match.start()
        ):
            involved.append(value)
    return found, involved


@cache
def real_texts() -> tuple[str, ...]:
    """Facts and reasoning of 300 LeCaRD candidates and the texts of the (civil and criminal) samples."""
    texts = [
        doc.get(key) or "" for doc in distinct_lecard_candidates(300) for key in ("ajjbqk", "cpfxgc", "qw")
    ]
    for path in sorted(SAMPLES.rglob("*")):
        if path.suffix in (".txt", ".md"):
            texts.append(path.read_text(encoding="utf-8"))
        elif path.suffix == ".jsonl":
            for line in path.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                texts += [record.get("full_text") or "", *(record.get("sections") or {}).values()]
    return tuple(t for t in texts if t)


@pytest.mark.slow
def test_circumstances_as_a_full_scan_finds_them_on_real_text() -> None:
    texts = real_texts()
    assert len(texts) > 900
    labels = set()
    for text in texts:
        found = extract_circumstances(text)
        assert found == full_scan_circumstances(text), text[:80]
        labels |= found
    assert {"自首", "累犯", "借条", "书面合同"} <= labels  # criminal and civil rules were exercised


@pytest.mark.slow
def test_amounts_as_a_full_scan_finds_them_on_real_text() -> None:
    total = 0
    for text in real_texts():
        found, involved = full_scan_amounts(text)
        assert extract_amounts(text) == found, text[:80]
        assert involved_amounts(text) == involved, text[:80]
        total += len(found)
    assert total > 1000


# Amount characters (ASCII, full-width, Chinese, other decimal digits and spaces) with the words
# around amounts, so that random strings hit the edges of runs: 元月, 美元, codes, clauses.
_ALPHABET = [
    *"0123456789０１２３４５６７８９,.，．一二两十百千万亿点余元圆月 \n\u3000\u0663、；。",
    *("人民币", "美元", "罚金", "赔偿", "共计", "价值", "数", "A", "x", "约", "元月"),
]  # fmt: skip


def test_amounts_as_a_full_scan_finds_them_on_random_text() -> None:
    rng = random.Random(20240601)
    nonempty = 0
    for _ in range(5000):
        text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 30)))
        found, involved = full_scan_amounts(text)
        assert extract_amounts(text) == found, text
        assert involved_amounts(text) == involved, text
        nonempty += bool(found)
    assert nonempty > 500
