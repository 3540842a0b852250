"""The scale benchmark's own machinery: the streamed bm25s peer, vectors of an IVF build, the fit."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from types import SimpleNamespace

import faiss
import numpy as np
import pytest

from index_build.token_store import PartWriter
from retrieval import index_layout as layout
from retrieval.vector_index import VectorIndexSpec, build_vector_index
from tests.conftest import bench_module


def _token_lines(n: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    words = [f"词{i}" for i in range(300)]
    lines = [" ".join(rng.choices(words, weights=range(300, 0, -1), k=rng.randint(5, 120))) for _ in range(n)]
    lines[7] = ""  # a document with no facts tokens still has its row
    return [line + "\n" for line in lines]


def test_peer_index_is_bm25s_at_its_defaults_to_the_bit(tmp_path) -> None:
    """The peer is bm25s with its own k1 1.5, not the service's 1.2: the builder must honour it."""
    import bm25s

    from index_build.bm25_build import Tuning, build_bm25

    peers = bench_module("perf_peers")
    lines = _token_lines(200)
    tuning = Tuning(chunk_tokens=500, window_postings=300)  # many runs and windows
    build_bm25(lines, tmp_path / "peer", tuning, params=peers.PEER_BM25_PARAMS)
    streamed = bm25s.BM25.load(str(tmp_path / "peer"))
    assert streamed.k1 == 1.5
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in line.split()] for line in lines]
    reference = bm25s.BM25()
    reference.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
    for key in ("data", "indices", "indptr"):
        assert np.array_equal(streamed.scores[key], reference.scores[key]), key
        assert streamed.scores[key].dtype == reference.scores[key].dtype
    assert streamed.vocab_dict == reference.vocab_dict and streamed.scores["num_docs"] == 200
    query = [["词1", "词50", "词299", "不在词表"]]
    mine = streamed.retrieve(query, k=10, show_progress=False)
    theirs = reference.retrieve(query, k=10, show_progress=False)
    assert np.array_equal(mine.documents, theirs.documents) and np.array_equal(mine.scores, theirs.scores)


def test_peer_index_cache_is_saved_once_and_loaded_after(tmp_path, monkeypatch) -> None:
    peers = bench_module("perf_peers")
    build = tmp_path / "20260101T000000Z-abcdef"
    part = PartWriter(build, "facts")
    for line in _token_lines(50):
        part.write(line.rstrip("\n"))
    part.close()
    built, origin = peers.cached_bm25s(build, tmp_path / "cache")
    assert "saved" in origin and (tmp_path / "cache" / build.name / "params.index.json").exists()
    monkeypatch.setattr(peers, "facts_token_lines", lambda build: pytest.fail("rebuilt despite the cache"))
    loaded, origin = peers.cached_bm25s(build, tmp_path / "cache")
    assert origin.startswith("loaded")
    query = [["词3", "词40"]]
    a, b = built.retrieve(query, k=5, show_progress=False), loaded.retrieve(query, k=5, show_progress=False)
    assert np.array_equal(a.documents, b.documents) and np.allclose(a.scores, b.scores)


@pytest.mark.parametrize("factory", ["IDMap2,Flat", "IDMap2,IVF256,SQ8,RFlat"])
def test_index_vectors_reads_exact_and_ivf_builds(tmp_path, factory: str) -> None:
    vectors = np.random.default_rng(0).standard_normal((2600, 16)).astype(np.float32)
    faiss.normalize_L2(vectors)
    faiss.write_index(
        build_vector_index(VectorIndexSpec(factory, {}), vectors), str(tmp_path / layout.VECTORS)
    )
    assert np.array_equal(bench_module("perf_ann").index_vectors(tmp_path), vectors)


def _run(n: int, hybrid_ms: float, rss: float | None) -> dict:
    run = {
        "corpus": {"documents": n, "index_bytes": 50_000 * n},
        "in_process": {"hybrid": {"p50": hybrid_ms}},
    }
    if rss is not None:
        run["http"] = {"server_peak_rss_mb": rss}
    return run


