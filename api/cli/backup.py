"""``leian backup`` and ``leian restore``: thin commands over ``api.service.backup``."""

from __future__ import annotations

import argparse
from pathlib import Path

from api.cli.common import CliError, os_user
from api.service.backup import BackupError, backup, restore
from api.service.config import Settings
from retrieval.audit.records import Actor


def cmd_backup(args: argparse.Namespace) -> int:
    settings = Settings.from_env().with_overrides(
        data_dir=args.data, signing_key=args.signing_key, index_home=args.index
    )
    try:
        done = backup(settings, args.out, Actor(os_user(), "operator"))
    except BackupError as exc:
        raise CliError(str(exc), exc.code) from exc
    audit = done.manifest["audit"]
    print(f"backed up {settings.data_dir} to {done.folder}")
    print(
        f"audit log: {audit['tree_size']} records, root {audit['root_hash']}, signed by key {audit['key_id']}"
    )
    if done.manifest["index"]:
        print(f"index referenced (not copied): build {done.manifest['index']['build_id']}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    try:
        done = restore(args.backup, args.data, args.public_key, trust_backup_key=args.trust_backup_key)
    except BackupError as exc:
        raise CliError(f"restore refused, nothing was written: {exc}", exc.code) from exc
    audit = done.manifest["audit"]
    print(f"restored {args.backup} into {done.folder}")
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
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backup", help="online backup of the audit log and accounts (consistent, while serving)"
    )
    p.add_argument("--out", type=Path, required=True, help="new folder for the backup")
    p.add_argument("--data", type=Path, help="data folder (default: LEIAN_DATA)")
    p.add_argument(
        "--signing-key", type=Path, help="signs the backup's checkpoint (default: LEIAN_SIGNING_KEY)"
    )
    p.add_argument("--index", type=Path, help="index home to reference (default: LEIAN_INDEX)")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser(
        "restore", help="verify a backup's audit chain, then restore it into a new data folder"
    )
    p.add_argument("backup", type=Path, help="the backup folder")
    p.add_argument("--data", type=Path, required=True, help="new (or empty) data folder")
    p.add_argument("--public-key", type=Path, help="the court's published public key (required, or:)")
    p.add_argument(
        "--trust-backup-key",
        action="store_true",
        help="check against the key inside the backup instead: integrity only, not who made it",
    )
    p.set_defaults(func=cmd_restore)
