"""The trained 罪名/案由 classifier as the search loads it: a folder written by
``index_build.recipes.cause_classifier``, scored with numpy alone.

The model is ridge regression over character 1–2-gram TF-IDF, kept in its dual form: the training
texts' sparse TF-IDF rows ``X`` and the dual coefficients ``A`` (one column per label), so that a
text ``x`` scores ``(x · Xᵀ) · A``. The dual form trains in seconds on a few thousand texts where a
one-vs-rest linear model over hundreds of labels takes minutes on two cores, and it needs no pickle:
every file is JSON or ``.npy``/``.npz``. Character n-grams need no segmenter, so a model trained here
reads any build's texts the same way.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

FORMAT = 1
MANIFEST = "manifest.json"
VOCABULARY = "vocabulary.json"
IDF = "idf.npy"
TRAINING_ROWS = "training_rows.npz"
DUAL = "dual.npy"
LABELS = "labels.json"
MAX_CHARS = 3000  # the head of the facts: the later parts of a long text repeat and dilute it
_SPACE = re.compile(r"\s+")


class CauseModelError(ValueError):
    """A cause-model folder that cannot be read (missing file, other format, shapes that disagree)."""


def char_ngrams(text: str, max_n: int = 2) -> list[str]:
    """Character 1…``max_n``-grams of the head of ``text``, whitespace removed (the analyzer of both
    training and scoring, so the two can never disagree)."""
    head = _SPACE.sub("", text)[:MAX_CHARS]
    return [head[i : i + n] for n in range(1, max_n + 1) for i in range(len(head) - n + 1)]


def tfidf_rows(texts: list[str], vocabulary: dict[str, int], idf: np.ndarray, max_n: int) -> sp.csr_matrix:
    """Sublinear TF (1 + ln tf) × IDF, each row L2-normalised; n-grams outside the vocabulary dropped."""
    indptr, indices, values = [0], [], []
    for text in texts:
        counts = Counter(g for g in char_ngrams(text, max_n) if g in vocabulary)
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
    """A loaded classifier: ``scores(text)`` gives one raw score per label, in ``labels`` order."""

    folder: Path
    manifest: dict
    vocabulary: dict[str, int]
    idf: np.ndarray
    training_rows: sp.csr_matrix
    dual: np.ndarray
    labels: list[Label]

    @property
    def max_n(self) -> int:
        return int(self.manifest["ngram_max"])

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
                    f"{folder}: cause model format {manifest.get('format')!r}, expected {FORMAT}"
                )
            words = json.loads((folder / VOCABULARY).read_text(encoding="utf-8"))
            idf = np.load(folder / IDF)
            rows = sp.load_npz(folder / TRAINING_ROWS).tocsr()
            dual = np.load(folder / DUAL)
            labels = [Label(**item) for item in json.loads((folder / LABELS).read_text(encoding="utf-8"))]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, CauseModelError):
                raise
            raise CauseModelError(f"{folder}: not a cause model ({exc})") from exc
        if not (len(words) == len(idf) == rows.shape[1] and rows.shape[0] == dual.shape[0]):
            raise CauseModelError(
                f"{folder}: vocabulary, IDF, training rows and coefficients disagree in shape"
            )
        if dual.shape[1] != len(labels):
            raise CauseModelError(f"{folder}: {dual.shape[1]} coefficient columns for {len(labels)} labels")
        vocabulary = {word: i for i, word in enumerate(words)}
        return cls(folder, manifest, vocabulary, idf, rows, dual, labels)

    def scores(self, text: str) -> np.ndarray:
        """Raw ridge scores of ``text`` for every label (higher: more likely)."""
        row = tfidf_rows([text], self.vocabulary, self.idf, self.max_n)
        kernel = np.asarray((row @ self.training_rows.T).todense(), dtype=np.float64)
        return (kernel @ self.dual)[0]
