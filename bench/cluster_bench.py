"""The cluster backend (Milvus) against the embedded one (FAISS + bm25s) on one published index.

    python bench/cluster_bench.py --index build/scale/idx-100k --milvus-db build/cluster-100k/leian.db \
        --http-seconds 30 --clients 8 --out bench/results/cluster-100k.json

1. Starts a Milvus Lite server on ``--milvus-db`` (bench/load.py's ``MilvusLite``: milvus-lite's C++
   core on a loopback port) and loads the index into it (``leian cluster export``'s code), unless
   that build is already published there; the load time is reported.
2. In-process latency over the real LeCaRD queries: the hybrid search, keyword only and semantic
   only, p50/p95, on each backend in turn (same process, same queries, same order).
3. HTTP: for each backend, 1 and 2 API nodes (separate uvicorn processes on one data folder, clients
   spread over them; bench/load.py's mixed load and audit check), searches/s, latency, peak RSS of
   each node and of the Milvus server.
4. Bytes per document of each store: the build's FAISS file, bm25s folders, SQLite metadata and
   token files (what the embedded stack keeps), the Milvus Lite files, and the audit log's bytes
   per record (what PostgreSQL would hold per search). The inputs of the README's sizing.

With ``--database-url`` (a PostgreSQL server, e.g. postgresql://postgres@127.0.0.1:5432/test: the
bench makes its own databases there and drops them after, never writing the one named) the cluster
backend is the one deployed with a database: the export loads Milvus and the build's PostgreSQL
schema and publishes it there (``leian cluster export --database-url``); the in-process cluster
store reads its documents and metadata from PostgreSQL as a node does; each cluster HTTP run gets a
copy of that database (``CREATE DATABASE … TEMPLATE``) as the nodes' ``LEIAN_DATABASE_URL``, which
also holds their audit log, accounts and ledger; and the build schema's bytes per document
(``pg_total_relation_size``, bench/cluster_pg.py's) are reported beside the other stores.

The machine is shared (2 cores, other people's jobs): wall-clock figures are noisy, the JSON keeps
the load average beside them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
if str(REPO / "bench") not in sys.path:
    sys.path.append(str(REPO / "bench"))

import cluster_pg  # noqa: E402
import load  # noqa: E402
from _common import (  # noqa: E402
    database_name,
    emit_json,
    latency_and_rate,
    lecard_query_texts,
    scratch_database,
    timed,
)

from retrieval import index_layout as layout  # noqa: E402
from retrieval.index_store import IndexStore  # noqa: E402
from retrieval.request import Method, SearchRequest  # noqa: E402
from retrieval.search import search  # noqa: E402


def _tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def store_bytes(build_dir: Path, milvus_db: Path, documents: int) -> dict[str, Any]:
    """Bytes per document of each store the two stacks keep (the sizing's measured inputs)."""
    manifest = json.loads((build_dir / layout.MANIFEST).read_text(encoding="utf-8"))
    by_entry: dict[str, int] = {}
    for name, entry in manifest["files"].items():
        top = name.split("/", 1)[0]
        by_entry[top] = by_entry.get(top, 0) + int(entry["bytes"])
    # Milvus Lite keeps its data in the db file and beside it (segments); count both.
    milvus = _tree_bytes(milvus_db) + sum(
        _tree_bytes(p) for p in milvus_db.parent.iterdir() if p != milvus_db and p.name.startswith(".")
    )
    stores = {
        "faiss": by_entry.get(layout.VECTORS, 0),
        "bm25s": by_entry.get(layout.BM25_FACTS, 0) + by_entry.get(layout.BM25_FULL, 0),
        "sqlite_metadata": by_entry.get(layout.METADATA, 0),
        "tokens": by_entry.get(layout.TOKENS, 0),
        "milvus_lite": milvus,
    }
    return {
        "documents": documents,
        "bytes": stores,
        "bytes_per_document": {k: round(v / documents, 1) for k, v in stores.items()},
        "build_entries_bytes": by_entry,
    }


def in_process(store: Any, queries: list[str]) -> dict[str, Any]:
    def run(methods: tuple[Method, ...] | None) -> dict[str, float]:
        return latency_and_rate(
            timed(lambda q: search(store, SearchRequest(facts=q, k=10, methods=methods)), queries)
        )

    return {
        "hybrid": run(None),
        "keyword": run((Method.KEYWORD,)),
        "semantic": run((Method.SEMANTIC,)),
    }


def postgres_bytes(database_url: str, build_id: str, documents: int) -> dict[str, Any]:
    """The build's PostgreSQL schema (heap, TOAST, indexes of each table), in total and per document."""
    from retrieval.pg_metadata import schema_name

    tables = cluster_pg.table_bytes(database_url, schema_name(build_id))
    total = sum(tables.values())
    return {"tables": tables, "total": total, "per_document": round(total / documents, 1)}


def http_run(
    index: Path,
    root: Path,
    nodes: int,
    clients: int,
    seconds: float,
    milvus_uri: str | None,
    database_url: str | None = None,
) -> dict[str, Any]:
    """bench/load.py's mixed load over ``nodes`` API nodes; searches/s, latency, RSS, the audit check.

    ``database_url``: the nodes' LEIAN_DATABASE_URL (metadata, audit log, accounts, ledger)."""
    deployment = load.provision(index, root, clients, database_url)
    env = {"LEIAN_VERIFY_INDEX_CHECKSUMS": "false"}  # start-up time is not what is measured
    if milvus_uri:
        env |= {"LEIAN_BACKEND": "cluster", "LEIAN_MILVUS_URI": milvus_uri}
    servers = [load.Server(deployment, root / f"node-{n}.log", **env) for n in range(nodes)]
    try:
        for server in servers:
            server.start(timeout_s=900)
        run = load.LoadRun(servers[0].url, deployment.clients, seconds, tuple(s.url for s in servers[1:]))
        run.run()
        rss = [load.peak_rss_mb(s.process.pid) for s in servers if s.process is not None]
        audit = load.check_audit(deployment, servers[0].url, run.outcomes, root / "export")
        records = _audit_records(database_url or deployment.data_dir / "audit.sqlite")
        problems = load.request_problems(run.outcomes) + audit.failures
        problems += [p for s in servers for p in load.server_problems(s.log_text())]
    finally:
        for server in servers:
            server.stop()
    figures = load.figures(run)
    search_ms = figures["operations"].get("search", {})
    return {
        "nodes": nodes,
        "clients": clients,
        "seconds": figures["seconds"],
        "searches_per_s": figures["searches_per_s"],
        "requests_per_s": figures["requests_per_s"],
        "search_ms": {k: search_ms.get(k) for k in ("p50_ms", "p95_ms", "p99_ms")},
        "statuses": figures["statuses"],
        "peak_rss_mb_per_node": rss,
        "audit": audit.to_dict() | {"records": records[0], "record_bytes": records[1]},
        "load_average_end": os.getloadavg(),
        "failures": problems,
    }


def _audit_records(location: Path | str) -> tuple[int, int]:
    """Records in the audit log and their bytes (canonical record, leaf hash, seq): what a search costs
    the log in any store; the SQLite file itself is mostly WAL and free pages after a short run.
    ``location``: the SQLite file, or the PostgreSQL database's URL."""
    if isinstance(location, str):
        import psycopg

        with psycopg.connect(location) as pg:
            count, size = pg.execute(
                "SELECT count(*), sum(length(data) + length(leaf_hash) + 8) FROM audit_records"
            ).fetchone()
        return int(count), int(size or 0)
    conn = sqlite3.connect(f"file:{location}?mode=ro", uri=True)
    try:
        count, size = conn.execute(
            "SELECT count(*), sum(length(data) + length(leaf_hash) + 8) FROM records"
        ).fetchone()
    finally:
        conn.close()
    return int(count), int(size or 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True, help="published index home (read only)")
    parser.add_argument("--milvus-db", type=Path, required=True, help="Milvus Lite db file (created)")
    parser.add_argument("--query-limit", type=int, default=0, help="first N LeCaRD queries (0: all 107)")
    parser.add_argument("--http-seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (postgresql://…/db): the cluster backend's metadata, audit log, accounts "
        "and ledger go into databases the bench makes there and drops after",
    )
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from api.service.cluster import ClusterSettings, metadata_opener, with_cluster_channels

    queries = lecard_query_texts()
    if args.query_limit:
        queries = queries[: args.query_limit]
    report: dict[str, Any] = {
        "benchmark": "cluster-vs-embedded",
        "machine": {
            "cpus": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "shared": True,
        },
        "queries": len(queries),
    }
    with contextlib.ExitStack() as stack:
        database = stack.enter_context(scratch_database(args.database_url)) if args.database_url else None
        milvus = stack.enter_context(load.MilvusLite(args.milvus_db))
        started = time.perf_counter()
        collection = load.export_to_milvus(args.index, milvus.uri, database)
        report["milvus"] = {
            "engine": "milvus-lite 2.5.1 server (C++ core) on a loopback port",
            "collection": collection,
            "export_seconds": round(time.perf_counter() - started, 1),  # ~0 when already published
        }
        report["metadata"] = "postgresql" if database else "build folder (SQLite)"
        store = IndexStore.open(args.index, verify_checksums=False)
        report["index"] = {"build": store.version, "documents": store.size}
        settings = ClusterSettings(milvus.uri, database)
        cluster = with_cluster_channels(
            IndexStore.open(args.index, verify_checksums=False, metadata=metadata_opener(settings)),
            settings,
        )
        report["in_process_ms"] = {
            "embedded": in_process(store, queries),
            "cluster": in_process(cluster, queries),
        }
        report["in_process_ms"]["ratio_p50_cluster_over_embedded"] = {
            name: round(
                report["in_process_ms"]["cluster"][name]["p50"]
                / report["in_process_ms"]["embedded"][name]["p50"],
                2,
            )
            for name in ("hybrid", "keyword", "semantic")
        }
        report["in_process_ms"]["load_average_end"] = os.getloadavg()
        build_dir = layout.resolve_current(args.index)
        documents = store.size
        store.close()
        cluster.close()
        if database:
            report["postgresql"] = postgres_bytes(database, build_dir.name, documents)
        if not args.skip_http:
            http: dict[str, Any] = {}
            with tempfile.TemporaryDirectory(prefix="leian-cluster-bench-", dir=args.milvus_db.parent) as tmp:
                for backend, uri in (("embedded", None), ("cluster", milvus.uri)):
                    for nodes in (1, 2):
                        with contextlib.ExitStack() as run_stack:
                            url = None  # a copy of the published database per run: a fresh audit log
                            if uri and database:
                                url = run_stack.enter_context(
                                    scratch_database(args.database_url, template=database_name(database))
                                )
                            http[f"{backend}-{nodes}"] = http_run(
                                args.index,
                                Path(tmp) / f"{backend}-{nodes}",
                                nodes,
                                args.clients,
                                args.http_seconds,
                                uri,
                                url,
                            )
            report["http"] = http
        report["milvus"]["peak_rss_mb"] = load.peak_rss_mb(milvus.pid) if milvus.pid else None
    report["stores"] = store_bytes(build_dir, args.milvus_db, documents)
    emit_json(report, args.out, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
