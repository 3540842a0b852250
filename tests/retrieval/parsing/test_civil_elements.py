"""案件要素 of civil causes: the rules resource, extraction (present and absent), bands, comparison."""

from __future__ import annotations

import datetime as dt

import pytest

from retrieval.parsing.circumstances import (
    amount_band,
    case_amount_band,
    civil_amount_band,
    claimed_amounts,
    involved_amounts,
)
from retrieval.parsing.civil_elements import (
    ABSENT,
    CaseElements,
    annual_rates,
    aspect_names,
    compare_elements,
    disability_grade,
    extract_elements,
    load_element_rules,
    rate_ceiling,
)

LOAN = "民间借贷纠纷"
TRAFFIC = "机动车交通事故责任纠纷"
LABOUR = "劳动争议"
DIVORCE = "离婚纠纷"
SALE = "买卖合同纠纷"


# -- the rules and the 案由 tree ------------------------------------------------------------------


def test_a_child_cause_inherits_its_ancestors_aspects() -> None:
    loan = aspect_names([LOAN])
    assert {"借款本金", "约定利率", "预扣利息", "担保方式"} <= set(loan)  # from 借款合同纠纷
    assert "违约金" in loan  # from 合同纠纷, two levels up
    assert aspect_names(["金融借款合同纠纷"]) == loan  # a sibling under the same parent
    assert "违约金" in aspect_names([SALE]) and "质量异议" in aspect_names([SALE])
    assert "加班费" in aspect_names(["追索劳动报酬纠纷"])  # 第四级 under 劳动合同纠纷 under 劳动争议
    assert "共同财产" in aspect_names([DIVORCE])
    assert "事故责任" in aspect_names(["道路交通事故人身损害赔偿纠纷"])  # a 2008 name, mapped


def test_causes_without_aspects_have_none() -> None:
    assert aspect_names(["盗窃罪"]) == ()
    assert aspect_names(["名誉权纠纷"]) == ()
    assert aspect_names([]) == ()
    assert extract_elements("被告人入户盗窃，价值3万元。", ["盗窃罪"]) == CaseElements((), {}, {})


def test_every_aspect_names_causes_of_the_tree_and_a_known_kind() -> None:
    rules = load_element_rules()
    assert len({a.name for a in rules.aspects}) == len(rules.aspects)
    assert rules.lpr[0] == (dt.date(2019, 8, 20), 4.25)
    assert [d for d, _ in rules.lpr] == sorted(d for d, _ in rules.lpr)


# -- 民间借贷 ------------------------------------------------------------------------------------

LOAN_FACTS = (
    "2021年3月5日，被告张某向原告李某借款人民币100000元，约定月息2分，借款期限一年，被告出具借条一份。"
    "原告在出借时预先扣除了利息6000元，实际支付94000元。被告王某作为保证人承担连带保证责任。"
    "借款到期后，经原告多次催要，被告未偿还。"
)


def test_loan_elements_present() -> None:
    found = extract_elements(LOAN_FACTS, [LOAN])
    assert found.values == {
        "借款本金": "10万至50万元",
        "约定利率": "超过保护上限",
        "借贷凭证": "借条",
        "预扣利息": "有",
        "担保方式": "连带责任保证",
        "逾期还款": "有",
        "催告还款": "有",
    }
    assert found.details["约定利率"] == "年利率24%，保护上限15.4%，一年期LPR 3.85%的四倍"


def test_loan_elements_absent_or_negated() -> None:
    facts = "2019年5月1日，被告向原告借款5万元，约定年利率18%，并出具欠条。原告并未预先扣除利息。"
    found = extract_elements(facts, [LOAN])
    assert found.values == {"借款本金": "1万至10万元", "约定利率": "未超过保护上限", "借贷凭证": "欠条"}
    assert "预扣利息" not in found.values  # 并未预先扣除: negated
    assert "担保方式" not in found.values and "逾期还款" not in found.values
    assert extract_elements("原告与被告系朋友关系。", [LOAN]).values == {}


def test_a_rejected_argument_of_advance_interest_does_not_count() -> None:
    facts = "被告辩称原告预扣利息5000元，因无证据证明，本院不予采信。"
    assert "预扣利息" not in extract_elements(facts, [LOAN]).values


def test_guarantee_types_and_mortgage() -> None:
    facts = "丙公司以其房产提供抵押担保，丁某提供一般保证，戊某以股权出质。"
    assert extract_elements(facts, [LOAN]).values["担保方式"] == "一般保证、抵押、质押"


@pytest.mark.parametrize(
    ("text", "rates"),
    [
        ("约定月息2分", [24.0]),
        ("月利率1.5%", [18.0]),
        ("年利率百分之二十四", [24.0]),
        ("年息1分", [10.0]),
        ("日利率0.1%", [36.5]),
        ("按日万分之五计算", [18.25]),
        ("月息二分", [24.0]),
        ("利随本清", []),
    ],
)
def test_annual_rates(text: str, rates: list[float]) -> None:
    assert annual_rates(text) == rates


