"""The one type a recalled document has between the ranking stages: fusion → legal rerank → tiers.

Every stage reads what the earlier ones found and adds its own part, so that none has to know the
shape of another's output: fusion gives the row, the fused score and each method's rank; the search
reads the candidate's card (``document``); the rerank sets the final ``score`` and the ``agreement``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from retrieval.document import Document


@dataclass(frozen=True)
class LegalAgreement:
    """How far a candidate agrees with the pending case, each part from 0 to 1 (see ``retrieval.rerank``)."""

    causes: float
    articles: float
    circumstances: float
    amount: float
    elements: float = 0.0  # share of the compared 案件要素 that agree (civil)


@dataclass(frozen=True)
class Candidate:
    """A recalled document on its way to the results.

    ``score`` orders the candidates: the fused score until the rerank replaces it. ``document`` is
    ``None`` until the search reads the candidate's card (a document without its texts), which it
    does for the fused head only, before anything that needs the document runs.
    """

    row: int
    fused_score: float  # reciprocal rank fusion
    score: float
    ranks: dict[str, int] = field(default_factory=dict)  # method → rank within it (1-based)
    document: Document | None = None
    agreement: LegalAgreement | None = None
