"""``leian cluster export|status``: load a published build into Milvus and PostgreSQL for the cluster backend."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from api.cli.common import CliError
from api.service.cluster import ClusterBackendError, milvus_client
from retrieval.audit.storage import is_database_url
from retrieval.index_layout import IndexLayoutError
from retrieval.index_store import IndexStore
from retrieval.milvus_channels import MilvusChannelError, published_collection

# psycopg and pymilvus (the cluster extra) are imported by the commands, not when `leian` starts.


def _database_url(args: argparse.Namespace) -> str | None:
    url = args.database_url if args.database_url is not None else os.environ.get("LEIAN_DATABASE_URL")
    url = (url or "").strip() or None
    if url is not None and not is_database_url(url):
        raise CliError("--database-url (LEIAN_DATABASE_URL) must start with postgresql://", 2)
    return url


def cmd_export(args: argparse.Namespace) -> int:
    database_url = _database_url(args)
    try:
        store = IndexStore.open(args.index, verify_checksums=True)
    except (IndexLayoutError, OSError) as exc:
        raise CliError(f"index {args.index} refused: {exc}", 2) from exc
    from pymilvus.exceptions import MilvusException

    from index_build.cluster_export import export_cluster
    from index_build.pg_export import PgExportError
    from retrieval.audit.pg_storage import redacted
    from retrieval.pg_metadata import MetadataPublishError

    started = time.perf_counter()
    try:
        client = milvus_client(args.milvus_uri)
        done = export_cluster(
            store, client, database_url, publish=not args.no_publish, reader_role=args.app_role
        )
    except (ClusterBackendError, PgExportError, MetadataPublishError) as exc:
        raise CliError(f"{exc} (nothing published)", 1) from exc
    except MilvusException as exc:
        raise CliError(
            f"loading build {store.version} into Milvus failed: {exc} (nothing published)", 1
        ) from exc
    finally:
        store.close()
    seconds = time.perf_counter() - started
    if done.milvus is None and done.metadata is None:
        print(f"build {store.version} is already published in PostgreSQL: nothing loaded")
        return 0
    state = "loaded" if args.no_publish else "loaded and published"
    parts = []
    if done.milvus is not None:
        parts.append(
            f"Milvus collection {done.milvus.collection} ({done.milvus.rows} rows, dim {done.milvus.dimension})"
        )
    if done.metadata is not None and database_url is not None:
        parts.append(
            f"PostgreSQL schema {done.metadata.schema} ({done.metadata.documents} documents, {redacted(database_url)})"
        )
    print(f"{state} build {store.version} as {' and '.join(parts)}: {seconds:.1f} s")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    database_url = _database_url(args)
    try:
        client = milvus_client(args.milvus_uri)
    except ClusterBackendError as exc:
        raise CliError(str(exc), 1) from exc
    try:
        name = published_collection(client)
        rows = client.get_collection_stats(name).get("row_count")
        print(f"published in Milvus: {name} ({rows} rows)")
    except MilvusChannelError as exc:
        if database_url is None:
            raise CliError(str(exc), 1) from exc
        print("published in Milvus: none (nodes with a database follow PostgreSQL)")
    if database_url is None:
        return 0
    from retrieval.audit.pg_storage import redacted
    from retrieval.pg_metadata import MetadataPublishError, read_published

    try:
        build = read_published(database_url)
    except MetadataPublishError as exc:
        raise CliError(str(exc), 1) from exc
    if build is None:
        raise CliError(
            f"PostgreSQL at {redacted(database_url)} publishes no build (run leian cluster export)", 1
        )
    held = (
        client.get_collection_stats(build.collection).get("row_count")
        if client.has_collection(build.collection)
        else "missing"
    )
    schema = build.schema if build.intact else f"{build.schema} (missing: run leian cluster export again)"
    print(
        f"published in PostgreSQL (what nodes serve): build {build.build_id}, {build.documents} documents "
        f"in schema {schema}, Milvus collection {build.collection} ({held} rows)"
    )
    return 0 if build.intact and held == build.documents else 1


def add_commands(sub: argparse._SubParsersAction) -> None:
    cluster = sub.add_parser(
        "cluster", help="the cluster backend: recall channels in Milvus, metadata in PostgreSQL"
    )
    commands = cluster.add_subparsers(dest="cluster_command", required=True)
    database = "PostgreSQL for the documents and metadata, and the authority for the published build (default: LEIAN_DATABASE_URL; none: metadata stays in the build folder, Milvus publishes)"
    p = commands.add_parser(
        "export", help="load the published build into Milvus (and PostgreSQL), then point the service at it"
    )
    p.add_argument("--index", type=Path, required=True, help="index home (its current build is exported)")
    p.add_argument("--milvus-uri", required=True, help="a Milvus Lite file or http://host:19530")
    p.add_argument("--database-url", default=None, help=database)
    p.add_argument(
        "--app-role",
        default=None,
        help="the nodes' PostgreSQL role (the user of their LEIAN_DATABASE_URL): granted SELECT on the build's tables",
    )
    p.add_argument("--no-publish", action="store_true", help="load only; keep serving the previous build")
    p.set_defaults(func=cmd_export)
    p = commands.add_parser("status", help="which build the service would serve")
    p.add_argument("--milvus-uri", required=True)
    p.add_argument("--database-url", default=None, help=database)
    p.set_defaults(func=cmd_status)
