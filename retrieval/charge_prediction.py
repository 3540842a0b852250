"""Predicting the 罪名/案由 of a pending case for which the judge named none.

Similar-case search filters and explains by cause, so a query without one loses both. The main signal
is a trained classifier (``retrieval.cause_model``) when the index has one: its top 3 with a softmax
confidence, all of one 案件类别: the one the 案号 or the judge gives (a 民初 case is never predicted a
罪名), else the one the model reads the facts as. A charge or an earlier suit that the facts name is
evidence added to the classifier's score, not the answer: civil facts quote criminal judgments
(``指控…犯故意伤害罪`` in a 安全保障义务 case) and earlier suits (``…民间借贷纠纷一案`` in an 执行异议之诉). Without a model the nearest neighbours' causes
vote as before (a weighted vote, nearer neighbours counting more) and a named cause is taken first,
but only within the category.
"""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.cause_model import CauseModel
from retrieval.document import Document
from retrieval.parsing.cause_tree import SYSTEMS, load_cause_tree, name_coverage_vector
from retrieval.parsing.causes import extract_causes, load_charges, load_civil_causes, normalise_cause

TOP_PREDICTIONS = 3
TEXT_EVIDENCE = 0.1
"""Added to the classifier's raw SVM score of a cause the facts name (a score of +1 is a confident yes,
−1 a confident no, so this is a twentieth of that gap): it tips a close call, it cannot outweigh a
clear one. Not tuned."""
NAME_EVIDENCE = 0.3
"""Weight of a cause's name coverage in the facts (0–1, ``name_coverage``) added to its raw score."""
PARENT_EVIDENCE = 0.4
"""Weight of (1 + the best raw score of a cause's ancestor in the 案由 tree) added to its raw score."""
UNSEEN_SCORE = -1.0
"""Raw score of a tree cause the model has no label for: a confident no, which only name and parent
evidence can lift. The three constants were chosen together on the pooled 5-fold CJRC civil
predictions (each fold choosing on the other four picked 0.3/0.4/−1 four times in five); see
bench/README.md (cause classifier)."""
DEFAULT_MIN_SHARE = 0.3
"""Neighbours' causes below this weighted share are not predicted: none is better than a coin toss shown as one."""


@dataclass(frozen=True)
class PredictedCause:
    """A predicted cause; ``share`` is its confidence (0–1): the classifier's probability, or the
    weighted fraction of neighbours that carry it when there is no classifier."""

    name: str
    share: float
    # "model", "tree" (a 案由 the model never saw, proposed by its name and parent), either with
    # "+text" (the facts also name it), "neighbours", "text" or "text+neighbours"
    source: str = "neighbours"

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "share": round(self.share, 4), "source": self.source}


def rank_weights(n: int) -> list[float]:
    """The default vote of the neighbour at 0-based rank r: 1/(r+1), so the nearest counts most."""
    return [1.0 / (rank + 1) for rank in range(n)]


def neighbour_shares(
    neighbour_docs: Sequence[Document], weights: Sequence[float] | None = None
) -> list[PredictedCause]:
    """Every cause of the neighbours with its weighted share, best first (ties: first seen first).

    A neighbour with several causes gives its full weight to each (a 盗窃 + 抢劫 judgment supports both),
    so shares need not sum to 1. Neighbours without a cause do not count in the total.
    """
    if weights is None:
        weights = rank_weights(len(neighbour_docs))
    elif len(weights) != len(neighbour_docs):
        raise ValueError(f"{len(weights)} weights for {len(neighbour_docs)} neighbours")
    votes: dict[str, float] = {}
    total = 0.0
    for doc, weight in zip(neighbour_docs, weights, strict=True):
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"weights must be finite and non-negative, got {weight!r}")
        causes = dict.fromkeys(normalise_cause(c) for c in doc.causes if c.strip())
        if not causes or weight == 0:
            continue
        total += weight
        for cause in causes:
            votes[cause] = votes.get(cause, 0.0) + weight
    if total <= 0:
        return []
    order = {cause: i for i, cause in enumerate(votes)}
    ranked = sorted(votes.items(), key=lambda item: (-item[1], order[item[0]]))
    return [PredictedCause(name, vote / total) for name, vote in ranked]


