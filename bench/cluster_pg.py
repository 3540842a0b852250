"""The cluster export with PostgreSQL: how long it takes, how many bytes a document costs there, and
what a candidate read costs from PostgreSQL against the build's SQLite file.

    python bench/cluster_pg.py --index build/scale/idx-10k --database-url postgresql://postgres@127.0.0.1/test \
        --milvus-db build/cluster-pg-10k/leian.db [--batches 50] [--keep] --out bench/results/cluster-pg-10k.json

1. ``export``: the code of ``leian cluster export --database-url`` (``index_build.cluster_export``)
   step by step: the Milvus load (a Milvus Lite file), the COPY of the metadata tables into the
   build's own schema (one transaction), the publishing transaction; wall and process CPU seconds.
2. ``bytes``: ``pg_total_relation_size`` of each of the build's tables (heap, TOAST and indexes),
   in total and per document, beside the SQLite file the rows came from.
3. ``reads``: what a search reads of the metadata per candidate (``cards`` and ``legal_features`` of
   100 random rows, ``documents`` of 10 of them), microseconds per row, from SQLite and from
   PostgreSQL (loopback, same machine), after one warm-up pass.

The build's schema and its ``leian_builds``/``leian_published`` rows are dropped afterwards unless
``--keep`` (the database is otherwise left as found, so point it at a scratch database). The machine
is shared (2 cores): the JSON keeps the load average beside the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
if str(REPO / "bench") not in sys.path:
    sys.path.append(str(REPO / "bench"))

from _common import emit_json  # noqa: E402

from retrieval import index_layout as layout  # noqa: E402
from retrieval.index_store import IndexStore  # noqa: E402
from retrieval.metadata import MetadataStore  # noqa: E402

CANDIDATES = 100  # retrieval.search.CANDIDATE_DEPTH
SHOWN = 10


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _step(fn: Any) -> tuple[Any, dict[str, float]]:
    wall, cpu = time.perf_counter(), _cpu()
    result = fn()
    return result, {"wall_s": round(time.perf_counter() - wall, 2), "cpu_s": round(_cpu() - cpu, 2)}


def table_bytes(url: str, schema: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'"
            " ORDER BY 2 DESC",
            (schema,),
        ).fetchall()
    return {str(name): int(size) for name, size in rows}


def read_costs(store: MetadataStore, size: int, batches: int, seed: int) -> dict[str, float]:
    """Microseconds per row of the reads a search makes of its candidates (warm: one pass first)."""
    rng = random.Random(seed)
    picks = [rng.sample(range(size), min(CANDIDATES, size)) for _ in range(batches)]
    for rows in picks:  # warm-up: the page cache (SQLite) / shared buffers (PostgreSQL)
        store.cards(rows)
        store.legal_features(rows)
    timings = {"cards": 0.0, "legal_features": 0.0, "documents": 0.0}
    for rows in picks:
        for name, call, chosen in (
            ("cards", store.cards, rows),
            ("legal_features", store.legal_features, rows),
            ("documents", store.documents, rows[:SHOWN]),
        ):
            clock = time.perf_counter()
            call(chosen)
            timings[name] += time.perf_counter() - clock
    per_row = {"cards": CANDIDATES, "legal_features": CANDIDATES, "documents": SHOWN}
    return {f"{k}_us_per_row": round(v * 1e6 / (batches * per_row[k]), 1) for k, v in timings.items()}


def drop_build(url: str, build_id: str) -> None:
    import psycopg
    from psycopg import sql

    from retrieval.pg_metadata import BUILDS_TABLE, PUBLISHED_TABLE, schema_name

    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute(f"DELETE FROM {PUBLISHED_TABLE} WHERE build_id = %s", (build_id,))
        conn.execute(f"DELETE FROM {BUILDS_TABLE} WHERE build_id = %s", (build_id,))
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema_name(build_id)))
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument(
        "--database-url", required=True, help="a scratch database (the build is dropped after)"
    )
    parser.add_argument("--milvus-db", type=Path, required=True, help="a Milvus Lite file (made if missing)")
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="leave the build loaded and published")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from api.service.cluster import milvus_client
    from index_build.milvus_export import collection_name, export_build
    from index_build.pg_export import build_bytes, load_metadata, publish_build
    from retrieval.pg_metadata import PostgresSource, read_published

    load_before = os.getloadavg()
    store = IndexStore.open(args.index, verify_checksums=False)
    args.milvus_db.parent.mkdir(parents=True, exist_ok=True)
    client = milvus_client(str(args.milvus_db))
    build_id, size = store.version, store.size
    if (published := read_published(args.database_url)) is not None and published.build_id == build_id:
        raise SystemExit(f"build {build_id} is already published in that database: drop it first")
    metadata_path = store.build_dir / layout.METADATA
    checksum = str(store.manifest["files"][layout.METADATA]["sha256"])
    try:
        milvus, milvus_cost = _step(lambda: export_build(store, client, publish=False))
        loaded, copy_cost = _step(
            lambda: load_metadata(args.database_url, build_id, metadata_path, checksum, milvus.collection)
        )
        _, publish_cost = _step(lambda: publish_build(args.database_url, build_id))
        total = build_bytes(args.database_url, build_id)
        tables = table_bytes(args.database_url, loaded.schema)
        pg_store = MetadataStore(PostgresSource(args.database_url, loaded.schema))
        try:
            reads = {
                "sqlite": read_costs(store.metadata, size, args.batches, args.seed),
                "postgresql": read_costs(pg_store, size, args.batches, args.seed),
            }
        finally:
            pg_store.close()
    finally:
        store.close()
        if not args.keep:
            drop_build(args.database_url, build_id)
            if client.has_collection(collection_name(build_id)):
                client.drop_collection(collection_name(build_id))
        client.close()
    sqlite_bytes = metadata_path.stat().st_size
    report = {
        "date": dt.date.today().isoformat(),
        "index": str(args.index),
        "build_id": build_id,
        "documents": size,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "export": {
            "milvus_load": milvus_cost,
            "postgresql_copy": copy_cost | {"rows": loaded.rows},
            "publish": publish_cost,
            "total_wall_s": round(milvus_cost["wall_s"] + copy_cost["wall_s"] + publish_cost["wall_s"], 2),
        },
        "bytes": {
            "postgresql_total": total,
            "postgresql_per_document": round(total / size, 1),
            "postgresql_tables": tables,
            "sqlite_metadata": sqlite_bytes,
            "sqlite_per_document": round(sqlite_bytes / size, 1),
        },
        "reads": reads,
    }
    emit_json(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
