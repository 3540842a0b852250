"""智能推送 matching: which documents of a new build concern which open pending case (待决案件).

A pending case is not searched again against the whole corpus when a build is published. What
changed (``IndexChange``: documents new in the build, documents withdrawn or gone since the build
the cases were last matched against) is scored against the open cases, so the cost grows with the
change, not with the corpus:

* a new document becomes a push for a case when it is citable, falls in tiers 1–3 relative to the
  case's court (tier 4 only when the case's results had nothing higher, as Art. 4 lets a search
  stop at the first tier that yields), shares a 罪名/案由 with the case (the charges given, else the
  ones the registration search used), and its vector's cosine with the case's facts reaches
  ``min_similarity`` (tiers 1–2) or, for tiers 3–4, the cosine of the weakest result the case was
  shown: it would enter its top results. The vectors are the build's own
  (``VectorIndex.reconstruct``); the pending facts are embedded once per batch, so one matrix
  product scores every pair.
* a document the case was shown (or pushed) that is now withdrawn, stopped by the authority
  registry or missing from the build becomes an alert (不再参照).

The bars mirror the search's own rules: ``retrieval.search`` keeps guiding and SPC cases on the same
charges even beyond ``k``, so for them the shared cause and a cosine floor suffice; other judgments
enter a result list only by outscoring what is there. ``min_similarity`` (default 0.1) was read off
the sample corpus, where same-charge cases score 0.17–0.5 with its static embedder; cosines depend on
the embedder (on the LeCaRD one even different-charge CAIL facts average 0.29), so it is a setting
(``LEIAN_PUSH_MIN_SIMILARITY``), not a tuned constant, and the shared cause carries the weight.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retrieval import index_layout as layout
from retrieval.citation import citation
from retrieval.document import Court, Document
from retrieval.explain import explain, pending_features
from retrieval.index_store import IndexStore
from retrieval.parsing.causes import normalise_cause
from retrieval.tiers import Tier, assign_tier, effect_label

DEFAULT_MIN_SIMILARITY = 0.1
_FLOAT_SLACK = 1e-5  # the same cosine summed in another order differs in float32 in its last digits
MAX_PER_CASE = 10  # a result list shows k (10 by default): no more new documents than that can enter it
GONE_REASON = "已不在当前索引中"


@dataclass(frozen=True)
class IndexChange:
    """What a build changed relative to the build the subscriptions were last matched against."""

    build_id: str
    previous_build_id: str | None
    added: tuple[str, ...]  # citable documents the previous build did not have
    withdrawn: dict[str, str]  # doc id → reason: withdrawn since, or gone from the build

    @property
    def empty(self) -> bool:
        return not self.added and not self.withdrawn


def _doc_states(metadata_path: Path) -> dict[str, tuple[bool, str | None]]:
    """doc id → (withdrawn, reason) of a build's metadata, without decoding any document."""
    conn = sqlite3.connect(f"file:{metadata_path}?mode=ro&immutable=1", uri=True)
    try:
        rows = conn.execute("SELECT doc_id, withdrawn, withdrawn_reason FROM docs").fetchall()
    finally:
        conn.close()
    return {str(d): (bool(w), r) for d, w, r in rows}


def index_change(current: IndexStore, previous_build: Path | None) -> IndexChange:
    """Diff the current build against ``previous_build`` (a build folder; None: nothing was matched yet).

    Without a previous build nothing counts as new: a service that starts for the first time has
    no subscriptions whose results predate the build.
    """
    build_id = current.version
    now = _doc_states(current.build_dir / layout.METADATA)
    if previous_build is None or not (previous_build / layout.METADATA).exists():
        return IndexChange(build_id, None, (), {})
    before = _doc_states(previous_build / layout.METADATA)
    added = tuple(d for d, (withdrawn, _) in now.items() if not withdrawn and d not in before)
    gone: dict[str, str] = {}
    for doc_id, (was_withdrawn, _) in before.items():
        if was_withdrawn:
            continue
        state = now.get(doc_id)
        if state is None:
            gone[doc_id] = GONE_REASON
        elif state[0]:
            gone[doc_id] = state[1] or "已撤回"
    return IndexChange(build_id, previous_build.name, added, gone)


@dataclass(frozen=True)
class Subscription:
    """An open pending case as matching sees it."""

    key: int  # the pending case's id
    facts: str
    causes: tuple[str, ...]  # given, else those the registration search used
    articles: tuple[str, ...]
    court: Court | None
    seen: frozenset[str] = frozenset()  # shown, pushed or dismissed: never pushed again
    has_higher_tier: bool = False  # its results already hold a tier 1–3 case
    shown: tuple[str, ...] = ()  # its search's results: a tier 3–4 case must be as similar as the weakest


@dataclass(frozen=True)
class PushMatch:
    """One document for one pending case, with why, as a search result would explain it."""

    key: int
    doc_id: str
    tier: int
    tier_label: str
    score: float  # cosine of the pending facts and the document's facts
    effect: str
    why: str
    title: str | None
    citation_text: str | None
    explanation: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class PushAlert:
    """A document a pending case was shown that may no longer be cited (不再参照)."""

    key: int
    doc_id: str
    reason: str


