"""罪名/案由 lists and extraction, checked against LeCaRD, CAIL2018 and 指导性案例 (shared/data)."""

from __future__ import annotations

import json
import re
import time
from functools import cache
from pathlib import Path

import pytest

from retrieval.parsing.causes import extract_causes, load_charges, load_civil_causes, normalise_cause
from tests.conftest import SHARED_DATA, distinct_lecard_candidates, require

DATA = SHARED_DATA
LECARD = DATA / "lecard" / "data" / "candidates.tar.xz"
LECARD_CHARGES = DATA / "lecard" / "data" / "others" / "criminal charges.txt"
CAIL = DATA / "cail2018-sample" / "data"
GUIDING = DATA / "spc-cases-xtjeyvc" / "doc" / "anli-fa"
SAMPLE_SIZE = 2000


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in require(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def lecard_sample() -> list[dict]:
    """The first SAMPLE_SIZE distinct candidates in archive order (deterministic)."""
    return list(distinct_lecard_candidates(SAMPLE_SIZE))


@cache
def cail_test() -> list[dict]:
    return [json.loads(line) for line in _lines(CAIL / "data_test.json")]


def coverage(names: list[str]) -> tuple[float, list[str]]:
    charges = load_charges()
    missing = [name for name in names if normalise_cause(name) not in charges]
    return 1 - len(missing) / len(names), missing


def test_charge_list_shape() -> None:
    charges = load_charges()
    assert 470 <= len(charges) <= 500  # 483 after 刑法修正案（十二）
    assert all(name.endswith("罪") and " " not in name for name in charges)
    for name in (
        "盗窃罪",
        "危险驾驶罪",
        "走私、贩卖、运输、制造毒品罪",
        "妨害安全驾驶罪",
        "袭警罪",
        "高空抛物罪",
    ):
        assert name in charges


def test_charges_cover_cail_names() -> None:
    """CAIL2018 accu.txt (202 names without 罪): 198 resolve; the rest are not charge names."""
    share, missing = coverage(_lines(CAIL / "accu.txt"))
    print(f"CAIL accu.txt coverage {share:.1%}, missing: {missing}")
    assert share >= 0.98
    # a 节 title, a CAIL-only label and two fragments, none of them a 罪名
    assert set(missing) <= {"组织、强迫、引诱、容留、介绍卖淫", "制造、贩卖、传播淫秽物品", "经济犯", "走私"}


def test_charges_cover_lecard_names() -> None:
    """LeCaRD's list (469 names, 2017) resolves fully; the names the list spells differently are renamed
    charges (刑法修正案十一, 十二) and one misprint (剌探)."""
    names = _lines(LECARD_CHARGES)
    share, missing = coverage(names)
    print(f"LeCaRD coverage {share:.1%}, missing: {missing}")
    assert share >= 0.98
    assert missing == []
    renamed = [name for name in names if name not in load_charges()]
    print(f"LeCaRD names not verbatim in charges.txt: {renamed}")
    assert len(renamed) == 13


def test_civil_cause_list() -> None:
    causes = load_civil_causes()
    assert len(causes) >= 300
    assert not causes & load_charges()
    for name in (
        "民间借贷纠纷",
        "劳动争议",
        "买卖合同纠纷",
        "机动车交通事故责任纠纷",
        "离婚纠纷",
        "侵害作品信息网络传播权纠纷",
    ):
        assert name in causes


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[走私、贩卖、运输、制造]毒品", "走私、贩卖、运输、制造毒品罪"),
        ("盗窃", "盗窃罪"),
        (" 危险驾驶 ", "危险驾驶罪"),
        ("贩卖毒品罪", "走私、贩卖、运输、制造毒品罪"),
        ("非法持有枪支罪", "非法持有、私藏枪支、弹药罪"),
        ("伪造公司印章罪", "伪造公司、企业、事业单位、人民团体印章罪"),
        ("内幕交易罪", "内幕交易、泄露内幕信息罪"),
        ("非法获取公民个人信息", "侵犯公民个人信息罪"),
        ("强制[猥亵、侮辱]妇女", "强制猥亵、侮辱罪"),
        ("组织他人偷越国(边)境", "组织他人偷越国（边）境罪"),
        ("组织领导传销活动罪", "组织、领导传销活动罪"),
        ("传播淫秽物品罪", "传播淫秽物品罪"),
        ("劳动争议纠纷", "劳动争议"),
        ("居间合同纠纷", "中介合同纠纷"),
        ("民间借贷纠纷", "民间借贷纠纷"),
        ("走私", "走私"),  # not a charge: left as it is
        ("非法吸收公共存款罪", "非法吸收公众存款罪"),  # a misprint (CJRC labels five texts so)
        ("抽逃资金罪", "虚假出资、抽逃出资罪"),
        ("非法占用农地罪", "非法占用农用地罪"),
    ],
)
def test_normalise_cause(raw: str, expected: str) -> None:
    assert normalise_cause(raw) == expected


