"""Vector index choice by corpus size, the trained (IVF) path of the build, and what audits record."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from index_build.build import embed_rows
from index_build.token_store import PartWriter
from retrieval.vector_index import (
    EXACT_SEARCH_LIMIT,
    VectorIndex,
    VectorIndexSpec,
    build_vector_index,
    choose_index_spec,
    new_vector_index,
)


def _clustered(n: int, dim: int = 32, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, dim))
    vectors = (centres[rng.integers(0, 20, n)] + 0.3 * rng.normal(size=(n, dim))).astype(np.float32)
    faiss.normalize_L2(vectors)
    return vectors


def test_exact_up_to_the_limit_then_ivf_with_exact_rerank():
    assert choose_index_spec(EXACT_SEARCH_LIMIT).factory == "IDMap2,Flat"
    large = choose_index_spec(1_000_000)
    assert large.factory.startswith("IDMap2,IVF") and large.factory.endswith(",SQ8,RFlat")
    assert {"nprobe", "k_factor_rf"} <= set(large.params)


def test_ivf_index_finds_what_exact_search_finds_and_keeps_the_vectors(tmp_path: Path):
    vectors = _clustered(3000)
    spec = VectorIndexSpec("IDMap2,IVF16,SQ8,RFlat", {"nprobe": 8, "k_factor_rf": 2})
    faiss.write_index(build_vector_index(spec, vectors), str(tmp_path / "v.faiss"))
    loaded = VectorIndex.load(tmp_path / "v.faiss", spec)
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, truth = exact.search(vectors[:50], 10)
    _, found = loaded.search(vectors[:50], 10)
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
    assert recall >= 0.95
    assert np.allclose(loaded.reconstruct(17), vectors[17])
    described = loaded.describe()
    assert described["params"] == {"nprobe": 8, "k_factor_rf": 2} and described["ntotal"] == 3000
    assert described["exact"] is False


@dataclass(frozen=True)
class _Spec:
    input: str = "segmented"


class _FakeEmbedder:
    """Vectors made from the line text, so rows can be checked after the spool round trip."""

    spec = _Spec()
    dimension = 32

    def encode_segmented_passages(self, lines: list[str]) -> np.ndarray:
        return _clustered(len(lines), seed=int(lines[0].split()[0]))


def test_build_trains_an_ivf_index_on_spooled_vectors_then_adds_every_row(tmp_path: Path):
    build_dir = tmp_path / "build"
    part = PartWriter(build_dir, "facts")
    for i in range(600):
        part.write(f"{i} 盗窃")
    part.close()
    index = new_vector_index(VectorIndexSpec("IDMap2,IVF8,SQ8,RFlat", {"nprobe": 8}), 32)
    embed_rows(_FakeEmbedder(), index, build_dir, 0, 600, progress=False)
    assert index.ntotal == 600 and index.is_trained
    assert sorted(faiss.vector_to_array(index.id_map)) == list(range(600))
    assert not list(tmp_path.glob("*.npy"))  # the spool is gone