@pytest.mark.parametrize(
    ("made", "ceiling"),
    [
        (dt.date(2020, 8, 19), 24.0),  # 2015 规定
        (dt.date(2020, 8, 20), 15.4),  # 2020 规定: 4 × 3.85
        (dt.date(2022, 3, 1), 14.8),  # 4 × 3.70
        (dt.date(2024, 11, 1), 12.4),  # 4 × 3.10
        (dt.date(2026, 1, 1), 12.0),  # past the table: its last figure
    ],
)
def test_rate_ceiling_by_the_contract_date(made: dt.date, ceiling: float) -> None:
    found = rate_ceiling(made, load_element_rules().lpr)
    assert found is not None and found[0] == ceiling


def test_rate_without_a_date() -> None:
    assert extract_elements("约定月息4分。", [LOAN]).values["约定利率"] == "超过保护上限"  # 48 % > 36 %
    assert extract_elements("约定年利率10%。", [LOAN]).values["约定利率"] == "未超过保护上限"
    assert extract_elements("约定年利率20%。", [LOAN]).values["约定利率"] == "上限视借款时间而定"


def test_rate_between_24_and_36_before_2020_is_above_the_protected_ceiling() -> None:
    facts = "2018年6月1日，被告向原告借款20万元，约定月息2.5分。"
    assert extract_elements(facts, [LOAN]).values["约定利率"] == "超过保护上限"


# -- 交通事故 ------------------------------------------------------------------------------------


def test_traffic_elements_present() -> None:
    facts = (
        "2022年5月1日，被告驾驶小型轿车与原告发生碰撞，交警认定被告负事故主要责任，原告负次要责任。"
        "原告经鉴定构成十级伤残。被告车辆在保险公司投保了交强险和商业三者险。原告主张误工费、护理费。"
    )
    assert extract_elements(facts, [TRAFFIC]).values == {
        "事故责任": "主要责任、次要责任",
        "伤残等级": "十级",
        "保险": "交强险、商业三者险",
        "误工护理": "误工费、护理费",
    }


def test_no_liability_is_about_the_accident_not_the_insurer() -> None:
    assert extract_elements("交警认定原告无责任。", [TRAFFIC]).values == {"事故责任": "无责任"}
    insurer = "保险公司辩称，肇事司机无证驾驶，其在商业三者险范围内不承担责任。"
    assert "事故责任" not in extract_elements(insurer, [TRAFFIC]).values
    policy = "保险人在无责任医疗费用赔偿限额内垫付。"
    assert "事故责任" not in extract_elements(policy, [TRAFFIC]).values


def test_traffic_elements_absent() -> None:
    facts = "2022年5月1日，被告驾驶电动车与原告相撞，原告受伤住院治疗。"
    assert extract_elements(facts, [TRAFFIC]).values == {}


@pytest.mark.parametrize(
    ("text", "grade"),
    [
        ("构成十级伤残", "十级"),
        ("伤残等级为九级", "九级"),
        ("一处八级伤残、一处10级伤残", "八级"),
        ("未构成伤残", None),
    ],
)
def test_disability_grade_is_the_most_severe(text: str, grade: str | None) -> None:
    assert disability_grade(text) == grade


# -- 劳动争议 ------------------------------------------------------------------------------------


def test_labour_elements_present() -> None:
    facts = (
        "原告于2020年3月入职被告公司，被告未与原告签订书面劳动合同，原告每周六加班，被告未支付加班费。"
        "2023年被告违法解除劳动合同。原告请求确认双方存在劳动关系。"
    )
    assert extract_elements(facts, [LABOUR]).values == {
        "确认劳动关系": "有",
        "加班费": "有",
        "未签书面劳动合同二倍工资": "有",
        "解除补偿": "违法解除赔偿金",
    }


def test_labour_elements_absent_or_negated() -> None:
    facts = (
        "原告于2020年入职被告公司，双方签订了书面劳动合同。原告提出辞职，公司依法支付经济补偿。原告并未加班。"
    )
    values = extract_elements(facts, [LABOUR]).values
    assert "未签书面劳动合同二倍工资" not in values  # signed
    assert "加班费" not in values  # 并未加班
    assert values["解除补偿"] == "经济补偿"
    assert "工伤" not in values


def test_labour_look_alikes_do_not_count() -> None:
    facts = "公司为原告缴纳了工伤、医疗等社会保险。公司要求原告支付违反竞业限制义务赔偿金。"
    values = extract_elements(facts, ["竞业限制纠纷"]).values
    assert "工伤" not in values and "解除补偿" not in values


