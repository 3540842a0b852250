"""bench/storage.py: bytes grouped by store and the metadata store's per-candidate reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from index_build.metadata_writer import MetadataWriter
from retrieval import index_layout as layout
from retrieval.doc_codec import DocumentCodec
from tests.conftest import bench_module
from tests.retrieval.test_doc_codec import corpus


def test_bytes_by_store_and_candidate_reads(tmp_path: Path) -> None:
    storage = bench_module("storage")
    docs = corpus(40)
    writer = MetadataWriter(tmp_path / layout.METADATA)
    writer.set_codec(DocumentCodec.train(docs))
    for row, doc in enumerate(docs):
        writer.add(row, doc)
    writer.close()
    (tmp_path / layout.BM25_FACTS).mkdir()
    np.save(tmp_path / layout.BM25_FACTS / layout.TF_FILE, np.zeros(1000, dtype=np.uint16))
    np.save(tmp_path / layout.BM25_FACTS / "data.csc.index.npy", np.zeros(1000, dtype=np.float32))
    (tmp_path / layout.TOKENS / "facts").mkdir(parents=True)
    (tmp_path / layout.TOKENS / "facts" / "part-00000.ids.zst").write_bytes(b"x" * 4096)

    found = storage.storage_bytes(tmp_path)
    stores = found["stores_kb_per_document"]
    assert found["documents"] == 40
    assert set(stores) == {"metadata.sqlite", "bm25_facts/tf_store", "bm25_facts/bm25s", "tokens/facts"}
    assert stores["tokens/facts"] == round(4096 / 40 / 1024, 3)
    assert stores["bm25_facts/bm25s"] > stores["bm25_facts/tf_store"] > 0  # 4 bytes a posting against 2
    assert {"doc_cards", "doc_texts", "codec"} <= set(found["metadata_sqlite_kb_per_document"])

    reads = storage.candidate_reads(tmp_path, batches=2, seed=1)
    for part in ("cards", "legal_features", "documents_shown"):
        assert reads[part]["cpu_us_per_row"] >= 0
        assert reads[part]["file_kb_read_per_row_cold_sqlite_cache"] > 0  # pages came from the file
