"""Legal rerank: relevance in this field is legal, not only lexical.

Fused recall is reordered by agreement with the pending case on 罪名/案由, cited articles and key
circumstances (量刑情节, amount band). The weights were chosen on the LeCaRD dev labels
(``bench/lecard.py``); the fused similarity stays the largest single term so that agreement on
structure reorders near neighbours rather than pulling in dissimilar cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.document import CitedArticle, Document
from retrieval.explain import PendingCaseFeatures
from retrieval.parsing.circumstances import amount_band, extract_circumstances, involved_amounts


@dataclass(frozen=True)
class RerankWeights:
    similarity: float = 1.0
    causes: float = 0.6
    articles: float = 0.2
    circumstances: float = 0.2
    amount: float = 0.1


DEFAULT_WEIGHTS = RerankWeights()


@dataclass(frozen=True)
class LegalAgreement:
    causes: float
    articles: float
    circumstances: float
    amount: float


def _jaccard(a: set[str] | frozenset[str], b: set[str] | frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def _article_keys(provisions: Sequence[str]) -> set[str]:
    keys = set()
    for provision in provisions:
        try:
            keys.add(CitedArticle.from_key(provision).article_key())
        except ValueError:
            continue
    return keys


def legal_agreement(pending: PendingCaseFeatures, doc: Document) -> LegalAgreement:
    facts = doc.sections.facts or doc.full_text
    doc_band = amount_band(involved_amounts(facts))
    return LegalAgreement(
        causes=_jaccard(set(pending.charges), set(doc.causes)),
        articles=_jaccard(_article_keys(pending.articles), {a.article_key() for a in doc.articles}),
        circumstances=_jaccard(pending.circumstances, extract_circumstances(facts)),
        amount=1.0 if pending.amount_band and pending.amount_band == doc_band else 0.0,
    )


def rerank(
    pending: PendingCaseFeatures,
    candidates: Sequence[tuple[Document, float]],
    weights: RerankWeights = DEFAULT_WEIGHTS,
) -> list[tuple[Document, float, LegalAgreement]]:
    """Reorder (document, fused score) pairs; returns (document, final score, agreement) best first."""
    if not candidates:
        return []
    top = max(score for _, score in candidates) or 1.0
    scored = []
    for position, (doc, fused) in enumerate(candidates):
        agreement = legal_agreement(pending, doc)
        final = (
            weights.similarity * fused / top
            + weights.causes * agreement.causes
            + weights.articles * agreement.articles
            + weights.circumstances * agreement.circumstances
            + weights.amount * agreement.amount
        )
        scored.append((final, -position, doc, agreement))
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [(doc, final, agreement) for final, _, doc, agreement in scored]
