"""bench/cluster_pg.py: the export with PostgreSQL timed step by step, and the database left as found."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from retrieval.index_layout import resolve_current
from retrieval.pg_metadata import read_published
from tests.conftest import bench_module


@pytest.mark.slow  # Milvus Lite
def test_export_figures_and_nothing_left_behind(sample_index: Path, tmp_path: Path, pg_database: str) -> None:
    bench = bench_module("cluster_pg")
    out = tmp_path / "cluster-pg.json"
    argv = [
        "--index",
        str(sample_index),
        "--database-url",
        pg_database,
        "--milvus-db",
        str(tmp_path / "m.db"),
    ]
    assert bench.main([*argv, "--batches", "2", "--out", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["build_id"] == resolve_current(sample_index).name
    documents = report["documents"]
    assert report["export"]["postgresql_copy"]["rows"]["docs"] == documents
    tables = report["bytes"]["postgresql_tables"]
    assert {"docs", "doc_cards", "doc_texts", "codec"} <= set(tables)
    assert report["bytes"]["postgresql_total"] == sum(tables.values())
    assert report["bytes"]["postgresql_per_document"] == round(sum(tables.values()) / documents, 1)
    assert report["reads"]["postgresql"]["cards_us_per_row"] > 0
    assert read_published(pg_database) is None  # dropped again: no --keep
    with psycopg.connect(pg_database) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'leian_build_%'"
        ).fetchone() == (0,)
