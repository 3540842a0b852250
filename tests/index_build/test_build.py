"""The build pipeline end to end: counts, validation report, atomic publish, add, withdraw."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index_build.build import BuildOptions, build
from index_build.update import add_documents, withdraw_document
from retrieval import index_layout as layout
from retrieval.document import Document, Sections
from retrieval.index_layout import IndexLayoutError
from retrieval.index_store import IndexStore
from retrieval.request import SearchFilters, SearchRequest
from retrieval.search import SearchResult, search
from tests.conftest import REPO


def search_similar(store: IndexStore, facts: str, k: int = 10) -> list[SearchResult]:
    """The default hybrid over facts alone: what a built index must answer (findability).

    The toy documents here carry no 案号, court or date (不可引用), and results under the similarity
    floor count too: these tests are about what the build indexes, not about what a judge may cite."""
    asked = SearchFilters(include_uncitable=True)
    return search(store, SearchRequest(facts=facts, k=k, filters=asked, include_dissimilar=True)).results


def _jsonl_doc(doc_id: str, facts: str) -> str:
    return json.dumps(
        Document(doc_id=doc_id, title=doc_id, sections=Sections(facts=facts)).to_dict(), ensure_ascii=False
    )


@pytest.mark.slow
def test_lecard_build_manifest_counts_match_input(lecard_index, lecard_subset: Path) -> None:
    home, manifest = lecard_index
    n_files = len({p.stem for p in lecard_subset.rglob("*.json")})
    assert n_files == 1200
    assert manifest["validation"]["read"] == n_files
    assert manifest["validation"]["indexed"] + manifest["validation"]["rejected"] == n_files
    assert manifest["counts"]["documents"] == manifest["validation"]["indexed"] >= 1190
    assert manifest["vector_index"]["ntotal"] == manifest["counts"]["documents"]
    store = IndexStore.open(home)
    assert store.size == manifest["counts"]["documents"]
    assert store.manifest["segmenter"]["engine"] == "rjieba"
    assert store.manifest["embedder"]["input"] == "segmented"
    for stage in ("read_parse_segment", "embedder", "embed_and_vector_index", "keyword_index"):
        assert manifest["stages"][stage]["seconds"] >= 0


@pytest.mark.slow
def test_search_finds_a_document_from_its_own_facts(lecard_index) -> None:
    home, _ = lecard_index
    store = IndexStore.open(home)
    row = 17
    doc = store.metadata.document(row)
    results = search_similar(store, doc.sections.facts, k=5)
    assert results[0].document.doc_id == doc.doc_id
    assert {"keyword:facts", "semantic"} <= set(results[0].methods)


def test_corrupt_line_is_rejected_with_its_line_number_and_the_rest_indexed(tmp_path: Path) -> None:
    source = tmp_path / "docs.jsonl"
    lines = [
        _jsonl_doc("a", "被告人甲秘密窃取他人手机一部，价值人民币三千元。"),
        '{"doc_id": "broken", "sections": ',
        _jsonl_doc("b", "原告与被告签订借款合同，被告到期未归还借款本金十万元。"),
        _jsonl_doc("a", "重复的编号"),
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = build(BuildOptions(inputs=[source], home=tmp_path / "home", progress=False))
    assert result.report.indexed == 2
    reasons = {(r.line, r.reason.split(":")[0]) for r in result.report.rejected}
    assert any(line == 2 for line, _ in reasons), result.report.rejected
    assert any("duplicate" in r.reason for r in result.report.rejected)
    validation = json.loads((result.build_dir / layout.VALIDATION).read_text())
    assert validation["rejected_count"] == 2


def test_withdraw_makes_a_document_unfindable_and_keeps_the_old_build(tmp_path: Path) -> None:
    source = tmp_path / "docs.jsonl"
    facts = {
        "theft": "被告人甲入户盗窃他人手机一部，价值人民币三千元，案发后自首。",
        "loan": "原告与被告签订借款合同，被告到期未归还借款本金十万元及利息。",
        "drunk": "被告人丙醉酒驾驶机动车，血液酒精含量为每百毫升一百八十毫克。",
    }
    source.write_text("\n".join(_jsonl_doc(k, v) for k, v in facts.items()) + "\n", encoding="utf-8")
    home = tmp_path / "home"
    first = build(BuildOptions(inputs=[source], home=home, progress=False))
    before = IndexStore.open(home)
    assert search_similar(before, facts["theft"], k=3)[0].document.doc_id == "theft"

    result = withdraw_document(home, "theft", "不再参照")
    after = IndexStore.open(home)
    assert after.version == result.manifest["build_id"] != before.version
    assert result.manifest["parent"] == first.manifest["build_id"]
    found = [r.document.doc_id for r in search_similar(after, facts["theft"], k=3)]
    assert "theft" not in found
    assert after.metadata.document(after.metadata.row_of("theft")).authority.withdrawn
    assert after.vectors.size == 2
    # the previous build is untouched and still opens
    assert IndexStore.open(first.build_dir).vectors.size == 3
    with pytest.raises(KeyError):
        withdraw_document(home, "no-such-doc", "x")


def test_add_indexes_new_documents_into_a_new_build(tmp_path: Path) -> None:
    first_file = tmp_path / "a.jsonl"
    first_file.write_text(_jsonl_doc("a", "被告人甲秘密窃取他人电动自行车一辆。") + "\n", encoding="utf-8")
    home = tmp_path / "home"
    build(BuildOptions(inputs=[first_file], home=home, progress=False))
    extra = tmp_path / "b.jsonl"
    extra.write_text(
        _jsonl_doc("b", "原告与被告签订借款合同，被告到期未归还借款。")
        + "\n"
        + _jsonl_doc("a", "duplicate id must be rejected")
        + "\n",
        encoding="utf-8",
    )
    result = add_documents(home, [extra], progress=False)
    assert result.report.indexed == 1 and len(result.report.rejected) == 1
    store = IndexStore.open(home)
    assert store.size == 2 and store.vectors.size == 2
    assert search_similar(store, "借款合同到期未归还", k=1)[0].document.doc_id == "b"


def test_corrupt_index_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_text(_jsonl_doc("a", "被告人甲秘密窃取他人手机一部。") + "\n", encoding="utf-8")
    result = build(BuildOptions(inputs=[source], home=tmp_path / "home", progress=False))
    vectors = result.build_dir / layout.VECTORS
    data = bytearray(vectors.read_bytes())
    data[-5] ^= 0xFF
    os.chmod(vectors, 0o644)
    vectors.write_bytes(bytes(data))
    with pytest.raises(IndexLayoutError, match="checksum"):
        IndexStore.open(tmp_path / "home")
    vectors.write_bytes(bytes(data[:-100]))
    with pytest.raises(IndexLayoutError, match="bytes"):
        IndexStore.open(tmp_path / "home", verify_checksums=False)


def test_an_index_of_another_format_version_is_refused_with_how_to_fix_it(tmp_path: Path) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_text(_jsonl_doc("a", "被告人甲秘密窃取他人手机一部。") + "\n", encoding="utf-8")
    result = build(BuildOptions(inputs=[source], home=tmp_path / "home", progress=False))
    manifest_path = result.build_dir / layout.MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["format_version"] = 4  # a build made before the zstd cards, texts and token ids
    os.chmod(manifest_path, 0o644)
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexLayoutError, match="format_version 4 is not supported") as refused:
        IndexStore.open(tmp_path / "home", verify_checksums=False)
    home = (tmp_path / "home").resolve()
    assert f"rebuild the index with `leian build --input {source.resolve()} --out {home}`" in str(
        refused.value
    )


@pytest.mark.slow
def test_the_same_input_gives_the_same_stored_bytes(tmp_path: Path) -> None:
    """The new storage formats are reproducible: metadata (with its trained dictionaries), token ids
    and keyword indexes are byte-identical across two builds of the same input."""
    source = tmp_path / "docs.jsonl"
    source.write_text(
        "\n".join(
            _jsonl_doc(
                f"d{i}", f"被告人甲{i}于2020年{1 + i % 12}月秘密窃取他人手机一部，价值{900 + 13 * i}元。"
            )
            for i in range(60)
        )
        + "\n",
        encoding="utf-8",
    )
    folders = [
        build(BuildOptions(inputs=[source], home=tmp_path / h, progress=False)).build_dir for h in "ab"
    ]
    sums = [layout.file_checksums(folder) for folder in folders]
    stored = [name for name in sums[0] if name.startswith(("metadata", "tokens/", "bm25_"))]
    assert "metadata.sqlite" in stored and "tokens/facts/part-00000.ids.zst" in stored
    assert not [name for name in sums[0] if name.endswith(".txt.gz")]  # no text tokens published
    assert {n: sums[0][n] for n in stored} == {n: sums[1][n] for n in stored}
    store = IndexStore.open(tmp_path / "a")
    assert store.metadata.codec.card_dictionary  # 60 documents are enough to train on
    assert store.document_by_id("d7").sections.facts.startswith("被告人甲7")


@pytest.mark.slow
def test_killed_build_leaves_the_published_index_serving(lecard_subset: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    small = tmp_path / "small.jsonl"
    small.write_text(_jsonl_doc("only", "被告人甲秘密窃取他人手机一部。") + "\n", encoding="utf-8")
    published = build(BuildOptions(inputs=[small], home=home, progress=False)).build_dir

    command = [
        sys.executable,
        "-m",
        "api.cli.main",
        "build",
        "--input",
        str(lecard_subset),
        "--out",
        str(home),
        "--quiet",
    ]
    process = subprocess.Popen(command, cwd=REPO, start_new_session=True)
    staging_root = home / layout.BUILDS
    deadline = time.monotonic() + 60
    while not any(
        p.name.startswith(".staging-") and (p / layout.METADATA).exists() for p in staging_root.iterdir()
    ):
        assert process.poll() is None, "the build ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()

    assert layout.resolve_current(home) == published.resolve()
    store = IndexStore.open(home)
    assert search_similar(store, "盗窃手机", k=1)[0].document.doc_id == "only"
    # the next build cleans the killed staging folder and succeeds
    again = build(BuildOptions(inputs=[small], home=home, progress=False))
    assert layout.resolve_current(home) == again.build_dir.resolve()
    assert not [p for p in staging_root.iterdir() if p.name.startswith(".staging-")]


def test_sample_corpus_builds_and_searches(sample_index: Path) -> None:
    store = IndexStore.open(sample_index)
    assert store.size >= 25
    results = search_similar(
        store, "被告人趁被害人不备，秘密窃取其手机，价值人民币四千元，案发后主动投案。", k=5
    )
    assert results and any("盗窃罪" in r.document.causes for r in results[:3])


@pytest.mark.slow
def test_parallel_ingest_writes_what_a_single_process_writes(lecard_subset: Path, tmp_path: Path) -> None:
    import sqlite3

    from index_build.build import ValidationReport, _TokenFiles, ingest
    from index_build.metadata_writer import MetadataWriter
    from index_build.token_store import iter_token_lines

    outputs = {}
    for workers in (1, 2):
        folder = tmp_path / f"w{workers}"
        folder.mkdir()
        writer = MetadataWriter(folder / "m.sqlite")
        tokens = _TokenFiles(folder)
        ids = ingest([lecard_subset], "lecard", writer, tokens, ValidationReport(), False, workers=workers)
        tokens.close()
        writer.close()
        with sqlite3.connect(folder / "m.sqlite") as conn:
            rows = conn.execute(
                "SELECT row, doc_id, case_number, decision_date FROM docs ORDER BY row"
            ).fetchall()
            features = conn.execute("SELECT * FROM doc_features ORDER BY row").fetchall()
        outputs[workers] = (ids, rows, features, list(iter_token_lines(folder, "full")))
    assert len(outputs[1][0]) == 1200
    assert outputs[1] == outputs[2]
