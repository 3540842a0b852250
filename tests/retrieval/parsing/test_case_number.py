"""案号 parsing against real LeCaRD judgments plus hand-checked numbers copied from them."""

from __future__ import annotations

import json
import re
import tarfile
import time

import pytest

from retrieval.document import CaseCategory
from retrieval.parsing.case_number import (
    TYPE_CODES,
    CaseNumber,
    find_case_numbers,
    parse_case_number,
    province_from_court_code,
)
from tests.conftest import LECARD_ARCHIVE

CANDIDATES = LECARD_ARCHIVE
SUBSET = 1000  # the archive's first members: enough for every common type code, read in well under a second

# The 案号 printed right after the document type in the header, found independently of the parser under test.
HEADER_NUMBER = re.compile(
    r"(?:判决书|裁定书|判决|裁定)\s*([（(〔\[【﹝［]\s*[0-9０-９]{4}\s*[）)〕\]】﹞］][^\s，。；：]{1,24}?号"
    r"(?:之[一二三四五六七八九十]+)?)"
)


@pytest.fixture(scope="module")
def judgments() -> list[tuple[str, str]]:
    """(member name, full text ``qw``) of the first ``SUBSET`` LeCaRD candidates, in archive order."""
    if not CANDIDATES.exists():
        pytest.fail(f"LeCaRD candidates not available at {CANDIDATES}")
    out: list[tuple[str, str]] = []
    with tarfile.open(CANDIDATES, "r:xz") as archive:
        for member in archive:
            if not member.isfile():
                continue
            handle = archive.extractfile(member)
            assert handle is not None
            out.append((member.name, json.load(handle)["qw"]))
            if len(out) == SUBSET:
                break
    return out


def _assert_valid(number: CaseNumber, min_year: int) -> None:
    assert min_year <= number.year <= 2025, number.raw
    assert number.type_code in TYPE_CODES, number.raw
    assert isinstance(number.category, CaseCategory)
    assert number.stage
    again = parse_case_number(number.canonical())
    assert again == number and again.canonical() == number.canonical()
    assert hash(again) == hash(number)


@pytest.mark.slow  # reads real judgments from ../shared
def test_every_header_case_number_parses(judgments: list[tuple[str, str]]) -> None:
    distinct: set[CaseNumber] = set()
    for name, text in judgments:
        header = HEADER_NUMBER.search(text[:300])
        if header is None:
            continue
        number = parse_case_number(header.group(1))
        _assert_valid(number, min_year=1990)
        assert number.raw == header.group(1), name
        first = find_case_numbers(text)[0]
        assert first.case_number == number and text[first.start : first.end] == number.raw, name
        distinct.add(number)
    assert len(distinct) >= 900  # 976 distinct header numbers in the first 1000 candidates


def test_every_found_case_number_is_valid(judgments: list[tuple[str, str]]) -> None:
    types: set[str] = set()
    count = 0
    for _, text in judgments:
        for match in find_case_numbers(text):
            number = match.case_number
            assert text[match.start : match.end] == number.raw
            assert parse_case_number(number.raw) == number
            _assert_valid(number, min_year=1980)  # cited records go back to （1986）刑字第3号
            types.add(number.type_code)
            count += 1
    assert count > 1500
    met = {"刑初", "刑终", "刑再", "刑再初", "刑再终", "刑监", "刑申", "刑抗", "刑抗再", "刑提", "刑重",
           "刑重初", "刑速初", "刑他", "刑执", "刑复", "刑核", "刑辖", "刑", "民初", "民终", "民再", "民监",
           "商初", "行初", "执", "执民", "执恢", "执异", "委赔"}  # fmt: skip
    assert met <= types, met - types


