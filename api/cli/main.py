"""`leian`: the command line of the service (build, update, search, demo; serve, user, token, audit).

Exit codes: 0 success, 1 the operation failed, 2 bad usage or bad input (message on stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from api.cli import authority as authority_cli
from api.cli import backup as backup_cli
from api.cli import cluster as cluster_cli
from api.cli import index as index_cli
from api.cli import pending as pending_cli
from api.cli import report_batch as report_cli
from api.cli import service as service_cli
from api.cli.common import CliError


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="leian", description="类案强制检索: similar-case retrieval for courts"
    )
    sub = root.add_subparsers(dest="command", required=True)

    index_cli.add_commands(sub)  # build, add, withdraw, search, verify, embedder, demo
    service_cli.add_commands(sub)  # serve, user, token, audit: the HTTP service and its administration
    backup_cli.add_commands(sub)  # backup, restore: the data folder, verified
    report_cli.add_commands(sub)  # report batch: 类案检索报告 for pending cases
    authority_cli.add_commands(sub)  # authority list|check: the 不再参照 registry
    cluster_cli.add_commands(sub)  # cluster export|status: the recall channels in Milvus
    pending_cli.add_commands(sub)  # pending import, push status|match|webhook: 智能推送
    return root


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["audit"]:  # its own parser (api.cli.audit), including its --help
        from api.cli.service import audit_command

        return audit_command(argv[1:])
    args = parser().parse_args(argv)
    if getattr(args, "k", 1) is not None and getattr(args, "k", 1) < 1:
        print("leian: error: -k must be at least 1", file=sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"leian: error: {exc}", file=sys.stderr)
        return exc.code
    except (FileNotFoundError, ValueError) as exc:
        print(f"leian: error: {exc}", file=sys.stderr)
        return 2
    except (RuntimeError, OSError) as exc:
        print(f"leian: failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
