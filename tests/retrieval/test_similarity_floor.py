"""未检索到类案: a tier with nothing similar enough says so instead of being filled; and the rerank
weights follow the pending case's 案件类别. On the sample index (corpus_samples/README.md)."""

from __future__ import annotations

import datetime as dt

from retrieval import search as service
from retrieval.index_store import IndexStore
from retrieval.parsing.courts import parse_court
from retrieval.request import SearchFilters, SearchRequest
from retrieval.rerank import CIVIL_WEIGHTS, CRIMINAL_WEIGHTS, weights_for
from retrieval.search import rerank_category, search
from retrieval.tiers import Tier

XIHU = parse_court("浙江省杭州市西湖区人民法院")
TODAY = dt.date(2025, 6, 1)
# No sample document is on 非法狩猎罪 (corpus_samples/README.md lists every cause).
HUNTING = "非法狩猎罪"
HUNTING_FACTS = "被告人在禁猎期内，使用电网在山林中非法捕猎野兔、野鸡共计二十余只，后被森林公安查获。"


def hunting_request(**fields) -> SearchRequest:
    return SearchRequest(facts=HUNTING_FACTS, charges=[HUNTING], requesting_court=XIHU, today=TODAY, **fields)


def test_a_case_whose_cause_no_document_has_gets_no_similar_case_in_every_tier(store: IndexStore):
    everything = search(store, hunting_request(include_dissimilar=True))
    assert everything.results, "asked for explicitly, results under the floor are still returned"
    assert everything.similarity_floor is None and everything.below_floor == 0
    assert all(r.agreement is not None and r.agreement.causes == 0 for r in everything.results)
    assert max(r.score for r in everything.results) < service.SIMILARITY_FLOOR

    answer = search(store, hunting_request())
    assert answer.results == []
    assert answer.similarity_floor == service.SIMILARITY_FLOOR
    assert answer.below_floor == len(everything.results)
    assert answer.tiers_without_similar == [
        Tier.GUIDING,
        Tier.SPC,
        Tier.PROVINCIAL_HIGH,
        Tier.SUPERIOR_AND_SELF,
    ]
    assert answer.first_tier_with_results is None


def test_same_cause_cases_pass_the_floor_and_only_empty_tiers_say_none(store: IndexStore):
    response = search(
        store,
        SearchRequest(
            facts="被告人趁被害人不备，从其挎包内窃取手机一部，价值人民币三千元。",
            charges=["盗窃罪"],
            requesting_court=XIHU,
            today=TODAY,
        ),
    )
    assert response.results
    assert all(r.score >= service.SIMILARITY_FLOOR for r in response.results)
    assert any("盗窃罪" in r.document.causes for r in response.results)
    present = {r.tier for r in response.results}
    assert not present & set(response.tiers_without_similar)
    assert set(response.tiers_without_similar) | present >= {
        Tier.GUIDING,
        Tier.SPC,
        Tier.PROVINCIAL_HIGH,
        Tier.SUPERIOR_AND_SELF,
    }


def test_an_untiered_search_is_not_cut(store: IndexStore):
    """Benchmarks score similarity alone (tiering off): the floor is the judge's view only."""
    response = search(store, SearchRequest(facts=HUNTING_FACTS, charges=[HUNTING], tiering=False, k=5))
    assert len(response.results) == 5 and response.similarity_floor is None


def test_rerank_weights_follow_the_category_of_the_pending_case():
    civil = SearchRequest(facts="x", case_number="（2024）浙0105民初2211号")
    criminal = SearchRequest(facts="x", case_number="（2024）浙0105刑初12号")
    unknown = SearchRequest(facts="x")
    assert rerank_category(civil, ["盗窃罪"]) == "民事"  # the 案号 decides over the causes
    assert rerank_category(criminal, []) == "刑事"
    assert rerank_category(unknown, ["民间借贷纠纷"]) == "民事"
    assert rerank_category(unknown, ["盗窃罪"]) == "刑事"
    assert rerank_category(unknown, []) is None
    assert weights_for("民事") is CIVIL_WEIGHTS and weights_for("行政") is CIVIL_WEIGHTS
    assert weights_for("刑事") is CRIMINAL_WEIGHTS and weights_for(None) is CRIMINAL_WEIGHTS


def test_a_search_with_no_cause_to_agree_on_is_not_cut(tmp_path):
    """The floor asks for agreement on a cause; in a corpus whose documents carry none (and facts that
    name none) nothing can agree, so the floor would cut everything: it is not applied."""
    import json

    from index_build.build import BuildOptions, build
    from retrieval.document import Document, Sections

    texts = {
        "a": "甲乙二人在河边散步，谈论天气。",
        "b": "丙在市场买菜，与摊主讨价还价。",
        "c": "丁在公园跑步锻炼身体。",
    }
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text(
        "".join(
            json.dumps(Document(doc_id=d, title=d, sections=Sections(facts=t)).to_dict(), ensure_ascii=False)
            + "\n"
            for d, t in texts.items()
        ),
        encoding="utf-8",
    )
    build(BuildOptions(inputs=[corpus], home=tmp_path / "home", progress=False))
    store = IndexStore.open(tmp_path / "home")
    try:
        response = search(
            store,
            SearchRequest(
                facts="戊在河边散步。",
                requesting_court=XIHU,
                today=TODAY,
                k=3,
                filters=SearchFilters(include_uncitable=True),  # toy texts: no 案号, court or date
            ),
        )
    finally:
        store.close()
    assert response.causes_used == []
    assert response.similarity_floor is None and response.below_floor == 0
    assert len(response.results) == 3
