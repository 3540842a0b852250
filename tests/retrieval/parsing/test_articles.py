"""Cited-provision extraction on real judgments, guiding cases and statutes (shared/data)."""

from __future__ import annotations

import re
import time
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.cited_article import CitedArticle, parse_article_key
from retrieval.parsing.articles import StatuteBook, extract_articles, normalise_law_name
from retrieval.parsing.numerals import chinese_to_int
from tests.conftest import SHARED_DATA, distinct_lecard_candidates, require

DATA = SHARED_DATA
LECARD = DATA / "lecard" / "data" / "candidates.tar.xz"
LAWS = DATA / "lawrefbook-laws"
GUIDING = DATA / "spc-cases-xtjeyvc" / "doc" / "anli-fa"
SAMPLE_SIZE = 300


def lecard_sample() -> list[dict]:
    """The first SAMPLE_SIZE distinct candidates in archive order (deterministic)."""
    return list(distinct_lecard_candidates(SAMPLE_SIZE))


@cache
def criminal_law() -> StatuteBook:
    return StatuteBook.from_markdown("刑法", require(LAWS / "刑法" / "刑法.md"))


@cache
def civil_code() -> StatuteBook:
    return StatuteBook.from_markdown("民法典", require(LAWS / "民法典"))


def keys(text: str) -> list[str]:
    return [a.key() for a in extract_articles(text)]