# (raw as printed in LeCaRD, year, court_code, type_code, sequence, division, sub_sequence, category, stage)
REAL_NUMBERS = [
    ("（2015）嘉桐刑初字第328号", 2015, "嘉桐", "刑初", 328, None, None, "刑事", "一审"),
    ("（2015）包刑初字第00096号", 2015, "包", "刑初", 96, None, None, "刑事", "一审"),
    ("（2017）冀0281刑初229号", 2017, "冀0281", "刑初", 229, None, None, "刑事", "一审"),
    ("（2018）冀02刑终845号", 2018, "冀02", "刑终", 845, None, None, "刑事", "二审"),
    ("（2014）浙刑二他字第28号", 2014, "浙", "刑他", 28, "二", None, "刑事", "其他"),
    ("（2016）桂09刑初52号之一", 2016, "桂09", "刑初", 52, None, 1, "刑事", "一审"),
    ("（2011）衡中法刑一初字第58-1号", 2011, "衡中法", "刑初", 58, "一", 1, "刑事", "一审"),
    ("（2015）潭中民三终字第396号", 2015, "潭中", "民终", 396, "三", None, "民事", "二审"),
    ("（2018）吉刑申197号", 2018, "吉", "刑申", 197, None, None, "刑事", "再审审查"),
    ("（2018）吉刑再14号", 2018, "吉", "刑再", 14, None, None, "刑事", "再审"),
    ("（2013）皖刑监字第00036号", 2013, "皖", "刑监", 36, None, None, "刑事", "再审审查"),
    ("（2014）皖刑再终字第00005号", 2014, "皖", "刑再终", 5, None, None, "刑事", "再审"),
    ("（2016）最高法刑核38116820号", 2016, "最高法", "刑核", 38116820, None, None, "刑事", "复核"),
    ("（2016）最高法刑辖16号", 2016, "最高法", "刑辖", 16, None, None, "刑事", "管辖"),
    ("（2016）鲁1603刑更1号", 2016, "鲁1603", "刑更", 1, None, None, "刑事", "减刑假释"),
    ("（2013）德中刑执字第180号", 2013, "德中", "刑执", 180, None, None, "刑事", "减刑假释"),
    ("（2016）川0792民初1516号", 2016, "川0792", "民初", 1516, None, None, "民事", "一审"),
    ("（2016）内民申1557号", 2016, "内", "民申", 1557, None, None, "民事", "再审审查"),
    ("（2017）藏2523民督2号", 2017, "藏2523", "民督", 2, None, None, "民事", "特别程序"),
    ("（2016）川行终487号", 2016, "川", "行终", 487, None, None, "行政", "二审"),
    ("（2018）鄂1023行审17号", 2018, "鄂1023", "行审", 17, None, None, "行政", "其他"),
    ("（2016）湘1002执992号", 2016, "湘1002", "执", 992, None, None, "执行", "执行"),
    ("（2018）苏1003执恢195号", 2018, "苏1003", "执恢", 195, None, None, "执行", "执行"),
    ("（2011）杭上执异字第1号", 2011, "杭上", "执异", 1, None, None, "执行", "执行异议"),
    ("［2014］湛中法执复字第31号", 2014, "湛中法", "执复", 31, None, None, "执行", "执行复议"),
    ("（2016）鄂01执监14号", 2016, "鄂01", "执监", 14, None, None, "执行", "执行监督"),
    ("（2014）郴中法委赔字第7号", 2014, "郴中法", "委赔", 7, None, None, "国家赔偿", "国家赔偿"),
    ("（2016）粤0904财保8-1号", 2016, "粤0904", "财保", 8, None, 1, "其他", "保全"),
    ("（2017）鄂2823司惩88号", 2017, "鄂2823", "司惩", 88, None, None, "其他", "司法制裁"),
    ("（2013）乳商破字第3-3号", 2013, "乳商", "破", 3, None, 3, "其他", "破产清算"),
    ("（2013）杨刑（知）初字第120号", 2013, "杨", "刑知初", 120, None, None, "刑事", "一审"),
    ("（2016）粤71刑终15号", 2016, "粤71", "刑终", 15, None, None, "刑事", "二审"),
]


@pytest.mark.parametrize(
    ("raw", "year", "court", "type_code", "seq", "division", "sub", "category", "stage"), REAL_NUMBERS
)
def test_real_case_numbers(
    raw: str,
    year: int,
    court: str,
    type_code: str,
    seq: int,
    division: str | None,
    sub: int | None,
    category: str,
    stage: str,
) -> None:
    number = parse_case_number(raw)
    assert (number.raw, number.year, number.court_code, number.type_code, number.sequence) == (
        raw,
        year,
        court,
        type_code,
        seq,
    )
    assert (number.division, number.sub_sequence, number.category, number.stage) == (
        division,
        sub,
        category,
        stage,
    )
    assert parse_case_number(number.canonical()) == number


def test_canonical_form() -> None:
    assert parse_case_number("（2015）嘉桐刑初字第328号").canonical() == "(2015)嘉桐刑初328号"
    assert parse_case_number("（2014）浙刑二他字第28号").canonical() == "(2014)浙刑二他28号"
    assert parse_case_number("（2011）衡中法刑一初字第58-1号").canonical() == "(2011)衡中法刑一初58号之一"
    assert str(parse_case_number("（2015）包刑初字第00096号")) == "(2015)包刑初96号"


@pytest.mark.parametrize(
    "variant",
    [
        "(2015)嘉桐刑初328号",
        "（2015）嘉桐刑初第328号",
        "〔2015〕嘉桐刑初字第328号",
        "[2015]嘉桐刑初字第0328号",
        "【２０１５】嘉桐刑初字第３２８号",
        "  （2015） 嘉桐刑初字 第 328 号 ",
    ],
)
def test_print_variants_are_equal(variant: str) -> None:
    reference = parse_case_number("（2015）嘉桐刑初字第328号")
    number = parse_case_number(variant)
    assert number == reference
    assert len({number, reference}) == 1


