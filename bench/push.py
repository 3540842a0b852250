"""智能推送 cost: re-matching 1,000 open pending cases after a build adds 1,000 judgments or 10 guiding
cases to the LeCaRD index, and the latency from publish to inbox.

    python bench/push.py [--cases 1000] [--judgments 1000] [--guiding 10] [--out bench/results/push.json]

What it does, on a hard-linked copy of the LeCaRD index (``build/bench/lecard-index``, built first
if missing) and a fresh data folder under ``build/bench/push-run``:

1. 1,000 open pending cases from CAIL2018 ``data_train`` (facts and charges; ``data_test`` shares
   almost no charge with it), in four courts of four provinces. They are written to the push store
   directly: instead of each one's registration search (≈0.3 s each on this index, and not what is
   measured here) its 10 semantic nearest neighbours stand for the results it was shown.
   ``matched_build`` is set to the current build.
2. ``leian add`` of the next 1,000 CAIL2018 ``data_train`` judgments, each given a court cycling through
   basic, intermediate and High courts of those provinces (so tiers 3 and 4 occur), then one
   ``PushService.match`` on the new build: the re-matching time.
3. ``leian add`` of 10 guiding cases (CAIL2018 facts published as 指导性案例, tier 1 for everyone),
   then ``match`` again.
4. With the watcher running (``--poll`` s), one more guiding case is published; the time from the
   publish returning to its push being in the inbox is the latency (a poll interval, reopening the
   build, matching).

Prints JSON; ``--out`` also writes it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_BUILD, LECARD_ARCHIVE, LECARD_INDEX, SHARED_DATA, open_or_build

CAIL = SHARED_DATA / "cail2018-sample" / "data"
TRAIN = CAIL / "data_train.utf8.json"
PENDING_COURTS = (
    "浙江省杭州市西湖区人民法院",
    "江苏省苏州市姑苏区人民法院",
    "广东省广州市天河区人民法院",
    "四川省成都市武侯区人民法院",
)
JUDGMENT_COURTS = (
    ("浙江省高级人民法院", "高级", "浙江省"),
    ("浙江省杭州市中级人民法院", "中级", "浙江省"),
    ("江苏省苏州市姑苏区人民法院", "基层", "江苏省"),
    ("广东省高级人民法院", "高级", "广东省"),
    ("广东省广州市中级人民法院", "中级", "广东省"),
    ("四川省成都市武侯区人民法院", "基层", "四川省"),
    ("湖南省长沙市岳麓区人民法院", "基层", "湖南省"),
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cail_documents(path: Path, n: int, skip: int = 0):
    from index_build.readers import cail

    out = []
    for item in cail.read(path):
        if hasattr(item, "doc_id") and item.causes:
            if skip:
                skip -= 1
                continue
            out.append(item)
            if len(out) == n:
                break
    return out


def write_jsonl(path: Path, docs) -> Path:
    path.write_text(
        "".join(json.dumps(d.to_dict(), ensure_ascii=False) + "\n" for d in docs), encoding="utf-8"
    )
    return path


def judgments(n: int, skip: int):
    from retrieval.document import Court, CourtLevel

    docs = cail_documents(TRAIN, n, skip=skip)
    out = []
    for i, doc in enumerate(docs):
        name, level, province = JUDGMENT_COURTS[i % len(JUDGMENT_COURTS)]
        out.append(
            dataclasses.replace(
                doc, doc_id=f"bench-j-{i}", court=Court(name, CourtLevel(level), province), title=f"判决 {i}"
            )
        )
    return out


def guiding(n: int, offset: int):
    from retrieval.document import Authority, AuthorityKind, Court, CourtLevel

    docs = cail_documents(TRAIN, n, skip=offset)
    return [
        dataclasses.replace(
            doc,
            doc_id=f"bench-g-{offset + i}",
            title=f"指导性案例 B{offset + i}号",
            court=Court("最高人民法院", CourtLevel.SUPREME, None),
            authority=Authority(kind=AuthorityKind.GUIDING, number=f"B{offset + i}"),
            holding=doc.sections.facts[:80],
        )
        for i, doc in enumerate(docs)
    ]


def open_cases(push, n: int, k: int = 10) -> int:
    """Open cases with stand-in registration results: each case's k semantic nearest neighbours
    (one batched FAISS call) instead of its hybrid search, so that the tier 3–4 entry bar exists."""
    from retrieval.audit.records import utc_timestamp
    from retrieval.parsing.courts import parse_court
    from retrieval.tiers import Tier, assign_tier

    store = push.services.index()
    docs = cail_documents(TRAIN, n)  # the same file as the judgments: data_test's charges differ
    vectors = store.embedder.encode_queries([d.sections.facts for d in docs])
    _, rows = store.vectors.search(vectors, k)
    with push.store.transaction() as conn:
        for i, doc in enumerate(docs):
            court = PENDING_COURTS[i % len(PENDING_COURTS)]
            case_id = push.store.insert_case(
                conn,
                {
                    "court": court,
                    "case_number": f"（2025）测刑初{i + 1}号",
                    "judge": f"judge-{i % len(PENDING_COURTS)}",
                    "category": "刑事",
                    "causes": list(doc.causes),
                    "facts": doc.sections.facts,
                    "articles": [],
                    "created_at": utc_timestamp(),
                },
            )
            shown = store.metadata.cards(int(r) for r in rows[i] if r >= 0)
            higher = any(assign_tier(d, parse_court(court)) <= Tier.PROVINCIAL_HIGH for d in shown.values())
            push.store.set_search(conn, case_id, 0, list(doc.causes), higher)
            push.store.add_case_docs(conn, case_id, [d.doc_id for d in shown.values()], "search")
    return len(docs)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--judgments", type=int, default=1000)
    parser.add_argument("--guiding", type=int, default=10)
    parser.add_argument("--poll", type=float, default=0.5, help="watcher interval for the latency run")
    parser.add_argument("--index", type=Path, default=LECARD_INDEX, help="a built index home to copy")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from api.service.config import Settings
    from api.service.metrics import Metrics
    from api.service.push.service import PushService, PushSettings
    from api.service.runtime import Services
    from index_build.update import add_documents
    from retrieval.index_store import IndexStore

    if args.index == LECARD_INDEX:
        base, _ = open_or_build(LECARD_INDEX, LECARD_ARCHIVE, "lecard")
        base.close()
    work = BENCH_BUILD / "push-run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    home = work / "index"
    shutil.copytree(args.index, home, symlinks=True, copy_function=os.link)  # builds are immutable
    settings = Settings(index_home=home, data_dir=work / "data", verify_index_checksums=False)
    services = Services.start(settings, Metrics())
    push = PushService(services, PushSettings(poll_s=args.poll))
    out: dict = {"index_documents": services.index().size, "open_cases": open_cases(push, args.cases)}
    push.check_index()  # the starting build is the one the cases were matched on

    def publish_and_match(docs, name: str) -> dict:
        started = time.perf_counter()
        add_documents(home, [write_jsonl(work / f"{name}.jsonl", docs)], progress=False)
        published = time.perf_counter() - started
        started = time.perf_counter()
        store = IndexStore.open(home, verify_checksums=False)
        opened = time.perf_counter() - started
        services.store = store
        summary = push.match(store)
        return {
            "documents_added": summary.added,
            "publish_s": round(published, 2),
            "open_build_s": round(opened, 2),
            "rematch_s": summary.seconds,
            "of_which_scoring_s": summary.scoring_seconds,
            "open_cases": summary.open_cases,
            "pushes": summary.pushes,
        }

    log(f"{out['open_cases']} open cases on {out['index_documents']} documents; adding judgments")
    out["after_judgments"] = publish_and_match(judgments(args.judgments, args.cases), "judgments")
    log(f"after judgments: {out['after_judgments']}; adding guiding cases")
    out["after_guiding"] = publish_and_match(guiding(args.guiding, args.cases + args.judgments), "guiding")
    log(f"after guiding cases: {out['after_guiding']}")

    push.start(deliver=False)  # the watcher, as the service runs it
    before = push.store.latest_item_id()
    # A guiding case on one open case's own facts and charges: it is bound to be pushed.
    from retrieval.document import Authority, AuthorityKind, Court, CourtLevel, Sections

    case = push.store.cases(status="在办")[0]
    [template] = guiding(1, args.cases + args.judgments + args.guiding)
    one = dataclasses.replace(
        template,
        doc_id="bench-latency",
        causes=list(case.causes),
        sections=Sections(facts=case.facts),
        full_text=case.facts,
        court=Court("最高人民法院", CourtLevel.SUPREME, None),
        authority=Authority(kind=AuthorityKind.GUIDING, number="B-latency"),
    )
    log("publishing one guiding case with the watcher running")
    add_documents(home, [write_jsonl(work / "one.jsonl", [one])], progress=False)
    published = time.perf_counter()
    while push.store.latest_item_id() == before and time.perf_counter() - published < 120:
        time.sleep(0.01)
    arrived = push.store.latest_item_id() != before
    out["publish_to_inbox_s"] = round(time.perf_counter() - published, 3) if arrived else None
    out["watcher_poll_s"] = args.poll
    push.close()
    services.close()
    text = json.dumps(out, ensure_ascii=False, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
