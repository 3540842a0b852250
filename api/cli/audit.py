"""``leian audit …``: verify an export offline, make keys, export with a fresh checkpoint, summarise.

Exit status: 0 verified / done, 1 verification failed (the message names the first bad record, or
the accounts database that differs from the accounts the log rebuilds), 2 bad input (missing or
unreadable files, a filtered export without proofs, a key that would be overwritten); verification
messages are in Chinese and English.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from api.cli.common import os_user
from retrieval.audit.records import AuditRecord, ExportRecord, SummaryRecord, TypedRecord
from retrieval.audit.verify import VerifyInputError, VerifyReport, verify_export, verify_inclusion_file

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from retrieval.audit.store import AuditLog

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
MAX_LISTED = 20


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leian audit", description="Tamper-evident audit log of mandatory searches."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "verify",
        help="check a JSONL export against a signed checkpoint (a full one as a whole, a court's record by record)",
    )
    p.add_argument("export", type=Path)
    p.add_argument(
        "checkpoint",
        type=Path,
        nargs="?",
        help="checkpoint file (default: the checkpoint the export carries, as the service's exports do)",
    )
    p.add_argument("--public-key", type=Path, help="PEM public key published by the court (recommended)")
    p.add_argument(
        "--accounts",
        type=Path,
        help="an accounts.sqlite to compare with the accounts the verified export rebuilds",
    )

    p = sub.add_parser("verify-record", help="check one record's inclusion proof against a signed checkpoint")
    p.add_argument("proof", type=Path)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--public-key", type=Path)

    p = sub.add_parser("keygen", help="create an Ed25519 signing key (PATH, mode 0600) and PATH.pub")
    p.add_argument("--out", type=Path, required=True)

    p = sub.add_parser("export", help="sign a checkpoint now and export the records it covers")
    p.add_argument("db", type=Path, help="the audit database")
    p.add_argument("--key", type=Path, required=True, help="the signing key (never inside the database)")
    p.add_argument("--out", type=Path, required=True, help="JSONL export to write")
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint file to write")
    p.add_argument("--csv", type=Path, help="also a CSV table of the same records, for people")

    p = sub.add_parser("proof", help="write the inclusion proof of one record at the latest checkpoint")
    p.add_argument("db", type=Path)
    p.add_argument("seq", type=int)
    p.add_argument("--out", type=Path, required=True)

    p = sub.add_parser(
        "summary", help="Art. 13 periodic summary of one court's mandatory searches, from the verified log"
    )
    p.add_argument(
        "--db", type=Path, required=True, help="audit database (leian: default from --data DIR or LEIAN_DATA)"
    )
    p.add_argument(
        "--key",
        type=Path,
        required=True,
        help="signing key (leian: default LEIAN_SIGNING_KEY or the data folder's)",
    )
    p.add_argument("--court", required=True, help="法院名称, as in the accounts")
    p.add_argument("--from", dest="first", required=True, metavar="YYYY-MM-DD", help="first day (included)")
    p.add_argument("--to", dest="last", required=True, metavar="YYYY-MM-DD", help="last day (included)")
    p.add_argument("--out", type=Path, help="folder for the table files and the chart (PNG)")
    p.add_argument(
        "--format",
        choices=("csv", "xlsx", "json"),
        help="table format (default: all three with --out; a tab-separated table on stdout without)",
    )
    return parser


def _print_report(report: VerifyReport) -> int:
    print(report.summary())
    if not report.ok:
        problems = sorted(report.problems, key=lambda p: p.sort_key())
        for problem in problems[:MAX_LISTED]:
            print(f"  - [{problem.kind}] {problem.message}")
        if len(problems) > MAX_LISTED:
            print(f"  … {len(problems) - MAX_LISTED} more")
    for note in report.notes:
        print(f"note: {note}")
    return EXIT_OK if report.ok else EXIT_FAILED


def _exported_records(export: Path) -> Iterator[AuditRecord]:
    """The records of a (verified) JSONL export, in its order; the header line is skipped."""
    with open(export, "rb") as fp:
        for line in fp:
            entry = json.loads(line)
            if "record" in entry:
                yield AuditRecord.from_dict(entry["record"])


def _check_accounts(export: Path, accounts: Path | None) -> int:
    """Rebuild the accounts from the verified export; with ``accounts``, compare the database with them."""
    from api.service.accounts import read_accounts_state
    from retrieval.audit.accounts_replay import ReplayError, check_accounts, replay_accounts

    if accounts is None:
        try:
            replay = replay_accounts(_exported_records(export))
        except ReplayError as exc:
            print(f"accounts: the log's account records do not replay: {exc}")
            return EXIT_FAILED
        state = replay.state
        if replay.complete:
            print(f"accounts rebuilt from the log: {len(state.users)} users, {len(state.tokens)} tokens")
        else:
            print(f"note: {len(replay.legacy)} account records predate whole-row records (no snapshot after)")
        return EXIT_OK
    if not accounts.is_file():
        print(f"error: {accounts} does not exist", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        held = read_accounts_state(accounts)
    except sqlite3.Error as exc:
        print(f"error: {accounts} is not an accounts database: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    check = check_accounts(_exported_records(export), held)
    if not check.ok:
        print(f"FAILED: {accounts.name} does not match the accounts rebuilt from the log")
        for line in check.problems:
            print(f"  - {line}")
        return EXIT_FAILED
    print(
        f"{accounts.name} matches the accounts rebuilt from the log: {len(held.users)} users, {len(held.tokens)} tokens"
    )
    return EXIT_OK


def _keygen(out: Path) -> int:
    from retrieval.audit.signing import SigningKeyError, generate_key, key_id, public_key_pem

    pub = out.with_name(out.name + ".pub")
    if pub.exists():
        print(f"error: {pub} exists; refusing to overwrite", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        key = generate_key(out)
    except (SigningKeyError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    pub.write_text(public_key_pem(key), encoding="ascii")
    print(f"private key: {out} (mode 0600; keep it outside the audit database)")
    print(f"public key:  {pub}")
    print(f"key id:      {key_id(key)}")
    return EXIT_OK


@contextlib.contextmanager
def _disclosing(db: Path, key_path: Path, entry: TypedRecord) -> Iterator[tuple[AuditLog, Ed25519PrivateKey]]:
    """The log and its signing key for an act that discloses the log (export, summary).

    The act is itself audited: recorded before anything leaves the log.
    """
    from retrieval.audit.records import Actor
    from retrieval.audit.signing import load_private_key
    from retrieval.audit.store import AuditLog

    if not db.exists():
        raise FileNotFoundError(f"{db} does not exist")
    key = load_private_key(key_path)
    with AuditLog(db) as log:
        log.record(Actor(os_user(), "operator"), "cli", entry)
        yield log, key


def _export(args: argparse.Namespace) -> int:
    from retrieval.audit.signing import SigningKeyError
    from retrieval.audit.store import AuditUnavailable

    try:
        with _disclosing(args.db, args.key, ExportRecord(via="cli", target=str(args.out))) as (log, key):
            signed = log.export_bundle(args.out, args.checkpoint, key)
            if args.csv:
                with open(args.csv, "wb") as fp:
                    log.export_csv(fp, tree_size=signed.checkpoint.tree_size)
    except (SigningKeyError, AuditUnavailable, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    cp = signed.checkpoint
    print(
        f"exported {cp.tree_size} records to {args.out}; checkpoint {args.checkpoint} (root {cp.root_hash})"
    )
    return EXIT_OK


def _proof(args: argparse.Namespace) -> int:
    from retrieval.audit.store import AuditLog, AuditUnavailable

    try:
        with AuditLog(args.db) as log:
            proof = log.inclusion_proof(args.seq)
    except (AuditUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    args.out.write_text(proof.to_json(), encoding="utf-8")
    print(f"inclusion proof of record {proof.seq} in the tree of {proof.tree_size} written to {args.out}")
    return EXIT_OK


def _summary(args: argparse.Namespace) -> int:
    from retrieval.audit.signing import SigningKeyError
    from retrieval.audit.store import AuditUnavailable
    from retrieval.audit.summary import Period, PeriodError
    from retrieval.audit.summary_output import SummaryFormat, file_name, render
    from retrieval.audit.summary_source import UnverifiedLog, verified_summary

    try:
        period = Period.parse(args.first, args.last)
    except PeriodError as exc:
        print(f"error: --{exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.out is None and args.format == "xlsx":
        print("error: xlsx is a binary file: give --out DIR", file=sys.stderr)
        return EXIT_BAD_INPUT
    scope = SummaryRecord(court=args.court, first=args.first, last=args.last, via="cli")
    try:
        with _disclosing(args.db, args.key, scope) as (log, key):
            summary = verified_summary(log, key, args.court, period)
    except (SigningKeyError, AuditUnavailable, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except UnverifiedLog as exc:
        print(f"error: the audit log does not verify; no summary is made from it: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.out is None:
        if args.format is None:
            print("\n".join("\t".join("" if c is None else str(c) for c in row) for row in summary.table()))
        else:
            sys.stdout.write(render(summary, SummaryFormat(args.format)).decode("utf-8-sig"))
        return EXIT_OK
    formats = (
        [SummaryFormat(args.format)]
        if args.format
        else [SummaryFormat.CSV, SummaryFormat.XLSX, SummaryFormat.JSON]
    )
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        for fmt in [*formats, SummaryFormat.PNG]:
            path = args.out / file_name(summary, fmt)
            path.write_bytes(render(summary, fmt))
            print(f"wrote {path}")
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    share = summary.tier_1_2_share
    print(
        f"{summary.court} {period.first}..{period.last}: {summary.searches} searches, "
        f"{'-' if share is None else f'{share:.1%}'} found tier 1/2 cases, {summary.reports} reports; "
        f"log verified up to {dict(summary.source)['记录范围']}"
    )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    try:
        if args.command == "verify":
            report = verify_export(args.export, args.checkpoint, args.public_key)
            code = _print_report(report)
            if code != EXIT_OK:
                return code
            if report.records != report.tree_size:  # a court's export: not every account record is in it
                if args.accounts is not None:
                    print(
                        "错误：账户只能与完整导出（管理员导出）比对\n"
                        "error: accounts can be compared with a full (admin) export only, not a court's",
                        file=sys.stderr,
                    )
                    return EXIT_BAD_INPUT
                return code
            return _check_accounts(args.export, args.accounts)
        if args.command == "verify-record":
            return _print_report(verify_inclusion_file(args.proof, args.checkpoint, args.public_key))
    except VerifyInputError as exc:
        print(f"错误：{exc.zh}\nerror: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.command == "keygen":
        return _keygen(args.out)
    if args.command == "export":
        return _export(args)
    if args.command == "summary":
        return _summary(args)
    return _proof(args)


if __name__ == "__main__":
    sys.exit(main())
