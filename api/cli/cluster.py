"""``leian cluster export|status``: load a published build into Milvus for the cluster backend."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from api.cli.common import CliError
from api.service.cluster import ClusterBackendError, milvus_client
from index_build.milvus_export import export_build
from retrieval.index_layout import IndexLayoutError
from retrieval.index_store import IndexStore
from retrieval.milvus_channels import MilvusChannelError, published_collection


def cmd_export(args: argparse.Namespace) -> int:
    try:
        store = IndexStore.open(args.index, verify_checksums=True)
    except (IndexLayoutError, OSError) as exc:
        raise CliError(f"index {args.index} refused: {exc}", 2) from exc
    try:
        client = milvus_client(args.milvus_uri)
        started = time.perf_counter()
        done = export_build(store, client, publish=not args.no_publish)
    except ClusterBackendError as exc:
        raise CliError(str(exc), 1) from exc
    finally:
        store.close()
    seconds = time.perf_counter() - started
    state = "loaded" if args.no_publish else "loaded and published"
    print(
        f"{state} build {store.version} as {done.collection}: {done.rows} rows, dim {done.dimension}, {seconds:.1f} s"
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    try:
        client = milvus_client(args.milvus_uri)
        name = published_collection(client)
    except (ClusterBackendError, MilvusChannelError) as exc:
        raise CliError(str(exc), 1) from exc
    rows = client.get_collection_stats(name).get("row_count")
    print(f"published: {name} ({rows} rows)")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    cluster = sub.add_parser("cluster", help="the cluster backend: recall channels in Milvus")
    commands = cluster.add_subparsers(dest="cluster_command", required=True)
    p = commands.add_parser("export", help="load the published build into Milvus and point the service at it")
    p.add_argument("--index", type=Path, required=True, help="index home (its current build is exported)")
    p.add_argument("--milvus-uri", required=True, help="a Milvus Lite file or http://host:19530")
    p.add_argument("--no-publish", action="store_true", help="load only; keep serving the previous build")
    p.set_defaults(func=cmd_export)
    p = commands.add_parser("status", help="which build's collection the service would read")
    p.add_argument("--milvus-uri", required=True)
    p.set_defaults(func=cmd_status)
