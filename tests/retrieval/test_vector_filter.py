"""Filtered vector search: FAISS ID selectors give the rows brute-force filtering gives."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import faiss
import numpy as np
import pytest

from retrieval.methods import semantic_hits
from retrieval.vector_index import VectorIndex, VectorIndexSpec, build_vector_index

DIM = 16
N = 600


def _vectors(*, ties: bool = False) -> np.ndarray:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((N, DIM)).astype(np.float32)
    if ties:  # exact duplicates: equal scores, ordered only by the tie-break
        x[N // 2 : N // 2 + 40] = x[:40]
    faiss.normalize_L2(x)
    return x


def _loaded(tmp_path: Path, factory: str, params: dict[str, float], vectors: np.ndarray) -> VectorIndex:
    spec = VectorIndexSpec(factory, params)
    faiss.write_index(build_vector_index(spec, vectors), str(tmp_path / "v.faiss"))
    return VectorIndex.load(tmp_path / "v.faiss", spec)


def _brute_force(vectors: np.ndarray, query: np.ndarray, k: int, blocked: np.ndarray) -> list[int]:
    scores = vectors @ query
    rows = [r for r in np.lexsort((np.arange(N), -scores)) if not blocked[r]]
    return [int(r) for r in rows[:k]]


def _masks(seed: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    few = np.ones(N, dtype=bool)
    few[[5, 305, 77]] = False  # three rows allowed, fewer than k
    return [rng.random(N) < share for share in (0.01, 0.3, 0.7, 0.97)] + [few]


@pytest.mark.slow  # trains two IVF indexes (seconds); the exact index's filtering stays in the inner loop
@pytest.mark.parametrize(
    ("factory", "params"),
    [
        ("IDMap2,IVF8,Flat", {"nprobe": 8}),
        # coarse codes, exact refinement: k * k_factor_rf exceeds the allowed rows, so all are refined
        ("IDMap2,IVF8,PQ4x4,RFlat", {"nprobe": 8, "k_factor_rf": 100}),
    ],
)
def test_filtered_ivf_search_returns_the_rows_of_brute_force_filtering(
    tmp_path: Path, factory: str, params: dict[str, float]
) -> None:
    vectors = _vectors()
    index = _loaded(tmp_path, factory, params, vectors)
    for i, blocked in enumerate(_masks()):
        query = vectors[i * 31 + 1]
        scores, rows = index.search_allowed(query, 10, blocked)
        found = [int(r) for r in rows if r >= 0]
        assert found == _brute_force(vectors, query, 10, blocked)
        assert not blocked[found].any()
        np.testing.assert_allclose(scores[: len(found)], vectors[found] @ query, rtol=1e-5, atol=1e-5)


def test_the_selector_keeps_the_configured_search_parameters(tmp_path: Path) -> None:
    """nprobe 2 (not FAISS' default 1) with a selector probes the two lists the unfiltered search
    probes: the best allowed rows of those lists, never a row of another list."""
    vectors = _vectors()
    index = _loaded(tmp_path, "IDMap2,IVF8,Flat", {"nprobe": 2}, vectors)
    query = vectors[11]
    _, unfiltered = index.search(query.reshape(1, -1), N)
    probed = {int(r) for r in unfiltered[0] if r >= 0}
    assert len(probed) < N
    blocked = np.zeros(N, dtype=bool)
    blocked[::2] = True
    _, rows = index.search_allowed(query, 10, blocked)
    found = [int(r) for r in rows if r >= 0]
    assert found and set(found) <= probed
    assert found == [r for r in _brute_force(vectors, query, N, blocked) if r in probed][:10]


def test_exact_search_with_a_selector_ranks_as_over_fetching_did_ties_included(tmp_path: Path) -> None:
    vectors = _vectors(ties=True)
    index = _loaded(tmp_path, "IDMap2,Flat", {}, vectors)
    for i, blocked in enumerate(_masks()):
        query = vectors[i]  # a duplicated vector: its twin ties with it
        scores, rows = index.search_allowed(query, 10, blocked)
        all_scores, all_rows = index.search(query.reshape(1, -1), N)
        keep = [j for j, r in enumerate(all_rows[0]) if r >= 0 and not blocked[r]][:10]
        assert rows.tolist() == all_rows[0][keep].tolist()
        assert scores.tolist() == all_scores[0][keep].tolist()


def test_rows_are_mapped_back_when_faiss_positions_are_not_rows(tmp_path: Path) -> None:
    """Vectors added out of row order: the selector speaks FAISS positions, the answer rows."""
    vectors = _vectors()
    order = np.random.default_rng(1).permutation(N)
    spec = VectorIndexSpec("IDMap2,IVF8,Flat", {"nprobe": 8})
    raw = faiss.index_factory(DIM, spec.factory, faiss.METRIC_INNER_PRODUCT)
    raw.train(vectors)
    raw.add_with_ids(vectors[order], order.astype(np.int64))
    faiss.write_index(raw, str(tmp_path / "v.faiss"))
    index = VectorIndex.load(tmp_path / "v.faiss", spec)
    for i, blocked in enumerate(_masks()):
        query = vectors[i * 17 + 3]
        _, rows = index.search_allowed(query, 10, blocked)
        assert [int(r) for r in rows if r >= 0] == _brute_force(vectors, query, 10, blocked)


def test_semantic_hits_skip_withdrawn_and_filtered_rows_and_rank_from_one(tmp_path: Path) -> None:
    vectors = _vectors()
    index = _loaded(tmp_path, "IDMap2,IVF8,Flat", {"nprobe": 8}, vectors)
    withdrawn = np.zeros(N, dtype=bool)
    query = vectors[200]
    withdrawn[_brute_force(vectors, query, 3, withdrawn)] = True  # the three nearest are withdrawn
    blocked = np.zeros(N, dtype=bool)
    blocked[:100] = True
    store = SimpleNamespace(withdrawn=withdrawn, vectors=index)
    hits = semantic_hits(store, query, 5, blocked)  # type: ignore[arg-type]
    assert [h.row for h in hits] == _brute_force(vectors, query, 5, withdrawn | blocked)
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert [h.row for h in semantic_hits(store, query, 5)] == _brute_force(vectors, query, 5, withdrawn)  # type: ignore[arg-type]


def test_a_structure_without_selector_support_still_never_returns_a_blocked_row(tmp_path: Path) -> None:
    vectors = _vectors()
    index = _loaded(tmp_path, "IDMap2,PQ4x4", {}, vectors)  # IndexPQ: no selector here, over-fetch
    query = vectors[9]
    _, ranked = index.search(query.reshape(1, -1), N)
    for blocked in _masks():
        _, rows = index.search_allowed(query, 10, blocked)
        assert rows.tolist() == [int(r) for r in ranked[0] if r >= 0 and not blocked[r]][:10]
