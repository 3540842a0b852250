"""Legal rerank: relevance in this field is legal, not only lexical.

Fused recall is reordered by agreement with the pending case on 罪名/案由, cited articles and key
circumstances (量刑情节, amount band). The weights were chosen on the LeCaRD dev labels
(``bench/lecard.py``, grid search reported in ``bench/README.md``): covering the pending case's
charges adds 1.5 where a document ranked first by every recall channel gets about 3, so it
reorders near neighbours (only the head of the fused list, ``search.RERANK_DEPTH``) without
pulling in dissimilar cases. Articles and amounts did not help on LeCaRD (weight 0), nor civil
案件要素 on CJRC (weight 0, cross-validated), but they are kept as features for explanations and
for corpora where they do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from retrieval.candidate import Candidate, LegalAgreement
from retrieval.cited_article import CitedArticle
from retrieval.document import Document
from retrieval.explain import PendingCaseFeatures
from retrieval.fusion import RRF_K
from retrieval.metadata import LegalFeatures
from retrieval.parsing.cause_tree import cause_affinity
from retrieval.parsing.civil_elements import compare_elements


@dataclass(frozen=True)
class RerankWeights:
    """Added to the fused similarity, which is scaled so that rank 1 in one method counts about 1."""

    causes: float = 1.5
    articles: float = 0.0
    circumstances: float = 0.1
    amount: float = 0.0
    # 案件要素: 0; on CJRC civil, 5-fold CV found 0.1 worth −0.0003 / +0.0026 P@10 on two builds (bench/README.md)
    elements: float = 0.0


CRIMINAL_WEIGHTS = RerankWeights()
"""刑事: chosen on the LeCaRD dev labels (bench/README.md)."""
CIVIL_WEIGHTS = RerankWeights(causes=2.0)
"""民事 and 行政: chosen on CJRC civil, leave-one-out, by ``bench/civil_grid.py`` (civil P@10 0.552
in-sample, 0.552 5-fold cross-validated, against 0.551 at the criminal 1.5; bench/README.md)."""
DEFAULT_WEIGHTS = CRIMINAL_WEIGHTS


def weights_for(category: str | None) -> RerankWeights:
    """The weights of a 案件类别: 刑事 (or unknown) the criminal ones, any other the civil ones."""
    return CRIMINAL_WEIGHTS if category in (None, "刑事") else CIVIL_WEIGHTS


def _jaccard(a: set[str] | frozenset[str], b: set[str] | frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def _article_keys(provisions: Sequence[str]) -> set[str]:
    keys = set()
    for provision in provisions:
        try:
            keys.add(CitedArticle.from_key(provision).provision_key())
        except ValueError:
            continue
    return keys


def _coverage(wanted: set[str], present: set[str]) -> float:
    """Share of ``wanted`` found in ``present``; a 案由 met only by its parent or child in the 案由 tree
    (保证合同纠纷 and 合同纠纷) counts in part (``cause_affinity``). 罪名 are not in the tree and count
    only when equal."""
    if not wanted or not present:
        return 0.0
    return sum(max(cause_affinity(w, p) for p in present) for w in wanted) / len(wanted)


def legal_agreement(pending: PendingCaseFeatures, doc: Document, features: LegalFeatures) -> LegalAgreement:
    # Causes: the share of the pending case's charges the candidate was also tried for. A judgment on
    # 盗窃罪 and 抢劫罪 is as much a precedent for a 盗窃罪 case as one on 盗窃罪 alone, so its other
    # charges are not held against it, as a Jaccard similarity would (see bench/README.md). A civil
    # candidate filed under the parent or a child of the pending 案由 counts in part.
    return LegalAgreement(
        causes=_coverage(set(pending.charges), set(doc.causes)),
        # provision keys: a 合同法 citation agrees with the 民法典 article that replaced it
        articles=_jaccard(_article_keys(pending.articles), {a.provision_key() for a in doc.articles}),
        circumstances=_jaccard(pending.circumstances, features.circumstances),
        amount=1.0 if pending.amount_band and pending.amount_band == features.amount_band else 0.0,
        # an index built before elements were stored has none (None): they count as not agreeing
        elements=compare_elements(pending.elements, features.elements).agreement
        if pending.elements.aspects and features.elements
        else 0.0,
    )


def rerank(
    pending: PendingCaseFeatures,
    candidates: Sequence[Candidate],
    features: Mapping[str, LegalFeatures],
    weights: RerankWeights = DEFAULT_WEIGHTS,
) -> list[Candidate]:
    """The candidates (documents read) best first, each with its final score and its agreement.

    The fused score is a reciprocal-rank-fusion score; multiplied by the RRF constant, a document
    ranked first by one method contributes about 1, the scale the agreement weights were tuned on.
    Equal final scores keep the fused order.
    """
    scored = []
    for position, candidate in enumerate(candidates):
        agreement = legal_agreement(pending, candidate.document, features[candidate.document.doc_id])
        final = (
            candidate.fused_score * RRF_K
            + weights.causes * agreement.causes
            + weights.articles * agreement.articles
            + weights.circumstances * agreement.circumstances
            + weights.amount * agreement.amount
            + weights.elements * agreement.elements
        )
        scored.append((final, -position, candidate, agreement))
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [replace(candidate, score=final, agreement=agreement) for final, _, candidate, agreement in scored]
