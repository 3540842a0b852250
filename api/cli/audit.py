"""``leian audit …``: verify an export offline, make keys, export with a fresh checkpoint, summarise,
check the live log against its witness, check a receipt against the log.

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
from retrieval.audit.storage import missing, parse_location
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
    p.add_argument("db", type=parse_location, help="the audit database")
    p.add_argument("--key", type=Path, required=True, help="the signing key (never inside the database)")
    p.add_argument("--out", type=Path, required=True, help="JSONL export to write")
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint file to write")
    p.add_argument("--csv", type=Path, help="also a CSV table of the same records, for people")
    p.add_argument(
        "--witness", type=Path, help="the last signed head (refused if the log does not extend it)"
    )

    p = sub.add_parser(
        "check", help="is the log intact? every record re-hashed, the tree against the witness's signed head"
    )
    p.add_argument(
        "--db", type=parse_location, required=True, help="the audit database: a SQLite file or postgresql://…"
    )
    p.add_argument("--key", type=Path, help="the signing key: the witness must be signed by it")
    p.add_argument("--witness", type=Path, help="the signed-head file (LEIAN_WITNESS_PATH)")

    p = sub.add_parser(
        "receipt-check",
        help="check a receipt from an answer (or a saved answer) against the log as it is now",
    )
    p.add_argument("receipt", type=Path, help="the receipt JSON, or an answer holding it under 'audit'")
    p.add_argument(
        "--db", type=parse_location, required=True, help="the audit database: a SQLite file or postgresql://…"
    )
    p.add_argument("--public-key", type=Path, help="PEM public key published by the court")
    p.add_argument("--key", type=Path, help="the signing key, when no --public-key is given")
    p.add_argument("--witness", type=Path, help="also check the whole log extends the last signed head")

    p = sub.add_parser(
        "setup-db",
        help="PostgreSQL (LEIAN_DATABASE_URL): create the log's, accounts', ledger's and pushes' tables as "
        "their owner; grant an application role append and read only on the log",
    )
    p.add_argument("database_url", help="postgresql://OWNER@host/db: the administrator's connection")
    p.add_argument("--app-role", help="the role the service connects as (created, LOGIN, if missing)")

    p = sub.add_parser("proof", help="write the inclusion proof of one record at the latest checkpoint")
    p.add_argument("db", type=parse_location)
    p.add_argument("seq", type=int)
    p.add_argument("--out", type=Path, required=True)

    p = sub.add_parser(
        "summary", help="Art. 13 periodic summary of one court's mandatory searches, from the verified log"
    )
    p.add_argument(
        "--db",
        type=parse_location,
        required=True,
        help="audit database: a SQLite file or postgresql://… (leian: LEIAN_DATABASE_URL, else from --data DIR or LEIAN_DATA)",
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
        "--witness", type=Path, help="the last signed head (refused if the log does not extend it)"
    )
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
def _disclosing(
    db: str | Path, key_path: Path, entry: TypedRecord, witness: Path | None = None
) -> Iterator[tuple[AuditLog, Ed25519PrivateKey]]:
    """The log and its signing key for an act that discloses the log (export, summary).

    The act is itself audited: recorded before anything leaves the log. With ``witness`` the log
    must extend the last signed head (else ``AuditTampered``), and the head signed here is written to it.
    """
    from retrieval.audit.records import Actor
    from retrieval.audit.signing import load_private_key
    from retrieval.audit.store import AuditLog

    if missing(db):
        raise FileNotFoundError(f"{db} does not exist")
    key = load_private_key(key_path)
    with AuditLog(db, witness=witness, signer=key if witness is not None else None) as log:
        log.record(Actor(os_user(), "operator"), "cli", entry)
        yield log, key


def _export(args: argparse.Namespace) -> int:
    from retrieval.audit.signing import SigningKeyError
    from retrieval.audit.store import AuditTampered, AuditUnavailable

    entry = ExportRecord(via="cli", target=str(args.out))
    try:
        with _disclosing(args.db, args.key, entry, args.witness) as (log, key):
            signed = log.export_bundle(args.out, args.checkpoint, key)
            if args.csv:
                with open(args.csv, "wb") as fp:
                    log.export_csv(fp, tree_size=signed.checkpoint.tree_size)
    except AuditTampered as exc:
        print(f"error: the audit log does not verify; nothing was exported or signed: {exc}", file=sys.stderr)
        print("investigate with: leian audit check", file=sys.stderr)
        return EXIT_FAILED
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
    from retrieval.audit.store import AuditTampered, AuditUnavailable
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
        with _disclosing(args.db, args.key, scope, args.witness) as (log, key):
            summary = verified_summary(log, key, args.court, period)
    except AuditTampered as exc:
        print(f"error: the audit log does not verify; no summary is made from it: {exc}", file=sys.stderr)
        return EXIT_FAILED
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


def _check(args: argparse.Namespace) -> int:
    """Open the log as the service does (witness first), then re-hash every record against the tree."""
    from retrieval.audit.signing import SigningKeyError, load_private_key
    from retrieval.audit.store import AuditLog, AuditTampered, AuditUnavailable

    if missing(args.db):
        print(f"error: {args.db} does not exist", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        key = load_private_key(args.key) if args.key is not None and args.key.exists() else None
    except SigningKeyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    witness = args.witness if args.witness is not None and args.witness.exists() else None
    try:
        with AuditLog(args.db, witness=witness) as log:
            if key is not None:
                log.signer = key  # the witness must carry this key's signature; nothing is written
                log.check_witness()
            size = log.verify()
    except AuditTampered as exc:
        print(f"FAILED: {exc}")
        print(
            "the log no longer matches what was signed. Keep the database and the witness as they are "
            "(copy them for the record), compare judges' receipts with `leian audit receipt-check`, "
            "and restore from the last backup that verifies (`leian restore`)."
        )
        return EXIT_FAILED
    except AuditUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    against = f"the witness's signed head ({args.witness})" if witness else "no witness file (none found)"
    print(f"OK: {size} records, every leaf re-hashed from its content; checked against {against}")
    return EXIT_OK


def _receipt_check(args: argparse.Namespace) -> int:
    from retrieval.audit.receipts import Receipt, ReceiptError, check_receipt
    from retrieval.audit.signing import SigningKeyError, load_private_key, load_public_key
    from retrieval.audit.store import AuditLog, AuditTampered, AuditUnavailable

    try:
        receipt = Receipt.load(args.receipt)
        if args.public_key is not None:
            public = load_public_key(args.public_key)
        elif args.key is not None:
            public = load_private_key(args.key).public_key()
        else:
            raise SigningKeyError("give --public-key (the court's published key) or --key")
    except (ReceiptError, SigningKeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if missing(args.db):
        print(f"error: {args.db} does not exist", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        with AuditLog(args.db) as log:
            result = check_receipt(receipt, log, public)
        if args.witness is not None and args.witness.exists():
            try:  # the receipt covers its prefix; the witness, the whole log as last signed
                AuditLog(args.db, witness=args.witness).close()
            except AuditTampered as exc:
                result.problems.append(f"the log does not extend its last signed head (witness): {exc}")
    except AuditTampered as exc:
        print(f"FAILED: the log refuses to open, it was altered: {exc}")
        return EXIT_FAILED
    except AuditUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(result.summary())
    for problem in result.problems:
        print(f"  - {problem}")
    return EXIT_OK if result.ok else EXIT_FAILED


def _setup_db(url: str, app_role: str | None) -> int:
    """Run once per database by its administrator; the service then connects as ``app_role``."""
    from retrieval.audit.storage import is_database_url

    if not is_database_url(url):
        print(f"error: {url!r} is not a postgresql:// URL", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        import psycopg

        from retrieval.audit.pg_storage import redacted, setup_database
    except ImportError:
        print("error: PostgreSQL needs psycopg: pip install -e '.[cluster]'", file=sys.stderr)
        return EXIT_BAD_INPUT
    from api.service.accounts import setup_pg_accounts
    from api.service.push.store import setup_pg_push

    try:
        statements = setup_database(url, app_role=app_role)
        statements += setup_pg_accounts(url, app_role)
        statements += setup_pg_push(url, app_role)
    except psycopg.Error as exc:
        print(f"error: {redacted(url)}: {str(exc).strip()}", file=sys.stderr)
        return EXIT_FAILED
    print(f"audit, accounts, ledger and push tables (the log's append-only) ready in {redacted(url)}")
    for statement in statements:
        print(f"  {statement}")
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
    if args.command == "check":
        return _check(args)
    if args.command == "receipt-check":
        return _receipt_check(args)
    if args.command == "setup-db":
        return _setup_db(args.database_url, args.app_role)
    return _proof(args)


if __name__ == "__main__":
    sys.exit(main())
