"""The trained 罪名/案由 classifier as the search loads it: a folder written by
``index_build.recipes.cause_classifier``, scored with numpy/scipy alone (no pickle, no scikit-learn).

Format 2 is a primal linear model: one-vs-rest linear SVMs over a TF-IDF of character n-grams and
segmenter word n-grams. A text ``x`` scores ``x · W + b``, one column per label; the columns of a
label are trained only against texts of its own 案件类别 (a 罪名 against criminal facts, a 案由
against civil ones), and a second, small block of columns (``categories``) tells the 案件类别 of
facts when neither the 案号 nor the judge gives it. The primal form scales with the vocabulary, not
with the training texts, so tens of thousands of texts (CAIL2018, LeCaRD) fit where format 1's dual
kernel (N × N) did not; format 1 folders are refused with a message saying to retrain.

Every file is JSON or ``.npy``/``.npz``. Word n-grams come from the project's segmenter, whose
fingerprint the manifest records: a model is refused by an installation that segments differently.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

FORMAT = 2
MANIFEST = "manifest.json"
VOCABULARY = "vocabulary.json"
IDF = "idf.npy"
WEIGHTS = "weights.npz"  # sparse (features × columns): the causes' columns, then the categories'
BIAS = "bias.npy"
LABELS = "labels.json"  # {"causes": [{"name", "category"}], "categories": [...]}
MAX_CHARS = 3000  # the head of the facts: the later parts of a long text repeat and dilute it
WORD = "\x01"  # prefix of a word n-gram feature; never in a text, so no char n-gram can collide
_SPACE = re.compile(r"\s+")


class CauseModelError(ValueError):
    """A cause-model folder that cannot be read (missing file, other format, shapes that disagree)."""


@dataclass(frozen=True)
class Analyzer:
    """Text → features: character 1…``char_max``-grams of the head of the text (whitespace removed)
    and, when ``word_max`` > 0, segmenter word 1…``word_max``-grams. Training and scoring share it,
    so the two can never disagree."""

    char_max: int = 2
    word_max: int = 0

    def __call__(self, text: str) -> list[str]:
        head = _SPACE.sub("", text)[:MAX_CHARS]
        grams = [head[i : i + n] for n in range(1, self.char_max + 1) for i in range(len(head) - n + 1)]
        if self.word_max > 0:
            from retrieval.segmenter import default_segmenter

            words = default_segmenter().tokens(head)
            for n in range(1, self.word_max + 1):
                grams += [WORD + " ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
        return grams


def tfidf_rows(
    texts: Sequence[str], vocabulary: dict[str, int], idf: np.ndarray, analyse: Callable[[str], list[str]]
) -> sp.csr_matrix:
    """Sublinear TF (1 + ln tf) × IDF, each row L2-normalised; features outside the vocabulary dropped."""
    indptr, indices, values = [0], [], []
    for text in texts:
        counts = Counter(g for g in analyse(text) if g in vocabulary)
        cols = np.fromiter((vocabulary[g] for g in counts), dtype=np.int64, count=len(counts))
        vals = np.fromiter((1.0 + math.log(c) for c in counts.values()), dtype=np.float64, count=len(counts))
        vals = vals * idf[cols] if len(cols) else vals
        norm = float(np.linalg.norm(vals))
        order = np.argsort(cols)
        indices.extend(cols[order].tolist())
        values.extend((vals[order] / norm if norm > 0 else vals[order]).tolist())
        indptr.append(len(indices))
    return sp.csr_matrix(
        (np.asarray(values, dtype=np.float32), np.asarray(indices, dtype=np.int64), np.asarray(indptr)),
        shape=(len(texts), len(idf)),
    )


@dataclass(frozen=True)
class Label:
    """A label the model predicts: the normalised 罪名/案由 and the 案件类别 it belongs to."""

    name: str
    category: str  # 刑事 / 民事 / 行政 / …


@dataclass
class CauseModel:
    """A loaded classifier: ``scored(text)`` gives one raw score per label, in ``labels`` order, and
    the 案件类别 the facts read as."""

    folder: Path
    manifest: dict
    vocabulary: dict[str, int]
    idf: np.ndarray
    weights: sp.csc_matrix
    bias: np.ndarray
    labels: list[Label]
    categories: list[str]

    @property
    def analyzer(self) -> Analyzer:
        return Analyzer(int(self.manifest["char_ngram_max"]), int(self.manifest["word_ngram_max"]))

    @property
    def temperature(self) -> float:
        """Softmax temperature that turns raw scores into confidences (chosen by cross-validation)."""
        return float(self.manifest["temperature"])

    @classmethod
    def load(cls, folder: Path) -> CauseModel:
        folder = Path(folder)
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            if manifest.get("format") != FORMAT:
                raise CauseModelError(
                    f"{folder}: cause model format {manifest.get('format')!r}, this code reads format "
                    f"{FORMAT}; retrain it with python -m index_build.recipes.cause_classifier"
                )
            words = json.loads((folder / VOCABULARY).read_text(encoding="utf-8"))
            idf = np.load(folder / IDF)
            weights = sp.load_npz(folder / WEIGHTS).tocsr()
            bias = np.load(folder / BIAS)
            names = json.loads((folder / LABELS).read_text(encoding="utf-8"))
            labels = [Label(**item) for item in names["causes"]]
            categories = [str(c) for c in names["categories"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, CauseModelError):
                raise
            raise CauseModelError(f"{folder}: not a cause model ({exc})") from exc
        if not (len(words) == len(idf) == weights.shape[0]):
            raise CauseModelError(f"{folder}: vocabulary, IDF and weights disagree in shape")
        if not (weights.shape[1] == len(bias) == len(labels) + len(categories)):
            raise CauseModelError(
                f"{folder}: {weights.shape[1]} weight columns for {len(labels)} labels and "
                f"{len(categories)} categories"
            )
        if int(manifest.get("word_ngram_max", 0)) > 0:
            from retrieval.segmenter import default_segmenter

            have = default_segmenter().info.fingerprint
            if manifest.get("segmenter") != have:
                raise CauseModelError(
                    f"{folder}: trained with segmenter {manifest.get('segmenter')}, this installation "
                    f"has {have}; retrain the model"
                )
        vocabulary = {word: i for i, word in enumerate(words)}
        return cls(folder, manifest, vocabulary, idf, weights, bias, labels, categories)

    def scored(self, text: str) -> tuple[np.ndarray, str | None]:
        """Raw SVM scores of ``text`` for every label (higher: more likely) and the 案件类别 the facts
        read as (the best of the category columns; None when the model knows no category)."""
        row = tfidf_rows([text], self.vocabulary, self.idf, self.analyzer)
        raw = np.asarray((row @ self.weights).todense(), dtype=np.float64)[0] + self.bias
        scores, per_category = raw[: len(self.labels)], raw[len(self.labels) :]
        if not self.categories:
            return scores, None
        return scores, self.categories[int(np.argmax(per_category))] if len(
            self.categories
        ) > 1 else self.categories[0]

    def scores(self, text: str) -> np.ndarray:
        return self.scored(text)[0]
