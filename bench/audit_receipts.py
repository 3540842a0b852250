"""Cost of a signed receipt per audited action: appends with and without signing and the witness.

Three ways of appending the same search-sized records to a fresh log, interleaved in rounds so that
the machine's load hits them alike: ``plain`` (commit and fsync only, as before receipts),
``signed`` (plus the Ed25519 signature of the new head and the inclusion proof, inside the
transaction), ``signed+witness`` (plus the witness file: read and compare, write, fsync, rename).
Also the Ed25519 signature alone, the receipt's size, and (``--searches``) audited searches per
second through the service with and without receipts on the sample index.

With ``--database-url postgresql://…`` every mode runs on PostgreSQL too (a fresh database per run,
created beside the one named, so the role needs CREATEDB), interleaved with the SQLite runs. The
client's CPU per append is measured in process; PostgreSQL's is the serving backend's CPU (from
/proc, the server on this machine), which leaves out its WAL writer and checkpointer.

    python bench/audit_receipts.py [--records 2000] [--rounds 5] [--searches 200] [--database-url URL]
        [--nodes N] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))

from _common import scratch_database

from retrieval.audit.records import Actor
from retrieval.audit.signing import Checkpoint, generate_key, sign_checkpoint
from retrieval.audit.store import AuditLog

ACTOR = Actor("bench-judge", "承办法官", "浙江省杭州市西湖区人民法院")
PAYLOAD = {
    "case_number": "（2026）浙0106刑初1号",
    "query": "被告人盗窃他人手机一部，价值三千元。" * 20,
    "results": [{"doc_id": f"doc-{i}", "tier": 4, "score": 0.5 - i / 100} for i in range(20)],
}


def _append_us(
    folder: Path, mode: str, key, n: int, location: str | Path | None = None
) -> tuple[float, float, float, int]:
    """Mean wall, client CPU and server CPU µs per append of ``n`` records in ``mode`` (server CPU:
    PostgreSQL's backend, 0 for SQLite, which runs in process), and the last receipt's size.

    Wall time is mostly the fsync, which the shared machine's other work makes vary by 2x between
    runs; CPU time is what signing adds and varies less.
    """
    folder.mkdir()
    kwargs = {}
    if mode != "plain":
        kwargs["signer"] = key
    if mode == "signed+witness":
        kwargs["witness"] = folder / "witness.json"
    with AuditLog(location or folder / "audit.sqlite", **kwargs) as log:
        log.append("search", ACTOR, "bench", PAYLOAD)  # schema and first pages outside the timing
        backend = _backend_pid(log)
        server = _cpu_s(backend)
        clock, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            result = log.append("search", ACTOR, "bench", PAYLOAD)
        elapsed, cpu = time.perf_counter() - clock, time.process_time() - cpu
        server = _cpu_s(backend) - server
    size = len(json.dumps(result.receipt.to_dict())) if result.receipt else 0
    return elapsed / n * 1e6, cpu / n * 1e6, server / n * 1e6, size


def _backend_pid(log: AuditLog) -> int | None:
    conn = getattr(log.storage, "conn", None)
    if conn is None or not hasattr(conn, "pgconn"):
        return None
    return int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])


def _cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of process ``pid`` (Linux /proc); 0 without one."""
    if pid is None:
        return 0.0
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _node(location: str, key_path: str, witness: str, n: int, start_at: float) -> tuple[float, float, float]:
    """One API node appending ``n`` signed records (with its own witness): (start, end, CPU s)."""
    from retrieval.audit.signing import load_private_key

    key = load_private_key(Path(key_path))
    with AuditLog(location, witness=Path(witness), signer=key) as log:
        time.sleep(max(0.0, start_at - time.time()))
        start, cpu = time.time(), time.process_time()
        for _ in range(n):
            log.append("search", ACTOR, "bench", PAYLOAD)
        return start, time.time(), time.process_time() - cpu


def _nodes(location: str | Path, processes: int, n: int, folder: Path) -> dict[str, float]:
    """``processes`` OS processes appending to one log at once: the chain's appends/s all together."""
    import multiprocessing

    folder.mkdir()
    key_path = folder / "key.pem"
    generate_key(key_path)
    AuditLog(location).close()
    start_at = time.time() + 5.0  # after every process has imported and opened the log
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        jobs = [
            pool.apply_async(
                _node, (str(location), str(key_path), str(folder / f"witness-{i}.json"), n, start_at)
            )
            for i in range(processes)
        ]
        spans = [job.get(timeout=3600) for job in jobs]
    with AuditLog(location) as log:
        assert log.verify() == processes * n  # one chain, no gap
    wall = max(end for _, end, _ in spans) - min(start for start, _, _ in spans)
    return {
        "processes": processes,
        "appends": processes * n,
        "appends_per_s": round(processes * n / wall, 1),
        "client_cpu_us_per_append": round(sum(c for _, _, c in spans) / (processes * n) * 1e6, 1),
    }


def _sign_us(key, n: int = 2000) -> float:
    cp = Checkpoint(123456, "ab" * 32, "2026-01-01T00:00:00.000Z", "leian-audit:bench")
    clock = time.perf_counter()
    for _ in range(n):
        sign_checkpoint(cp, key)
    return (time.perf_counter() - clock) / n * 1e6


def _searches_per_s(n: int, tmp: Path) -> dict[str, float]:
    """Audited searches per second through the app in process (TestClient), receipts on and off.

    The sample corpus; "no receipts" opens the same service and then drops the signer and the
    witness from its log, so appends are as before this change (commit and fsync only).
    """
    from index_build.build import BuildOptions, build
    from tests.api_env import serve
    from tests.conftest import SAMPLE_INPUTS

    home = tmp / "index"
    build(BuildOptions(inputs=SAMPLE_INPUTS, home=home, progress=False))
    rates: dict[str, list[float]] = {"no receipts": [], "receipts": []}
    for i, mode in enumerate(["no receipts", "receipts"] * 2):
        with serve(home, tmp / f"svc-{i}", audit_watch_s=0, rate_limit=None) as env:
            audit = env.app.state.services.audit
            if mode == "no receipts":
                audit.signer = None
                audit.witness_path = None
            assert env.search("judge_a").status_code == 200  # warm
            clock = time.perf_counter()
            for _ in range(n):
                answer = env.search("judge_a")
            rates[mode].append(n / (time.perf_counter() - clock))
            assert (answer.json()["audit"]["signature"] is None) is (mode == "no receipts")
    return {mode: round(max(v), 1) for mode, v in rates.items()}


def _verify_s(n: int, tmp: Path) -> dict[str, float]:
    """Seconds to re-hash a log of ``n`` search-sized records: before any signing (``verify``), the
    watcher's first full pass, and one steady tick (one sweep batch). Rows are inserted directly in
    one transaction (n fsynced appends would take minutes); the writer then opens the log as usual."""
    import sqlite3

    from retrieval.audit import merkle
    from retrieval.audit.records import AuditRecord
    from retrieval.audit.watcher import Watcher

    db = tmp / "verify.sqlite"
    AuditLog(db).close()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN")
    for seq in range(n):
        data = AuditRecord(seq, "search", "2026-01-01T00:00:00.000Z", ACTOR, "bench", PAYLOAD).to_bytes()
        conn.execute(
            "INSERT INTO records(seq, leaf_hash, data) VALUES (?, ?, ?)", (seq, merkle.leaf_hash(data), data)
        )
    conn.execute("COMMIT")
    conn.close()
    out = {"records": n}
    clock = time.perf_counter()
    with AuditLog(db) as log:
        out["open_s"] = round(time.perf_counter() - clock, 2)
        clock = time.perf_counter()
        log.verify()
        out["verify_s"] = round(time.perf_counter() - clock, 2)
        watcher = Watcher(log)
        clock = time.perf_counter()
        watcher.tick(full_sweep=True)
        out["watcher_first_pass_s"] = round(time.perf_counter() - clock, 2)
        clock = time.perf_counter()
        watcher.tick()
        out["watcher_steady_tick_s"] = round(time.perf_counter() - clock, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--searches", type=int, default=0, help="also searches/s in process (0: skip)")
    parser.add_argument("--verify-records", type=int, default=0, help="also re-hash time at this size")
    parser.add_argument("--database-url", help="also run every mode on PostgreSQL (postgresql://…)")
    parser.add_argument(
        "--nodes", type=int, default=0, help="also N processes appending signed records to one log at once"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    modes = ("plain", "signed", "signed+witness")
    runs: dict[str, list[float]] = {m: [] for m in modes}
    cpu_runs: dict[str, list[float]] = {m: [] for m in modes}
    receipt_bytes = 0
    pg: dict[str, dict[str, list[float]]] = {m: {"wall": [], "cpu": [], "server_cpu": []} for m in modes}
    with tempfile.TemporaryDirectory(prefix="leian-bench-receipts-") as tmp:
        key = generate_key(Path(tmp) / "key.pem")
        for r in range(args.rounds):
            for mode in modes:
                us, cpu_us, _, size = _append_us(Path(tmp) / f"{r}-{mode}", mode, key, args.records)
                runs[mode].append(us)
                cpu_runs[mode].append(cpu_us)
                receipt_bytes = max(receipt_bytes, size)
                if args.database_url:
                    with scratch_database(args.database_url) as url:
                        us, cpu_us, server_us, _ = _append_us(
                            Path(tmp) / f"{r}-{mode}-pg", mode, key, args.records, url
                        )
                    for name, value in (("wall", us), ("cpu", cpu_us), ("server_cpu", server_us)):
                        pg[mode][name].append(value)
            print(
                f"round {r + 1}/{args.rounds}: "
                + ", ".join(f"{m} {runs[m][-1]:.0f} µs" for m in modes)
                + (
                    "".join(f", pg {m} {pg[m]['wall'][-1]:.0f} µs" for m in modes)
                    if args.database_url
                    else ""
                ),
                file=sys.stderr,
            )
        result = {
            "records_per_run": args.records,
            "rounds": args.rounds,
            "append_us_median": {m: round(statistics.median(v), 1) for m, v in runs.items()},
            "append_us_min": {m: round(min(v), 1) for m, v in runs.items()},
            "append_cpu_us_median": {m: round(statistics.median(v), 1) for m, v in cpu_runs.items()},
            "ed25519_sign_us": round(_sign_us(key), 1),
            "receipt_bytes_at_size": {"tree_size": args.records + 1, "bytes": receipt_bytes},
        }
        result["appends_per_s_median"] = {m: round(1e6 / statistics.median(v), 1) for m, v in runs.items()}
        if args.database_url:
            result["postgresql"] = {
                "append_us_median": {m: round(statistics.median(v["wall"]), 1) for m, v in pg.items()},
                "appends_per_s_median": {
                    m: round(1e6 / statistics.median(v["wall"]), 1) for m, v in pg.items()
                },
                "append_cpu_us_median": {m: round(statistics.median(v["cpu"]), 1) for m, v in pg.items()},
                "server_backend_cpu_us_median": {
                    m: round(statistics.median(v["server_cpu"]), 1) for m, v in pg.items()
                },
            }
        result["receipt_cost_us_median"] = round(
            result["append_us_median"]["signed+witness"] - result["append_us_median"]["plain"], 1
        )
        result["receipt_cost_cpu_us_median"] = round(
            result["append_cpu_us_median"]["signed+witness"] - result["append_cpu_us_median"]["plain"], 1
        )
        if args.nodes:
            sqlite = Path(tmp) / "nodes-sqlite"
            result["nodes"] = {"sqlite": _nodes(sqlite / "audit.sqlite", args.nodes, args.records, sqlite)}
            if args.database_url:
                with scratch_database(args.database_url) as url:
                    pg_folder = Path(tmp) / "nodes-postgresql"
                    result["nodes"]["postgresql"] = _nodes(url, args.nodes, args.records, pg_folder)
        if args.verify_records:
            result["rehash"] = _verify_s(args.verify_records, Path(tmp))
        if args.searches:
            result["searches_per_s_in_process"] = _searches_per_s(args.searches, Path(tmp))
    text = json.dumps(result, ensure_ascii=False, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
