"""``leian backup`` and ``leian restore``: thin commands over ``api.service.backup`` (a data folder)
and ``api.service.pg_backup`` (the PostgreSQL database of LEIAN_DATABASE_URL)."""

from __future__ import annotations

import argparse
from pathlib import Path

from api.cli.common import CliError, os_user
from api.service.backup import BackupError, backup, restore
from api.service.config import Settings
from api.service.shared_database import redacted
from retrieval.audit.records import Actor
from retrieval.audit.storage import is_database_url


def cmd_backup(args: argparse.Namespace) -> int:
    if args.database_url is not None and not is_database_url(args.database_url):
        raise CliError("--database-url: must start with postgresql:// (or postgres://)", 2)
    settings = Settings.from_env().with_overrides(
        data_dir=args.data,
        signing_key=args.signing_key,
        index_home=args.index,
        database_url=args.database_url,
    )
    if args.exclude_schema and settings.database_url is None:
        raise CliError("--exclude-schema: only for a backup of a PostgreSQL database (LEIAN_DATABASE_URL)", 2)
    if args.with_build_schemas and settings.database_url is None:
        raise CliError(
            "--with-build-schemas: only for a backup of a PostgreSQL database (LEIAN_DATABASE_URL)", 2
        )
    actor = Actor(os_user(), "operator")
    try:
        if settings.database_url is not None:
            from api.service.pg_backup import backup_database

            done = backup_database(
                settings,
                args.out,
                actor,
                args.exclude_schema or (),
                with_build_schemas=args.with_build_schemas,
            )
        else:
            done = backup(settings, args.out, actor)
    except BackupError as exc:
        raise CliError(str(exc), exc.code) from exc
    audit = done.manifest["audit"]
    print(f"backed up {done.manifest.get('database') or settings.data_dir} to {done.folder}")
    print(
        f"audit log: {audit['tree_size']} records, root {audit['root_hash']}, signed by key {audit['key_id']}"
    )
    if done.manifest["index"]:
        print(f"index referenced (not copied): build {done.manifest['index']['build_id']}")
    if done.manifest["index"] and done.manifest["index"].get("milvus_collection"):
        print(
            f"Milvus collection {done.manifest['index']['milvus_collection']} not copied: it is derived "
            "from the build folder (leian cluster export restores it)"
        )
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    if (args.data is None) == (args.database_url is None):
        raise CliError("restore into either --data NEW_FOLDER or --database-url NEW_URL", 2)
    try:
        if args.database_url is not None:
            from api.service.pg_backup import restore_database

            done = restore_database(
                args.backup, args.database_url, args.public_key, trust_backup_key=args.trust_backup_key
            )
        else:
            done = restore(args.backup, args.data, args.public_key, trust_backup_key=args.trust_backup_key)
    except BackupError as exc:
        raise CliError(f"restore refused, nothing was written: {exc}", exc.code) from exc
    audit = done.manifest["audit"]
    into = done.folder if args.database_url is None else redacted(args.database_url)
    print(f"restored {args.backup} into {into}")
    print(
        f"audit log verified: {audit['tree_size']} records, root {audit['root_hash']}, key {audit['key_id']}"
    )
    print("manifest signature verified; accounts match the accounts rebuilt from the audit log")
    if not args.public_key:
        print(
            "warning: checked against the key inside the backup (--trust-backup-key): that proves the"
            " backup is intact, not who made it; pass --public-key with the court's published key"
        )
    print("put the signing key back (LEIAN_SIGNING_KEY) before serving, or new checkpoints get a new key")
    if args.database_url is not None:
        from api.service.pg_backup import describe

        print(
            "privileges were not restored: run leian audit setup-db NEW_URL --app-role ROLE, then point "
            "LEIAN_DATABASE_URL at it"
        )
        print(describe(done.manifest))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backup",
        help="online backup of the audit log and accounts (consistent, while serving); with "
        "LEIAN_DATABASE_URL a pg_dump of the service database",
    )
    p.add_argument("--out", type=Path, required=True, help="new folder for the backup")
    p.add_argument("--data", type=Path, help="data folder (default: LEIAN_DATA)")
    p.add_argument(
        "--signing-key", type=Path, help="signs the backup's checkpoint (default: LEIAN_SIGNING_KEY)"
    )
    p.add_argument("--index", type=Path, help="index home to reference (default: LEIAN_INDEX)")
    p.add_argument(
        "--database-url",
        help="the service's PostgreSQL database, as a role that may create databases (default: "
        "LEIAN_DATABASE_URL); the backup is then a pg_dump of it",
    )
    p.add_argument(
        "--exclude-schema",
        action="append",
        metavar="PATTERN",
        help="with a database: leave out more schemas (pg_dump pattern, repeatable); the builds' "
        "schemas (leian_build_*) are left out anyway",
    )
    p.add_argument(
        "--with-build-schemas",
        action="store_true",
        help="with a database: dump the builds' documents and metadata too (by default they are left "
        "out: leian cluster export reloads them from the build folder after a restore)",
    )
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser(
        "restore", help="verify a backup's audit chain, then restore it into a new data folder"
    )
    p.add_argument("backup", type=Path, help="the backup folder")
    p.add_argument("--data", type=Path, help="new (or empty) data folder (a data folder's backup)")
    p.add_argument(
        "--database-url",
        help="postgresql://…/NEW: a database that does not exist yet, created here (a PostgreSQL backup)",
    )
    p.add_argument("--public-key", type=Path, help="the court's published public key (required, or:)")
    p.add_argument(
        "--trust-backup-key",
        action="store_true",
        help="check against the key inside the backup instead: integrity only, not who made it",
    )
    p.set_defaults(func=cmd_restore)
