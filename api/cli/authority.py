"""`leian authority list|check`: the registry of stopped guiding cases (不再参照) and what it does to an index.

``list`` prints the registry that ships with the code (number, date, notice, source). ``check
--index HOME`` reads the published build's metadata and lists the indexed guiding cases the registry
stops, each as withdrawn (with the reason recorded) or still served; it exits 1 when one is still
served, so a cron job or a deployment check can tell IT to rebuild or run ``leian add``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from api.cli.common import CliError


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    print()


def cmd_authority_list(args: argparse.Namespace) -> int:
    from retrieval.authority_registry import registry

    entries = [entry.to_dict() for entry in registry().values()]
    if args.json:
        _print_json(entries)
        return 0
    for entry in entries:
        print(f"{entry['citation']}　{entry['title']}")
        print(f"  不再参照，自 {entry['stopped_on']}：{entry['notice']}")
        print(f"  理由：{entry['reason']}")
        print(f"  出处：{entry['source']}")
    return 0


def index_check(home: Path) -> list[dict[str, Any]]:
    """The guiding cases of ``home``'s published build that the registry stops, and their state there."""
    from retrieval import index_layout as layout
    from retrieval.authority_registry import stopped_entry
    from retrieval.citation import guiding_citation
    from retrieval.document import AuthorityKind
    from retrieval.index_store import IndexLayoutError, verify_published
    from retrieval.metadata import MetadataStore

    try:
        build_dir, manifest = verify_published(home, checksums=False)
    except IndexLayoutError as exc:
        raise CliError(f"--index: {exc}") from exc
    store = MetadataStore(build_dir / layout.METADATA)
    try:
        found = []
        for _, doc in store.documents_of_kind(AuthorityKind.GUIDING.value):
            entry = stopped_entry(doc)
            if entry is None:
                continue
            found.append(
                {
                    "build_id": manifest["build_id"],
                    "doc_id": doc.doc_id,
                    "citation": guiding_citation(entry.number),
                    "title": doc.title,
                    "withdrawn": doc.authority.withdrawn,
                    "withdrawn_reason": doc.authority.withdrawn_reason,
                    "notice": entry.notice,
                    "stopped_on": entry.stopped_on.isoformat(),
                }
            )
        return found
    finally:
        store.close()


def cmd_authority_check(args: argparse.Namespace) -> int:
    found = index_check(args.index)
    served = [f for f in found if not f["withdrawn"]]
    if args.json:
        _print_json(found)
    else:
        if not found:
            print("该索引中没有登记为不再参照的指导性案例。")
        for item in found:
            state = (
                "已撤回（不再参照）"
                if item["withdrawn"]
                else "仍在提供——请重建索引或运行 leian add 以适用登记"
            )
            print(f"{item['citation']}（{item['doc_id']}）：{state}；{item['notice']}，{item['stopped_on']}")
    return 1 if served else 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "authority", help="the registry of guiding cases no longer to be referenced (不再参照)"
    )
    asub = p.add_subparsers(dest="authority_command", required=True)
    a = asub.add_parser("list", help="print the registry shipped with the code")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_authority_list)
    a = asub.add_parser(
        "check", help="which guiding cases of an index the registry stops (exit 1: one still served)"
    )
    a.add_argument("--index", type=Path, required=True)
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=cmd_authority_check)
