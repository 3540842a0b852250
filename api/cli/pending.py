"""`leian pending import` and `leian push status|match|webhook`: 智能推送 from the command line.

``pending import`` registers a case-management export (JSON Lines or CSV, the columns of ``leian
report batch`` plus ``judge``/承办法官 and ``court``/法院) as the operator: each row's 承办法官 must be
a judge's account of that court; each registration runs its 智能推送 search, recorded as the
judge's. ``push match`` matches the open cases against the published build now (a deployment
without a running service; the service does it by itself when it sees a new build).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from api.cli.common import CliError, os_user, settings_from


def _services(args: argparse.Namespace):
    from api.service.accounts import AccountStore
    from api.service.metrics import Metrics
    from api.service.runtime import Services, manifest_sha256
    from retrieval.audit.store import AuditLog, AuditUnavailable
    from retrieval.index_store import IndexStore

    settings = settings_from(args)
    if settings.index_home is None:
        raise CliError("no index: pass --index HOME or set LEIAN_INDEX")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        audit = AuditLog(settings.audit_location)
    except AuditUnavailable as exc:
        raise CliError(f"the audit log cannot be written: {exc}", 1) from exc
    store = IndexStore.open(settings.index_home, verify_checksums=settings.verify_index_checksums)
    return Services(
        settings,
        Metrics(),
        AccountStore(settings.accounts_location),
        audit,
        store,
        manifest_sha256(store),
        None,
    )


def _push(args: argparse.Namespace):
    from api.service.push.service import PushService

    return PushService(_services(args))


def _push_store(args: argparse.Namespace):
    """The push store of the settings: ``push.sqlite``, or the shared database (exit 1, without its
    password, when that does not answer)."""
    from api.service.push.store import PushStore

    settings = settings_from(args)
    url = settings.database_url
    if url is None:
        return PushStore(settings.push_location)
    import psycopg

    from api.service.shared_database import redacted, scrubbed

    try:
        return PushStore(url)
    except psycopg.Error as exc:
        raise CliError(
            f"the push store in {redacted(url)} cannot be opened: {scrubbed(str(exc), url)}", 1
        ) from exc


def _operator():
    from api.service.accounts import Principal, Role, User

    return Principal(User(0, os_user(), Role.ADMIN, None, ""), "cli")


def _rows(path: Path) -> list[Any]:
    from api.service.report_batch.pending import PendingFileError, _csv_rows, _decode, _jsonl_rows

    try:
        text = _decode(path.read_bytes(), path.name)
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}") from exc
    except PendingFileError as exc:
        raise CliError(str(exc)) from exc
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return _jsonl_rows(text)
    if suffix == ".csv":
        try:
            return _csv_rows(text, path.name)
        except PendingFileError as exc:
            raise CliError(str(exc)) from exc
    raise CliError(f"{path.name}: give a .jsonl or a .csv file")


def cmd_import(args: argparse.Namespace) -> int:
    from api.service import pending_cases

    rows = _rows(args.file)
    if not rows:
        raise CliError(f"{args.file}: no pending cases")
    push = _push(args)
    try:
        results = pending_cases.import_rows(push, _operator(), rows)
    finally:
        push.close()
        push.services.close()
    if args.json:
        print(json.dumps({"rows": results}, ensure_ascii=False))
    else:
        for r in results:
            line = f"row {r['row']}: {r['status']} {r.get('case_number') or ''} id={r.get('id')}"
            print(line + (f" ({r['error']})" if r.get("error") else ""))
    counts = {s: sum(1 for r in results if r["status"] == s) for s in ("registered", "exists", "refused")}
    print(
        f"{counts['registered']} registered, {counts['exists']} already registered, {counts['refused']} refused",
        file=sys.stderr,
    )
    return 1 if counts["refused"] else 0


def cmd_status(args: argparse.Namespace) -> int:
    from api.service.push.service import delivery_status

    store = _push_store(args)
    try:
        status = delivery_status(store, args.court)
    finally:
        store.close()
    if args.json:
        print(json.dumps(status, ensure_ascii=False))
        return 0
    counts = "、".join(f"{k} {v}" for k, v in sorted(status["counts"].items())) or "none"
    print(f"matched build: {status['matched_build'] or '-'}; deliveries: {counts}")
    now = time.time()
    for title, rows in (("pending", status["pending"]), ("dead letters", status["dead"])):
        if rows:
            print(f"{title}:")
        for r in rows:
            due = f"next in {max(0.0, r['next_at'] - now):.0f} s" if r["state"] == "pending" else "given up"
            print(
                f"  #{r['id']} {r['court']} key {r['idempotency_key']} attempts {r['attempts']} {due}"
                + (f" last error: {r['last_error']}" if r["last_error"] else "")
            )
    return 0


def cmd_match(args: argparse.Namespace) -> int:
    push = _push(args)
    try:
        summary = push.match(push.services.index())
    finally:
        push.close()
        push.services.close()
    print(
        f"build {summary.build_id} (after {summary.previous_build_id or '-'}): {summary.added} added, "
        f"{summary.withdrawn} withdrawn; {summary.open_cases} open cases; {summary.pushes} pushes, "
        f"{summary.alerts} alerts in {summary.seconds:.2f} s"
    )
    return 0


def cmd_webhook(args: argparse.Namespace) -> int:
    from api.service.errors import ApiError
    from api.service.push.service import PushSettings, rotate_secret, set_webhook

    store = _push_store(args)
    try:
        if args.action == "set":
            if not args.url:
                raise CliError("--url: required for set")
            done = set_webhook(store, PushSettings.from_env(), args.court, args.url)
        else:
            done = rotate_secret(store, args.court)
    except ApiError as exc:
        raise CliError(exc.message_en, 2 if exc.status == 422 else 1) from exc
    finally:
        store.close()
    print(json.dumps(done, ensure_ascii=False))
    if done.get("secret"):
        print("the secret is shown once: give it to the case-management system", file=sys.stderr)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    pending = sub.add_parser("pending", help="pending cases subscribed to 智能推送")
    psub = pending.add_subparsers(dest="pending_command", required=True)
    p = psub.add_parser("import", help="register the pending cases of a case-management export (.jsonl/.csv)")
    p.add_argument("file", type=Path)
    p.add_argument("--data", type=Path, help="data folder (default: LEIAN_DATA)")
    p.add_argument("--index", type=Path, help="index home (default: LEIAN_INDEX)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_import)

    push = sub.add_parser("push", help="智能推送: deliveries, matching, webhooks")
    qsub = push.add_subparsers(dest="push_command", required=True)
    p = qsub.add_parser("status", help="pending webhook deliveries and dead letters")
    p.add_argument("--data", type=Path, help="data folder (default: LEIAN_DATA)")
    p.add_argument("--court")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)
    p = qsub.add_parser("match", help="match the open pending cases against the published build now")
    p.add_argument("--data", type=Path, help="data folder (default: LEIAN_DATA)")
    p.add_argument("--index", type=Path, help="index home (default: LEIAN_INDEX)")
    p.set_defaults(func=cmd_match)
    p = qsub.add_parser(
        "webhook", help="a court's webhook: set its URL (secret made once) or rotate the secret"
    )
    p.add_argument("action", choices=("set", "rotate"))
    p.add_argument("--court", required=True)
    p.add_argument("--url")
    p.add_argument("--data", type=Path, help="data folder (default: LEIAN_DATA)")
    p.set_defaults(func=cmd_webhook)