# Citation sentences copied verbatim from LeCaRD candidates and 指导性案例, with hand-checked keys.
HAND_CHECKED = [
    (  # compressed items (第一四五项), a second law carried over a 以及
        "依照《中华人民共和国刑法》第二百六十三条第一四五项、第二百六十七条第一款、第二百六十四条、第三百一十二条、"
        "第六十九条、第六十五条、第六十八条、第三十六条、第六十一条、第六十四条，以及《最高人民法院、最高人民检察院"
        "关于办理抢夺刑事案件适用法律若干问题的解释》第一条第一款、第三条第一款第三项、第六条第一三项之规定，判决如下：",
        [
            "刑法 第263条 第1项",
            "刑法 第263条 第4项",
            "刑法 第263条 第5项",
            "刑法 第267条 第1款",
            "刑法 第264条",
            "刑法 第312条",
            "刑法 第69条",
            "刑法 第65条",
            "刑法 第68条",
            "刑法 第36条",
            "刑法 第61条",
            "刑法 第64条",
            "抢夺解释 第1条 第1款",
            "抢夺解释 第3条 第1款 第3项",
            "抢夺解释 第6条 第1项",
            "抢夺解释 第6条 第3项",
        ],
    ),
    (  # commas inside the list, two 款 of one 条
        "依照《中华人民共和国刑法》第三百零三条第一款，第二十五条第一款，第二十六条第一款、第四款，第六十七条第三款，"
        "第六十八条，第六十四条，第五十二条，第五十三条之规定，判决如下：",
        [
            "刑法 第303条 第1款",
            "刑法 第25条 第1款",
            "刑法 第26条 第1款",
            "刑法 第26条 第4款",
            "刑法 第67条 第3款",
            "刑法 第68条",
            "刑法 第64条",
            "刑法 第52条",
            "刑法 第53条",
        ],
    ),
    (  # 第（一）项
        "依照《中华人民共和国刑法》第三百四十七条第一款第（一）项、第一百二十八条第一款、第五十七条、第六十一条、"
        "第六十四条、第六十五条第一款、第六十七条第三款、第六十九条、第三百五十六条的规定，判决如下：",
        [
            "刑法 第347条 第1款 第1项",
            "刑法 第128条 第1款",
            "刑法 第57条",
            "刑法 第61条",
            "刑法 第64条",
            "刑法 第65条 第1款",
            "刑法 第67条 第3款",
            "刑法 第69条",
            "刑法 第356条",
        ],
    ),
    (  # "第五十三、第六十三条": a 条 left out inside the list
        "依照《中华人民共和国刑法》第二百六十四条、第二百六十九条、第二十三条、第五十二条、第五十三、第六十三条、"
        "第六十四条、第六十七条第一款、第六十七条第三款、第六十九条之规定，判决如下：",
        [
            "刑法 第264条",
            "刑法 第269条",
            "刑法 第23条",
            "刑法 第52条",
            "刑法 第53条",
            "刑法 第63条",
            "刑法 第64条",
            "刑法 第67条 第1款",
            "刑法 第67条 第3款",
            "刑法 第69条",
        ],
    ),
    (  # 刑法 and 刑事诉讼法 joined by 和; a missing separator (第一款第六十七条)
        "依照《中华人民共和国刑法》第三百八十五条、第三百八十三条第一款第（二）项、第三百八十九条第一款、"
        "第三百九十条第一款第六十七条第一款、第六十九条、第六十四条和《中华人民共和国刑事诉讼法》第二百二十五条第一款"
        "第（二）项、第二百三十三条之规定，判决如下：",
        [
            "刑法 第385条",
            "刑法 第383条 第1款 第2项",
            "刑法 第389条 第1款",
            "刑法 第390条 第1款",
            "刑法 第67条 第1款",
            "刑法 第69条",
            "刑法 第64条",
            "刑事诉讼法 第225条 第1款 第2项",
            "刑事诉讼法 第233条",
        ],
    ),
    (  # 之一, 第一、四款
        "依照《中华人民共和国刑法》第一百九十二条，第一百七十六条、第一百七十五条之一、第二十五条第一款、"
        "第二十六条第一、四款、第二十七条、第五十七条、第五十九条、第六十九条之规定，判决如下：",
        [
            "刑法 第192条",
            "刑法 第176条",
            "刑法 第175条之1",
            "刑法 第25条 第1款",
            "刑法 第26条 第1款",
            "刑法 第26条 第4款",
            "刑法 第27条",
            "刑法 第57条",
            "刑法 第59条",
            "刑法 第69条",
        ],
    ),
    (  # 之一 with 款, an interpretation with three issuers and 第（五）项
        "依照《中华人民共和国刑法》第一百三十三条之一第一款、《最高人民法院、最高人民检察院、公安部关于办理醉酒驾驶"
        "机动车刑事案件适用法律若干问题的意见》第二条第（五）项之规定，判决如下：",
        ["刑法 第133条之1 第1款", "关于办理醉酒驾驶机动车刑事案件适用法律若干问题的意见 第2条 第5项"],
    ),
    (  # 款 joined by 和
        "依照《中华人民共和国刑法》第一百七十五条之一、第二十五条第一款、第二十六条第一款和第四款、第二十七条、"
        "第六十七条第三款、第七十二条第一、三款、第七十三条第二款和第三款、第五十二条、第五十三条、第六十四条之规定，"
        "判决如下：",
        [
            "刑法 第175条之1",
            "刑法 第25条 第1款",
            "刑法 第26条 第1款",
            "刑法 第26条 第4款",
            "刑法 第27条",
            "刑法 第67条 第3款",
            "刑法 第72条 第1款",
            "刑法 第72条 第3款",
            "刑法 第73条 第2款",
            "刑法 第73条 第3款",
            "刑法 第52条",
            "刑法 第53条",
            "刑法 第64条",
        ],
    ),
    (  # 刑法 without 《》
        "对刘宏喜、刘一×依照刑法第六十九条之规定数罪并罚。",
        ["刑法 第69条"],
    ),
    (  # a short name the judgment defines, and ﹤﹥ brackets
        "违反《最高人民法院关于适用﹤中华人民共和国刑事诉讼法﹥的解释》（下称《解释》）第六十七条关于行使勘验、检查、"
        "搜查、扣押等刑事诉讼职权的公",
        ["刑诉法解释 第67条"],
    ),
    (  # guiding case: Arabic numbers, version note, the law applied at the time in brackets
        "《中华人民共和国森林法》（2019年修订）第74条、第81条（本案适用的是2009年修正的《中华人民共和国森林法》"
        "第10条、第44条）",
        ["森林法 第74条", "森林法 第81条", "森林法 第10条", "森林法 第44条"],
    ),
    (  # guiding case: 民法典 with the 侵权责任法 article it replaced
        "1.《中华人民共和国民法典》第1168条（本案适用的是自2010年7月1日起施行的《中华人民共和国侵权责任法》第8条）",
        ["民法典 第1168条", "侵权责任法 第8条"],
    ),
    (  # guiding case: 合同法
        "《中华人民共和国合同法》第8条、第107条",
        ["合同法 第8条", "合同法 第107条"],
    ),
    (  # guiding case: interpretation with a nested law name and a version note
        "《最高人民法院关于适用〈中华人民共和国民事诉讼法〉的解释》（2022年修正）第90条",
        ["民诉法解释 第90条"],
    ),
    (  # a version note that itself names a law
        "《中华人民共和国刑法》（根据2011年5月1日起施行的《中华人民共和国刑法修正案（八）》修正）第338条",
        ["刑法 第338条"],
    ),
]


