"""``leian serve``, ``leian user …``, ``leian token …``, ``leian audit …``: running and administering the service.

Account and token changes are audited like requests to the service: the change and its audit
record commit together or not at all (see ``api.service.accounts``), with the operating-system user as the
actor (role ``operator``), since whoever runs these commands has the data folder in hand.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from api.cli.common import DEFAULT_DEMO_HOME, DEFAULT_SAMPLES, DEMO_DATA, CliError, os_user, settings_from
from api.service.config import Settings
from retrieval.audit.records import TypedRecord
from retrieval.audit.storage import parse_location

DEMO_COURT = "浙江省杭州市西湖区人民法院"
DEMO_USERS = (("demo-judge", "承办法官"), ("demo-auditor", "审判管理"))


class _Operator:
    """Opens the accounts store and the audit log of a data folder for one command."""

    def __init__(self, settings: Settings) -> None:
        from api.service.accounts import AccountStore
        from retrieval.audit.records import Actor
        from retrieval.audit.store import AuditLog, AuditUnavailable

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.audit = AuditLog(settings.audit_location, witness=settings.witness_path)
        except AuditUnavailable as exc:
            raise CliError(f"the audit log cannot be written, nothing was changed: {exc}", 1) from exc
        self.accounts = AccountStore(settings.accounts_location)
        self.actor = Actor(os_user(), "operator", None)

    def record(self, entry: TypedRecord) -> object:
        """Recorded under each court concerned, so that its 审判管理 sees who changed its accounts."""
        from retrieval.audit.accounts_replay import courts_concerned
        from retrieval.audit.records import Actor

        return [
            self.audit.record(Actor(self.actor.user, self.actor.role, court), "cli", entry)
            for court in courts_concerned(entry)
        ][-1]

    def __enter__(self) -> _Operator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.accounts.close()
        self.audit.close()


def _run(action: Callable[[], int]) -> int:
    from api.service.accounts import AccountError
    from retrieval.audit.store import AuditUnavailable

    try:
        return action()
    except AccountError as exc:
        raise CliError(str(exc), 2) from exc
    except AuditUnavailable as exc:
        raise CliError(f"the audit record could not be written, nothing was changed: {exc}", 1) from exc


def _expiry(args: argparse.Namespace, settings: Settings) -> dt.datetime | None:
    if getattr(args, "no_expiry", False):
        return None
    days = args.days if args.days is not None else settings.token_days
    if days < 1:
        raise CliError("--days must be at least 1 (or use --no-expiry)")
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=days)


def _create_user(op: _Operator, name: str, role: str, court: str | None) -> Any:
    from api.service.accounts import parse_role

    try:
        parsed = parse_role(role)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    return op.accounts.create_user(name, parsed, court, op.record)


def cmd_user_create(args: argparse.Namespace) -> int:
    with _Operator(settings_from(args)) as op:

        def action() -> int:
            user = _create_user(op, args.name, args.role, args.court)
            print(f"created user {user.name} ({user.role.value}, {user.court or '全部法院'})")
            return 0

        return _run(action)


def cmd_user_add(args: argparse.Namespace) -> int:
    """Create a user and issue a first token; the token is the last line printed (for scripts)."""
    settings = settings_from(args)
    with _Operator(settings) as op:

        def action() -> int:
            user = _create_user(op, args.name, args.role, args.court)
            info, token = op.accounts.issue_token(user.name, _expiry(args, settings), op.record)
            print(f"created user {user.name} ({user.role.value}, {user.court or '全部法院'})")
            print(f"token {info.token_id} expires {info.expires_at or 'never'}; shown once, keep it safe:")
            print(token)
            return 0

        return _run(action)


def cmd_user_list(args: argparse.Namespace) -> int:
    from api.service.accounts import AccountStore

    accounts = AccountStore(settings_from(args).accounts_location)
    try:
        for user in accounts.users():
            state = "\tdisabled" if user.disabled else ""
            print(f"{user.name}\t{user.role.value}\t{user.court or '-'}\t{user.created_at}{state}")
    finally:
        accounts.close()
    return 0


def cmd_user_set(args: argparse.Namespace) -> int:
    from api.service.accounts import parse_role

    if args.role is None and args.court is None:
        raise CliError("give --role, --court or both")
    try:
        role = parse_role(args.role) if args.role is not None else None
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    with _Operator(settings_from(args)) as op:

        def action() -> int:
            user = op.accounts.change_user(args.name, op.record, role=role, court=args.court)
            print(f"user {user.name} is now {user.role.value}, {user.court or '全部法院'}")
            return 0

        return _run(action)


def _set_disabled(args: argparse.Namespace, disabled: bool) -> int:
    with _Operator(settings_from(args)) as op:

        def action() -> int:
            user = op.accounts.set_disabled(args.name, disabled, op.record)
            print(f"user {user.name} {'disabled: its tokens no longer work' if disabled else 'enabled'}")
            return 0

        return _run(action)


def cmd_user_disable(args: argparse.Namespace) -> int:
    return _set_disabled(args, True)


def cmd_user_enable(args: argparse.Namespace) -> int:
    return _set_disabled(args, False)


def accounts_refusal(settings: Settings) -> str | None:
    """Why the data folder's accounts cannot be trusted (they differ from the log), or None."""
    from api.service.accounts import AccountStore
    from api.service.accounts_audit import check_store
    from retrieval.audit.store import AuditLog, AuditUnavailable

    if settings.database_url is None and not settings.accounts_db.is_file():
        return None
    try:
        log = AuditLog(settings.audit_location)
    except AuditUnavailable as exc:
        return f"the audit log cannot be read to check the accounts: {exc}"
    accounts = AccountStore(settings.accounts_location)
    try:
        check = check_store(accounts, log)
    finally:
        accounts.close()
        log.close()
    return None if check.ok else check.summary()