def test_distinct_numbers_differ() -> None:
    base = parse_case_number("（2014）浙刑二他字第28号")
    assert base != parse_case_number("（2014）浙刑他字第28号")  # another division numbers separately
    assert parse_case_number("（2016）桂09刑初52号") != parse_case_number("（2016）桂09刑初52号之一")
    assert parse_case_number("（2016）桂09刑初52号之一") == parse_case_number("（2016）桂09刑初52-1号")
    assert base != "(2014)浙刑二他28号"  # a CaseNumber never equals a plain string


def test_spc_and_new_style() -> None:
    final = parse_case_number("（2019）最高法刑终12号")
    assert (final.court_code, final.type_code, final.stage) == ("最高法", "刑终", "二审")
    assert final.province is None
    review = parse_case_number("（2019）最高法民申1234号")
    assert (review.category, review.stage, review.sequence) == (CaseCategory.CIVIL, "再审审查", 1234)
    basic = parse_case_number("（2016）浙0483刑初123号")
    assert (basic.court_code, basic.province) == ("浙0483", "浙江省")
    assert parse_case_number("（２０１６）浙０４８３刑初１２３号") == basic
    old_spc = parse_case_number("（2013）民二终字第1号")  # the SPC's own pre-2016 numbers have no 法院代字
    assert (old_spc.court_code, old_spc.division, old_spc.type_code) == ("", "二", "民终")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "嘉桐刑初字第328号",
        "2015嘉桐刑初328号",
        "（15）嘉桐刑初字第328号",
        "（2015）嘉桐刑初字第328",
        "（2015）嘉桐刑初字第号",
        "（2015）嘉桐鉴字第3号",
        "（2015）170号",
        "（2014）丽检刑抗1号",
        "（2015）嘉桐刑初字第328号 （2015）嘉桐刑初字第329号",
        "刑初",
    ],
)
def test_bad_input_raises(bad: str) -> None:
    with pytest.raises(ValueError, match="not a 案号"):
        parse_case_number(bad)


def test_unknown_type_code_rejected_on_construction() -> None:
    with pytest.raises(ValueError, match="类型代字"):
        CaseNumber(raw="x", year=2015, court_code="嘉桐", type_code="鉴", sequence=1)


def test_chain_reference() -> None:
    text = (
        "浙江省嘉兴市中级人民法院 刑事裁定书 （2016）浙04刑终12号 上诉人项金根不服浙江省桐乡市人民法院"
        "（2015）嘉桐刑初字第328号刑事判决，提出上诉。浙江省高级人民法院以（2014）浙刑二他字第28号指定管辖决定书"
    )
    matches = find_case_numbers(text)
    assert [m.case_number.canonical() for m in matches] == [
        "(2016)浙04刑终12号",
        "(2015)嘉桐刑初328号",
        "(2014)浙刑二他28号",
    ]
    cited = matches[1]
    assert text[cited.start : cited.end] == "（2015）嘉桐刑初字第328号"
    assert [m.case_number.stage for m in matches] == ["二审", "一审", "其他"]


def test_find_skips_numbers_that_are_not_court_case_numbers() -> None:
    text = (
        "广东精卫法医精神病司法鉴定所粤精卫（2015）精鉴刑字第045号司法鉴定意见书；"
        "浙江省丽水市人民检察院提出（2014）丽检刑抗1号抗诉书；宜兴市人民检察院以宜检诉刑诉（2019）53号起诉书"
    )
    assert find_case_numbers(text) == []


def test_find_is_fast_on_long_text() -> None:
    chunk = "被告人不服浙江省桐乡市人民法院（2015）嘉桐刑初字第328号刑事判决，（2015）第170号鉴定意见。" * 40
    text = (chunk + "事实" * 2000) * 20  # ~100k characters
    started = time.perf_counter()
    matches = find_case_numbers(text)
    assert len(matches) == 800
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("code", "province"),
    [
        ("浙0483", "浙江省"),
        ("浙04", "浙江省"),
        ("浙", "浙江省"),
        ("京0105", "北京市"),
        ("内01", "内蒙古自治区"),
        ("桂09", "广西壮族自治区"),
        ("兵08", "新疆生产建设兵团"),
        ("粤71", "广东省"),
        ("吉7504", "吉林省"),
        ("苏０５０９", "江苏省"),
        ("最高法", None),
        ("军", None),
        ("嘉桐", None),
        ("浙杭", None),
        ("浙048", None),
        ("", None),
    ],
)
def test_province_from_court_code(code: str, province: str | None) -> None:
    assert province_from_court_code(code) == province


def test_case_number_province_only_for_new_style() -> None:
    assert parse_case_number("（2015）湘刑初字第357号").province is None  # 湖南省湘阴县人民法院, not 湘 高院
    assert parse_case_number("（2016）湘1002执992号").province == "湖南省"
