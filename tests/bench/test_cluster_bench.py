"""bench/cluster_bench.py with --database-url: the cluster backend as deployed with PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.audit_stores import ADMIN_URL, postgres_problem
from tests.conftest import bench_module


def _bench_databases() -> set[str]:
    with psycopg.connect(ADMIN_URL) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'leian_bench_%'").fetchall()
    return {name for (name,) in rows}


@pytest.mark.slow  # Milvus Lite and four API-node runs
def test_cluster_with_postgresql_metadata_and_audit(sample_index: Path, tmp_path: Path) -> None:
    if (problem := postgres_problem()) is not None:
        pytest.fail(problem)
    bench = bench_module("cluster_bench")
    before = _bench_databases()
    out = tmp_path / "cluster.json"
    argv = ["--index", str(sample_index), "--milvus-db", str(tmp_path / "m" / "leian.db")]
    argv += ["--database-url", ADMIN_URL, "--query-limit", "3", "--http-seconds", "2", "--clients", "2"]
    (tmp_path / "m").mkdir()
    assert bench.main([*argv, "--out", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))

    assert report["metadata"] == "postgresql"
    documents = report["index"]["documents"]
    pg = report["postgresql"]
    assert {"docs", "doc_cards", "doc_texts"} <= set(pg["tables"])
    assert pg["total"] == sum(pg["tables"].values()) > 0
    assert pg["per_document"] == round(pg["total"] / documents, 1)
    for backend in ("hybrid", "keyword", "semantic"):
        assert report["in_process_ms"]["cluster"][backend]["p50"] > 0
    for run in ("embedded-1", "embedded-2", "cluster-1", "cluster-2"):
        http = report["http"][run]
        assert http["failures"] == [], run
        # The audit records counted are the run's own log: SQLite (embedded), PostgreSQL (cluster).
        assert http["audit"]["records"] >= http["audit"]["receipts_matched"] > 0, run
    assert _bench_databases() == before  # the published database and each run's copy are dropped