# Where facts name the defendant's charge: the accusation (``指控被告人张某犯盗窃罪``), the prosecution's
# or court's qualification (``应当以盗窃罪追究其刑事责任``, ``其行为已构成盗窃罪``). Bare mentions are not
# used: in LeCaRD queries they name a third party's charge (``李某2（均因犯运输毒品罪已被判刑）``), a
# prior conviction (``因犯盗窃罪，于2017年被判处``) or an underlying civil case, and were right in 3 of 7.
_NAME = r"(?P<name>[^，。；：,;:\s“”‘’\"'（）()《》]{2,80}?罪)"
_CHARGE_PHRASES = (
    re.compile(r"以" + _NAME + r"(?:追究|定罪|论处|判处|提起公诉|起诉)"),
    re.compile(r"(?:其|的|二人的?|三人的?|均|被告人\S{0,4}的)行为(?:已经|已|均已|均|亦已|亦)?构成" + _NAME),
    re.compile(r"指控(?:被告人|被告单位|上诉人|原审被告人)?[^，。；：,;:]{0,16}?犯" + _NAME),
)
_CIVIL_CASE = re.compile(r"(?P<name>[^，。；：,;:\s]{2,30}?纠纷)一案")
_LIST_SPLIT = re.compile(r"(?<=罪)[、和及与]")


def causes_from_text(facts: str) -> list[str]:
    """Charges the facts attribute to the defendant, or a civil case's 案由 when the facts are civil.

    Only the accusation or qualification phrases count (``以盗窃罪追究其刑事责任``, ``其行为已构成盗窃罪``,
    ``指控被告人犯盗窃罪``); each name is validated by ``normalise_cause`` against the charge list. In
    facts without 被告人 (a civil case) the case name (``…民间借贷纠纷一案``) is read by ``extract_causes``.
    """
    if not facts or not facts.strip():
        return []
    found: list[str] = []
    charges = load_charges()
    for pattern in _CHARGE_PHRASES:
        for match in pattern.finditer(facts):
            for part in _LIST_SPLIT.split(match["name"]):
                name = normalise_cause(part)
                if name in charges:
                    found.append(name)
    if not found and "被告人" not in facts and _CIVIL_CASE.search(facts):
        civil = load_civil_causes()
        found = [c for c in extract_causes(text=facts) if c in civil]
    return list(dict.fromkeys(found))


def cause_category(cause: str) -> str:
    """The 案件类别 of a cause without a model to ask: a 罪名 is 刑事, anything else is not."""
    return "刑事" if normalise_cause(cause).endswith("罪") else "民事"


def _in_category(cause: str, category: str | None) -> bool:
    if category is None:
        return True
    return (cause_category(cause) == "刑事") == (category == "刑事")


@dataclass(frozen=True)
class _Layout:
    """The candidates of one model and category, fixed once: the model's labels (``own``, indexes
    into its scores), then the tree's causes it lacks, each candidate's row of the tree's
    ``name_coverage_vector`` (−1: none), and (candidate, own label) pairs of ancestors."""

    names: tuple[str, ...]
    own: np.ndarray
    coverage_rows: np.ndarray
    ancestor_of: np.ndarray
    ancestor: np.ndarray


# per loaded model (held weakly: a model the service has swapped out is not kept alive by its layout)
_LAYOUTS: dict[tuple[int, str | None, bool], tuple[weakref.ref[CauseModel], _Layout]] = {}


def _layout(model: CauseModel, category: str | None, system: str | None) -> _Layout:
    key = (id(model), category, system is not None)
    cached = _LAYOUTS.get(key)
    if cached is not None and cached[0]() is model:
        return cached[1]
    own = [i for i, label in enumerate(model.labels) if category is None or label.category == category]
    names = [model.labels[i].name for i in own]
    rows: list[int] = [-1] * len(names)
    pairs: list[tuple[int, int]] = []
    if system is not None:
        tree_names = name_coverage_vector("", system)[0]
        row_of = {name: r for r, name in enumerate(tree_names)}
        known = {name: k for k, name in enumerate(names)}
        names += [name for name in tree_names if name not in known]
        rows = [row_of.get(name, -1) for name in names]
        tree = load_cause_tree()
        for k, name in enumerate(names):
            pairs += [(k, known[a]) for a in tree.lineage(name)[1:] if a in known]
    layout = _Layout(
        tuple(names),
        np.asarray(own, dtype=np.int64),
        np.asarray(rows, dtype=np.int64),
        np.asarray([k for k, _ in pairs], dtype=np.int64),
        np.asarray([j for _, j in pairs], dtype=np.int64),
    )
    for stale in [k for k, (ref, _) in _LAYOUTS.items() if ref() is None]:
        del _LAYOUTS[stale]
    _LAYOUTS[key] = (weakref.ref(model), layout)
    return layout


