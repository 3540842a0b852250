"""Court names: level, province and the deciding court in real LeCaRD headers."""

from __future__ import annotations

import json
import tarfile

import pytest

from retrieval.document import CourtLevel
from retrieval.parsing.case_number import find_case_numbers
from retrieval.parsing.courts import PROVINCES, find_court_name, parse_court
from tests.conftest import LECARD_ARCHIVE

CANDIDATES = LECARD_ARCHIVE
SUBSET = 1000

S, H, M, B = CourtLevel.SUPREME, CourtLevel.HIGH, CourtLevel.INTERMEDIATE, CourtLevel.BASIC


def test_provinces_table() -> None:
    assert len(PROVINCES) == 32  # 31 provincial units + 新疆生产建设兵团
    for attr in ("name", "short", "abbr", "court_code"):
        values = [getattr(p, attr) for p in PROVINCES]
        assert len(set(values)) == len(values), attr
    by_name = {p.name: p for p in PROVINCES}
    assert (by_name["浙江省"].short, by_name["浙江省"].abbr) == ("浙江", "浙")
    assert (by_name["北京市"].abbr, by_name["北京市"].court_code) == ("京", "京")
    nmg = by_name["内蒙古自治区"]
    assert (nmg.short, nmg.abbr, nmg.court_code) == ("内蒙古", "蒙", "内")
    assert by_name["广西壮族自治区"].abbr == "桂"
    assert by_name["新疆生产建设兵团"].court_code == "兵"


@pytest.mark.parametrize(
    ("name", "level", "province"),
    [
        ("最高人民法院", S, None),
        ("中华人民共和国最高人民法院", S, None),
        ("最高人民法院第一巡回法庭", S, None),
        ("四川省高级人民法院", H, "四川省"),
        ("广西壮族自治区高级人民法院", H, "广西壮族自治区"),
        ("新疆维吾尔自治区高级人民法院生产建设兵团分院", H, "新疆生产建设兵团"),
        ("北京市第二中级人民法院", M, "北京市"),
        ("广西壮族自治区玉林市中级人民法院", M, "广西壮族自治区"),
        ("内蒙古自治区呼和浩特市中级人民法院", M, "内蒙古自治区"),
        ("呼和浩特市中级人民法院", M, "内蒙古自治区"),
        ("延边朝鲜族自治州中级人民法院", M, "吉林省"),
        ("海南藏族自治州中级人民法院", M, "青海省"),
        ("新疆生产建设兵团第八师中级人民法院", M, "新疆生产建设兵团"),
        ("广州铁路运输中级法院", M, "广东省"),
        ("北京知识产权法院", M, "北京市"),
        ("广州海事法院", M, "广东省"),
        ("上海金融法院", M, "上海市"),
        ("浙江省桐乡市人民法院", B, "浙江省"),
        ("安徽省合肥市包河区人民法院", B, "安徽省"),
        ("苏州市吴江区人民法院", B, "江苏省"),
        ("苏州工业园区人民法院", B, "江苏省"),
        ("长春市朝阳区人民法院", B, "吉林省"),
        ("呼和浩特市托克托县人民法院", B, "内蒙古自治区"),
        ("广东省东莞市第三人民法院", B, "广东省"),
        ("吉林省敦化林区基层法院", B, "吉林省"),
        ("徐州铁路运输法院", B, "江苏省"),
        ("杭州互联网法院", B, "浙江省"),
        ("达拉特旗人民法院", B, None),  # a county-level unit without its city: unknown, not guessed
        ("朝阳区人民法院", B, None),  # not 辽宁省朝阳市
        ("中山区人民法院", B, None),  # 大连市中山区, not 广东省中山市
        ("中山市第一人民法院", B, "广东省"),
        ("某某县人民法院某某人民法庭", B, None),
        ("中国人民解放军某某军事法院", None, None),
    ],
)
def test_parse_court(name: str, level: CourtLevel | None, province: str | None) -> None:
    court = parse_court(name)
    assert (court.level, court.province) == (level, province)