def test_fit_over_three_runs_gives_segments_and_skips_what_one_run_lacks(tmp_path) -> None:
    paths = []
    for n, ms, rss in ((1_000_000, 100.0, None), (10_000, 10.0, 500.0), (100_000, 20.0, 1000.0)):
        paths.append(tmp_path / f"perf-{n}.json")
        paths[-1].write_text(json.dumps(_run(n, ms, rss)))
    out = bench_module("perf").fit(paths)
    assert out["N"] == [10_000, 100_000, 1_000_000]  # sorted by size, whatever the order given
    assert out["exponents"]["index_bytes"] == 1.0 and out["r2"]["index_bytes"] == 1.0
    assert out["segments"]["inprocess_hybrid_p50"] == [0.301, 0.699]  # growth speeds up: 2× then 5×
    assert 0.4 < out["exponents"]["inprocess_hybrid_p50"] < 0.6 and out["r2"]["inprocess_hybrid_p50"] < 0.99
    assert "serving_peak_rss_mb" not in out["exponents"]  # not measured at 1M: no fit from two of three


def test_build_json_is_found_in_a_captured_log(tmp_path) -> None:
    perf = bench_module("perf")
    build = {"benchmark": "build-lecard", "documents": 3, "build_dir": "x/builds/B1"}
    log = tmp_path / "build.log"
    log.write_text("read+parse: 100%|██| 3/3\nwarning: something\n" + json.dumps(build, indent=1) + "\n")
    assert perf.load_build_json(log) == build


def test_peak_sampler_sees_anonymous_memory_grow() -> None:
    """Measured on a fresh child: in this process freed heap from earlier tests may be reused."""
    procmem = bench_module("procmem")
    now = procmem.memory_mb()
    assert {"rss_mb", "anon_mb", "file_mb", "peak_rss_mb"} <= set(now)
    assert now["anon_mb"] + now["file_mb"] <= now["rss_mb"] + 1
    script = "import sys; sys.stdin.readline(); block = b'x' * (64 << 20); print('ready', flush=True); sys.stdin.readline()"
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        before = procmem.memory_mb(child.pid)["anon_mb"]
        sampler = procmem.PeakSampler(child.pid, interval=0.01)
        with sampler.running():
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "ready"
            sampler.sample()
        assert sampler.report()["max_anon_mb"] >= before + 60
    finally:
        child.kill()
        child.wait()
    assert procmem.memory_mb(2**22 + 12345) == {}  # no such process: empty, not an error


def test_tantivy_peer_indexes_our_tokens_and_ranks_as_our_bm25(tmp_path, monkeypatch) -> None:
    """Same tokens, same k1 and b: tantivy's top 10 is ours but for its byte-rounded lengths."""
    from index_build.bm25_build import build_bm25
    from retrieval.keyword_index import KeywordIndex

    peers = bench_module("perf_peers")
    build = tmp_path / "20260101T000000Z-abcdef"
    lines = _token_lines(400)
    part = PartWriter(build, "facts")
    for line in lines:
        part.write(line.rstrip("\n"))
    part.close()
    build_bm25(lines, tmp_path / "ours")
    ours = KeywordIndex.load(tmp_path / "ours")
    queries = [" ".join(lines[n].split()[:12]) for n in (1, 50, 99, 230)]
    monkeypatch.setattr("retrieval.segmenter.default_segmenter", lambda: SimpleNamespace(tokens=str.split))
    out = peers.tantivy_peer(build, queries, tmp_path / "cache", rows=True)
    assert out["documents"] == 400 and out["index_bytes"] > 0 and "built" in out["index"]
    blocked = np.zeros(ours.size, dtype=bool)
    for query, theirs in zip(queries, out["top_rows"], strict=True):
        mine = [row for row, _ in ours.top(query.split(), 10, blocked)]
        assert theirs[0] == mine[0]
        assert len(set(theirs) & set(mine)) >= 8
    monkeypatch.setattr(peers, "facts_token_lines", lambda build: pytest.fail("rebuilt despite the cache"))
    again = peers.tantivy_peer(build, queries[:1], tmp_path / "cache", rows=True)
    assert again["index"].startswith("loaded") and again["top_rows"][0] == out["top_rows"][0]
