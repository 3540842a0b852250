"""Recipe: the 罪名/案由 classifier the search predicts causes with, trained from labelled texts.

    python -m index_build.recipes.cause_classifier --out DIR INPUT [INPUT ...] [--format FMT]

Every document an input holds (any format the build reads: the JSON Lines schema, CAIL, LeCaRD,
guiding/公报 Markdown) that carries a cause and facts is one training text, labelled with all its
causes (normalised) and its 案件类别; inputs listed first win when ``max_texts_per_label`` caps a
frequent cause, so put a court's own judgments first. The model (format 2, see
``retrieval.cause_model``) is one-vs-rest linear SVMs (scikit-learn's LinearSVC, liblinear) over a
TF-IDF of character and, optionally, segmenter word n-grams, each 案件类别's labels learnt from that
category's texts; it is deterministic (seeded solver, ties broken by order) and writes a folder of
JSON and ``.npy``/``.npz`` with a manifest, like the static embedder's recipe.

The model is a separate artefact, not trained inside every build: the best training set is a
court's choice (its own judgments plus published cases: CAIL2018, LeCaRD, guiding/公报 cases), and
training costs minutes a build need not pay. The folder is passed to the search
(``leian build --cause-model DIR`` copies it into the build's ``cause_model/``, or
``LEIAN_CAUSE_MODEL=DIR`` for the service); without one the search falls back to the neighbours'
vote. Accuracy: bench/cause_classifier_cv.py and bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from retrieval.cause_model import (
    BIAS,
    FORMAT,
    IDF,
    LABELS,
    MANIFEST,
    VOCABULARY,
    WEIGHTS,
    Analyzer,
    tfidf_rows,
)
from retrieval.parsing.causes import normalise_cause

RECIPE = "cause-classifier-linear-svm"


@dataclass(frozen=True)
class LabelledText:
    """One training text: its facts, its causes and the 案件类别 they belong to."""

    facts: str
    causes: tuple[str, ...]
    category: str


@dataclass(frozen=True)
class ClassifierRecipe:
    # Characters alone and segmenter words 1–2 beside them: 5-fold CJRC first/top-3 right 0.401/0.597
    # civil, 0.494/0.768 criminal; with character 2-grams too 0.397/0.591 and 0.508/0.768 at half
    # the speed and 1.6× the size (bench/README.md). 0 words: characters only.
    char_ngram_max: int = 1
    word_ngram_max: int = 2
    min_df: int = 2
    max_features: int = 100_000
    c: float = 1.0  # LinearSVC's C (inverse of the L2 penalty); scikit-learn's default, not tuned
    balanced: bool = False  # weigh each label's few positives up against its many negatives
    # At most this many texts per first cause, the first ones given kept (CAIL2018 and LeCaRD hold
    # thousands of 盗窃 and 危险驾驶 facts): it bounds training time, which grows with texts × labels,
    # and keeps the big charges from drowning the rare ones. 0: no limit.
    max_texts_per_label: int = 50
    prune: float = 1e-3  # weights below this in magnitude are dropped from the shipped model
    # Softmax temperature over the SVM scores; chosen by the least negative log-likelihood of the true
    # cause over the pooled 5-fold CJRC predictions (bench/cause_classifier_cv.py, bench/README.md).
    temperature: float = 0.1


def category_of(cause: str, given: str | None) -> str:
    """A label's 案件类别: a charge (…罪) is 刑事 whatever the source says; otherwise the source's."""
    if cause.endswith("罪"):
        return "刑事"
    return given if given and given != "刑事" else "民事"


def labelled_documents(paths: Iterable[Path], fmt: str | None = None) -> list[LabelledText]:
    """Training texts from inputs in any format the build reads; documents without causes or facts skipped.

    A criminal document keeps only its 罪名 (CAIL2018's ``[制造、贩卖、传播]淫秽物品`` also yields a
    name without 罪 that is no label); the facts section is the text (the whole judgment where a
    reader found none), so what is learnt is what a pending case's facts look like.
    """
    from index_build.readers.detect import read_any
    from retrieval.document import Document

    texts = []
    for path in paths:
        for item in read_any(Path(path), fmt):
            if not isinstance(item, Document) or not item.causes:
                continue
            facts = item.searchable_facts()
            causes = tuple(dict.fromkeys(normalise_cause(c) for c in item.causes if c.strip()))
            given = item.category.value if item.category is not None else None
            if given == "刑事" or any(c.endswith("罪") for c in causes):
                causes = tuple(c for c in causes if c.endswith("罪"))
            if facts.strip() and causes:
                texts.append(LabelledText(facts, causes, category_of(causes[0], given)))
    return texts


def _vocabulary(rows: Sequence[list[str]], recipe: ClassifierRecipe) -> tuple[list[str], np.ndarray]:
    """The features in at least ``min_df`` texts (the ``max_features`` most frequent; ties by name),
    and their smoothed IDF ln((1 + n) / (1 + df)) + 1."""
    df: Counter[str] = Counter()
    for grams in rows:
        df.update(set(grams))
    kept = sorted((g for g, n in df.items() if n >= recipe.min_df), key=lambda g: (-df[g], g))
    words = sorted(kept[: recipe.max_features])
    idf = np.array([math.log((1 + len(rows)) / (1 + df[w])) + 1 for w in words], dtype=np.float64)
    return words, idf


def _one_vs_rest(
    x: sp.csr_matrix, y: np.ndarray, recipe: ClassifierRecipe
) -> tuple[sp.csc_matrix, np.ndarray]:
    """A linear SVM per column of the 0/1 matrix ``y``: (features × columns) weights, weights under
    ``prune`` in magnitude dropped, and the biases.

    A column with no positive (or no negative) gets no weights and a bias of −1 (+1): nothing to
    separate. liblinear's coordinate descent is seeded, so training twice gives the same model.
    """
    from sklearn.svm import LinearSVC

    columns = []
    bias = np.zeros(y.shape[1], dtype=np.float64)
    for j in range(y.shape[1]):
        target = y[:, j]
        coef = np.zeros(x.shape[1], dtype=np.float32)
        if target.all() or not target.any():
            bias[j] = 1.0 if target.all() else -1.0
        else:
            svm = LinearSVC(
                C=recipe.c, class_weight="balanced" if recipe.balanced else None, random_state=0, dual=True
            )
            svm.fit(x, target)
            coef = svm.coef_[0].astype(np.float32)
            bias[j] = float(svm.intercept_[0])
        coef[np.abs(coef) < recipe.prune] = 0.0
        columns.append(sp.csc_matrix(coef.reshape(-1, 1)))
    return sp.hstack(columns, format="csc") if columns else sp.csc_matrix((x.shape[1], 0)), bias


def _capped(texts: Sequence[LabelledText], cap: int) -> list[LabelledText]:
    """The texts in order, less those whose first cause already has ``cap`` texts before them."""
    if cap <= 0:
        return list(texts)
    seen: Counter[str] = Counter()
    kept = []
    for text in texts:
        seen[text.causes[0]] += 1
        if seen[text.causes[0]] <= cap:
            kept.append(text)
    return kept


def train(texts: Sequence[LabelledText], recipe: ClassifierRecipe = ClassifierRecipe()) -> dict[str, object]:
    """The model's arrays and manifest (``write`` puts them in a folder); raises ValueError on no data.

    Each 案件类别's labels are learnt from that category's texts only (a 罪名 is never weighed against
    civil facts, which keeps the criminal side's many texts from costing the civil labels anything),
    and one column per category learns to tell the categories apart.
    """
    if not texts:
        raise ValueError("cause classifier: no labelled texts to train on")
    texts = _capped(texts, recipe.max_texts_per_label)
    analyse = Analyzer(recipe.char_ngram_max, recipe.word_ngram_max)
    grams = [analyse(t.facts) for t in texts]
    words, idf = _vocabulary(grams, recipe)
    vocabulary = {w: i for i, w in enumerate(words)}
    del grams
    x = tfidf_rows([t.facts for t in texts], vocabulary, idf, analyse)
    label_category: dict[str, str] = {}
    for text in texts:
        for cause in text.causes:
            label_category.setdefault(cause, category_of(cause, text.category))
    # a 罪名 among a civil text's causes makes 刑事 a category even when no text is criminal
    categories = sorted({t.category for t in texts} | set(label_category.values()))
    names = sorted(label_category, key=lambda n: (categories.index(label_category[n]), n))
    blocks, biases = [], []
    for category in categories:
        rows = np.array([i for i, t in enumerate(texts) if t.category == category], dtype=np.int64)
        own = [n for n in names if label_category[n] == category]
        if not len(rows):  # labels without a text of their category: never predicted with confidence
            blocks.append(sp.csc_matrix((len(words), len(own)), dtype=np.float32))
            biases.append(np.full(len(own), -1.0))
            continue
        y = np.zeros((len(rows), len(own)), dtype=bool)
        for r, i in enumerate(rows):
            y[r, [own.index(c) for c in texts[i].causes if c in own]] = True
        w, b = _one_vs_rest(x[rows], y, recipe)
        blocks.append(w)
        biases.append(b)
    y = np.array([[t.category == c for c in categories] for t in texts], dtype=bool)
    w, b = _one_vs_rest(x, y, recipe) if len(categories) > 1 else (sp.csc_matrix((len(words), 1)), [1.0])
    blocks.append(w)
    biases.append(np.asarray(b, dtype=np.float64))
    manifest = {
        "format": FORMAT,
        "recipe": RECIPE,
        **asdict(recipe),
        "training_texts": len(texts),
        "labels": len(names),
        "features": len(words),
        "categories": dict(sorted(Counter(label_category.values()).items())),
    }
    if recipe.word_ngram_max > 0:
        from retrieval.segmenter import default_segmenter

        manifest["segmenter"] = default_segmenter().info.fingerprint
    return {
        "manifest": manifest,
        "vocabulary": words,
        "idf": idf,
        "weights": sp.hstack(blocks, format="csr", dtype=np.float32),
        "bias": np.concatenate(biases),
        "labels": {
            "causes": [{"name": n, "category": label_category[n]} for n in names],
            "categories": categories,
        },
    }


def write(model: dict[str, object], out: Path, sources: Sequence[Path] = ()) -> Path:
    """The model as a folder (written beside ``out`` and renamed into place, so never half-written)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    manifest = dict(model["manifest"])  # type: ignore[arg-type]
    manifest["sources"] = [str(s) for s in sources]
    (tmp / VOCABULARY).write_text(json.dumps(model["vocabulary"], ensure_ascii=False), encoding="utf-8")
    (tmp / LABELS).write_text(json.dumps(model["labels"], ensure_ascii=False, indent=0), encoding="utf-8")
    np.save(tmp / IDF, model["idf"])
    np.save(tmp / BIAS, model["bias"])
    sp.save_npz(tmp / WEIGHTS, model["weights"], compressed=True)  # type: ignore[arg-type]
    manifest["files"] = {
        name: hashlib.sha256((tmp / name).read_bytes()).hexdigest()
        for name in (VOCABULARY, LABELS, IDF, BIAS, WEIGHTS)
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", type=Path, help="labelled inputs (any format the build reads)")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the model to")
    parser.add_argument("--format", dest="fmt", default=None, help="input format (default: detected)")
    args = parser.parse_args(argv)
    texts = labelled_documents(args.inputs, args.fmt)
    write(train(texts), args.out, args.inputs)
    print(json.dumps({"out": str(args.out), "training_texts": len(texts)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