def category_scores(
    facts: str, model: CauseModel, category: str | None = None, *, tree_evidence: bool = True
) -> tuple[list[str], np.ndarray, list[str]]:
    """Every candidate cause of one 案件类别 with its raw score and where the score came from.

    The category is ``category`` when the 案号 or the judge gives it, else the one the model reads
    the facts as. Candidates are the model's labels of that category and, where the 案由 tree covers
    the category (民事, 行政), every cause of the tree at 第二级 or below; their score is the model's
    (``UNSEEN_SCORE`` for a cause the model never saw), plus ``NAME_EVIDENCE`` × how much of the
    cause's name the facts hold (``name_coverage``), plus ``PARENT_EVIDENCE`` × (1 + the best score
    of an ancestor the model knows): a 人寿保险合同纠纷 the model saw twice leans on the 保险合同纠纷
    it saw often. Causes the facts name (``causes_from_text``) get ``TEXT_EVIDENCE``. Sources:
    "model" (a label of the model), "tree" (proposed from the tree alone), "+text" when named.
    ``tree_evidence=False`` leaves the tree out (the model's labels and named causes alone), as
    bench/cause_classifier_cv.py measures it beside.
    """
    scores, read_as = model.scored(facts)
    category = category or read_as
    system = category if tree_evidence and category in SYSTEMS else None
    layout = _layout(model, category, system)
    known = scores[layout.own].astype(np.float64)
    raw = np.full(len(layout.names), UNSEEN_SCORE, dtype=np.float64)
    raw[: len(known)] = known
    if system is not None:
        coverage = name_coverage_vector(facts, system)[1]
        rows = layout.coverage_rows
        raw[rows >= 0] += NAME_EVIDENCE * coverage[rows[rows >= 0]]
        best = np.full(len(raw), -np.inf)
        np.maximum.at(best, layout.ancestor_of, known[layout.ancestor])
        lifted = np.isfinite(best)
        raw[lifted] += PARENT_EVIDENCE * (1.0 + best[lifted])
    names = list(layout.names)
    sources = ["model"] * len(known) + ["tree"] * (len(names) - len(known))
    named = set(causes_from_text(facts))
    for k, name in enumerate(names):
        if name in named:
            raw[k] += TEXT_EVIDENCE
            sources[k] += "+text"
    return names, raw, sources


def predict_with_model(
    facts: str,
    model: CauseModel,
    category: str | None = None,
    top: int = TOP_PREDICTIONS,
    *,
    tree_evidence: bool = True,
) -> list[PredictedCause]:
    """The ``top`` causes of ``category_scores`` with softmax confidences over its candidates.

    The candidates are all of one 案件类别, so the three are never a mix of 罪名 and 案由; the
    confidences are normalised over that category's candidates only.
    """
    if not facts.strip():
        return []
    names, scores, sources = category_scores(facts, model, category, tree_evidence=tree_evidence)
    if not names:
        return []
    logits = scores / model.temperature
    logits -= logits.max()
    probabilities = np.exp(logits)
    probabilities /= probabilities.sum()
    order = np.argsort(-probabilities, kind="stable")[: min(top, len(names))]
    return [PredictedCause(names[i], float(probabilities[i]), sources[i]) for i in order]


def predict(
    facts: str,
    neighbour_docs: Sequence[Document],
    weights: Sequence[float] | None = None,
    *,
    min_share: float = DEFAULT_MIN_SHARE,
    model: CauseModel | None = None,
    category: str | None = None,
) -> list[PredictedCause]:
    """The pending case's likely causes, limited to ``category`` (刑事/民事/行政…) when it is known.

    With a ``model``: its top 3 (``predict_with_model``). Without: causes named in ``facts`` first,
    then the neighbours' vote; a named cause carries its neighbour share too (0 when no neighbour has
    it), and its source says where it came from, so a caller can show "案情载明" apart from "类案多数为".
    """
    if model is not None:
        return predict_with_model(facts, model, category)
    shares = {
        p.name: p.share for p in neighbour_shares(neighbour_docs, weights) if _in_category(p.name, category)
    }
    named = [name for name in causes_from_text(facts) if _in_category(name, category)]
    predicted = [
        PredictedCause(name, shares.get(name, 0.0), "text+neighbours" if name in shares else "text")
        for name in named
    ]
    predicted += [
        PredictedCause(name, share)
        for name, share in shares.items()
        if name not in named and share >= min_share
    ]
    return predicted
