"""The static embedder recipe: the same input trains the same model, and documents stay apart."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from index_build.recipes.static_embedder import (
    StaticRecipe,
    remove_common_components,
    train_static_embedder,
    training_epochs,
    write_token_file,
)
from retrieval.embedder import Embedder, folder_sha256
from retrieval.segmenter import default_segmenter
from tests.conftest import SAMPLES, SHARED_DATA, require

# Small and short, so that the fast loop stays fast; the slow test below uses the defaults.
QUICK = StaticRecipe(dimension=32, max_epochs=20)


def _token_lines(texts: list[str]) -> list[str]:
    segmenter = default_segmenter()
    return [" ".join(segmenter.tokens(t)) for t in texts]


@pytest.fixture(scope="module")
def sample_tokens(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    texts = [p.read_text(encoding="utf-8") for p in sorted((SAMPLES / "judgments").glob("*.txt"))]
    lines = _token_lines(texts)
    path = tmp_path_factory.mktemp("tokens") / "tokens.txt"
    write_token_file((line.split() for line in lines), path)
    return path, lines


def _median_cosine(vectors: np.ndarray) -> float:
    sims = vectors @ vectors.T
    return float(np.median(sims[np.triu_indices(len(vectors), k=1)]))


def test_two_trainings_of_the_same_input_are_identical(sample_tokens, tmp_path):
    tokens, lines = sample_tokens
    first = train_static_embedder(tokens, tmp_path / "a", QUICK)
    second = train_static_embedder(tokens, tmp_path / "b", QUICK)
    assert folder_sha256(first) == folder_sha256(second)
    a = Embedder(first).encode_segmented_passages(lines)
    b = Embedder(second).encode_segmented_passages(lines)
    assert a.tobytes() == b.tobytes()


def test_common_component_removal_keeps_documents_apart(sample_tokens, tmp_path):
    tokens, lines = sample_tokens
    raw = train_static_embedder(tokens, tmp_path / "raw", replace(QUICK, common_components=0))
    fixed = train_static_embedder(tokens, tmp_path / "fixed", QUICK)
    raw_median = _median_cosine(Embedder(raw).encode_segmented_passages(lines))
    fixed_median = _median_cosine(Embedder(fixed).encode_segmented_passages(lines))
    # Without the removal the typical pair of sample judgments looks alike; with it, it does not.
    assert raw_median > 0.7
    assert fixed_median < 0.3
    sidecar = json.loads((fixed / "leian_embedder.json").read_text(encoding="utf-8"))
    assert sidecar["common_components_removed"] == 1
    assert sidecar["recipe"]["workers"] == 1


def test_removal_takes_the_shared_direction_out_of_every_pooled_document():
    rng = np.random.default_rng(0)
    shared = rng.normal(size=8)
    weights = (rng.normal(size=(50, 8)) * 0.1 + shared).astype(np.float32)
    documents = np.stack([weights[rng.integers(0, 50, 20)].mean(axis=0) for _ in range(30)])
    assert remove_common_components(weights, documents.astype(np.float64), 1) == 1
    pooled = np.stack([weights[rng.integers(0, 50, 20)].mean(axis=0) for _ in range(30)])
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    assert _median_cosine(pooled) < 0.5
    assert remove_common_components(weights, documents[:0], 1) == 0  # nothing to learn from


def test_small_corpora_get_more_epochs_up_to_the_cap():
    recipe = StaticRecipe()
    assert training_epochs(recipe, 10**9) == recipe.epochs
    assert training_epochs(recipe, 400_000) == 50
    assert training_epochs(recipe, 1) == recipe.max_epochs


@pytest.mark.slow
def test_cjrc_small_corpus_does_not_collapse(tmp_path):
    """The issue's case: ~1,000 CJRC facts gave every pair cosine 0.995–0.9999. On 300 of them the
    recipe must spread documents and place same-cause pairs closer than others."""
    rows = [json.loads(line) for line in require(SHARED_DATA / "cail2019-cjrc-dev" / "docs.jsonl").open()][
        :300
    ]
    lines = _token_lines([r["facts"] for r in rows])
    tokens = tmp_path / "tokens.txt"
    write_token_file((line.split() for line in lines), tokens)
    vectors = Embedder(train_static_embedder(tokens, tmp_path / "m")).encode_segmented_passages(lines)
    sims = vectors @ vectors.T
    upper = np.triu_indices(len(rows), k=1)
    causes = np.asarray([r["cause"] for r in rows])
    same = causes[upper[0]] == causes[upper[1]]
    pairs = sims[upper]
    assert np.percentile(pairs, 99) - np.percentile(pairs, 1) > 0.3
    assert pairs[same].mean() > pairs[~same].mean() + 0.1


@pytest.mark.slow
def test_two_builds_of_the_same_input_write_the_same_vectors(sample_index: Path, tmp_path: Path):
    """Issue 20: two builds of the same input gave different indexes (word2vec with 2 workers)."""
    import hashlib

    from index_build.build import BuildOptions, build
    from retrieval.index_layout import resolve_current
    from tests.conftest import SAMPLE_INPUTS

    again = build(BuildOptions(inputs=SAMPLE_INPUTS, home=tmp_path / "again", progress=False)).build_dir
    first = resolve_current(sample_index)

    def sha(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    assert sha(first / "vectors.faiss") == sha(again / "vectors.faiss")
    assert folder_sha256(first / "embedder") == folder_sha256(again / "embedder")
