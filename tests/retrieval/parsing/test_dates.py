"""Date parsing and decision-date extraction on real signature blocks."""

from __future__ import annotations

import datetime as dt

import pytest

from retrieval.parsing.dates import extract_decision_date
from tests.conftest import SHARED_DATA, lecard_candidates

DATA = SHARED_DATA
GONGBAO = DATA / "spc-cases-xtjeyvc" / "doc" / "anli-gongbao"
SAMPLE_SIZE = 300


def lecard_sample() -> list[dict]:
    """The first SAMPLE_SIZE candidate judgments, in archive order (deterministic)."""
    return list(lecard_candidates(SAMPLE_SIZE))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("二〇一五年六月十日", dt.date(2015, 6, 10)),
        ("二○一五年六月十日", dt.date(2015, 6, 10)),
        ("二零一五年十二月三十一日", dt.date(2015, 12, 31)),
        ("二Ｏ一九年二月十九日", dt.date(2019, 2, 19)),
        ("二0一五年十一月二十日", dt.date(2015, 11, 20)),
        ("2015年6月10日", dt.date(2015, 6, 10)),
        ("２０１５年６月１０日", dt.date(2015, 6, 10)),
        (" 2015 年 6 月 10 号 ", dt.date(2015, 6, 10)),
    ],
)
def test_written_forms_of_a_signature_date(text: str, expected: dt.date) -> None:
    assert extract_decision_date(f"审判员 李博{text}书记员 滑明") == expected


@pytest.mark.parametrize(
    "text",
    ["2015年2月30日", "二〇一五年十三月一日", "二〇一七年二月××日", "2015-06-10", ""],
)
def test_what_is_not_a_date_is_not_a_signature_date(text: str) -> None:
    assert extract_decision_date(f"审判员 李博{text}书记员 滑明") is None


def test_signature_date_beats_body_dates() -> None:
    text = (
        "被告人项金根，2014年8月14日因本案被刑事拘留。……即自2014年8月14日起至2026年2月13日止。 "
        "审判长顾建方 人民陪审员郑岳连 人民陪审员蒋志群 二〇一五年七月八日 （代）书记员褚莉萍 "
        "附：本案适用的相关刑法条款 ……"
    )
    assert extract_decision_date(text) == dt.date(2015, 7, 8)


def test_arabic_signature_date() -> None:
    assert extract_decision_date("……本判决为终审判决。 审判员 李博 2019年4月10日 书记员 滑明") == dt.date(
        2019, 4, 10
    )


def test_unlabelled_chinese_date_at_end() -> None:
    body = "2016年2月19日，被告人李明鑫与被害人发生争执。" * 20
    assert extract_decision_date(body + " 二〇一七年五月十日") == dt.date(2017, 5, 10)
    assert extract_decision_date("二〇一七年五月十日 " + body) is None  # not where a signature sits


def test_redacted_day_and_no_date() -> None:
    assert extract_decision_date("审判长郑仕忠 审判员吴海银 二〇一七年二月××日 书记员许少佩") is None
    assert extract_decision_date("") is None
    assert extract_decision_date("审判长 二〇一五年二月三十日 书记员") is None


def test_case_report_decision() -> None:
    """公报案例 have no signature block; the report says when the court decided."""
    text = GONGBAO / "FYGB0051.md"
    if not text.exists():
        pytest.fail("公报案例 data not available (shared/ must sit beside the repository)")
    assert extract_decision_date(text.read_text(encoding="utf-8")) == dt.date(2020, 5, 28)


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (0, dt.date(2015, 7, 8)),
        (1, dt.date(2015, 5, 27)),
        (2, dt.date(2019, 4, 10)),
        (3, dt.date(2017, 5, 10)),
    ],
)
def test_real_judgments(index: int, expected: dt.date) -> None:
    assert extract_decision_date(lecard_sample()[index]["qw"]) == expected


def test_real_texts_date_found_and_plausible() -> None:
    """Measured 300/300 on the first 300 LeCaRD candidates (10,666/10,718 on all; misses are
    mostly redacted days such as 二〇一七年二月××日)."""
    docs = lecard_sample()
    dates = [extract_decision_date(d["qw"]) for d in docs]
    plausible = sum(d is not None and 1995 <= d.year <= 2025 for d in dates)
    assert plausible / len(docs) >= 0.97