def _database_down(settings: Settings) -> str | None:
    """A warning when the shared database does not answer: the node then starts not ready, and
    checks the accounts itself once it connects (``api.service.shared_database``)."""
    if settings.database_url is None:
        return None
    from api.service.shared_database import redacted, unreachable

    problem = unreachable(settings.database_url)
    if problem is None:
        return None
    return (
        f"warning: the database {redacted(settings.database_url)} does not answer ({problem}); "
        "starting not ready (/readyz 503): it connects, checks the accounts and turns ready once the "
        "database answers"
    )


def cmd_accounts_check(args: argparse.Namespace) -> int:
    problem = accounts_refusal(settings_from(args))
    if problem is not None:
        raise CliError(problem, 1)
    print("the accounts database matches the accounts rebuilt from the audit log")
    return 0


def cmd_accounts_adopt(args: argparse.Namespace) -> int:
    from api.service.accounts_audit import AdoptionRefused, adopt

    with _Operator(settings_from(args)) as op:

        def action() -> int:
            try:
                done = adopt(op.accounts, op.audit, op.actor, force=args.force)
            except AdoptionRefused as exc:
                raise CliError(str(exc), 1) from exc
            if done.seq is None:
                print(f"nothing to adopt: the audit log already rebuilds these accounts ({done.users} users)")
                return 0
            for line in done.differences:
                print(f"  adopted: {line}")
            print(f"recorded {done.users} users and {done.tokens} tokens as audit record {done.seq}")
            return 0

        return _run(action)


