"""Explanations of real LeCaRD hits: offsets index the real facts, terms follow the index's IDF."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from index_build.readers import lecard
from retrieval.cited_article import CitedArticle
from retrieval.document import Document, Sections
from retrieval.explain import (
    MAX_PASSAGES,
    MAX_TERMS,
    Explanation,
    explain,
    pending_features,
    query_terms,
    summarise,
)
from retrieval.keyword_index import KeywordIndex, build_keyword_index
from retrieval.parsing.circumstances import extract_circumstances
from retrieval.segmenter import default_segmenter
from tests.conftest import LECARD_ARCHIVE, SHARED_DATA, require

QUERIES = SHARED_DATA / "lecard" / "data" / "query" / "query.json"
QUERY_RIDX = 3  # the archive's first folder: its 100 candidates are the first 100 documents read


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Query 3 (聚众斗殴罪), its 100 candidates, and a BM25 index over their facts as the store."""
    docs = list(itertools.islice(lecard.read(require(LECARD_ARCHIVE)), 100))
    assert all(isinstance(d, Document) for d in docs)
    assert {d.source.split("/")[1] for d in docs} == {str(QUERY_RIDX)}
    segmenter = default_segmenter()
    folder = Path(tmp_path_factory.mktemp("explain-bm25"))
    build_keyword_index((" ".join(segmenter.tokens(d.searchable_facts())) for d in docs), folder)
    index = KeywordIndex.load(folder, mmap=False)
    store = SimpleNamespace(keyword_facts=index, size=index.size, segmenter=segmenter)
    query = next(
        q
        for q in map(json.loads, require(QUERIES).read_text(encoding="utf-8").splitlines())
        if q["ridx"] == QUERY_RIDX
    )
    pending = pending_features(query["q"], query["crime"], ["刑法第二百九十二条"], segmenter)
    scores = index.scores(pending.tokens)
    ranked = [docs[i] for i in sorted(range(len(docs)), key=lambda i: -scores[i])]
    return SimpleNamespace(docs=docs, store=store, pending=pending, ranked=ranked, query=query)


def _check_offsets(explanation: Explanation, source: str, field: str) -> None:
    assert 1 <= len(explanation.passages) <= MAX_PASSAGES
    terms = set(explanation.matched_terms)
    for passage in explanation.passages:
        assert passage.field == field
        assert source[passage.start : passage.end] == passage.text
        assert passage.text == passage.text.strip()
        assert passage.highlights
        for start, end in passage.highlights:
            assert passage.text[start:end].lower() in terms
            assert source[passage.start + start : passage.start + end] == passage.text[start:end]
    scores = [p.score for p in explanation.passages]
    assert scores == sorted(scores, reverse=True)
    assert len({p.text for p in explanation.passages}) == len(explanation.passages)


@pytest.mark.slow  # reads real judgments from ../shared
def test_passages_index_the_real_facts(corpus: SimpleNamespace) -> None:
    for doc in corpus.ranked[:10]:
        explanation = explain(corpus.pending, doc, corpus.store, corpus.pending.tokens)
        assert explanation.doc_id == doc.doc_id
        assert 0 < len(explanation.matched_terms) <= MAX_TERMS
        _check_offsets(explanation, doc.sections.facts, "facts")


def test_matched_terms_are_ordered_by_idf_and_found_in_both(corpus: SimpleNamespace) -> None:
    index = corpus.store.keyword_facts
    query_tokens = set(corpus.pending.tokens)
    terms = query_terms(corpus.pending.tokens, corpus.store)
    for doc in corpus.ranked[:10]:
        explanation = explain(corpus.pending, doc, corpus.store, corpus.pending.tokens)
        assert explain(corpus.pending, doc, corpus.store, terms=terms) == explanation
        frequencies = [index.document_frequency(t) for t in explanation.matched_terms]
        assert frequencies == sorted(frequencies), explanation.matched_terms
        assert all(f / index.size <= 0.3 for f in frequencies)  # common words are not distinctive
        assert set(explanation.matched_terms) <= query_tokens
        assert all(t in doc.sections.facts.lower() for t in explanation.matched_terms)
        assert not any("某" in t for t in explanation.matched_terms)  # pseudonyms match nothing real
        # every distinctive query term the facts contain is matched, up to MAX_TERMS
        present = [t for t in terms if t in doc.sections.facts.lower()]
        assert len(explanation.matched_terms) == min(len(present), MAX_TERMS)


