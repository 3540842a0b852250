"""Civil cases: 案由 of the sample 民事 judgments, a 民间借贷 pending case, and real published civil cases
(公报案例 and guiding cases from ../shared) parsed and searched against the sample index."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from index_build.readers.detect import read_any
from retrieval.document import AuthorityKind, CaseCategory, Document
from retrieval.index_store import IndexStore
from retrieval.parsing.courts import parse_court
from retrieval.request import MAX_K, SearchFilters, SearchRequest
from retrieval.search import SearchResponse, search
from retrieval.tiers import Tier
from tests.conftest import SAMPLES, SHARED_DATA, read_jsonl, require

LOAN = "民间借贷纠纷"
PENDING = read_jsonl(SAMPLES / "pending" / "pending_cases.jsonl")
LOAN_PENDING = next(p for p in PENDING if p.get("causes") == [LOAN])
CASES = SHARED_DATA / "spc-cases-xtjeyvc" / "doc"

# corpus_samples/README.md: every non-criminal sample document and its 案由 (category 民事 unless noted)
SAMPLE_CAUSES = {
    "txt-2022_zhe0110_minchu_8765": LOAN,
    "txt-2023_zhe01_minzhong_1024": LOAN,
    "txt-2021_zhe0105_minchu_3456": "买卖合同纠纷",
    "txt-2024_zhe0105_minchu_2211": "劳动争议",
    "txt-2021_yue_minzai_87": LOAN,
    "txt-2020_su0591_minchu_5678": LOAN,
    "txt-2025_yue0304_minchu_8123": LOAN,
    "txt-2023_su0115_minchu_10234": "机动车交通事故责任纠纷",
    "txt-2024_zuigaofa_minzai_56": "买卖合同纠纷",
    "guiding-902": LOAN,
    "extra-zj-ref-2023-07": LOAN,
    "extra-spc-typical-2024-labour": "确认劳动关系纠纷",
}
ENFORCEMENT = "txt-2023_zhe0110_zhi_4321"  # 执行裁定 enforcing the chain B loan judgment


def ids(response: SearchResponse) -> list[str]:
    return [r.document.doc_id for r in response.results]


def read_one(path: Path) -> Document:
    items = list(read_any(require(path)))
    assert len(items) == 1 and isinstance(items[0], Document), items
    return items[0]


# --------------------------------------------------------------------------- the sample's civil cases


@pytest.mark.parametrize(("doc_id", "cause"), sorted(SAMPLE_CAUSES.items()))
def test_sample_civil_judgments_have_their_cause(
    corpus: dict[str, Document], doc_id: str, cause: str
) -> None:
    doc = corpus[doc_id]
    assert doc.causes == [cause]
    assert doc.category is CaseCategory.CIVIL


def test_the_enforcement_ruling_keeps_the_cause_of_the_judgment_it_enforces(
    corpus: dict[str, Document],
) -> None:
    assert corpus[ENFORCEMENT].causes == [LOAN]
    assert corpus[ENFORCEMENT].category is CaseCategory.ENFORCEMENT


def test_a_loan_pending_case_finds_loan_cases_first(store: IndexStore, corpus: dict[str, Document]) -> None:
    response = search(store, SearchRequest(facts=LOAN_PENDING["facts"], tiering=False, k=MAX_K))
    assert response.causes_predicted and response.causes_used[0] == LOAN
    loans = {d for d, doc in corpus.items() if LOAN in doc.causes}
    top = ids(response)[: len(loans)]
    assert set(top) == loans  # all nine 民间借贷 documents before anything else
    assert "guiding-902" in top[:3]  # 服务费 = 利息: the guiding case on exactly this dispute


def test_a_loan_pending_case_with_its_court_and_cause(store: IndexStore) -> None:
    response = search(
        store,
        SearchRequest(
            facts=LOAN_PENDING["facts"],
            charges=LOAN_PENDING["causes"],
            requesting_court=parse_court(LOAN_PENDING["court"]),  # 余杭区 court
            today=dt.date(2025, 6, 1),
        ),
    )
    assert not response.causes_predicted and response.causes_used == [LOAN]
    first = response.results[0]
    assert first.document.doc_id == "guiding-902" and first.tier is Tier.GUIDING
    tier_of = {r.document.doc_id: r.tier for r in response.results}
    assert tier_of["extra-zj-ref-2023-07"] is Tier.PROVINCIAL_HIGH  # 浙江高院 参考性案例
    assert tier_of["txt-2022_zhe0110_minchu_8765"] is Tier.SUPERIOR_AND_SELF  # chain B, same court
    assert tier_of["txt-2023_zhe01_minzhong_1024"] is Tier.SUPERIOR_AND_SELF  # 杭州中院
    # Tiers follow authority, not the cause: on this small corpus an unrelated SPC case can fill the
    # last of the k places (which one does is a lexical near-tie). What the rerank promises is that
    # every loan case scores above every case on another cause.
    loan = [r.score for r in response.results if LOAN in r.document.causes]
    other = [r.score for r in response.results if LOAN not in r.document.causes]
    assert len(loan) >= 7
    assert not other or min(loan) > max(other)


def test_a_civil_category_filter_on_a_loan_query(store: IndexStore) -> None:
    response = search(
        store,
        SearchRequest(
            facts=LOAN_PENDING["facts"], filters=SearchFilters(categories=(CaseCategory.CIVIL,)), k=MAX_K
        ),
    )
    assert response.results
    assert all(r.document.category is CaseCategory.CIVIL for r in response.results)
    assert "txt-2023_zhe0110_zhi_4321" not in ids(response)  # 执行, not 民事


# --------------------------------------------------------------------------- real published civil cases

REAL_CIVIL = [
    ("anli-gongbao/FYGB0059.md", "gongbao-FYGB0059", LOAN, AuthorityKind.SPC_TYPICAL),  # 王钦杰 v. 力澄
    ("anli-gongbao/FYGB0215.md", "gongbao-FYGB0215", LOAN, AuthorityKind.SPC_TYPICAL),  # 赵俊 v. 项会敏
    ("anli-gongbao/FYGB0293.md", "gongbao-FYGB0293", LOAN, AuthorityKind.SPC_TYPICAL),  # 吴国军 v. 陈晓富
    ("anli-fa/anlifa_190.md", "guiding-23", "买卖合同纠纷", AuthorityKind.GUIDING),  # 孙银山 v. 欧尚
]


@pytest.mark.parametrize(
    ("relative", "doc_id", "cause", "kind"), REAL_CIVIL, ids=[row[1] for row in REAL_CIVIL]
)
def test_a_real_civil_case_is_parsed_with_its_cause(
    relative: str, doc_id: str, cause: str, kind: AuthorityKind
) -> None:
    doc = read_one(CASES / relative)
    assert doc.doc_id == doc_id
    assert doc.authority.kind is kind
    assert doc.category is CaseCategory.CIVIL, doc.category
    assert cause in doc.causes, doc.causes
    assert doc.sections.facts.strip()


def test_the_facts_of_a_real_loan_case_find_civil_loan_cases_first(store: IndexStore) -> None:
    real = read_one(CASES / "anli-gongbao" / "FYGB0059.md")
    assert real.causes == [LOAN]
    untiered = search(store, SearchRequest(facts=real.sections.facts, tiering=False, k=MAX_K))
    assert untiered.causes_used[0] == LOAN
    top = [r.document for r in untiered.results[:7]]
    assert all(d.category is CaseCategory.CIVIL and d.causes == [LOAN] for d in top), [d.doc_id for d in top]
    top_ten = [r.document.category for r in untiered.results[:10]]
    assert CaseCategory.CRIMINAL not in top_ten, top_ten
    tiered = search(store, SearchRequest(facts=real.sections.facts))
    assert tiered.results[0].document.category is CaseCategory.CIVIL
    assert tiered.results[0].document.doc_id == "guiding-902"
