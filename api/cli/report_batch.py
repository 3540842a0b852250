"""``leian report batch PENDING.jsonl|csv --out DIR``: a report per pending case, audited, resumable.

Opens the same data folder as the service (``LEIAN_DATA`` or ``--data``: accounts and audit log)
and the index (``LEIAN_INDEX`` or ``--index``); no signing key is needed, checkpoints are the
service's business. Exit status: 0 every case reported; 1 a case failed, the batch was stopped by
a failure of the service, or another process runs it; 2 bad usage or input; 130 interrupted
(Ctrl-C: the cases in progress finish first). Rerunning the same command resumes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from api.cli.common import CliError, os_user
from api.service.accounts import Principal, parse_role
from api.service.config import Settings
from api.service.report_batch.judges import CaseError, SubjectDefaults, resolve_subject
from api.service.report_batch.operator import (
    Operator,
    OperatorRefused,
    allowed_judges,
    operator_of,
    os_user_map,
)
from api.service.report_batch.pending import BadRow, PendingCase, PendingFileError, read_pending
from api.service.report_batch.runner import BatchFailed, BatchJob, BatchResult, run_batch
from api.service.report_batch.state import (
    SUMMARY_CSV,
    SUMMARY_XLSX,
    BatchBusy,
    BatchFolder,
    BatchMismatch,
    open_batch,
)
from retrieval.audit.records import Actor, OverrideRecord
from retrieval.guidance import Trigger

INTERRUPTED = 130
MAX_WORKERS = 8


def _services(settings: Settings):
    """Accounts, audit log and index of the service, without the signing key the batch never uses."""
    from api.service.accounts import AccountStore
    from api.service.metrics import Metrics
    from api.service.runtime import Services, manifest_sha256
    from retrieval.audit.store import AuditLog, AuditUnavailable
    from retrieval.index_store import IndexStore

    if settings.index_home is None:
        raise CliError("no index: pass --index HOME or set LEIAN_INDEX")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        audit = AuditLog(settings.audit_location)
    except AuditUnavailable as exc:
        raise CliError(f"the audit log cannot be written, nothing was searched: {exc}", 1) from exc
    store = IndexStore.open(
        settings.index_home,
        verify_checksums=settings.verify_index_checksums,
        cause_model_folder=settings.cause_model,
    )
    accounts = AccountStore(settings.accounts_location)
    return Services(settings, Metrics(), accounts, audit, store, manifest_sha256(store), None)


def _check_options(args: argparse.Namespace) -> None:
    stated = [t.value for t in Trigger if t is not Trigger.SMART_PUSH]  # 智能推送 is the service's own
    if args.trigger is not None and args.trigger not in stated:
        raise CliError(f"--trigger: {args.trigger!r} is not one of {' / '.join(stated)}")
    if args.role is not None:
        try:
            parse_role(args.role)
        except ValueError as exc:
            raise CliError(f"--role: {exc}") from exc
    if args.as_user is not None:
        if args.admin_override is None:
            raise CliError("--as-user: acting as another account needs --admin-override REASON (audited)")
        if args.user is not None and args.user != args.as_user:
            raise CliError("--as-user and --user name different accounts")
        args.user = args.as_user
    if not 1 <= args.workers <= MAX_WORKERS:
        raise CliError(f"--workers: between 1 and {MAX_WORKERS}")
    if not 1 <= args.k <= 50:
        raise CliError("-k: between 1 and 50")


def _authorise(
    services, settings: Settings, args: argparse.Namespace, cases: list[PendingCase | BadRow]
) -> tuple[Operator, frozenset[str] | None]:
    """The OS user behind the batch and the accounts it may sign as (None: any, by admin override)."""
    operator = operator_of(services.accounts, os_user(), os_user_map(settings.data_dir))
    named = {case.judge for case in cases if isinstance(case, PendingCase) and case.judge}
    return operator, allowed_judges(services.accounts, operator, named, args.user, args.admin_override)


def _record_override(
    services, operator: Operator, args: argparse.Namespace, cases: list[PendingCase | BadRow], batch_id: str
) -> None:
    """The admin override on record before the first search (fail-closed: no record, no batch)."""
    named = {case.judge for case in cases if isinstance(case, PendingCase) and case.judge}
    as_users = tuple(sorted(named | ({args.user} if args.user else set())))
    account = operator.account
    assert account is not None  # allowed_judges refused an override without an admin account
    actor = Actor(account.name, account.role.value, account.court)
    entry = OverrideRecord(
        command="report batch",
        as_users=as_users,
        os_user=operator.os_user,
        reason=args.admin_override.strip(),
        target=batch_id,
    )
    from retrieval.audit.store import AuditUnavailable

    try:
        services.audit_log().record(actor, operator.client, entry)
    except AuditUnavailable as exc:
        raise CliError(f"the override cannot be recorded, nothing was searched: {exc}", 1) from exc


def _print_result(
    batch_id: str, folder: BatchFolder, result: BatchResult, errors: list[str], as_json: bool
) -> None:
    per_report = (
        round(sum(result.case_seconds) / len(result.case_seconds), 3) if result.case_seconds else None
    )
    if as_json:
        out = {
            "batch_id": batch_id,
            "total": result.total,
            "already_done": result.already_done,
            "ok": result.ok,
            "errors": result.errors,
            "seconds": result.seconds,
            "mean_case_seconds": per_report,
            "interrupted": result.interrupted,
            "failure": result.failure,
        }
        print(json.dumps(out, ensure_ascii=False))
        return
    print(
        f"batch {batch_id}: {result.total} cases; this run {result.ok} reported, {result.errors} failed, "
        f"{result.already_done} done before, in {result.seconds:.1f} s"
        + (f" ({per_report:.2f} s per case)" if per_report is not None else "")
    )
    for line in errors[:20]:
        print(f"  {line}")
    if len(errors) > 20:
        print(f"  … {len(errors) - 20} more in {SUMMARY_CSV}")
    print(f"summary: {folder.path(SUMMARY_CSV)}, {folder.path(SUMMARY_XLSX)}")


def cmd_report_batch(args: argparse.Namespace) -> int:
    _check_options(args)
    try:
        cases, digest = read_pending(args.pending, args.trigger)
    except PendingFileError as exc:
        raise CliError(str(exc)) from exc
    if not cases:
        raise CliError(f"{args.pending}: no pending cases")
    settings = Settings.from_env().with_overrides(data_dir=args.data, index_home=args.index)
    services = _services(settings)
    folder = BatchFolder(args.out)
    try:
        operator, allowed = _authorise(services, settings, args, cases)
        if args.user is None and allowed is not None:
            args.user = next(iter(allowed))  # the OS user's own account signs rows that name no judge
        with folder.lock():
            meta = open_batch(
                folder,
                input_name=args.pending.name,
                input_sha256=digest,
                cases=len(cases),
                index_build=str(services.index().describe()["build_id"]),
                defaults={"user": args.user, "court": args.court, "role": args.role, "trigger": args.trigger},
                extra={"via": "cli"},
            )
            defaults = SubjectDefaults(**{k: meta["defaults"].get(k) for k in ("user", "court", "role")})
            if args.admin_override is not None:
                _record_override(services, operator, args, cases, meta["batch_id"])

            def subject(case: PendingCase) -> Principal:
                principal = resolve_subject(services.accounts, case, defaults)
                if allowed is not None and principal.user.name not in allowed:  # checked above; kept here
                    raise CaseError(f"judge: {operator.os_user!r} may not sign as {principal.user.name!r}")
                return principal

            job = BatchJob(
                folder=folder,
                batch_id=meta["batch_id"],
                cases=cases,
                subject=subject,
                client=operator.client,
                via="cli",
                workers=args.workers,
                progress=not args.quiet,
                k=args.k,
            )
            result = run_batch(services, job)
            done = folder.read_state()
    except OperatorRefused as exc:
        raise CliError(str(exc)) from exc
    except BatchBusy as exc:
        raise CliError(str(exc), 1) from exc
    except BatchMismatch as exc:
        raise CliError(str(exc)) from exc
    except BatchFailed as exc:
        raise CliError(f"the batch stopped: {exc}; rerun the command to resume", 1) from exc
    finally:
        services.close()
    errors = [
        f"#{s.item} {s.case_number or ''}: {s.error}"
        for s in sorted(done.values(), key=lambda s: s.item)
        if s.error
    ]
    _print_result(meta["batch_id"], folder, result, errors, args.json)
    if result.failure:
        print(
            f"leian: failed: the batch stopped: {result.failure}; rerun the command to resume",
            file=sys.stderr,
        )
        return 1
    if result.interrupted:
        return INTERRUPTED
    bad_rows = sum(isinstance(c, BadRow) for c in cases)
    return 1 if errors or bad_rows else 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="类案检索报告: reports for pending cases")
    rsub = p.add_subparsers(dest="report_command", required=True)
    b = rsub.add_parser(
        "batch",
        help="a report (DOCX, HTML, Markdown, JSON) per pending case, each search audited; resumable",
        description="Rerun the same command to resume an interrupted batch: finished cases are skipped and "
        "no case is searched or audited twice.",
    )
    b.add_argument(
        "pending", type=Path, help="pending cases: .jsonl or .csv (案号, 检索事由, 基本案情, 罪名, …)"
    )
    b.add_argument("--out", type=Path, required=True, help="batch folder: reports/, summary.csv/.xlsx, state")
    b.add_argument("--index", type=Path, help="published index home (default: LEIAN_INDEX)")
    b.add_argument(
        "--data", type=Path, help="the service's data folder: accounts, audit log (default: LEIAN_DATA)"
    )
    b.add_argument(
        "--user",
        help="检索主体 for rows that name no judge: must be the account of the OS user running the batch "
        "(default: that account; see os-users.json in the README)",
    )
    b.add_argument("--as-user", metavar="U", help="act as account U (another judge): needs --admin-override")
    b.add_argument(
        "--admin-override",
        metavar="REASON",
        help="an admin (the OS user's account is admin) signs for other judges; the reason is audited",
    )
    b.add_argument("--court", help="court for rows that name none (must be the judge's account's court)")
    b.add_argument("--role", help="role for rows that name none (must be the judge's account's role)")
    b.add_argument("--trigger", help="Art. 2 trigger for rows that give none, e.g. 缺乏明确或统一裁判规则")
    b.add_argument("--workers", type=int, default=2, help="cases in flight at once (default 2; see README)")
    b.add_argument("-k", type=int, default=10, help="results per case (default 10)")
    b.add_argument("--json", action="store_true", help="print the outcome as one JSON line")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_report_batch)
