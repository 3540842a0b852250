"""Civil and administrative judgments: claims, defence, evidence assessment, findings, reasoning, result."""

from __future__ import annotations

import pytest

from retrieval.document import CaseCategory
from retrieval.parsing.judgment import parse_judgment
from retrieval.parsing.sections import has_sections, split_sections

HEADER = (
    "广东省深圳市福田区人民法院\n民事判决书\n（2021）粤0304民初1234号\n"
    "原告：张某，男，1980年1月1日出生，澳门特别行政区居民。\n"
    "被告：李某，女，1982年2月2日出生，汉族。\n"
    "原告张某与被告李某民间借贷纠纷一案，本院立案后，依法适用简易程序，公开开庭进行了审理。\n"
)
BODY = (
    "原告张某向本院提出诉讼请求，1.判令被告偿还借款100000元及利息；2.本案诉讼费由被告负担。"
    "事实和理由：2019年3月1日被告向原告借款100000元，约定年利率12%，到期未还。\n"
    "被告李某辩称，借款已部分归还。\n"
    "原告提交借条一份。被告对真实性无异议。本院认为，借条系被告亲笔书写，本院予以采信。\n"
    "经审理查明：2019年3月1日，被告向原告出具借条，载明借款100000元，年利率12%。被告已还款20000元。\n"
    "本院认为，合法的借贷关系受法律保护。被告尚欠借款80000元，应予偿还。依照《中华人民共和国民法典》"
    "第六百七十五条之规定，判决如下：\n一、被告李某于本判决生效之日起十日内偿还原告张某借款80000元；\n"
    "二、驳回原告张某的其他诉讼请求。\n案件受理费减半收取1150元，由被告负担。\n审判员 王某\n"
)
CIVIL = HEADER + BODY


def test_evidence_assessment_is_not_the_reasoning() -> None:
    sections = split_sections(CIVIL)
    assert sections.reasoning.startswith("本院认为，合法的借贷关系受法律保护")
    assert "本院予以采信" not in sections.reasoning


def test_civil_facts_are_the_courts_findings() -> None:
    sections = split_sections(CIVIL, findings_are_facts=True)
    assert sections.facts.startswith("经审理查明：2019年3月1日")
    assert "辩称" not in sections.facts
    assert sections.result.startswith("一、被告李某于本判决生效之日起十日内偿还")


def test_without_findings_the_facts_start_at_the_claim_even_without_a_colon() -> None:
    text = (
        HEADER
        + "原告张某向本院提出诉讼请求，判令被告偿还借款。被告未答辩。本院认为，被告应当还款。判决如下：被告还款。"
    )
    sections = split_sections(text, findings_are_facts=True)
    assert sections.facts.startswith("原告张某向本院提出诉讼请求，判令被告偿还借款")
    assert sections.reasoning.startswith("本院认为，被告应当还款")


@pytest.mark.parametrize(
    "marker",
    [
        "本院认定事实如下：",
        "本院确认以下事实：",
        "本院经审理认定事实如下：",
        "依据上述有效证据，本院确认以下案件事实：",
        "本院对本案事实认定如下：",
        "本院查明案件事实如下：",
        "本院对以下事实予以确认：",
    ],
)
def test_findings_marker_variants(marker: str) -> None:
    text = (
        HEADER + "原告诉称：被告借款未还。被告辩称：已还。本院认为，借条真实，予以采信。"
        f"{marker}被告借款10000元未还。本院认为，被告应还款。判决如下：被告还款10000元。"
    )
    sections = split_sections(text, findings_are_facts=True)
    assert sections.facts.endswith("被告借款10000元未还。")
    assert marker.rstrip("：") in sections.facts
    assert sections.reasoning.startswith("本院认为，被告应还款")


def test_parse_civil_judgment_category_and_facts() -> None:
    doc = parse_judgment(CIVIL, doc_id="civil-1")
    assert doc.category is CaseCategory.CIVIL
    assert doc.case_number == "（2021）粤0304民初1234号"
    assert doc.sections.facts.startswith("经审理查明")
    assert doc.causes == ["民间借贷纠纷"]


def test_a_special_administrative_region_resident_does_not_make_a_case_administrative() -> None:
    without_number = CIVIL.replace("（2021）粤0304民初1234号\n", "").replace("民事判决书\n", "判决书\n")
    doc = parse_judgment(without_number, doc_id="civil-2")
    assert doc.case_number is None
    assert doc.category is CaseCategory.CIVIL
    assert doc.sections.facts.startswith("经审理查明")


def test_the_case_number_type_code_decides_the_category() -> None:
    administrative = CIVIL.replace("民初", "行初").replace("民事判决书", "判决书")
    assert parse_judgment(administrative, doc_id="adm").category is CaseCategory.ADMINISTRATIVE


def test_criminal_facts_keep_the_prosecution_account() -> None:
    text = (
        "浙江省桐乡市人民法院\n刑事判决书\n（2015）嘉桐刑初字第170号\n公诉机关桐乡市人民检察院。\n被告人王某。\n"
        "桐乡市人民检察院指控：被告人王某盗窃手机一部。经审理查明：2015年1月1日，被告人王某窃得手机一部。"
        "本院认为，被告人王某构成盗窃罪。判决如下：被告人王某犯盗窃罪，判处拘役三个月。"
    )
    doc = parse_judgment(text, doc_id="crim")
    assert doc.category is CaseCategory.CRIMINAL
    assert doc.sections.facts.startswith("桐乡市人民检察院指控")


def test_has_sections() -> None:
    assert has_sections(CIVIL)
    assert not has_sections("2019年3月1日，张某向李某借款十万元，至今未还。")


def test_an_administrative_case_report_without_a_case_number() -> None:
    text = (
        "某服饰公司诉某区人力资源和社会保障局工伤认定决定案\n原告某服饰公司诉称：被告作出的工伤认定决定错误。"
        "被告某区人力资源和社会保障局辩称：认定正确。经审理查明：职工王某在上班途中受伤。"
        "本院认为，被诉行政行为认定事实清楚。判决如下：驳回原告的诉讼请求。"
    )
    doc = parse_judgment(text, doc_id="adm-report")
    assert doc.causes == ["行政确认"]
    assert doc.category is CaseCategory.ADMINISTRATIVE
