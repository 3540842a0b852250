"""Batch 类案检索报告 over real pending cases: killed part-way (SIGKILL), resumed, every case checked once.

    python bench/report_batch.py [--lecard 60] [--lecardv2 60] [--index build/bench/lecard-index]
                                 [--workers 2] [--kill-after 0.4] [--compare-workers 40]

Pending cases: the first ``--lecard`` LeCaRD queries (``q`` facts, ``crime`` charges; no 案号 or court
is published, so the 案号 is ``LeCaRD-<ridx>`` and the judge is one account of a Zhejiang basic court)
and the first ``--lecardv2`` LeCaRDv2 test queries (``fact``; court and 案号 read from the head of
``query``, one judge account per court, charges left to prediction). Triggers cycle through the Art. 2
items. Everything goes to a fresh folder under ``build/bench/report-batch/`` (data folder with its own
accounts and audit log, the batch folder); the index build is pinned for both runs.

Run 1 is killed with SIGKILL once ``--kill-after`` of the cases are in its state file; run 2 is the
same command. Then: the summary has each input row once, the state file each item once, the audit
log one search record and one report record per reported case (none for a refused row), and every
DOCX opens. Prints JSON: cases, time per report (mean / p50 / p95 of the per-case time the batch
records), wall time of each run and of the batch, start-up time; with ``--compare-workers N`` also an
uninterrupted batch of the first N cases with 1 and with 2 workers (each in its own data folder).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
if str(REPO / "bench") not in sys.path:
    sys.path.append(str(REPO / "bench"))  # for _common; appended, shadows nothing

from _common import BENCH_BUILD, LECARD_INDEX, LECARD_QUERIES, SHARED_DATA, emit_json  # noqa: E402

from api.service.accounts import AccountStore, Role  # noqa: E402
from retrieval.audit.records import Actor, TypedRecord, batch_of  # noqa: E402
from retrieval.audit.store import AuditLog  # noqa: E402
from retrieval.index_layout import IndexLayoutError, resolve_current  # noqa: E402
from retrieval.index_store import read_manifest  # noqa: E402
from retrieval.parsing.courts import find_court_name, parse_court  # noqa: E402

LECARDV2_QUERIES = SHARED_DATA / "lecardv2" / "query" / "test_query.json"
WORK = BENCH_BUILD / "report-batch"
LECARD_JUDGE, LECARD_COURT = "bench-lecard", "浙江省杭州市西湖区人民法院"
TRIGGERS = (
    "拟提交专业法官会议或审委会讨论",
    "缺乏明确或统一裁判规则",
    "院庭长要求",
    "其他",
    "人民法院案例库检索",
)
CASE_NUMBER = re.compile(r"[（(]\d{4}[）)][^，。号]{1,30}?号")


def pending_cases(n_lecard: int, n_lecardv2: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for line in LECARD_QUERIES.read_text("utf-8").splitlines()[:n_lecard]:
        query = json.loads(line)
        rows.append(
            {"case_number": f"LeCaRD-{query['ridx']}", "facts": query["q"], "charges": query["crime"]}
        )
    for line in LECARDV2_QUERIES.read_text("utf-8").splitlines()[:n_lecardv2]:
        query = json.loads(line)
        head = query["query"][:200]
        court, number = find_court_name(head), CASE_NUMBER.search(head)
        row = {"case_number": number[0] if number else f"LeCaRDv2-{query['id']}", "facts": query["fact"]}
        if court and parse_court(court).level is not None:
            row |= {"court": parse_court(court).name, "judge": f"bench-{parse_court(court).name}"}
        rows.append(row)
    for i, row in enumerate(rows):
        row["trigger"] = TRIGGERS[i % len(TRIGGERS)]
    return rows


def create_judges(data: Path, rows: list[dict[str, Any]]) -> int:
    """One 承办法官 account per court (as `leian user create` makes them, audited)."""
    data.mkdir(parents=True, exist_ok=True)
    accounts = AccountStore(data / "accounts.sqlite")
    judges = {LECARD_JUDGE: LECARD_COURT} | {r["judge"]: r["court"] for r in rows if "judge" in r}
    with AuditLog(data / "audit.sqlite") as log:

        def record(entry: TypedRecord) -> object:
            return log.record(Actor("bench", "operator"), "cli", entry)

        for name, court in judges.items():
            if accounts.user(name) is None:
                accounts.create_user(name, Role.JUDGE, court, record)
    accounts.close()
    return len(judges)


def ensure_index(home: Path) -> Path:
    """The published build folder (pinned), built with bench/build.py when there is none of this format."""
    try:
        build_dir = resolve_current(home)
        read_manifest(build_dir)
        return build_dir
    except (IndexLayoutError, ValueError, OSError):
        print(f"building the LeCaRD index into {home} (bench/build.py, a few minutes)", file=sys.stderr)
        subprocess.run([sys.executable, str(REPO / "bench" / "build.py"), "--home", str(home)], check=True)
        return resolve_current(home)


def command(pending: Path, out: Path, data: Path, index: Path, workers: int) -> list[str]:
    leian = Path(sys.executable).with_name("leian")
    return [
        str(leian), "report", "batch", str(pending), "--out", str(out), "--index", str(index),
        "--data", str(data), "--user", LECARD_JUDGE, "--workers", str(workers), "--json", "--quiet",
    ]  # fmt: skip


def state_lines(out: Path) -> int:
    path = out / "state.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


def run_killed(cmd: list[str], out: Path, kill_at: int) -> dict[str, Any]:
    clock = time.perf_counter()
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while process.poll() is None and state_lines(out) < kill_at:
        time.sleep(0.05)
    killed = process.poll() is None
    if killed:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return {
        "seconds": round(time.perf_counter() - clock, 2),
        "killed": killed,
        "done_at_kill": state_lines(out),
    }


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")


def batch_records(out: Path, data: Path) -> list[tuple[str, int]]:
    """(kind, item) of every audit record the batch in ``out`` made."""
    batch_id = json.loads((out / "batch.json").read_text("utf-8"))["batch_id"]
    with AuditLog(data / "audit.sqlite") as log:
        return [
            (r.kind, ref.item)
            for r in log.iter_records()
            if (ref := batch_of(r.payload)) is not None and ref.batch_id == batch_id
        ]


def in_flight_at_kill(out: Path, data: Path) -> dict[str, int]:
    """Cases the kill caught between their audit records and their state line (the window resuming covers)."""
    finished = {json.loads(line)["item"] for line in (out / "state.jsonl").read_text("utf-8").splitlines()}
    tagged = batch_records(out, data)
    return {
        "searched_not_finished": len({i for k, i in tagged if k == "search"} - finished),
        "reported_not_finished": len({i for k, i in tagged if k == "report"} - finished),
    }


def run_to_end(cmd: list[str]) -> tuple[dict[str, Any], float]:
    clock = time.perf_counter()
    finished = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - clock
    if finished.returncode not in (0, 1):
        raise SystemExit(f"batch failed ({finished.returncode}): {finished.stderr[-2000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1]), seconds


def check(out: Path, data: Path, n_cases: int) -> dict[str, Any]:
    """Every case once in the summary and the state; one search and one report record per reported case."""
    import docx

    rows = list(csv.DictReader(io.StringIO((out / "summary.csv").read_text("utf-8-sig"))))
    items = [int(r["序号"]) for r in rows]
    states = [json.loads(line) for line in (out / "state.jsonl").read_text("utf-8").splitlines()]
    tagged = batch_records(out, data)
    searches = Counter(item for kind, item in tagged if kind == "search")
    reports = Counter(item for kind, item in tagged if kind == "report")
    ok = [int(r["序号"]) for r in rows if r["状态"] == "已生成"]
    for row in rows:
        if row["状态"] == "已生成":
            docx.Document(str(out / row["报告文件"]))
    checks = {
        "summary_rows_once_each": items == list(range(1, n_cases + 1)),
        "state_items_once_each": sorted(s["item"] for s in states) == list(range(1, n_cases + 1)),
        "one_search_record_per_reported_case": searches == Counter(ok),
        "one_report_record_per_reported_case": reports == Counter(ok),
        "no_record_twice": max([*searches.values(), *reports.values(), 0]) <= 1,
        "no_temporary_files_left": not [p for p in (out / "reports").iterdir() if p.name.startswith(".")],
    }
    errors = Counter(r["错误"].split(":")[0] for r in rows if r["状态"] == "出错")
    return {
        "checks": checks,
        "all_checks_pass": all(checks.values()),
        "reported": len(ok),
        "errors": dict(errors),
        "with_guiding_case": sum(r["检得指导性案例"] == "是" for r in rows),
        "case_seconds": [s["seconds"] for s in states if s["status"] == "ok"],
    }


def timing(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "mean": round(statistics.fmean(ordered), 3),
        "p50": round(ordered[len(ordered) // 2], 3),
        "p95": round(ordered[int(len(ordered) * 0.95) - 1], 3),
    }


def compare_workers(rows: list[dict[str, Any]], index: Path, root: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"cases": len(rows)}
    for workers in (1, 2):
        folder = root / f"workers-{workers}"
        pending = folder / "pending.jsonl"
        folder.mkdir(parents=True)
        write_jsonl(pending, rows)
        create_judges(folder / "data", rows)
        result, wall = run_to_end(command(pending, folder / "out", folder / "data", index, workers))
        out[f"workers_{workers}"] = {
            "batch_seconds": result["seconds"],
            "wall_seconds": round(wall, 2),
            "reports_per_second": round(result["ok"] / result["seconds"], 2),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lecard", type=int, default=60, help="LeCaRD queries (of 107)")
    parser.add_argument("--lecardv2", type=int, default=60, help="LeCaRDv2 test queries (of 160)")
    parser.add_argument("--index", type=Path, default=LECARD_INDEX)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-after", type=float, default=0.4, help="share of cases done before SIGKILL")
    parser.add_argument(
        "--compare-workers", type=int, default=0, help="also time N cases with 1 and 2 workers"
    )
    args = parser.parse_args(argv)

    index = ensure_index(args.index)
    rows = pending_cases(args.lecard, args.lecardv2)
    root = WORK / dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    data, out, pending = root / "data", root / "out", root / "pending.jsonl"
    root.mkdir(parents=True)
    write_jsonl(pending, rows)
    judges = create_judges(data, rows)
    cmd = command(pending, out, data, index, args.workers)

    first = run_killed(cmd, out, max(1, int(len(rows) * args.kill_after)))
    first |= in_flight_at_kill(out, data)
    resumed, resumed_wall = run_to_end(cmd)
    verdict = check(out, data, len(rows))
    case_seconds = verdict.pop("case_seconds")
    report = {
        "index_build": index.name,
        "folder": str(root.relative_to(REPO)),
        "cases": len(rows),
        "from_lecard": args.lecard,
        "from_lecardv2": args.lecardv2,
        "judge_accounts": judges,
        "workers": args.workers,
        "run_1_killed": first,
        "run_2_resumed": {
            "wall_seconds": round(resumed_wall, 2),
            "batch_seconds": resumed["seconds"],
            "already_done": resumed["already_done"],
            "reported": resumed["ok"],
            "errors": resumed["errors"],
            "startup_seconds": round(resumed_wall - resumed["seconds"], 2),
        },
        "batch_wall_seconds": round(first["seconds"] + resumed_wall, 2),
        "wall_seconds_per_case": round((first["seconds"] + resumed_wall) / len(rows), 3),
        "per_report_seconds": timing(case_seconds),
        **verdict,
    }
    if args.compare_workers:
        report["parallel"] = compare_workers(rows[: args.compare_workers], index, root / "compare")
    emit_json(report)
    return 0 if verdict["all_checks_pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
