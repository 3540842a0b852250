"""The streaming BM25 builder against bm25s itself, across runs and windows, and its incremental add."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import pytest

from index_build import bm25_build
from index_build.bm25_build import TF_MAX, Tuning, add_to_bm25, build_bm25
from retrieval.keyword_index import BM25_PARAMS, KeywordIndex, build_keyword_index

# Small enough that the corpus below spills many runs and assembles many windows.
TINY = Tuning(chunk_tokens=40, window_postings=25)
WORDS = [f"词{i}" for i in range(150)] + ["盗窃", "盗窃罪", "入户盗窃", "借款", "合同", "a", "B", "x1"]


def _corpus(n_docs: int, seed: int, words: list[str] = WORDS) -> list[str]:
    """Zipf-like word use, lengths from 0 to 300 tokens, repeats within a document."""
    rng = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(words))]
    lines = []
    for _ in range(n_docs):
        length = rng.choice([0, 1, 2, 5, 12, 40, 90, 300])
        lines.append(" ".join(rng.choices(words, weights, k=length)))
    return lines


def _arrays(folder: Path) -> dict[str, np.ndarray]:
    return {name: np.load(folder / name) for name in sorted(p.name for p in folder.glob("*.npy"))}


def _queries(lines: list[str]) -> list[list[str]]:
    rng = random.Random(7)
    known = sorted({t for line in lines for t in line.split()})
    queries = [rng.sample(known, min(k, len(known))) for k in (1, 2, 3, 5, 8) for _ in range(4)]
    return [*queries, ["不存在的词"], ["盗窃", "盗窃", "不存在的词"], []]


def _assert_same_index(expected: Path, actual: Path, lines: list[str]) -> None:
    """Same columns for every token, same postings, scores equal to float32 rounding."""
    want, got = KeywordIndex.load(expected), KeywordIndex.load(actual)
    assert got._retriever.vocab_dict == want._retriever.vocab_dict
    assert list(got._retriever.vocab_dict) == list(want._retriever.vocab_dict)
    assert got.size == want.size == len(lines)
    for name in ("indptr", "indices"):
        np.testing.assert_array_equal(got._retriever.scores[name], want._retriever.scores[name])
    np.testing.assert_allclose(got._retriever.scores["data"], want._retriever.scores["data"], rtol=1e-6)
    assert got._retriever.scores["data"].dtype == want._retriever.scores["data"].dtype == np.float32
    for query in _queries(lines):
        np.testing.assert_allclose(got.scores(query), want.scores(query), rtol=1e-6, atol=1e-7)
    for fragment in ("盗窃", "词1", "a", "不存在"):
        np.testing.assert_array_equal(got.rows_containing(fragment), want.rows_containing(fragment))
    for token in ("盗窃", "入户盗窃", "词0", "词149", "不存在的词"):
        assert got.document_frequency(token) == want.document_frequency(token)


@pytest.mark.slow
def test_streaming_build_scores_exactly_as_bm25s(tmp_path: Path) -> None:
    lines = _corpus(400, seed=1)
    assert any(not line for line in lines) and max(len(line.split()) for line in lines) == 300
    build_keyword_index(lines, tmp_path / "bm25s")
    assert build_bm25(iter(lines), tmp_path / "stream", TINY) == len(lines)
    _assert_same_index(tmp_path / "bm25s", tmp_path / "stream", lines)
    params = json.loads((tmp_path / "stream" / "params.index.json").read_text())
    assert params == json.loads((tmp_path / "bm25s" / "params.index.json").read_text())
    assert {k: params[k] for k in BM25_PARAMS} == BM25_PARAMS
    assert not list(tmp_path.glob(".bm25-spill-*"))  # spill files are removed


@pytest.mark.slow
def test_run_and_window_sizes_do_not_change_a_byte(tmp_path: Path) -> None:
    lines = _corpus(300, seed=2)
    build_bm25(lines, tmp_path / "one", Tuning(chunk_tokens=10**9, window_postings=10**9))
    build_bm25(lines, tmp_path / "many", TINY)
    build_bm25(lines, tmp_path / "single", Tuning(chunk_tokens=1, window_postings=1))
    one = _arrays(tmp_path / "one")
    assert set(one) == {
        "data.csc.index.npy",
        "indices.csc.index.npy",
        "indptr.csc.index.npy",
        "tf.csc.npy",
        "doc_lengths.npy",
    }
    for other in ("many", "single"):
        for name, values in _arrays(tmp_path / other).items():
            np.testing.assert_array_equal(values, one[name], err_msg=f"{other}/{name}")
            assert values.dtype == one[name].dtype


def test_tf_store_holds_term_frequencies_and_lengths_in_postings_order(tmp_path: Path) -> None:
    lines = ["甲 乙 甲 甲", "", "乙 丙", "丙 丙 甲"]
    build_bm25(lines, tmp_path / "idx", TINY)
    arrays = _arrays(tmp_path / "idx")
    vocab = json.loads((tmp_path / "idx" / "vocab.index.json").read_text(encoding="utf-8"))
    assert vocab == {"甲": 0, "乙": 1, "丙": 2, "": 3}  # first occurrence, then bm25s's ""
    np.testing.assert_array_equal(arrays["indptr.csc.index.npy"], [0, 2, 4, 6])
    np.testing.assert_array_equal(arrays["indices.csc.index.npy"], [0, 3, 0, 2, 2, 3])
    np.testing.assert_array_equal(arrays["tf.csc.npy"], [3, 1, 1, 1, 1, 2])
    np.testing.assert_array_equal(arrays["doc_lengths.npy"], [4, 0, 2, 3])
    assert arrays["tf.csc.npy"].dtype == np.uint16


def test_a_term_frequency_above_the_store_limit_saturates(tmp_path: Path) -> None:
    """Documented deviation: tf is stored, and scored, as at most TF_MAX (65,535)."""
    lines = [" ".join(["盗窃"] * (TF_MAX + 5000) + ["其他"]), "盗窃 其他", "其他"]
    build_keyword_index(lines, tmp_path / "bm25s")
    build_bm25(lines, tmp_path / "stream")
    tf = np.load(tmp_path / "stream" / "tf.csc.npy")
    assert tf[0] == TF_MAX and tf.max() == TF_MAX
    lengths = np.array([TF_MAX + 5001, 2, 1], dtype=np.float64)
    k1, b = BM25_PARAMS["k1"], BM25_PARAMS["b"]
    norm = k1 * ((1 - b) + b * lengths[0] / lengths.mean())
    idf = np.float32(np.log(1 + (3 - 2 + 0.5) / (2 + 0.5)))
    saturated = float(idf) * TF_MAX / (norm + TF_MAX)
    stream = KeywordIndex.load(tmp_path / "stream").scores(["盗窃"])
    exact = KeywordIndex.load(tmp_path / "bm25s").scores(["盗窃"])
    assert stream[0] == pytest.approx(saturated, rel=1e-6)
    assert stream[0] != exact[0] and stream[0] == pytest.approx(exact[0], rel=2e-5)
    np.testing.assert_array_equal(stream[1:], exact[1:])


def test_a_corpus_without_tokens_builds_and_scores_zero(tmp_path: Path) -> None:
    assert build_bm25(["", "", ""], tmp_path / "empty", TINY) == 3
    index = KeywordIndex.load(tmp_path / "empty")
    assert index.size == 3
    np.testing.assert_array_equal(index.scores(["盗窃"]), np.zeros(3, dtype=np.float32))
    assert not index.rows_containing("盗").any() and index.document_frequency("盗窃") == 0
    assert add_to_bm25(tmp_path / "empty", ["盗窃 盗窃", ""], tmp_path / "added", TINY) == 5
    build_keyword_index(["", "", "", "盗窃 盗窃", ""], tmp_path / "bm25s")
    _assert_same_index(tmp_path / "bm25s", tmp_path / "added", ["", "", "", "盗窃 盗窃", ""])


def _tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.mark.slow
def test_add_equals_a_full_build_of_old_and_new_rows(tmp_path: Path) -> None:
    old = _corpus(250, seed=3)
    new_words = [*WORDS[:40], "新词甲", "新词乙", "盗窃罪名"]  # old tokens and tokens never seen before
    first, second = _corpus(60, seed=4, words=new_words), _corpus(45, seed=5, words=[*new_words, "又一新词"])
    build_bm25(old, tmp_path / "old", TINY)
    before = _tree_digest(tmp_path / "old")
    assert add_to_bm25(tmp_path / "old", first, tmp_path / "plus1", TINY) == 310
    assert add_to_bm25(tmp_path / "plus1", iter(second), tmp_path / "plus2", Tuning(chunk_tokens=7)) == 355
    assert _tree_digest(tmp_path / "old") == before  # the source index is only read

    union = old + first + second
    build_bm25(union, tmp_path / "full", TINY)
    for name, values in _arrays(tmp_path / "full").items():
        np.testing.assert_array_equal(_arrays(tmp_path / "plus2")[name], values, err_msg=name)
    build_keyword_index(union, tmp_path / "bm25s")
    _assert_same_index(tmp_path / "bm25s", tmp_path / "plus2", union)
    # every old score changed: N and the average length moved
    old_data = np.load(tmp_path / "old" / "data.csc.index.npy")
    assert not np.isin(old_data, np.load(tmp_path / "plus2" / "data.csc.index.npy")).all()


def test_add_refuses_an_index_without_a_tf_store(tmp_path: Path) -> None:
    build_keyword_index(["盗窃 手机"], tmp_path / "bm25s")
    with pytest.raises(ValueError, match="tf store"):
        add_to_bm25(tmp_path / "bm25s", ["借款"], tmp_path / "out")
    build_bm25(["盗窃 手机"], tmp_path / "stream")
    with pytest.raises(ValueError, match="new folder"):
        add_to_bm25(tmp_path / "stream", ["借款"], tmp_path / "stream")


def test_windows_cover_every_column_once() -> None:
    indptr = np.array([0, 10, 11, 12, 40, 41, 42, 43], dtype=np.int64)
    starts = bm25_build._windows(indptr, 5)
    assert starts[0] == 0 and starts[-1] == len(indptr) - 1
    assert np.all(np.diff(starts) >= 1)
    sizes = indptr[starts[1:]] - indptr[starts[:-1]]
    assert all(
        size <= 5 or end - start == 1 for size, start, end in zip(sizes, starts, starts[1:], strict=False)
    )
