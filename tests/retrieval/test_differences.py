"""Differences beside the matches (Art. 6 比对): one-sided circumstances, roles, measured values side by side."""

from __future__ import annotations

from retrieval.differences import Difference, difference_text
from retrieval.document import Document, Sections
from retrieval.explain import explain, pending_features
from retrieval.parsing.measures import AMOUNT, BLOOD_ALCOHOL, DISABILITY, INJURY, measures
from retrieval.report.model import ReportCase, case_lines


def test_measures_read_alcohol_injury_disability_and_amount():
    found = measures(
        "经鉴定，其血液中乙醇含量为168.3mg/100ml。被害人损伤程度为轻伤二级，另一被害人为重伤二级，"
        "伤残等级为十级。被告人窃取现金人民币12000元。"
    )
    assert found[BLOOD_ALCOHOL].text == "168.3mg/100ml"
    assert found[INJURY].text == "重伤二级"  # the most severe grade named
    assert found[DISABILITY].text == "十级"
    assert found[AMOUNT].text == "1.2万元（1千至3万元）"
    assert measures("被告人驾驶机动车。") == {}


def case(facts: str, reasoning: str = "") -> Document:
    return Document("c1", sections=Sections(facts=facts, reasoning=reasoning), full_text=facts + reasoning)


def test_explanation_lists_differences_beside_the_matches():
    pending = pending_features(
        "被告人甲醉酒驾驶机动车，经鉴定血液中乙醇含量为92mg/100ml。甲主动投案，如实供述自己的罪行。",
        ["危险驾驶罪"],
    )
    doc = case(
        "被告人乙醉酒驾驶机动车，经鉴定血液中乙醇含量为186mg/100ml。",
        "本院认为，被告人乙曾因故意犯罪被判处有期徒刑，刑罚执行完毕后五年内再犯，系累犯，依法从重处罚。",
    )
    explanation = explain(pending, doc)
    by_aspect = {d.aspect: d for d in explanation.differences}
    assert by_aspect[BLOOD_ALCOHOL] == Difference(BLOOD_ALCOHOL, "92mg/100ml", "186mg/100ml", "measure")
    assert by_aspect["累犯"] == Difference("累犯", None, "有", "circumstance")
    assert by_aspect["自首"] == Difference("自首", "有", None, "circumstance")
    assert "醉酒" not in by_aspect  # both drunk: shared, not different
    assert explanation.to_dict()["differences"][0]["aspect"] == BLOOD_ALCOHOL


def test_roles_and_amount_bands_differ_and_equal_values_do_not():
    pending = pending_features("被告人甲伙同他人盗窃财物价值人民币5000元，甲起次要作用，系从犯。", ["盗窃罪"])
    principal = case("被告人乙盗窃财物价值人民币80000元。", "本院认为，乙在共同犯罪中起主要作用，系主犯。")
    by_aspect = {d.aspect: d for d in explain(pending, principal).differences}
    assert by_aspect["地位作用"] == Difference("地位作用", "从犯", "主犯", "role")
    assert by_aspect[AMOUNT].query_value == "5000元（1千至3万元）"
    assert by_aspect[AMOUNT].case_value == "8万元（3万至30万元）"
    alike = case("被告人丙盗窃财物价值人民币6000元。", "本院认为，丙起次要作用，系从犯。")
    assert [d.aspect for d in explain(pending, alike).differences] == []


def test_report_prints_the_differences_of_the_snapshot():
    line = difference_text(
        {"aspect": "累犯", "query_value": None, "case_value": "有", "source": "circumstance"}
    )
    assert line == "累犯（待决案件：未见；本案例：有）"
    shown = ReportCase(
        "d", "t", None, None, None, None, 4, "可以参考", False, "同为盗窃罪", "", "", differences=[line]
    )
    assert f"不同之处：{line}" in case_lines(shown)