@pytest.mark.parametrize(("text", "expected"), HAND_CHECKED)
def test_hand_checked_citations(text: str, expected: list[str]) -> None:
    assert keys(text) == expected


def test_no_articles_from_ordinal_words_or_contracts() -> None:
    text = (
        "被告人第一次作案后，第三人张某到场。借款合同第五条约定，逾期按第（一）项处理。"
        "《借款合同》第五条约定。"
    )
    assert extract_articles(text) == []


def test_law_name_ends_the_carry_over() -> None:
    text = "依照《中华人民共和国刑法》第六十七条。被告人第五条供述称"
    assert keys(text) == ["刑法 第67条"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("《中华人民共和国刑法》", "刑法"),
        ("《中华人民共和国民法典》", "民法典"),
        ("《中华人民共和国刑事诉讼法》", "刑事诉讼法"),
        ("《中华人民共和国劳动合同法》", "劳动合同法"),
        ("中华人民共和国反不正当竞争法（2019年4月23日修正）", "反不正当竞争法"),
        ("《中华人民共和国刑法修正案（九）》", "刑法修正案（九）"),
        ("人民检察院刑事诉讼规则（试行）", "人民检察院刑事诉讼规则（试行）"),
        ("《最高人民法院关于审理民间借贷案件适用法律若干问题的规定》", "民间借贷规定"),
        ("《关于审理民间借贷案件适用法律若干问题的规定》", "民间借贷规定"),
        ("《最高人民法院、最高人民检察院关于办理盗窃刑事案件适用法律若干问题的解释》", "盗窃解释"),
        ("《最高人民法院关于适用<中华人民共和国刑事诉讼法>的解释》", "刑诉法解释"),
        ("《刑诉法》", "刑事诉讼法"),
        (
            "最高人民法院  最高人民检察院关于办理强奸、猥亵未成年人刑事案件"
            "适用法律若干问题的解释(2023-05-24)",
            "关于办理强奸、猥亵未成年人刑事案件适用法律若干问题的解释",
        ),
    ],
)
def test_normalise_law_name(raw: str, expected: str) -> None:
    assert normalise_law_name(raw) == expected


@pytest.mark.parametrize(
    "key", ["刑法 第67条 第3款", "刑法 第133条之1", "刑法 第383条 第1款 第1项", "刑法 第263条 第4项"]
)
def test_parse_article_key_round_trip(key: str) -> None:
    assert parse_article_key(key).key() == key
    assert CitedArticle.from_key(key) == parse_article_key(key)


@pytest.mark.parametrize(
    "bad", ["刑法第67条", "刑法 第67条 ", " 第3条", "刑法 第067条", "刑法 第67条 第3项 第1款", ""]
)
def test_parse_article_key_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_article_key(bad)


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(
    law=st.sampled_from(["刑法", "民法典", "刑诉法解释", "关于〈刑法〉第九十三条第二款的解释"]),
    article=st.integers(1, 1260),
    suffix=st.integers(0, 3),
    clause=st.none() | st.integers(1, 9),
    item=st.none() | st.integers(1, 12),
)
def test_key_round_trip_property(
    law: str, article: int, suffix: int, clause: int | None, item: int | None
) -> None:
    cited = CitedArticle(law, article, suffix, clause, item)
    assert parse_article_key(cited.key()) == cited


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="第一二三十百条款项之（）()、，和《》刑法中华人民共和国解释 0123456789", max_size=80))
def test_extract_never_raises(text: str) -> None:
    for cited in extract_articles(text):
        assert parse_article_key(cited.key()) == cited