def cmd_token_issue(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    with _Operator(settings) as op:

        def action() -> int:
            info, token = op.accounts.issue_token(args.user, _expiry(args, settings), op.record)
            print(f"token {info.token_id} for {info.user} expires {info.expires_at or 'never'}; shown once:")
            print(token)
            return 0

        return _run(action)


def cmd_token_revoke(args: argparse.Namespace) -> int:
    with _Operator(settings_from(args)) as op:

        def action() -> int:
            info = op.accounts.revoke_token(args.token_id, op.record)
            print(f"revoked token {info.token_id} of {info.user} at {info.revoked_at}")
            return 0

        return _run(action)


def cmd_token_list(args: argparse.Namespace) -> int:
    from api.service.accounts import AccountStore

    accounts = AccountStore(settings_from(args).accounts_location)
    try:
        for t in accounts.tokens(args.user):
            state = f"revoked {t.revoked_at}" if t.revoked_at else f"expires {t.expires_at or 'never'}"
            print(f"{t.token_id}\t{t.user}\tissued {t.created_at}\t{state}")
    finally:
        accounts.close()
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    return audit_command(list(args.audit_args))


def _data_defaults(rest: list[str]) -> list[str]:
    """``--db`` and ``--key`` from ``--data`` / LEIAN_DATA / LEIAN_SIGNING_KEY unless given."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--db", type=parse_location)
    parser.add_argument("--key", type=Path)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--witness", type=Path)
    opts, passed = parser.parse_known_args(rest)
    settings = Settings.from_env().with_overrides(data_dir=opts.data)
    return [
        "--db",
        str(opts.db or settings.audit_location),
        "--key",
        str(opts.key or settings.signing_key_path),
        "--witness",
        str(_witness_for(opts.witness, opts.db, opts.data, settings)),
        *passed,
    ]


def _witness_for(witness: Path | None, db: str | Path | None, data: Path | None, settings: Settings) -> Path:
    """--witness, else LEIAN_WITNESS_PATH, else beside the folder of the --db given, else the data folder's."""
    from retrieval.audit.witness import default_witness_path

    if witness is not None:
        return witness
    if settings.witness is None and isinstance(db, Path) and data is None:
        return default_witness_path(db.parent)
    return settings.witness_path


def audit_command(rest: list[str]) -> int:
    """``verify``, ``verify-record``, ``keygen``, ``proof`` go to ``api.cli.audit``; ``export``
    defaults to the data folder's log and key and writes the checkpoint beside the export; ``summary``
    defaults to the data folder's log and key."""
    from api.cli.audit import main as audit_main

    if rest[:1] in (["summary"], ["check"], ["receipt-check"]):
        return audit_main([rest[0], *_data_defaults(rest[1:])])
    if not rest or rest[0] != "export":
        return audit_main(rest)
    parser = argparse.ArgumentParser(prog="leian audit export")
    parser.add_argument(
        "db",
        type=parse_location,
        nargs="?",
        help="audit database (default: LEIAN_DATABASE_URL, else DATA/audit.sqlite)",
    )
    parser.add_argument("--out", type=Path, required=True, help="JSON Lines export to write")
    parser.add_argument("--checkpoint", type=Path, help="default: OUT with .checkpoint.json")
    parser.add_argument("--csv", type=Path, help="also a CSV table (UTF-8 with BOM)")
    parser.add_argument("--key", type=Path, help="signing key (default: LEIAN_SIGNING_KEY or DATA's key)")
    parser.add_argument("--data", type=Path, help="data folder (default: LEIAN_DATA)")
    parser.add_argument("--witness", type=Path, help="signed-head file (default: LEIAN_WITNESS_PATH)")
    try:
        opts = parser.parse_args(rest[1:])
    except SystemExit as exc:
        return int(exc.code or 0)
    settings = Settings.from_env().with_overrides(data_dir=opts.data)
    checkpoint = opts.checkpoint or opts.out.with_name(opts.out.stem + ".checkpoint.json")
    argv = [
        "export",
        str(opts.db or settings.audit_location),
        "--key",
        str(opts.key or settings.signing_key_path),
        "--out",
        str(opts.out),
        "--checkpoint",
        str(checkpoint),
        "--witness",
        str(_witness_for(opts.witness, opts.db, opts.data, settings)),
    ]
    if opts.csv:
        argv += ["--csv", str(opts.csv)]
    return audit_main(argv)


def _ensure_demo_index(home: Path) -> None:
    """Build the sample corpus into ``home`` unless a build of the current format, made with this
    installation's segmenter, is published there (an older one is rebuilt, not refused)."""
    from retrieval.index_layout import IndexLayoutError, resolve_current
    from retrieval.index_store import read_manifest
    from retrieval.segmenter import default_segmenter

    try:
        manifest = read_manifest(resolve_current(home))
        if manifest.get("segmenter", {}).get("fingerprint") == default_segmenter().info.fingerprint:
            return
    except IndexLayoutError:
        pass
    from index_build.build import BuildOptions, build

    samples = DEFAULT_SAMPLES
    print(f"building the sample index from {samples} into {home}")
    build(
        BuildOptions(
            inputs=[samples / "judgments", samples / "guiding", samples / "extra.jsonl"],
            home=home,
            progress=False,
        )
    )


def _demo_accounts(settings: Settings) -> list[tuple[str, str, str]]:
    """(name, role, token) of the demo accounts; a fresh token each start, the users once."""
    out = []
    with _Operator(settings) as op:
        for name, role in DEMO_USERS:
            if op.accounts.user(name) is None:
                _create_user(op, name, role, DEMO_COURT)
            _, token = op.accounts.issue_token(
                name, dt.datetime.now(dt.UTC) + dt.timedelta(days=1), op.record
            )
            out.append((name, role, token))
        from api.service.accounts_audit import AdoptionRefused, adopt

        with contextlib.suppress(
            AdoptionRefused
        ):  # a demo folder from before: adopted; an edited one: refused
            adopt(op.accounts, op.audit, op.actor)
    return out


def _checked_index(settings: Settings) -> Settings:
    """Refuse to start on a corrupt or truncated build rather than serve a service that is never ready.

    The files are checked here, before the server starts, so the service need not check them again.
    """
    from retrieval.index_layout import IndexLayoutError
    from retrieval.index_store import verify_published

    assert settings.index_home is not None
    try:
        verify_published(settings.index_home, checksums=settings.verify_index_checksums)
    except IndexLayoutError as exc:
        raise CliError(
            f"refusing to serve {settings.index_home}: {exc}; rebuild it or publish a good build", 1
        ) from exc
    return settings.with_overrides(verify_index_checksums=False)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.http.app import create_app

    settings = settings_from(args)
    if args.demo:
        settings = settings.with_overrides(
            index_home=args.index or DEFAULT_DEMO_HOME, data_dir=args.data or DEMO_DATA
        )
        assert settings.index_home is not None
        _ensure_demo_index(settings.index_home)
    down = _database_down(settings)
    if args.demo and down is None:
        for name, role, token in _demo_accounts(settings):
            print(f"demo account {name}（{role}，{DEMO_COURT}）token:\n{token}")
    elif args.demo:
        print("no demo accounts: they are made in the database, which does not answer", file=sys.stderr)
    if settings.index_home is None:
        raise CliError("no index: pass --index HOME or set LEIAN_INDEX (or use --demo)")
    settings = _checked_index(settings)
    if down is not None:
        print(down, file=sys.stderr)
    elif (refusal := accounts_refusal(settings)) is not None:
        raise CliError(f"refusing to serve {settings.data_dir}: {refusal}", 1)
    print(f"serving index {settings.index_home}, data in {settings.data_dir}")
    print(f"open http://{args.host}:{args.port}/ in a browser and sign in with a token (API docs: /docs)")
    sys.stdout.flush()
    if args.workers == 1:
        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level)
    else:
        from api.http.workers import serve_workers

        serve_workers(
            settings, host=args.host, port=args.port, workers=args.workers, log_level=args.log_level
        )
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register the service's subcommands on the ``leian`` parser."""

    def data_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--data", type=Path, help="data folder: accounts, audit log, key (default: LEIAN_DATA)"
        )

    p = sub.add_parser("serve", help="run the HTTP service and the judges' web page (uvicorn)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--index", type=Path, help="published index home (default: LEIAN_INDEX)")
    data_option(p)
    p.add_argument(
        "--signing-key", type=Path, help="Ed25519 key for checkpoints (default: LEIAN_SIGNING_KEY)"
    )
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="server processes, each with its own copy of the index (memory) and one search at a "
        "time; one audit chain for all (default 1; about one per core)",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="sample corpus index (built if missing), demo data folder, demo accounts whose tokens are printed",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("user", help="accounts of the service")
    usub = p.add_subparsers(dest="user_command", required=True)
    u = usub.add_parser("create", help="create a user (audited)")
    u.add_argument("--name", required=True)
    u.add_argument("--court", help="the user's court, full name (not needed for admin)")
    u.add_argument("--role", required=True, help="承办法官, 法官助理, 院长/庭长, 审判管理, admin")
    data_option(u)
    u.set_defaults(func=cmd_user_create)
    u = usub.add_parser("add", help="create a user and issue a token; the token is the last line printed")
    u.add_argument("name")
    u.add_argument("--court")
    u.add_argument("--role", required=True)
    u.add_argument("--days", type=int)
    u.add_argument("--no-expiry", action="store_true")
    data_option(u)
    u.set_defaults(func=cmd_user_add)
    u = usub.add_parser("list", help="list users")
    data_option(u)
    u.set_defaults(func=cmd_user_list)
    u = usub.add_parser("set", help="change a user's role and/or court (audited)")
    u.add_argument("name")
    u.add_argument("--role")
    u.add_argument("--court")
    data_option(u)
    u.set_defaults(func=cmd_user_set)
    for verb, func in (("disable", cmd_user_disable), ("enable", cmd_user_enable)):
        u = usub.add_parser(verb, help=f"{verb} a user and so every token of theirs (audited)")
        u.add_argument("name")
        data_option(u)
        u.set_defaults(func=func)

    p = sub.add_parser("accounts", help="the accounts database against the audit log it is derived from")
    asub = p.add_subparsers(dest="accounts_command", required=True)
    a = asub.add_parser("check", help="exit 1 unless the accounts equal what the audit log rebuilds")
    data_option(a)
    a.set_defaults(func=cmd_accounts_check)
    a = asub.add_parser(
        "adopt", help="record the accounts as they stand (once, for accounts older than this version)"
    )
    a.add_argument("--force", action="store_true", help="adopt even differences from a log that rebuilds")
    data_option(a)
    a.set_defaults(func=cmd_accounts_adopt)

    p = sub.add_parser("token", help="API tokens (stored only as hashes)")
    tsub = p.add_subparsers(dest="token_command", required=True)
    t = tsub.add_parser("issue", help="issue a token for a user; printed once (audited)")
    t.add_argument("--user", required=True)
    t.add_argument("--days", type=int, help="lifetime in days (default: LEIAN_TOKEN_DAYS, 90)")
    t.add_argument("--no-expiry", action="store_true")
    data_option(t)
    t.set_defaults(func=cmd_token_issue)
    t = tsub.add_parser("revoke", help="revoke a token by its id (audited)")
    t.add_argument("token_id")
    data_option(t)
    t.set_defaults(func=cmd_token_revoke)
    t = tsub.add_parser("list", help="list tokens (ids, never the tokens)")
    t.add_argument("--user")
    data_option(t)
    t.set_defaults(func=cmd_token_list)

    p = sub.add_parser(
        "audit",
        help="audit log: verify EXPORT CHECKPOINT, verify-record, keygen --out, export --out, proof, summary",
        add_help=False,
    )
    p.add_argument("audit_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_audit)
