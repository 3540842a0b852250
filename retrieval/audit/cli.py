"""``leian audit …``: verify an export offline, make keys, export with a fresh checkpoint.

Exit status: 0 verified / done, 1 verification failed (the message names the first bad record),
2 bad input (missing or unreadable files, a filtered export, a key that would be overwritten).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from retrieval.audit.verify import VerifyInputError, VerifyReport, verify_export, verify_inclusion_file

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
MAX_LISTED = 20


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leian audit", description="Tamper-evident audit log of mandatory searches."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("verify", help="check a full JSONL export against a signed checkpoint")
    p.add_argument("export", type=Path)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--public-key", type=Path, help="PEM public key published by the court (recommended)")

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


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # containers without a passwd entry
        return f"uid:{os.getuid()}"


def _export(args: argparse.Namespace) -> int:
    from retrieval.audit.records import Actor
    from retrieval.audit.signing import SigningKeyError, load_private_key
    from retrieval.audit.store import AuditLog, AuditUnavailable

    if not args.db.exists():
        print(f"error: {args.db} does not exist", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        key = load_private_key(args.key)
        with AuditLog(args.db) as log:
            # The export is itself an audited act, recorded before anything leaves the log.
            log.append("export", Actor(_os_user(), "operator"), "cli", {"target": str(args.out)})
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


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    try:
        if args.command == "verify":
            return _print_report(verify_export(args.export, args.checkpoint, args.public_key))
        if args.command == "verify-record":
            return _print_report(verify_inclusion_file(args.proof, args.checkpoint, args.public_key))
    except VerifyInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.command == "keygen":
        return _keygen(args.out)
    if args.command == "export":
        return _export(args)
    return _proof(args)


if __name__ == "__main__":
    sys.exit(main())