# LeCaRD pjjg (result) passages, verbatim.
RESULTS = [
    (
        " 一、被告人项金根犯滥用职权罪，判处有期徒刑一年；犯受贿罪，判处有期徒刑十一年，"
        "并处没收财产二十五万元，决定执行有期徒刑十一年六个月，并处没收财产二十五万元。",
        ["滥用职权罪", "受贿罪"],
    ),
    (
        " 一、被告人吴俊辉犯贩卖毒品罪，判处无期徒刑，剥夺政治权利终身，并处没收个人全部财产。"
        "犯非法持有枪支罪，判处有期徒刑四年。",
        ["走私、贩卖、运输、制造毒品罪", "非法持有、私藏枪支、弹药罪"],
    ),
    (
        "被告人刘某健犯非法拘禁罪，判处有期徒刑二年六个月；被告人刘某健犯故意伤害罪，判处有期徒刑一年。",
        ["非法拘禁罪", "故意伤害罪"],
    ),
    (
        " 一、被告人关天成犯虚开增值税专用发票罪，判处有期徒刑十一年，并处罚金400000元。",
        ["虚开增值税专用发票、用于骗取出口退税、抵扣税款发票罪"],
    ),
    (
        " 被告人唐帅犯抢劫罪，判处有期徒刑三年六个月，并处罚金人民币一千元；犯强制猥亵妇女罪，"
        "判处有期徒刑六个月，决定执行有期徒刑三年七个月，并处罚金人民币一千元。",
        ["抢劫罪", "强制猥亵、侮辱罪"],
    ),
    (
        "与被告人梁杰犯贩卖毒品罪、容留他人吸毒罪被本院判处的有期徒刑十五年六个月，剥夺政治权利五年",
        ["走私、贩卖、运输、制造毒品罪", "容留他人吸毒罪"],
    ),
    (
        "） 二、被告人冉某军犯掩饰、隐瞒犯罪所得罪，判处有期徒刑七个月，并处罚金人民币一万元",
        ["掩饰、隐瞒犯罪所得、犯罪所得收益罪"],
    ),
    (
        "刑事判决中第一项对汤伟犯利用影响力受贿犯罪、串通投标犯罪的判决和对汤伟行贿罪的定罪及第二项的判决",
        ["利用影响力受贿罪", "串通投标罪"],
    ),
    (" 被告单位瑞昌市新祥瑞纺织实业有限公司及被告人胡珍祥无罪。", []),
    (" 驳回上诉，维持原判。 本案二审案件受理费4162元，由上诉人深圳市基本生活用品有限公司负担。", []),
]


@pytest.mark.parametrize(("result", "expected"), RESULTS)
def test_charges_from_real_results(result: str, expected: list[str]) -> None:
    assert extract_causes(result=result) == expected


