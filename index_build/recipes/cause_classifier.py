"""Recipe: the 罪名/案由 classifier the search predicts causes with, trained from labelled texts.

    python -m index_build.recipes.cause_classifier --out DIR INPUT [INPUT ...] [--format FMT]

Every document an input holds (any format the build reads: the JSON Lines schema, CAIL, LeCaRD,
guiding/公报 Markdown) that carries a cause and facts is one training text, labelled with all its
causes (normalised) and its 案件类别. The model is ridge regression over character 1–2-gram TF-IDF
in dual form (see ``retrieval.cause_model``); it is deterministic (no sampling, ties broken by
order) and writes a folder with a small JSON manifest, like the static embedder's recipe.

The model is a separate artefact, not trained inside every build: a court's corpus of judgments is
labelled, but the best training set is its choice (its own judgments plus published cases, minus
data that describe another kind of case: CAIL2018's criminal facts lowered CJRC criminal accuracy
from 0.36 to 0.29 in cross-validation, see bench/README.md), and training costs a minute a build
need not pay. The folder is passed to the search (``IndexStore.cause_model`` reads it from a build's
``cause_model/``); without one the search falls back to the neighbours' vote.
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
import scipy.linalg
import scipy.sparse as sp

from retrieval.cause_model import (
    DUAL,
    FORMAT,
    IDF,
    LABELS,
    MANIFEST,
    TRAINING_ROWS,
    VOCABULARY,
    char_ngrams,
    tfidf_rows,
)
from retrieval.parsing.causes import normalise_cause

RECIPE = "cause-classifier-ridge-char12"


@dataclass(frozen=True)
class LabelledText:
    """One training text: its facts, its causes and the 案件类别 they belong to."""

    facts: str
    causes: tuple[str, ...]
    category: str


@dataclass(frozen=True)
class ClassifierRecipe:
    ngram_max: int = 2
    min_df: int = 2
    max_features: int = 50_000
    alpha: float = 1.0  # ridge penalty; not tuned: 0.3 was tried only together with other changes
    # Softmax temperature: the one of {0.005, 0.01, 0.02, 0.03, 0.05, 0.1} with the least negative
    # log-likelihood of the true cause over CJRC 5-fold predictions (mean top-1 confidence 0.37 against
    # 0.35 accuracy; 0.1 gave 0.03). See bench/README.md.
    temperature: float = 0.03


def category_of(cause: str, given: str | None) -> str:
    """A label's 案件类别: a charge (…罪) is 刑事 whatever the source says; otherwise the source's."""
    if cause.endswith("罪"):
        return "刑事"
    return given if given and given != "刑事" else "民事"


def labelled_documents(paths: Iterable[Path], fmt: str | None = None) -> list[LabelledText]:
    """Training texts from inputs in any format the build reads; documents without causes or facts skipped."""
    from index_build.readers.detect import read_any
    from retrieval.document import Document

    texts = []
    for path in paths:
        for item in read_any(Path(path), fmt):
            if not isinstance(item, Document) or not item.causes:
                continue
            facts = item.searchable_facts()
            causes = tuple(dict.fromkeys(normalise_cause(c) for c in item.causes if c.strip()))
            if facts.strip() and causes:
                category = item.category.value if item.category is not None else None
                texts.append(LabelledText(facts, causes, category_of(causes[0], category)))
    return texts


def _vocabulary(texts: Sequence[str], recipe: ClassifierRecipe) -> tuple[list[str], np.ndarray]:
    """The n-grams in at least ``min_df`` texts (the ``max_features`` most frequent; ties by n-gram),
    and their smoothed IDF ln((1 + n) / (1 + df)) + 1."""
    df: Counter[str] = Counter()
    for text in texts:
        df.update(set(char_ngrams(text, recipe.ngram_max)))
    kept = sorted((g for g, n in df.items() if n >= recipe.min_df), key=lambda g: (-df[g], g))
    words = sorted(kept[: recipe.max_features])
    idf = np.array([math.log((1 + len(texts)) / (1 + df[w])) + 1 for w in words], dtype=np.float64)
    return words, idf


def train(texts: Sequence[LabelledText], recipe: ClassifierRecipe = ClassifierRecipe()) -> dict[str, object]:
    """The model's arrays and manifest (``write`` puts them in a folder); raises ValueError on no data."""
    if not texts:
        raise ValueError("cause classifier: no labelled texts to train on")
    facts = [t.facts for t in texts]
    words, idf = _vocabulary(facts, recipe)
    vocabulary = {w: i for i, w in enumerate(words)}
    rows = tfidf_rows(facts, vocabulary, idf, recipe.ngram_max)
    label_category: dict[str, str] = {}
    for text in texts:
        for cause in text.causes:
            label_category.setdefault(cause, category_of(cause, text.category))
    names = sorted(label_category)
    column = {name: i for i, name in enumerate(names)}
    targets = np.zeros((len(texts), len(names)), dtype=np.float64)
    for i, text in enumerate(texts):
        targets[i, [column[c] for c in text.causes]] = 1.0
    kernel = np.asarray((rows @ rows.T).todense(), dtype=np.float64)
    kernel[np.diag_indices_from(kernel)] += recipe.alpha
    dual = scipy.linalg.solve(kernel, targets, assume_a="pos")
    manifest = {
        "format": FORMAT,
        "recipe": RECIPE,
        **asdict(recipe),
        "training_texts": len(texts),
        "labels": len(names),
        "features": len(words),
        "categories": dict(sorted(Counter(label_category.values()).items())),
    }
    return {
        "manifest": manifest,
        "vocabulary": words,
        "idf": idf,
        "rows": rows,
        "dual": dual.astype(np.float32),
        "labels": [{"name": n, "category": label_category[n]} for n in names],
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
    np.save(tmp / DUAL, model["dual"])
    sp.save_npz(tmp / TRAINING_ROWS, model["rows"], compressed=True)  # type: ignore[arg-type]
    manifest["files"] = {
        name: hashlib.sha256((tmp / name).read_bytes()).hexdigest()
        for name in (VOCABULARY, LABELS, IDF, DUAL, TRAINING_ROWS)
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
