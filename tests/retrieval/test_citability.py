"""Citability: a document without 案号, court or date is 不可引用, left out unless asked, counted at build."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from retrieval import index_layout as layout
from retrieval.citation import missing_for_citation, uncitable_note, uncitable_reason
from retrieval.document import Authority, AuthorityKind, CaseCategory, Document, Sections
from retrieval.index_store import IndexStore
from retrieval.parsing.courts import parse_court
from retrieval.report.model import ReportCase, case_lines
from retrieval.request import SearchFilters, SearchRequest
from retrieval.search import search

FACTS = "被告人趁被害人不备，在公交车上扒窃被害人手机一部，价值人民币三千元，后被抓获。"
COURT = parse_court("浙江省杭州市西湖区人民法院")


def theft(doc_id: str, **fields) -> Document:
    base = {
        "title": doc_id,
        "case_number": f"（2023）浙0106刑初{len(doc_id)}号",
        "court": COURT,
        "category": CaseCategory.CRIMINAL,
        "decision_date": dt.date(2023, 5, 1),
        "causes": ["盗窃罪"],
        "sections": Sections(
            facts=FACTS, reasoning="本院认为，被告人构成盗窃罪。", result="判处拘役三个月。"
        ),
        "full_text": FACTS,
    }
    return Document(doc_id, **(base | fields))


DOCS = [
    theft("citable"),
    theft("no-number", case_number=None),
    theft("no-court-no-date", court=None, decision_date=None),
    theft("guiding-77", case_number=None, authority=Authority(kind=AuthorityKind.GUIDING, number="77")),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from index_build.build import BuildOptions, build

    root = tmp_path_factory.mktemp("citability")
    source = root / "docs.jsonl"
    source.write_text("\n".join(json.dumps(d.to_dict(), ensure_ascii=False) for d in DOCS) + "\n", "utf-8")
    return build(BuildOptions(inputs=[source], home=root / "home", progress=False)).build_dir


def test_the_rule():
    assert uncitable_reason(DOCS[0]) == []
    assert uncitable_reason(DOCS[1]) == ["案号"]
    assert uncitable_reason(DOCS[2]) == ["法院", "裁判日期"]
    assert uncitable_reason(DOCS[3]) == []  # a guiding case is cited by its number
    assert missing_for_citation(" ", "某法院", "2023-01-01", "普通裁判") == ["案号"]
    assert uncitable_note(["案号", "裁判日期"]) == "不可引用（缺少案号、裁判日期）"


@pytest.mark.slow
def test_uncitable_documents_are_left_out_unless_asked(built: Path):
    store = IndexStore.open(built, verify_checksums=False)
    try:
        request = SearchRequest(facts=FACTS, charges=["盗窃罪"], today=dt.date(2025, 1, 1))
        shown = {r.document.doc_id for r in search(store, request).results}
        assert shown == {"citable", "guiding-77"}
        asked = SearchRequest(
            facts=FACTS,
            charges=["盗窃罪"],
            today=dt.date(2025, 1, 1),
            filters=SearchFilters(include_uncitable=True),
        )
        assert {r.document.doc_id for r in search(store, asked).results} == {d.doc_id for d in DOCS}
    finally:
        store.close()


@pytest.mark.slow
def test_validation_json_counts_uncitable_documents(built: Path):
    validation = json.loads((built / layout.VALIDATION).read_text("utf-8"))
    assert validation["indexed"] == 4
    assert validation["uncitable_count"] == 2
    assert validation["uncitable_missing"] == {"案号": 1, "法院": 1, "裁判日期": 1}


def test_search_leaves_out_rows_marked_uncitable(store: IndexStore, monkeypatch: pytest.MonkeyPatch):
    """The fast loop's check on the sample index (every document citable): mark one row uncitable."""
    assert store.attributes.uncitable() is None
    request = SearchRequest(facts=FACTS, charges=["盗窃罪"], today=dt.date(2025, 1, 1))
    first = search(store, request).results[0].document.doc_id
    citable = np.ones(store.size, dtype=bool)
    citable[store.attributes.row_of[first]] = False
    monkeypatch.setattr(store.attributes, "citable", citable)
    assert first not in {r.document.doc_id for r in search(store, request).results}
    asked = SearchRequest(facts=FACTS, charges=["盗窃罪"], filters=SearchFilters(include_uncitable=True))
    assert first in {r.document.doc_id for r in search(store, asked).results}
    untiered = SearchRequest(facts=FACTS, charges=["盗窃罪"], tiering=False)  # similarity scoring only
    assert first in {r.document.doc_id for r in search(store, untiered).results}


def test_report_marks_an_uncitable_case():
    case = ReportCase(
        "d", "t", None, None, None, None, 5, "可以参考", False, "", "", "", uncitable="不可引用（缺少案号）"
    )
    assert "引用：不可引用（缺少案号），不作为类案引用" in case_lines(case)


def test_validation_report_counts_each_missing_part(sample_index: Path):
    from index_build.build import ValidationReport

    report = ValidationReport()
    for doc in DOCS:
        report.count_citability(doc)
    assert report.as_dict()["uncitable_count"] == 2
    assert report.as_dict()["uncitable_missing"] == {"案号": 1, "法院": 1, "裁判日期": 1}
    published = json.loads((sample_index / "current" / layout.VALIDATION).read_text("utf-8"))
    assert published["uncitable_count"] == 0  # the sample corpus is citable throughout