def test_statute_books_are_complete() -> None:
    book = criminal_law()
    assert len(book) == 505  # SOURCE.md: 505 article headings with 之一/之二
    assert CitedArticle("刑法", 133, 1) in book
    assert CitedArticle("刑法", 67, clause=3) in book
    assert CitedArticle("刑法", 67, clause=4) not in book
    assert CitedArticle("刑法", 347, clause=2, item=5) in book
    assert CitedArticle("刑法", 453) not in book
    assert CitedArticle("民法典", 67) not in book
    assert len(civil_code()) == 1260
    assert all((n, 0) in civil_code().structure for n in range(1, 1261))


def test_lecard_criminal_articles_exist_in_the_code() -> None:
    """Every 刑法 article cited in the sample's reasoning exists in 刑法.md (its 款/项 nearly always)."""
    book = criminal_law()
    cited = [a for doc in lecard_sample() for a in extract_articles(doc.get("cpfxgc", "")) if a.law == "刑法"]
    assert len(cited) > 5 * SAMPLE_SIZE
    missing = [a.key() for a in cited if CitedArticle(a.law, a.article, a.article_suffix) not in book]
    assert missing == []
    # 款/项 must exist too, apart from judges' slips and pre-2015 numbering of 第三百五十八条
    # (measured: 6 of 1,996 here, 0.1 % over all 10,718 candidates)
    wrong_depth = [a.key() for a in cited if a not in book]
    assert len(wrong_depth) <= 0.01 * len(cited), wrong_depth


_DECISION_CITATION = re.compile(r"依照《中华人民共和国刑法》([^《。]*)")
_ARTICLE_NUMBER = re.compile(r"第([零一二三四五六七八九十百]+)条")


def test_lecard_extraction_agrees_with_a_plain_reading() -> None:
    """Every 第X条 in "依照《中华人民共和国刑法》…" up to the next law name is extracted as 刑法 X."""
    checked = agreeing = 0
    for doc in lecard_sample():
        reasoning = doc.get("cpfxgc", "")
        match = _DECISION_CITATION.search(reasoning)
        if not match:
            continue
        stated = {chinese_to_int(n) for n in _ARTICLE_NUMBER.findall(match[1])}
        extracted = {a.article for a in extract_articles(reasoning) if a.law == "刑法"}
        checked += 1
        agreeing += stated <= extracted
    # measured: 246 checked, 244 agree; the two others annotate each article in free text
    # ("第六十七条第三款如实供述犯罪，…") or mistype one ("第六十八第"), which ends the citation
    assert checked >= 240
    assert agreeing >= 0.98 * checked


def test_guiding_case_related_articles() -> None:
    """相关法条 of every 指导性案例: nearly all yield provisions; 刑法 and 民法典 ones exist."""
    section = re.compile(r"相关法条\**\s*(.*?)(?:\n\s*\**\s*基本案情|\Z)", re.S)
    sections = [
        m[1] for f in sorted(require(GUIDING).glob("*.md")) if (m := section.search(f.read_text("utf-8")))
    ]
    cited = [(text, extract_articles(text)) for text in sections]
    assert len(sections) >= 220
    assert sum(1 for _, found in cited if found) == len(sections)  # measured: all 223
    laws = {a.law for _, found in cited for a in found}
    assert {"刑法", "民法典", "合同法", "侵权责任法", "民事诉讼法", "民法通则"} <= laws
    for book in (criminal_law(), civil_code()):
        wrong = [a.key() for _, found in cited for a in found if a.law == book.law and a not in book]
        assert wrong == []
    assert sum(len(found) for _, found in cited) >= 450  # measured: 461


def test_long_text_is_fast() -> None:
    text = "。".join(doc.get("qw", "") for doc in lecard_sample())[:100_000]
    start = time.perf_counter()
    found = extract_articles(text)
    assert time.perf_counter() - start < 0.5  # measured: about 0.03 s
    assert len(found) > 20
