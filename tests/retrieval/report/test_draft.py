"""文书辅助: the draft paragraph answering a cited case, from the snapshot's comparison and the mark."""

from __future__ import annotations

import pytest

from retrieval.audit.records import ShownResult
from retrieval.report.draft import draft_reasoning

EXPLANATION = {
    "shared_causes": ["危险驾驶罪"],
    "shared_articles": ["刑法 第133条之一"],
    "shared_circumstances": ["醉酒"],
    "shared_amount_band": None,
    "differences": [
        {
            "aspect": "血液酒精含量",
            "query_value": "92mg/100ml",
            "case_value": "186mg/100ml",
            "source": "measure",
        },
        {"aspect": "累犯", "query_value": None, "case_value": "有", "source": "circumstance"},
        {"aspect": "自首", "query_value": "有", "case_value": None, "source": "circumstance"},
        {"aspect": "地位作用", "query_value": None, "case_value": "从犯", "source": "role"},
    ],
}
COURT = {"name": "浙江省杭州市西湖区人民法院", "level": "基层", "province": "浙江省"}


def shown(**fields) -> ShownResult:
    base = {
        "doc_id": "guiding-32",
        "title": "张某醉酒驾驶案",
        "case_number": "（2020）浙0106刑初1号",
        "court": COURT,
        "decision_date": "2020-05-01",
        "citation": "指导案例32号",
        "authority_kind": "指导性案例",
        "explanation": EXPLANATION,
    }
    return ShownResult(**(base | fields))


def test_a_followed_guiding_case_names_same_and_different_elements():
    text = draft_reasoning(shown(), ("类案", "二者均系醉酒驾驶机动车，法律适用相同。"), "公诉机关")
    assert text.startswith(
        "公诉机关援引的指导案例32号（张某醉酒驾驶案）与本案在罪名（危险驾驶罪）、适用法律（刑法第133条之一）、"
        "量刑情节（均有醉酒）方面相同，但该案血液酒精含量为186mg/100ml，本案血液酒精含量为92mg/100ml；"
    )
    assert "该案被告人系从犯，本案未载明被告人在共同犯罪中的地位作用" in text
    assert "该案有累犯情节，本案未见；本案有自首情节，该案未见。" in text
    assert "经比对，二者均系醉酒驾驶机动车，法律适用相同。" in text
    assert text.endswith(
        "上述差异不影响二者在基本案情和法律适用方面的相似性，本案与该指导性案例属于类案，故本案应当参照该指导性案例作出裁判。"
    )


def test_declined_cases_withdrawn_and_uncitable_ones():
    declined = draft_reasoning(shown(), ("非类案", "该案系累犯"), "辩护人")
    assert declined.startswith("辩护人援引的指导案例32号") and declined.endswith("不相类似，故本案不予参照。")
    ordinary = shown(doc_id="x", citation="（2020）浙0106刑初1号", authority_kind="普通裁判")
    assert "援引的（2020）浙0106刑初1号案件（张某醉酒驾驶案）" in draft_reasoning(
        ordinary, ("类案", "可比"), "被告人"
    )
    assert draft_reasoning(ordinary, ("类案", "可比"), "被告人").endswith("故本案可以参考该案例作出裁判。")
    stopped = draft_reasoning(shown(), ("类案", "可比"), "公诉机关", withdrawn="法〔2020〕343号")
    assert stopped.endswith("该指导性案例已被停止参照（法〔2020〕343号），故本案不予参照。")
    no_number = shown(doc_id="y", case_number=None, citation="某案", authority_kind="普通裁判")
    assert draft_reasoning(no_number, ("类案", "可比"), "原告").endswith(
        "该案例缺少案号，无从核实，故本案不予参考。"
    )


def test_nothing_in_common_and_bad_input():
    bare = shown(explanation={"differences": []}, case_number="（2021）浙0106民初1号")
    text = draft_reasoning(bare, ("非类案", ""), "原告")
    assert "与本案在案由、适用法律等方面均不相同。" in text and "经比对" not in text
    with pytest.raises(ValueError, match="cited_by"):
        draft_reasoning(shown(), ("类案", "可比"), "旁听群众")
    with pytest.raises(ValueError, match="mark"):
        draft_reasoning(shown(), ("待比对", ""), "原告")
