"""retrieval.push_match: which new documents concern a pending case, and which shown ones are withdrawn."""

from __future__ import annotations

from retrieval.parsing.courts import parse_court
from retrieval.push_match import Subscription, alerts_for, match_additions
from retrieval.tiers import Tier, assign_tier

COURT = "浙江省杭州市西湖区人民法院"
FACTS = "被告人攀爬雨水管道进入居民住宅，窃取现金、黄金首饰等财物，价值人民币九万余元。"


def _sub(**fields) -> Subscription:
    base = {"key": 1, "facts": FACTS, "causes": ("盗窃罪",), "articles": (), "court": parse_court(COURT)}
    return Subscription(**{**base, **fields})


def test_only_same_cause_cases_in_tiers_1_to_4_above_the_floor(store, corpus) -> None:
    everything = list(corpus)
    matches = match_additions(store, everything, [_sub()], min_similarity=0.0)
    assert matches, "the sample corpus has theft cases in the upper tiers"
    for m in matches:
        doc = corpus[m.doc_id]
        assert "盗窃罪" in doc.causes
        assert m.tier == assign_tier(doc, parse_court(COURT)) <= Tier.SUPERIOR_AND_SELF
        assert m.explanation["shared_causes"] == ["盗窃罪"] and m.why
    # theft cases of other provinces' basic courts (tier 5) are never pushed
    others = [
        d for d, doc in corpus.items() if "盗窃罪" in doc.causes and assign_tier(doc, parse_court(COURT)) == 5
    ]
    assert others and not {m.doc_id for m in matches} & set(others)


def test_tier_4_only_when_nothing_higher_and_seen_never_again(store, corpus) -> None:
    everything = list(corpus)
    first = match_additions(store, everything, [_sub()], min_similarity=0.0)
    higher = match_additions(store, everything, [_sub(has_higher_tier=True)], min_similarity=0.0)
    assert {m.tier for m in higher} <= {1, 2, 3}
    assert {m.doc_id for m in higher} <= {m.doc_id for m in first}
    seen = frozenset(m.doc_id for m in first)
    assert match_additions(store, everything, [_sub(seen=seen)], min_similarity=0.0) == []
    assert match_additions(store, everything, [_sub()], min_similarity=1.01) == []


def test_alerts_only_for_documents_the_case_was_shown() -> None:
    alerts = alerts_for({"a": "不再参照", "b": "已撤回"}, {1: ["a", "c", "a"], 2: ["c"]})
    assert [(x.key, x.doc_id, x.reason) for x in alerts] == [(1, "a", "不再参照")]


def test_tier_3_and_4_must_beat_the_weakest_result_shown(store, corpus) -> None:
    everything = list(corpus)
    free = match_additions(store, everything, [_sub()], min_similarity=0.0)
    lower = [m for m in free if m.tier >= Tier.PROVINCIAL_HIGH]
    assert len(lower) >= 2, "the sample corpus has theft judgments of the court and its superior"
    best = max(lower, key=lambda m: m.score)
    barred = match_additions(store, everything, [_sub(shown=(best.doc_id,))], min_similarity=0.0)
    assert [m.doc_id for m in barred if m.tier >= Tier.PROVINCIAL_HIGH] == [best.doc_id]
    assert {m.doc_id for m in barred if m.tier <= Tier.SPC} == {m.doc_id for m in free if m.tier <= Tier.SPC}
