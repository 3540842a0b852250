"""Art. 11 conflicts from structure, on hand-written cases: what is read, what is compared, what is flagged."""

from __future__ import annotations

import datetime as dt

from retrieval.audit.records import ShownResult
from retrieval.document import CaseCategory, Document, Sections
from retrieval.parsing.courts import parse_court
from retrieval.report import build_report
from retrieval.report.model import SearchShown, conflict_lines, shown_result
from retrieval.search import SearchResult

SEARCHED_AT = dt.datetime(2025, 6, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
JUDGE = {"name": "林晓燕", "court": "浙江省杭州市西湖区人民法院", "role": "承办法官"}
COURT = parse_court("浙江省杭州市西湖区人民法院")


def case(
    doc_id: str, cause: str, reasoning: str, result: str, facts: str = "", civil: bool = False
) -> Document:
    kind = "民初" if civil else "刑初"
    return Document(
        doc_id,
        title=doc_id,
        case_number=f"（2023）浙0106{kind}{len(doc_id)}号",
        court=COURT,
        category=CaseCategory.CIVIL if civil else CaseCategory.CRIMINAL,
        decision_date=dt.date(2023, 5, 1),
        causes=[cause],
        sections=Sections(facts=facts, reasoning=reasoning, result=result),
        full_text=f"{facts}\n本院认为，{reasoning}\n判决如下：\n{result}",
    )


THEFT_FACTS = "被告人窃取他人手机一部，价值人民币5000元。"
FIRST_OFFENDER = "被告人如实供述自己的罪行，可以从轻处罚。"
DOCS = [
    case(
        "suspended",
        "盗窃罪",
        FIRST_OFFENDER,
        "被告人甲犯盗窃罪，判处有期徒刑一年，缓刑二年，并处罚金人民币五千元。",
        THEFT_FACTS,
    ),
    case(
        "revoked",
        "盗窃罪",
        FIRST_OFFENDER,
        "被告人乙犯盗窃罪，判处有期徒刑六个月，撤销本院（2021）浙0106刑初9号刑事判决对被告人乙宣告的缓刑，"
        "与前罪判处的有期徒刑一年并罚，决定执行有期徒刑一年四个月，并处罚金人民币三千元。",
        THEFT_FACTS,
    ),
    case("exempted", "盗窃罪", FIRST_OFFENDER, "被告人丙犯盗窃罪，免予刑事处罚。", THEFT_FACTS),
    case(
        "joint-recidivist",
        "盗窃罪",
        "被告人丁曾因盗窃罪被判处有期徒刑，刑罚执行完毕后五年内再犯，系累犯。丁起主要作用，系主犯；戊起次要作用，系从犯。",
        "一、被告人丁犯盗窃罪，判处有期徒刑二年。\n二、被告人戊犯盗窃罪，判处有期徒刑一年，缓刑一年。",
        THEFT_FACTS,
    ),
    case(
        "loan-upheld",
        "民间借贷纠纷",
        "借贷关系合法有效。",
        "被告于本判决生效之日起十日内偿还原告借款50000元。",
        "原告出借50000元。",
        True,
    ),
    case(
        "loan-dismissed",
        "民间借贷纠纷",
        "原告未能证明借贷关系。",
        "驳回原告的全部诉讼请求。",
        "原告称出借40000元。",
        True,
    ),
]


def shown() -> SearchShown:
    results = [SearchResult(document=d, score=1.0, fused_score=1.0) for d in DOCS]
    return SearchShown(
        tuple(shown_result(r) for r in results), ["keyword"], ["盗窃罪", "民间借贷纠纷"], False, None, "b1", 6
    )


def report(marks: dict[str, tuple[str, str]]):
    return build_report(
        shown(),
        pending_case_number="（2025）浙0106刑初88号",
        pending_facts="pending",
        dispute_focus=None,
        judge=JUDGE,
        searched_at=SEARCHED_AT,
        audit_search_id=1,
        audit_hash="ab" * 32,
        marks=marks,
    )


def all_similar() -> dict[str, tuple[str, str]]:
    return {d.doc_id: ("类案", "可比") for d in DOCS}


def pairs(conflicts) -> set[frozenset[str]]:
    return {frozenset({c.first.doc_id, c.second.doc_id}) for c in conflicts}


def test_revoked_suspension_is_custodial_and_exemption_is_its_own_outcome():
    outcomes = {s.doc_id: s.outcome for s in shown().shown}
    assert outcomes["suspended"] == "缓刑"
    assert outcomes["revoked"] == "实刑"
    assert outcomes["exempted"] == "免予刑事处罚"
    detail = {s.doc_id: s.outcome_detail for s in shown().shown}
    assert detail["revoked"]["revoked_suspension"] is True and detail["revoked"]["term_months"] == 16
    assert detail["joint-recidivist"]["defendants"] == 2 and detail["joint-recidivist"]["recidivist"] is True


def test_marked_comparable_cases_with_different_outcomes_conflict():
    conflicts = report(all_similar()).conflicts
    assert pairs(conflicts) == {
        frozenset({"suspended", "revoked"}),
        frozenset({"suspended", "exempted"}),
        frozenset({"revoked", "exempted"}),
        frozenset({"loan-upheld", "loan-dismissed"}),
    }
    civil = next(c for c in conflicts if c.causes == ["民间借贷纠纷"])
    assert {civil.first.outcome, civil.second.outcome} == {"支持", "驳回"}
    assert civil.comparable == ["涉案金额均在3万至30万元"]
    theft = next(c for c in conflicts if {c.first.doc_id, c.second.doc_id} == {"suspended", "revoked"})
    assert theft.comparable == ["均非累犯", "均无主从犯之分", "涉案金额均在1千至3万元"]
    assert any("撤销缓刑后执行" in side.detail for side in (theft.first, theft.second))


def test_joint_recidivist_case_is_never_set_against_a_first_offender():
    flagged = set().union(*pairs(report(all_similar()).conflicts))
    assert "joint-recidivist" not in flagged


def test_nothing_flagged_among_unmarked_or_not_similar_cases():
    assert report({}).conflicts == []
    not_similar = {d.doc_id: ("非类案", "争议焦点不同") for d in DOCS}
    assert report(not_similar).conflicts == []
    one_side = {"loan-upheld": ("类案", "可比"), "loan-dismissed": ("非类案", "证据不同")}
    assert report(one_side).conflicts == []


def test_conflict_lines_say_what_differs_and_why_comparable():
    lines = conflict_lines(report(all_similar()))
    civil = next(line for line in lines if line.startswith("同为民间借贷纠纷"))
    assert "涉案金额均在3万至30万元" in civil and "支持／驳回" in civil


def test_a_snapshot_without_profiles_still_conflicts_by_kind_and_says_comparability_was_not_checked():
    old = tuple(
        ShownResult(doc_id=d, title=d, case_number=f"（2020）浙0106刑初{i}号", causes=("盗窃罪",), outcome=o)
        for i, (d, o) in enumerate((("a", "缓刑"), ("b", "实刑")), start=1)
    )
    made = build_report(
        SearchShown(old, ["keyword"], ["盗窃罪"], False, None, "b0", 2),
        pending_case_number=None,
        pending_facts="pending",
        dispute_focus=None,
        judge=JUDGE,
        searched_at=SEARCHED_AT,
        audit_search_id=1,
        audit_hash=None,
        marks={"a": ("类案", "可比"), "b": ("类案", "可比")},
    )
    (conflict,) = made.conflicts
    assert conflict.comparable == [] and conflict.difference == "缓刑／实刑"
    assert "未保存可比情节，未核对可比性" in conflict_lines(made)[0]
