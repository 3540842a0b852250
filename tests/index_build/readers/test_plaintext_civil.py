"""Civil plain-text judgments: read even when they name no 法院; listed when no section is found."""

from __future__ import annotations

from pathlib import Path

from index_build.build import ValidationReport, _validated
from index_build.readers import plaintext
from index_build.readers.base import Rejection
from index_build.validate import index_warnings
from retrieval.document import CaseCategory, Document

CIVIL_FACTS = (
    "原告张某诉称：2019年3月1日被告李某向原告借款100000元，约定一年内归还，到期未还，请求判令被告还款。"
    "被告李某辩称：借款已归还一部分。经审理查明：2019年3月1日，被告向原告借款100000元，已还20000元。"
)
NO_SECTIONS = (
    "原告张某与被告李某系朋友关系。2019年3月1日李某向张某借款十万元，至今未还，双方多次协商未果。" * 2
)


def test_a_civil_fact_text_without_a_court_name_is_read(tmp_path: Path) -> None:
    (tmp_path / "civil.txt").write_text(CIVIL_FACTS, encoding="utf-8")
    (tmp_path / "notes.txt").write_text(
        "购物清单：苹果、香蕉、牛奶、面包、鸡蛋、大米、食用油、酱油、醋、盐、糖。" * 3, encoding="utf-8"
    )
    items = list(plaintext.read(tmp_path))
    docs = [i for i in items if isinstance(i, Document)]
    rejected = [i for i in items if isinstance(i, Rejection)]
    assert [d.doc_id for d in docs] == ["txt-civil"]
    assert docs[0].category is CaseCategory.CIVIL
    assert docs[0].sections.facts.startswith("经审理查明")
    assert [r.source.endswith("notes.txt") for r in rejected] == [True]


def test_a_text_without_sections_is_indexed_and_listed_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "bare.txt").write_text(NO_SECTIONS, encoding="utf-8")
    (tmp_path / "civil.txt").write_text(CIVIL_FACTS, encoding="utf-8")
    report = ValidationReport()
    docs = list(_validated([tmp_path], None, report, set(), progress=False))
    assert sorted(d.doc_id for d in docs) == ["txt-bare", "txt-civil"]
    listed = report.as_dict()
    assert listed["warnings_count"] == 1
    assert "txt-bare" in listed["warnings"][0]["reason"]
    assert "no recognisable sections" in listed["warnings"][0]["reason"]


def test_criminal_documents_are_not_warned_about() -> None:
    doc = Document(doc_id="c", category=CaseCategory.CRIMINAL, full_text="被告人盗窃手机一部。")
    assert index_warnings(doc) == []
    assert index_warnings(Document(doc_id="e")) == []