def _vectors(store: IndexStore, rows: Sequence[int], documents: dict[int, Document]) -> np.ndarray:
    """The build's vectors of ``rows`` (normalised); re-embedded where the index cannot reconstruct."""
    out = np.zeros((len(rows), store.embedder.dimension), dtype=np.float32)
    missing = []
    for i, row in enumerate(rows):
        vector = store.vectors.reconstruct(row)
        if vector is None:
            missing.append(i)
        else:
            out[i] = vector
    if missing:
        texts = [documents[rows[i]].searchable_facts() for i in missing]
        out[missing] = store.embedder.encode_passages(texts)
    return out


def match_additions(
    store: IndexStore,
    added: Iterable[str],
    subscriptions: Sequence[Subscription],
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
    max_per_case: int = MAX_PER_CASE,
) -> list[PushMatch]:
    """New documents that concern each subscription (see the module docstring), best first per case."""
    rows = [r for d in added if (r := store.metadata.row_of(d)) is not None and not store.withdrawn[r]]
    if not rows or not subscriptions:
        return []
    cards = store.metadata.cards(rows)
    rows = [r for r in rows if r in cards and not cards[r].authority.withdrawn]
    causes_of = {r: {normalise_cause(c) for c in cards[r].causes} for r in rows}
    # Cheap filters first: a pair needs a shared cause and a tier worth pushing.
    candidates: dict[int, list[tuple[int, Tier]]] = {}
    for s, sub in enumerate(subscriptions):
        wanted = {normalise_cause(c) for c in sub.causes}
        for r in rows:
            if cards[r].doc_id in sub.seen or not (wanted & causes_of[r]):
                continue
            tier = assign_tier(cards[r], sub.court)
            if tier <= Tier.PROVINCIAL_HIGH or (tier == Tier.SUPERIOR_AND_SELF and not sub.has_higher_tier):
                candidates.setdefault(s, []).append((r, tier))
    if not candidates:
        return []
    needed_rows = sorted({r for pairs in candidates.values() for r, _ in pairs})
    doc_vectors = _vectors(store, needed_rows, cards)
    position = {r: i for i, r in enumerate(needed_rows)}
    subs = sorted(candidates)
    queries = store.embedder.encode_queries([subscriptions[s].facts for s in subs])
    similarity = queries @ doc_vectors.T  # one product scores every candidate pair
    bars = _entry_bars(store, queries, [subscriptions[s] for s in subs], min_similarity)
    whole = store.metadata.documents(needed_rows)
    features = store.metadata.legal_features(needed_rows)
    out: list[PushMatch] = []
    for i, s in enumerate(subs):
        sub = subscriptions[s]
        pending = None
        passing = []
        for r, tier in candidates[s]:
            score = float(similarity[i, position[r]])
            # Tiers 1–2 stand on the shared cause (the search keeps such authorities beyond k); a tier
            # 3–4 judgment must also beat the weakest result the case was shown, or it would not enter.
            if score >= (min_similarity if tier <= Tier.SPC else bars[i] - _FLOAT_SLACK):
                passing.append((tier, -score, r))
        for tier, negative, r in sorted(passing)[:max_per_case]:
            score = -negative
            pending = pending or pending_features(sub.facts, sub.causes, sub.articles, store.segmenter)
            doc = whole[r]
            explanation = explain(pending, doc, store, features=features.get(r))
            out.append(
                PushMatch(
                    key=sub.key,
                    doc_id=doc.doc_id,
                    tier=int(tier),
                    tier_label=tier.label,
                    score=round(score, 6),
                    effect=effect_label(doc),
                    why=f"新增{tier.label}（第{int(tier)}层）；{explanation.summary}",
                    title=doc.title or None,
                    citation_text=citation(doc),
                    explanation=_explanation_json(explanation.to_dict()),
                )
            )
    out.sort(key=lambda m: (m.key, m.tier, -m.score))
    return out


def _entry_bars(
    store: IndexStore, queries: np.ndarray, subscriptions: Sequence[Subscription], floor: float
) -> list[float]:
    """Per subscription, the cosine of its weakest shown result that the build still has (≥ ``floor``)."""
    bars = []
    for query, sub in zip(queries, subscriptions, strict=True):
        rows = [r for d in sub.shown if (r := store.metadata.row_of(d)) is not None]
        vectors = [v for r in rows if (v := store.vectors.reconstruct(r)) is not None]
        weakest = float(min(np.stack(vectors) @ query)) if vectors else floor
        bars.append(max(floor, weakest))
    return bars


def alerts_for(withdrawn: dict[str, str], shown: dict[int, Iterable[str]]) -> list[PushAlert]:
    """不再参照 alerts: every withdrawn document a case was shown, once per case and document."""
    out = []
    for key, doc_ids in shown.items():
        for doc_id in dict.fromkeys(doc_ids):
            if doc_id in withdrawn:
                out.append(PushAlert(key, doc_id, withdrawn[doc_id]))
    return out


def _explanation_json(data: dict[str, object]) -> dict[str, object]:
    passages = data.get("passages") or []
    data["passages"] = [
        {**p, "highlights": [list(h) for h in p["highlights"]]}  # type: ignore[index]
        for p in passages  # type: ignore[union-attr]
    ]
    return data