# LeCaRD ajName/writName and 指导性案例/公报案例 titles, verbatim (the last two are made up).
TITLES = [
    ("项金根犯滥用职权罪、受贿罪一案", ["滥用职权罪", "受贿罪"]),
    ("施李昌、杨保春抢劫、抢夺、盗窃一审刑事判决书", ["抢劫罪", "抢夺罪", "盗窃罪"]),
    ("吴俊辉、吴志坚走私、贩卖、运输、制造毒品一审刑事判决书", ["走私、贩卖、运输、制造毒品罪"]),
    (
        "瑞昌市新祥瑞纺织实业有限公司、胡珍祥虚开增值税专用发票、用于骗取出口退税、抵扣税款发票一案",
        ["虚开增值税专用发票、用于骗取出口退税、抵扣税款发票罪"],
    ),
    ("被告人张卫红、刘芬等涉嫌赌博犯罪一审刑事判决书", ["赌博罪"]),
    (
        "李位中非法制造、买卖爆炸物一案一审刑事判决书",
        ["非法制造、买卖、运输、邮寄、储存枪支、弹药、爆炸物罪"],
    ),
    ("刘汉民盗窃罪、抢劫罪一审刑事判决书", ["盗窃罪", "抢劫罪"]),
    ("王力军非法经营再审改判无罪案", ["非法经营罪"]),
    ("刘某桂非法采矿刑事附带民事公益诉讼案", ["非法采矿罪"]),
    ("葛长生诉洪振快名誉权、荣誉权纠纷案", ["名誉权纠纷", "荣誉权纠纷"]),
    (
        "张某龙诉北京某蝶文化传播有限公司、程某、马某侵害作品信息网络传播权纠纷案",
        ["侵害作品信息网络传播权纠纷"],
    ),
    (
        "中化国际（新加坡）有限公司诉蒂森克虏伯冶金产品有限责任公司国际货物买卖合同纠纷案",
        ["国际货物买卖合同纠纷"],
    ),
    ("宋文军诉西安市大华餐饮有限公司股东资格确认纠纷案", ["股东资格确认纠纷"]),
    ("雷某某诉宋某某离婚纠纷案", ["离婚纠纷"]),
    (
        "汤龙、刘新龙、马忠太、王洪刚诉新疆鄂尔多斯彦海房地产开发有限公司商品房买卖合同纠纷案",
        ["商品房销售合同纠纷"],
    ),
    (
        "莱州市金海种业有限公司诉张掖市富凯农业科技有限责任公司侵犯植物新品种权纠纷案",
        ["侵害植物新品种权纠纷"],
    ),
    ("韩凤彬诉内蒙古九郡药业有限责任公司等产品责任纠纷管辖权异议案", ["产品责任纠纷"]),
    ("贝汇丰诉海宁市公安局交通警察大队道路交通管理行政处罚案", ["行政处罚"]),
    ("张某与李某民间借贷纠纷一审民事判决书", ["民间借贷纠纷"]),
    ("上诉人王某与被上诉人某公司劳动争议纠纷二审民事判决书", ["劳动争议"]),
]


@pytest.mark.parametrize(("title", "expected"), TITLES)
def test_causes_from_real_titles(title: str, expected: list[str]) -> None:
    assert extract_causes(title=title) == expected


def test_result_wins_over_title() -> None:
    """LeCaRD 刘振健: prosecuted for 绑架 (title), convicted of 非法拘禁 and 故意伤害 (result)."""
    result = "被告人刘某健犯非法拘禁罪，判处有期徒刑二年六个月；被告人刘某健犯故意伤害罪，判处有期徒刑一年。"
    assert extract_causes(title="刘振健绑架罪一案", result=result) == ["非法拘禁罪", "故意伤害罪"]
    assert extract_causes(title="刘振健绑架罪一案", result="驳回上诉，维持原判。") == ["绑架罪"]