def test_work_injury_with_its_grade() -> None:
    facts = "原告在工作中受伤，经认定为工伤，劳动能力鉴定为九级伤残。"
    assert extract_elements(facts, ["工伤保险待遇纠纷"]).values == {"伤残等级": "九级", "工伤": "有"}


# -- 婚姻家庭 ------------------------------------------------------------------------------------


def test_divorce_elements_present() -> None:
    facts = (
        "原告与被告于2010年登记结婚，婚后育有一子。被告有家庭暴力行为，双方自2021年起分居。"
        "婚后购买的房屋系夫妻共同财产，双方另有共同债务20万元。原告请求被告支付抚养费。"
    )
    assert extract_elements(facts, [DIVORCE]).values == {
        "共同财产": "共同财产",
        "共同债务": "有",
        "子女抚养": "有子女、抚养费",
        "过错": "家庭暴力",
        "分居": "有",
    }


def test_fault_is_a_third_person_not_the_spouses_living_together() -> None:
    assert extract_elements("被告婚后与他人同居，原告要求离婚。", [DIVORCE]).values["过错"] == "婚外情"
    for innocent in ("婚后双方同居生活至2015年。", "被告与其母亲共同居住生活。", "车辆投保了第三者责任险。"):
        assert "过错" not in extract_elements(innocent, [DIVORCE]).values, innocent


def test_divorce_elements_absent() -> None:
    facts = "原告与被告于2018年登记结婚，婚后感情不和。被告不存在家庭暴力。"
    assert extract_elements(facts, [DIVORCE]).values == {}


# -- 买卖合同 ------------------------------------------------------------------------------------


def test_sale_elements_present_and_absent() -> None:
    present = "被告尚欠货款30万元，被告称货物存在质量问题，合同约定违约金为每日千分之一。"
    assert extract_elements(present, [SALE]).values == {"违约金": "有", "货款": "有", "质量异议": "有"}
    assert extract_elements("双方签订买卖合同，原告交付了设备。", [SALE]).values == {}


# -- amount bands --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "band"),
    [
        (9_999, "1万元以下"),
        (10_000, "1万至10万元"),
        (100_000, "10万至50万元"),
        (500_000, "50万至100万元"),
        (1_000_000, "100万至1000万元"),
        (12_000_000, "1000万元以上"),
    ],
)
def test_civil_amount_bands(amount: float, band: str) -> None:
    assert civil_amount_band([amount]) == band


def test_civil_band_counts_compensation_criminal_band_does_not() -> None:
    facts = "原告请求被告赔偿医疗费、误工费等共计86000元，并承担诉讼费1500元。"
    assert claimed_amounts(facts) == [86000.0]  # the 诉讼费 is a cost, not the claim
    assert involved_amounts(facts) == []  # the criminal reading drops 赔偿 amounts
    assert case_amount_band(facts, civil=True) == "1万至10万元"
    assert case_amount_band("盗窃现金35000元。", civil=False) == amount_band([35000.0]) == "3万至30万元"
    assert civil_amount_band([]) is None


# -- comparison ----------------------------------------------------------------------------------


def test_compare_same_different_and_absent() -> None:
    pending = extract_elements(LOAN_FACTS, [LOAN])
    case = extract_elements(
        "2019年3月5日，被告向原告借款50万元，约定年利率18%，出具借条，由丙公司承担连带保证责任。", [LOAN]
    )
    compared = compare_elements(pending, case)
    same = {d["aspect"]: (d["query_value"], d["case_value"]) for d in compared.same}
    different = {d["aspect"]: (d["query_value"], d["case_value"]) for d in compared.different}
    assert same == {"借贷凭证": ("借条", "借条"), "担保方式": ("连带责任保证", "连带责任保证")}
    assert different["借款本金"] == ("10万至50万元", "50万至100万元")
    assert different["预扣利息"] == ("有", ABSENT)
    assert different["约定利率"][0].startswith("超过保护上限（年利率24%")
    assert different["约定利率"][1].startswith("未超过保护上限（年利率18%，保护上限24%")
    assert "违约金" not in same and "违约金" not in different  # neither mentions it
    assert compared.agreement == pytest.approx(2 / 7)


def test_compare_only_the_aspects_both_causes_have() -> None:
    loan = extract_elements(LOAN_FACTS, [LOAN])
    sale = extract_elements("被告尚欠货款30万元，合同约定违约金。", [SALE])
    compared = compare_elements(loan, sale)
    assert [d["aspect"] for d in compared.different] == ["违约金"]  # 合同纠纷's, shared by both
    assert compared.same == []
    criminal = extract_elements("被告人盗窃。", ["盗窃罪"])
    assert compare_elements(loan, criminal).agreement == 0.0
    assert compare_elements(loan, criminal).same == compare_elements(loan, criminal).different == []