def test_parse_court_normalises_whitespace() -> None:
    court = parse_court(" 浙江省 桐乡市\u3000人民法院\n")
    assert court.name == "浙江省桐乡市人民法院"
    assert parse_court("中华人民共和国 最高人民法院").name == "最高人民法院"


def test_parse_court_rejects_empty_name() -> None:
    with pytest.raises(ValueError):
        parse_court("  ")


@pytest.mark.parametrize(
    ("header", "court"),
    [  # openings of real LeCaRD full texts
        (
            "浙江省桐乡市人民法院 刑事判决书 （2015）嘉桐刑初字第328号 公诉机关桐乡市人民检察院。",
            "浙江省桐乡市人民法院",
        ),
        (
            "袁成杨、孙承成强奸罪二审刑事判决书 湖北省孝感市中级人民法院 刑事判决书 （2017）鄂09刑终40号",
            "湖北省孝感市中级人民法院",
        ),
        (
            "{C} 广东省深圳市龙岗区人民法院 刑事判决书 （2017）粤0307刑初3116号 被告人刘某佳",
            "广东省深圳市龙岗区人民法院",
        ),
        (
            "中华人民共和国 云南省临沧市中级人民法院 刑事判决书 （2018）云09刑初384号",
            "云南省临沧市中级人民法院",
        ),
        ("睐安徽省宿松县人民法院 刑事判决书 （2016）皖0826刑初325号", "安徽省宿松县人民法院"),
        (
            "甘肃省华亭县人民法院 王喜龙等5人盗窃案一审刑事判决书 （2014）华刑初字第91号",
            "甘肃省华亭县人民法院",
        ),
        (
            "广州铁路运输中级法院 刑事判决书 （2016）粤71刑终15号 抗诉机关怀化铁路运输检察院。",
            "广州铁路运输中级法院",
        ),
        (
            "项金根受贿一审刑事判决书浙江省桐乡市人民法院刑事判决书（2015）嘉桐刑初字第328号",
            "浙江省桐乡市人民法院",
        ),
        ("最高人民法院第一巡回法庭 民事判决书 （2019）最高法民终1号", "最高人民法院第一巡回法庭"),
    ],
)
def test_find_court_name(header: str, court: str) -> None:
    assert find_court_name(header) == court


def test_find_court_name_without_header() -> None:
    text = "公诉机关指控：2011年10月11日，被告人谎称自己是南宁市公安局衡阳派出所巡防员，因拒不履行法院判决"
    assert find_court_name(text) is None
    assert find_court_name("") is None


@pytest.fixture(scope="module")
def judgments() -> list[str]:
    if not CANDIDATES.exists():
        pytest.fail(f"LeCaRD candidates not available at {CANDIDATES}")
    out: list[str] = []
    with tarfile.open(CANDIDATES, "r:xz") as archive:
        for member in archive:
            if not member.isfile():
                continue
            handle = archive.extractfile(member)
            assert handle is not None
            out.append(json.load(handle)["qw"])
            if len(out) == SUBSET:
                break
    return out


@pytest.mark.slow  # reads real judgments from ../shared
def test_courts_in_lecard_headers(judgments: list[str]) -> None:
    """Every header names a court with a level; its province agrees with the post-2016 案号's."""
    levels: set[CourtLevel] = set()
    unknown_province = agreeing = 0
    for text in judgments:
        name = find_court_name(text)
        assert name is not None, text[:80]
        court = parse_court(name)
        assert court.level is not None, name
        levels.add(court.level)
        if court.province is None:
            unknown_province += 1
            continue
        numbers = find_case_numbers(text[:300])
        if numbers and numbers[0].case_number.province is not None:
            assert numbers[0].case_number.province == court.province, (name, numbers[0].case_number.raw)
            agreeing += 1
    assert levels == {S, H, M, B}  # the subset holds one SPC judgment (2016 最高法刑核)
    assert unknown_province <= len(judgments) // 50  # 9 of 1000: county-level courts printed alone
    assert agreeing > 600
