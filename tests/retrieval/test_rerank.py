"""Legal agreement: what the rerank adds for 罪名/案由, articles and circumstances."""

from __future__ import annotations

import pytest

from retrieval.candidate import Candidate
from retrieval.document import Document
from retrieval.explain import pending_features
from retrieval.metadata import LegalFeatures
from retrieval.rerank import RerankWeights, legal_agreement, rerank

NO_FEATURES = LegalFeatures(circumstances=frozenset(), amount_band=None)


@pytest.mark.parametrize(
    ("charges", "causes", "expected"),
    [
        (["盗窃罪"], ["盗窃罪"], 1.0),
        (["盗窃罪"], ["盗窃罪", "抢劫罪"], 1.0),  # tried for more: still a precedent for 盗窃罪
        (["盗窃罪", "抢劫罪"], ["盗窃罪"], 0.5),  # covers half of what the pending case is about
        (["盗窃罪"], ["诈骗罪"], 0.0),
        (["盗窃罪"], [], 0.0),
        ([], ["盗窃罪"], 0.0),  # nothing to agree with
        (["保证合同纠纷"], ["合同纠纷"], 0.5),  # a child of the pending 案由's parent 大类
        (["民间借贷纠纷"], ["借款合同纠纷"], 0.5),  # 第四级 under its 第三级
        (["民间借贷纠纷"], ["合同纠纷"], 0.25),  # two levels up
        (["民间借贷纠纷"], ["买卖合同纠纷", "借款合同纠纷"], 0.5),  # the closest cause counts
        (["民间借贷纠纷"], ["买卖合同纠纷"], 0.0),  # siblings share a parent, not a provision
        (["网络购物合同纠纷"], ["信息网络买卖合同纠纷"], 1.0),  # the pending 2011 name is normalised
    ],
)
def test_cause_agreement_is_the_share_of_the_pending_charges_covered(
    charges: list[str], causes: list[str], expected: float
) -> None:
    pending = pending_features("被告人窃取手机一部。", charges)
    agreement = legal_agreement(pending, Document(doc_id="d", causes=causes), NO_FEATURES)
    assert agreement.causes == expected


def test_a_multi_charge_judgment_is_not_ranked_below_a_single_charge_one_for_its_charge() -> None:
    pending = pending_features("被告人窃取手机一部。", ["盗窃罪"])
    single = Document(doc_id="single", causes=["盗窃罪"])
    multi = Document(doc_id="multi", causes=["盗窃罪", "抢劫罪"])
    other = Document(doc_id="other", causes=["诈骗罪"])
    features = {d.doc_id: NO_FEATURES for d in (single, multi, other)}
    # the other-charge case is fused first; the two theft judgments tie on agreement, fusion decides
    fused = [(other, 0.03), (multi, 0.02), (single, 0.019)]
    candidates = [Candidate(row, score, score, document=doc) for row, (doc, score) in enumerate(fused)]
    ranked = rerank(pending, candidates, features, RerankWeights(causes=1.0))
    assert [c.document.doc_id for c in ranked] == ["multi", "single", "other"]