def test_shared_causes_articles_and_circumstances(corpus: SimpleNamespace) -> None:
    pending = corpus.pending
    assert pending.charges == ["聚众斗殴罪"] == pending.causes
    assert pending.articles == ["刑法 第292条"]
    same_charge = [d for d in corpus.docs if "聚众斗殴罪" in d.causes]
    assert same_charge
    for doc in same_charge:
        explanation = explain(pending, doc, corpus.store, pending.tokens)
        assert explanation.shared_causes == ["聚众斗殴罪"]
        assert explanation.summary.startswith("同为聚众斗殴罪")
        cites_292 = any(a.article_key() == "刑法 第292条" for a in doc.articles)
        assert (explanation.shared_articles == ["刑法 第292条"]) == cites_292
        if cites_292:
            assert "共同援引刑法第292条" in explanation.summary
        doc_circumstances = extract_circumstances(doc.sections.facts + "\n" + doc.sections.reasoning)
        assert set(explanation.shared_circumstances) == pending.circumstances & doc_circumstances
    other = next(d for d in corpus.docs if "聚众斗殴罪" not in d.causes)
    assert explain(pending, other, corpus.store, pending.tokens).shared_causes == []


def test_provisions_shared_at_clause_level() -> None:
    doc = Document(
        doc_id="x",
        causes=["盗窃罪"],
        articles=[CitedArticle("刑法", 264), CitedArticle("刑法", 67, clause=3)],
        sections=Sections(facts="被告人入户盗窃手机一部，价值人民币3000元。被告人到案后如实供述。"),
    )
    pending = pending_features(
        "被告人张某入户盗窃手机一部，价值人民币5000元，归案后如实供述。",
        ["盗窃"],
        ["刑法 第264条", "《刑法》第六十七条第三款", "刑法第六十七条第一款"],
    )
    explanation = explain(pending, doc, None, [])
    assert explanation.shared_articles == ["刑法 第264条", "刑法 第67条"]
    assert explanation.shared_provisions == ["刑法 第67条 第3款"]
    assert explanation.shared_circumstances == ["坦白", "入户"]
    assert explanation.shared_amount_band == "1千至3万元"
    assert explanation.summary.startswith(
        "同为盗窃罪；共同援引刑法第264条、刑法第67条；均有坦白、入户情节；涉案金额均在1千至3万元；匹配："
    )
    assert {"入户", "盗窃", "手机"} <= set(explanation.matched_terms)


def test_without_a_store_and_without_facts(corpus: SimpleNamespace) -> None:
    doc = corpus.ranked[0]
    explanation = explain(corpus.pending, doc, None, corpus.pending.tokens)
    assert explanation.notes and explanation.matched_terms
    _check_offsets(explanation, doc.sections.facts, "facts")
    bare = replace(doc, sections=Sections())  # no sections: passages come from the full text
    explanation = explain(corpus.pending, bare, None, ())
    _check_offsets(explanation, bare.full_text, "full_text")


def test_nothing_in_common() -> None:
    pending = pending_features("原告与被告签订房屋租赁合同。", [], [])
    explanation = explain(pending, Document(doc_id="empty"), None, [])
    assert explanation.passages == [] and explanation.matched_terms == []
    assert explanation.summary == summarise([], [], [], None, [])
    assert explanation.to_dict()["doc_id"] == "empty"
