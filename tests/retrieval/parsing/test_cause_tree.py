"""The 案由 tree: shape of the 2020 规定, parent links, historical names, and coverage of real causes."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from retrieval.parsing.cause_tree import _parse, cause_affinity, load_cause_tree, name_coverage
from retrieval.parsing.causes import extract_causes, load_charges, normalise_cause
from tests.conftest import SHARED_DATA, require

CJRC = SHARED_DATA / "cail2019-cjrc-dev" / "docs.jsonl"


def test_the_civil_tree_has_the_shape_of_the_2020_rules() -> None:
    """11 部分, 54 大类 and 473 第三级 numbered 1–473 in order (法〔2020〕347号)."""
    tree = load_cause_tree()
    levels = Counter(node.level for node in tree.entries if node.system == "民事")
    assert (levels[1], levels[2], levels[3]) == (11, 54, 473)
    thirds = [int(node.number) for node in tree.entries if node.system == "民事" and node.level == 3]
    assert thirds == list(range(1, 474))
    assert tree.nodes["执行分配方案异议之诉"].number == "473"
    assert tree.nodes["民间借贷纠纷"].number == "103（3）"
    assert tree.nodes["劳动合同纠纷"].number == "186"


def test_parent_links_reach_the_part() -> None:
    tree = load_cause_tree()
    assert tree.lineage("民间借贷纠纷") == ("民间借贷纠纷", "借款合同纠纷", "合同纠纷", "合同、准合同纠纷")
    assert tree.lineage("机动车交通事故责任纠纷") == ("机动车交通事故责任纠纷", "侵权责任纠纷")
    assert tree.lineage("行政处罚") == ("行政处罚", "行政行为")
    assert tree.nodes["行政处罚"].system == "行政"
    assert tree.lineage("盗窃罪") == ()


def test_a_name_printed_at_two_levels_keeps_the_deeper_node_under_the_upper_parent() -> None:
    tree = load_cause_tree()
    assert tree.nodes["不当得利纠纷"].level == 3
    assert tree.nodes["不当得利纠纷"].parent == "合同、准合同纠纷"


def test_every_historical_name_points_into_the_tree_and_is_not_a_node_itself() -> None:
    tree = load_cause_tree()
    for old, new in tree.former.items():
        assert new in tree.nodes, old
        assert old not in tree.nodes, old


def test_no_cause_is_also_a_charge() -> None:
    assert not set(load_cause_tree().nodes) & load_charges()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("网络购物合同纠纷", "信息网络买卖合同纠纷"),  # 2011
        ("生命权、健康权、身体权纠纷", "生命权、身体权、健康权纠纷"),  # 2011 order
        ("公共场所管理人责任纠纷", "经营场所、公共场所的经营者、管理者责任纠纷"),
        ("土地承包经营权转包合同纠纷", "土地经营权出租合同纠纷"),
        ("申请宣告公民无民事行为能力", "申请宣告自然人无民事行为能力"),
        ("聘用合同争议", "聘用合同纠纷"),
        ("企业借贷纠纷", "借款合同纠纷"),
        ("不履行法定职责", "不履行职责"),
        ("侵犯商标权纠纷", "侵害商标权纠纷"),
    ],
)
def test_historical_names_normalise_to_the_2020_node(raw: str, expected: str) -> None:
    assert normalise_cause(raw) == expected


def test_affinity_is_symmetric_and_bounded_to_one_branch() -> None:
    assert (
        cause_affinity("借款合同纠纷", "民间借贷纠纷")
        == cause_affinity("民间借贷纠纷", "借款合同纠纷")
        == 0.5
    )
    assert cause_affinity("信用卡纠纷", "合同纠纷") == 0.25
    # sharing only the 部分 is no precedent: 合同纠纷 and 不当得利纠纷 are both 合同、准合同纠纷
    assert cause_affinity("民间借贷纠纷", "合同、准合同纠纷") == 0.0
    assert cause_affinity("盗窃罪", "抢劫罪") == 0.0


def test_parser_rejects_unreadable_lines() -> None:
    with pytest.raises(ValueError, match="unreadable"):
        _parse("[民事]\n一、人格权纠纷\n- 姓名权纠纷\n")
    with pytest.raises(ValueError, match="outside a section"):
        _parse("1. 姓名权纠纷\n")


def test_name_coverage_weighs_the_distinctive_part_of_a_name() -> None:
    coverage = name_coverage("保险公司向被保险人赔付后，依法取得代位求偿权，向侵权人追偿。")
    assert coverage["保险人代位求偿权纠纷"] > 0.8
    # 合同 is in hundreds of names and is not in these facts; 离婚 shares nothing with them
    assert coverage["合同纠纷"] == 0.0 and coverage["离婚纠纷"] == 0.0
    assert all(0.0 <= v <= 1.0 for v in coverage.values())
    # every 第二级-and-below cause of the system, and only of it
    tree = load_cause_tree()
    assert set(coverage) == {n for n, node in tree.nodes.items() if node.system == "民事" and node.level >= 2}
    administrative = name_coverage("被告作出行政处罚决定", "行政")
    assert administrative and all(tree.nodes[n].system == "行政" for n in administrative)
    assert max(name_coverage("天气晴朗。").values()) == 0.0


def test_every_cjrc_civil_cause_normalises_into_the_tree() -> None:
    """All 188 civil 案由 of CAIL2019-CJRC dev (2011-era labels) land on a node."""
    tree = load_cause_tree()
    causes = set()
    for line in require(CJRC).read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["domain"] == "civil":
            causes.add(row["cause"])
    assert len(causes) == 188
    missing = sorted(c for c in causes if normalise_cause(c) not in tree.nodes)
    assert missing == []


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("聂美兰诉北京某文化有限公司确认劳动关系案", ["确认劳动关系纠纷"]),  # 纠纷 left out of the case name
        ("张三诉李四离婚案", ["离婚纠纷"]),
        ("张美云与朱忠民第三人撤销诉讼纠纷案", ["第三人撤销之诉"]),
        ("某建设公司诉某置业公司保函欺诈纠纷案", ["独立保函欺诈纠纷"]),
        ("某燃料公司诉某市质量技术监督局行政处罚决定案", ["行政处罚"]),
        ("某服饰公司诉某区人力资源和社会保障局工伤认定决定案", ["行政确认"]),
        ("某某诉某市人民政府政府信息公开案", ["政府信息公开"]),
        ("周某盗窃案", ["盗窃罪"]),  # charges are unchanged
    ],
)
def test_case_names_of_published_cases(title: str, expected: list[str]) -> None:
    assert extract_causes(title=title) == expected
