"""案件要素 in the ranking and the explanations: stored at build time, compared at query time."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from index_build.metadata_writer import MetadataWriter, legal_features_of
from retrieval.candidate import Candidate
from retrieval.document import CaseCategory, Document, Sections
from retrieval.explain import explain, pending_features
from retrieval.metadata import LegalFeatures, MetadataStore
from retrieval.rerank import RerankWeights, legal_agreement, rerank

PENDING = (
    "2022年4月1日，被告向原告借款20万元，约定月息2分，原告在出借时预先扣除利息1.2万元，被告出具借条。"
    "借款到期后被告未偿还，原告多次催要未果。"
)


def loan(doc_id: str, facts: str) -> Document:
    return Document(
        doc_id=doc_id,
        category=CaseCategory.CIVIL,
        causes=["民间借贷纠纷"],
        sections=Sections(facts=facts),
        full_text=facts,
    )


ALIKE = loan(
    "alike",
    "2021年9月1日，被告向原告借款30万元，约定月息2分，原告预先扣除利息1.8万元，被告出具借条，到期后未偿还，原告多次催讨。",
)
UNLIKE = loan("unlike", "2019年1月1日，被告向原告借款300万元，约定年利率6%，由丙公司提供抵押担保。")


def test_elements_agreement_is_the_share_of_compared_aspects_that_agree() -> None:
    pending = pending_features(PENDING, ["民间借贷纠纷"])
    alike = legal_agreement(pending, ALIKE, legal_features_of(ALIKE))
    unlike = legal_agreement(pending, UNLIKE, legal_features_of(UNLIKE))
    assert alike.elements == 1.0
    assert unlike.elements == 0.0
    criminal = pending_features(PENDING, ["盗窃罪"])  # a cause without aspects compares nothing
    assert legal_agreement(criminal, ALIKE, legal_features_of(ALIKE)).elements == 0.0


def test_the_element_weight_reorders_the_head() -> None:
    pending = pending_features(PENDING, ["民间借贷纠纷"])
    features = {d.doc_id: legal_features_of(d) for d in (ALIKE, UNLIKE)}
    # the unlike loan is fused first; both share the cause, so only the elements separate them
    candidates = [
        Candidate(0, 0.030, 0.030, document=UNLIKE),
        Candidate(1, 0.028, 0.028, document=ALIKE),
    ]
    without = rerank(pending, candidates, features, RerankWeights(elements=0.0))
    assert [c.document.doc_id for c in without] == ["unlike", "alike"]
    weighted = rerank(pending, candidates, features, RerankWeights(elements=0.5))
    assert [c.document.doc_id for c in weighted] == ["alike", "unlike"]


def test_an_index_without_stored_elements_still_loads_and_explains(tmp_path: Path) -> None:
    path = tmp_path / "metadata.sqlite"
    writer = MetadataWriter(path)
    writer.add(0, ALIKE)
    writer.add(1, Document(doc_id="theft", causes=["盗窃罪"], full_text="被告人盗窃。"))
    writer.close()
    store = MetadataStore(path)
    stored = store.legal_features([0, 1])
    store.close()
    assert stored[0].elements == legal_features_of(ALIKE).elements
    assert stored[0].elements.values["预扣利息"] == "有"
    assert stored[1].elements is None  # a cause without aspects: nothing stored, nothing to compare

    with sqlite3.connect(path) as conn:  # what a build made before 案件要素 looks like
        conn.execute("DROP TABLE doc_elements")
    old = MetadataStore(path)
    features = old.legal_features([0])[0]
    document = old.document(0)
    old.close()
    assert features.elements is None
    pending = pending_features(PENDING, ["民间借贷纠纷"])
    assert legal_agreement(pending, document, features).elements == 0.0  # unknown: no credit
    explanation = explain(pending, document, features=features)  # read from the text instead
    assert {d["aspect"] for d in explanation.same_elements} >= {"预扣利息", "约定利率", "借贷凭证"}


def test_explanation_lists_same_and_different_elements() -> None:
    pending = pending_features(PENDING, ["民间借贷纠纷"])
    explanation = explain(pending, UNLIKE, features=legal_features_of(UNLIKE))
    different = {d["aspect"]: d for d in explanation.different_elements}
    assert different["预扣利息"] == {"aspect": "预扣利息", "query_value": "有", "case_value": "未提及"}
    assert different["担保方式"]["case_value"] == "抵押"
    assert different["借款本金"] == {
        "aspect": "借款本金",
        "query_value": "10万至50万元",
        "case_value": "100万至1000万元",
    }
    assert explanation.same_elements == []
    assert explanation.to_dict()["different_elements"] == explanation.different_elements
    # without features (no index) the candidate's elements are read from its text
    assert explain(pending, UNLIKE).different_elements == explanation.different_elements


def test_civil_documents_are_banded_on_the_civil_scale() -> None:
    assert legal_features_of(UNLIKE).amount_band == "100万至1000万元"
    theft = Document(
        doc_id="t", category=CaseCategory.CRIMINAL, causes=["盗窃罪"], full_text="盗窃现金35000元。"
    )
    assert legal_features_of(theft).amount_band == "3万至30万元"
    no_category = Document(doc_id="n", causes=["民间借贷纠纷"], full_text="被告向原告借款5000元。")
    assert legal_features_of(no_category).amount_band == "1万元以下"
    assert LegalFeatures(frozenset(), None).elements is not None  # default: nothing stored, not unknown


def test_sample_search_explains_the_elements_of_similar_loans(store) -> None:
    from retrieval.request import SearchRequest
    from retrieval.search import search
    from tests.conftest import SAMPLES, read_jsonl

    pending = next(
        p
        for p in read_jsonl(SAMPLES / "pending" / "civil_elements_cases.jsonl")
        if p["causes"] == ["民间借贷纠纷"]
    )
    request = SearchRequest(facts=pending["facts"], charges=pending["causes"], tiering=False, k=10)
    explained = {r.document.doc_id: r.explanation for r in search(store, request).results}
    chain_b = explained["txt-2022_zhe0110_minchu_8765"]
    same = {d["aspect"]: d["case_value"] for d in chain_b.same_elements}
    assert same["约定利率"].startswith("超过保护上限")  # 24 % against 15.4 % (2022) and 14.6 % (2023)
    assert same["担保方式"] == "连带责任保证"
    different = {d["aspect"]: d for d in chain_b.different_elements}
    assert different["预扣利息"]["case_value"] == "未提及"
    advance = {d["aspect"] for d in explained["txt-2021_yue_minzai_87"].same_elements}
    assert "预扣利息" in advance
    assert all(
        not e.same_elements and not e.different_elements for d, e in explained.items() if "xingchu" in d
    )


def test_summary_names_the_shared_elements_and_the_civil_band() -> None:
    pending = pending_features(PENDING, ["民间借贷纠纷"])
    summary = explain(pending, ALIKE, features=legal_features_of(ALIKE)).summary
    assert "要素相同：" in summary
    shared = summary.split("要素相同：")[1].split("；")[0].split("、")
    assert {"预扣利息", "约定利率超过保护上限", "借贷凭证：借条"} <= set(shared)
    assert "标的额均在10万至50万元" in summary and "涉案金额" not in summary
    criminal = pending_features("被告人盗窃现金35000元。", ["盗窃罪"])
    theft = Document(
        doc_id="t", category=CaseCategory.CRIMINAL, causes=["盗窃罪"], full_text="盗窃现金4万元。"
    )
    theft_summary = explain(criminal, theft).summary
    assert "涉案金额均在3万至30万元" in theft_summary and "要素相同" not in theft_summary


def test_the_civil_and_criminal_band_names_are_disjoint() -> None:
    from retrieval.parsing.circumstances import AMOUNT_BANDS, CIVIL_AMOUNT_BANDS

    assert not {n for _, n in CIVIL_AMOUNT_BANDS} & {n for _, n in AMOUNT_BANDS}  # the summary relies on it


def test_a_civil_amount_differs_on_the_civil_scale_only() -> None:
    """相似之处 and 不同之处 must agree: 20万 and 30万 share the civil band 10万至50万, so no
    amount difference, though the criminal 涉案金额 bands would split them at 30万."""
    pending = pending_features(PENDING, ["民间借贷纠纷"])
    alike = explain(pending, ALIKE, features=legal_features_of(ALIKE))
    assert alike.shared_amount_band == "10万至50万元"
    assert not [d for d in alike.differences if d.aspect in ("涉案金额", "标的额")]
    unlike = explain(pending, UNLIKE, features=legal_features_of(UNLIKE))
    amount = [d for d in unlike.differences if d.aspect in ("涉案金额", "标的额")]
    assert [(d.aspect, d.query_value, d.case_value) for d in amount] == [
        ("标的额", "10万至50万元", "100万至1000万元")
    ]