@pytest.mark.slow
def test_lecard_results_agree_with_titles() -> None:
    """Charges from the result (pjjg) against those from the case name (ajName) on 2,000 candidates.

    They differ where the court changed the prosecution's charge, where the name lists only some
    defendants' charges, and where LeCaRD pairs a result with another case's name.
    """
    docs = lecard_sample()
    known = load_charges() | load_civil_causes()
    from_result = [extract_causes(result=d.get("pjjg", "")) for d in docs]
    from_title = [extract_causes(title=d.get("ajName", "")) for d in docs]
    assert all(c in known for causes in from_result + from_title for c in causes)
    assert sum(map(bool, from_result)) >= 0.97 * len(docs)  # measured: 1,963 of 2,000
    assert sum(map(bool, from_title)) >= 0.95 * len(docs)  # measured: 1,941
    both = [(set(r), set(t)) for r, t in zip(from_result, from_title, strict=True) if r and t]
    overlap = sum(1 for r, t in both if r & t) / len(both)
    same = sum(1 for r, t in both if r == t) / len(both)
    print(f"result vs title: {len(both)} pairs, overlap {overlap:.1%}, same set {same:.1%}")
    assert overlap >= 0.92  # measured: 94.9 % (1,807 of 1,904)
    assert same >= 0.77  # measured: 79.8 %


@pytest.mark.slow  # reads real judgments from ../shared
def test_lecard_full_text_agrees_with_result() -> None:
    """Only the full text (qw) given: its decision part yields the result's charges."""
    docs = lecard_sample()[:500]
    pairs = [(extract_causes(text=d.get("qw", "")), extract_causes(result=d.get("pjjg", ""))) for d in docs]
    pairs = [(q, r) for q, r in pairs if r]
    same = sum(1 for q, r in pairs if set(q) == set(r)) / len(pairs)
    print(f"full text vs result: {len(pairs)} documents, same set {same:.1%}")
    assert same >= 0.95  # measured: 97.2 % (98.1 % over all 2,000)


def test_cail_labels_resolve() -> None:
    """All but 3 CAIL label spellings (43 of 1,463 label uses) name a charge in force."""
    labels = [label for row in cail_test() for label in row["meta"]["accusation"]]
    share, missing = coverage(labels)
    print(f"CAIL test labels: {share:.1%} resolve; unresolved: {sorted(set(missing))}")
    assert share >= 0.96  # measured: 97.1 %
    assert set(missing) <= {"[制造、贩卖、传播]淫秽物品", "[组织、强迫、引诱、容留、介绍]卖淫", "走私"}


def test_cail_facts_agree_with_labels() -> None:
    """CAIL facts mask the charge (××罪) but some name it ("以伪造公司印章罪追究"); where one is found,
    it agrees with meta.accusation about three times in four. Facts of 窝藏/包庇 and similar cases
    name the principal's crime, hence the disagreements."""
    found = agree = 0
    for row in cail_test():
        causes = extract_causes(text=row["fact"])
        if causes:
            found += 1
            agree += bool(set(causes) & {normalise_cause(a) for a in row["meta"]["accusation"]})
    print(f"CAIL facts: {found} with a charge, {agree / found:.1%} agree")
    assert found >= 300  # measured: 328 of 1,397
    assert agree >= 0.70 * found  # measured: 74.7 % (245)


def test_guiding_case_civil_titles() -> None:
    """指导性案例 whose name ends in 纠纷案: nearly all yield a 案由 from the list."""
    heading = re.compile(r"#+\s*指导(?:性)?案例\s*\d+\s*号[：:](.*)")
    titles = []
    for path in sorted(require(GUIDING).glob("*.md")):
        match = heading.match(path.read_text(encoding="utf-8").splitlines()[0].strip())
        if match and match[1].strip().endswith("纠纷案"):
            titles.append(match[1].strip())
    civil = load_civil_causes()
    hits = sum(1 for title in titles if any(c in civil for c in extract_causes(title=title)))
    print(f"guiding civil titles: {hits} of {len(titles)}")
    assert len(titles) >= 75
    assert hits >= 0.88 * len(titles)  # measured: 73 of 79


def test_extraction_is_fast() -> None:
    docs = lecard_sample()
    start = time.perf_counter()
    for d in docs:
        extract_causes(title=d.get("ajName", ""), result=d.get("pjjg", ""), text=d.get("qw", ""))
    assert time.perf_counter() - start < 3  # measured: about 0.3 s for 2,000
