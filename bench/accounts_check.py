"""What checking the accounts against the audit log costs at ``leian serve``: replay over a large log.

Writes a log of ``--records`` search records (a realistic payload: 20 ranked and shown results) and
``--users`` users with a token each, directly as leaves (the append path's fsync per record would
measure the disk, not the replay), then times ``check_store`` (read every record, replay the account
ones, compare) with wall and CPU seconds. Prints JSON.

    python bench/accounts_check.py --records 20000 --users 200
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from api.service.accounts import AccountStore, Role
from api.service.accounts_audit import check_store
from retrieval.audit import merkle
from retrieval.audit.records import Actor, AuditRecord, RankedResult, SearchRecord, ShownResult, utc_timestamp
from retrieval.audit.store import AuditLog

COURT = "浙江省杭州市西湖区人民法院"


def _search_payload(i: int) -> dict:
    results = tuple(RankedResult(f"doc-{i}-{r}", 3, 0.5, "可以参考") for r in range(20))
    shown = tuple(ShownResult(f"doc-{i}-{r}", title="某某盗窃案", holding="裁判要点" * 20) for r in range(20))
    return SearchRecord(
        "其他", f"（2026）浙0106刑初{i}号", ("keyword",), "事实" * 200, results, shown=shown
    ).to_payload()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--users", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        with AuditLog(data / "audit.sqlite") as log:
            accounts = AccountStore(data / "accounts.sqlite")
            record = lambda entry: log.record(Actor("ops", "operator", COURT), "cli", entry)  # noqa: E731
            for u in range(args.users):
                accounts.create_user(f"judge-{u}", Role.JUDGE, COURT, record)
                accounts.issue_token(f"judge-{u}", None, record)
            start = log.tree_head()[0]
        actor = Actor("judge-0", Role.JUDGE.value, COURT)
        conn = sqlite3.connect(data / "audit.sqlite", isolation_level=None)
        conn.execute("BEGIN")
        size = 0
        for seq in range(start, start + args.records):
            data_bytes = AuditRecord(
                seq, "search", utc_timestamp(), actor, "bench", _search_payload(seq)
            ).to_bytes()
            size += len(data_bytes)
            conn.execute(
                "INSERT INTO records(seq, leaf_hash, data) VALUES (?, ?, ?)",
                (seq, merkle.leaf_hash(data_bytes), data_bytes),
            )
        conn.execute("COMMIT")
        conn.close()
        with AuditLog(data / "audit.sqlite") as log:
            wall, cpu = time.perf_counter(), time.process_time()
            check = check_store(accounts, log)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        accounts.close()
    out = {
        "records": start + args.records,
        "account_records": start,
        "mean_record_bytes": round(size / max(args.records, 1)),
        "ok": check.ok,
        "check_wall_s": round(wall, 3),
        "check_cpu_s": round(cpu, 3),
        "per_100k_records_cpu_s": round(cpu / (start + args.records) * 100_000, 2),
    }
    json.dump(out, sys.stdout)
    print()
    return 0 if check.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
