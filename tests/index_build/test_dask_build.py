"""A build on Dask writes what a local build writes; a failed batch or shard is retried, order is kept,
and a shard that fails for good publishes nothing."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest

from index_build import dask_build
from index_build.bm25_build import build_bm25
from tests.conftest import SAMPLE_INPUTS


def _flaky_square(arguments: tuple[int, str]) -> int:
    """Fails the first time it sees 7 (a worker lost mid-batch), then answers."""
    value, marker_folder = arguments
    marker = Path(marker_folder) / "failed-once"
    if value == 7 and not marker.exists():
        marker.write_text("x")
        raise RuntimeError("worker lost")
    return value * value


def _corpus(n_docs: int, seed: int) -> list[str]:
    """Zipf-like words, empty and long lines, tokens first seen in late shards, repeats in a line."""
    rng = random.Random(seed)
    words = [f"词{i}" for i in range(200)] + ["盗窃", "入户盗窃", "借款", "a", "B"]
    weights = [1 / (rank + 1) for rank in range(len(words))]
    lines = []
    for row in range(n_docs):
        length = rng.choice([0, 1, 3, 12, 40, 150])
        extra = [f"晚{row}"] if row % 37 == 0 else []  # a token whose first occurrence is this row
        lines.append(" ".join(rng.choices(words, weights, k=length) + extra))
    return lines


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("shard_rows", [1, 7, 50, 10_000])
def test_keyword_map_and_reduce_write_the_bytes_of_a_single_pass(tmp_path: Path, shard_rows: int) -> None:
    """The reduce folds shards mapped independently (their own column numbers) into the very files
    ``build_bm25`` writes in one pass: same vocabulary order, postings, scores, tf and lengths."""
    lines = _corpus(300, seed=3)
    build_bm25(lines, tmp_path / "single")
    shards = (dask_build.map_shard(chunk, first) for first, chunk in dask_build.shards_of(lines, shard_rows))
    assert dask_build.write_bm25_from_shards(shards, tmp_path / "sharded", window_postings=97) == len(lines)
    single, sharded = _files(tmp_path / "single"), _files(tmp_path / "sharded")
    assert len(single) == 8 and sharded == single
    assert not list(tmp_path.glob(".bm25-spill-*"))


def test_a_shard_out_of_order_is_refused(tmp_path: Path) -> None:
    lines = _corpus(20, seed=4)
    shards = [dask_build.map_shard(chunk, first) for first, chunk in dask_build.shards_of(lines, 5)]
    with pytest.raises(AssertionError, match="shard of row 10 arrived after 5 rows"):
        dask_build.write_bm25_from_shards([shards[0], shards[2]], tmp_path / "bad")


@pytest.mark.slow  # starts a Dask LocalCluster (worker processes)
def test_ordered_map_keeps_input_order_and_retries_a_failed_batch(tmp_path: Path) -> None:
    from index_build.dask_ingest import dask_client, ordered_map

    items = [(i, str(tmp_path)) for i in range(300)]
    with dask_client("local", 2) as client:
        assert list(ordered_map(client, _flaky_square, items)) == [i * i for i in range(300)]
    assert (tmp_path / "failed-once").exists()  # the failure happened and was retried


def _ingested(folder: Path, **how: object) -> tuple:
    from index_build.build import ValidationReport, _TokenFiles, ingest
    from index_build.metadata_writer import MetadataWriter
    from index_build.token_store import iter_token_lines

    folder.mkdir()
    writer = MetadataWriter(folder / "m.sqlite")
    tokens = _TokenFiles(folder)
    ids = ingest(SAMPLE_INPUTS, None, writer, tokens, ValidationReport(), False, **how)
    tokens.close()
    writer.close()
    with sqlite3.connect(folder / "m.sqlite") as conn:
        rows = conn.execute(
            "SELECT row, doc_id, case_number, decision_date FROM docs ORDER BY row"
        ).fetchall()
        features = conn.execute("SELECT * FROM doc_features ORDER BY row").fetchall()
    return (
        ids,
        rows,
        features,
        list(iter_token_lines(folder, "facts")),
        list(iter_token_lines(folder, "full")),
    )


@pytest.mark.slow
def test_a_dask_ingest_writes_what_a_local_ingest_writes(tmp_path: Path) -> None:
    local = _ingested(tmp_path / "local", workers=1)
    on_dask = _ingested(tmp_path / "dask", workers=2, scheduler="local")
    assert len(local[0]) >= 20
    assert on_dask == local


def _flaky_map_shard(shard: tuple[int, list[str]], marker_folder: str) -> dask_build.ShardPostings:
    """The real map, except that the shard of row 0 of the first field fails once (a lost worker)."""
    first_row, lines = shard
    marker = Path(marker_folder) / "shard-failed-once"
    if first_row == 0 and not marker.exists():
        marker.write_text("x")
        raise RuntimeError("worker lost")
    return dask_build.map_shard(lines, first_row)


def _broken_map_shard(shard: tuple[int, list[str]], marker_folder: str) -> dask_build.ShardPostings:
    """Fails every time for the second shard: the build must fail and publish nothing."""
    first_row, lines = shard
    if first_row > 0:
        raise RuntimeError("this shard cannot be mapped")
    return dask_build.map_shard(lines, first_row)


def _build_files(home: Path) -> tuple[dict[str, bytes], dict]:
    current = (home / "current").resolve()
    manifest = json.loads((current / "manifest.json").read_text(encoding="utf-8"))
    return {name: data for name, data in _files(current).items() if name != "manifest.json"}, manifest


@pytest.mark.slow
def test_a_dask_build_publishes_the_files_of_a_local_build(tmp_path: Path, monkeypatch) -> None:
    """Ingest, keyword map and embedding on a LocalCluster of 2 workers, one shard retried: every
    file of the build (metadata, tokens, both BM25 folders, vectors, the embedder) is the local
    build's, and so the manifest's checksums; only the build id and the stage timings differ."""
    import functools

    from index_build.build import BuildOptions, build

    build(BuildOptions(inputs=SAMPLE_INPUTS, home=tmp_path / "local", progress=False, workers=1))
    (tmp_path / "markers").mkdir()
    flaky = functools.partial(_flaky_map_shard, marker_folder=str(tmp_path / "markers"))
    monkeypatch.setattr(dask_build, "SHARD_ROWS", 8)  # the sample's ~30 documents make several shards
    monkeypatch.setattr(dask_build, "_map_shard_task", flaky)
    result = build(
        BuildOptions(
            inputs=SAMPLE_INPUTS, home=tmp_path / "dask", progress=False, workers=2, scheduler="local"
        )
    )
    assert (
        tmp_path / "markers" / "shard-failed-once"
    ).exists()  # it failed, was retried, and the build went on
    local_files, local_manifest = _build_files(tmp_path / "local")
    dask_files, dask_manifest = _build_files(tmp_path / "dask")
    assert any(name.startswith("bm25_") or "bm25" in name for name in local_files)
    assert "vectors.faiss" in local_files
    assert dask_files == local_files
    for key in ("files", "counts", "embedder", "vector_index", "validation"):
        assert dask_manifest[key] == local_manifest[key], key
    assert result.manifest["stages"]["dask"]["workers"] == 2
    assert result.manifest["stages"]["dask"]["worker_cpu_seconds"] > 0


@pytest.mark.slow
def test_a_dask_build_whose_shard_fails_for_good_publishes_nothing(tmp_path: Path, monkeypatch) -> None:
    import functools

    from index_build.build import BuildOptions, build

    home = tmp_path / "home"
    build(BuildOptions(inputs=SAMPLE_INPUTS[:1], home=home, progress=False, workers=1))
    before = (home / "current").resolve()
    monkeypatch.setattr(dask_build, "SHARD_ROWS", 8)
    broken = functools.partial(_broken_map_shard, marker_folder=str(tmp_path))
    monkeypatch.setattr(dask_build, "_map_shard_task", broken)
    with pytest.raises(RuntimeError, match="keyword indexes on the cluster failed"):
        build(BuildOptions(inputs=SAMPLE_INPUTS, home=home, progress=False, workers=2, scheduler="local"))
    assert (home / "current").resolve() == before
    assert sorted(p.name for p in (home / "builds").iterdir()) == [before.name]
