"""Cost of a court's verifiable audit export: an inclusion proof per line, and checking it offline.

Writes a synthetic log of N records (one court in ten of them) with the real ``AuditLog``, signs a
checkpoint, exports that court's records with proofs and the checkpoint (as ``GET /audit/export``
does for 审判管理) and verifies the file with the independent verifier. Prints JSON. Appending
dominates the wall time (every record is fsynced); the export and verify times are the figures.

    python bench/audit_court_export.py --records 20000
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

from retrieval.audit.records import Actor
from retrieval.audit.signing import checkpoint_file_json, generate_key
from retrieval.audit.store import AuditLog, RecordFilter
from retrieval.audit.verify import verify_export

COURT, OTHER = "甲法院", "乙法院"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        key = generate_key(folder / "signing.pem")
        with AuditLog(folder / "audit.sqlite") as log:
            for i in range(args.records):
                court = COURT if i % 10 == 0 else OTHER
                actor = Actor(f"judge{i % 7}", "承办法官", court)
                log.append("search", actor, "bench", {"case_number": f"case{i}", "trigger": "其他"})
            signed = log.checkpoint(key)
            checkpoint = json.loads(checkpoint_file_json(signed, key.public_key(), []))
            buffer = io.BytesIO()
            clock = time.perf_counter()
            exported = log.export_jsonl(
                buffer,
                RecordFilter(court=COURT),
                tree_size=signed.checkpoint.tree_size,
                checkpoint=checkpoint,
            )
            export_s = time.perf_counter() - clock
        path = folder / "court.jsonl"
        path.write_bytes(buffer.getvalue())
        clock = time.perf_counter()
        report = verify_export(path)
        verify_s = time.perf_counter() - clock
    print(
        json.dumps(
            {
                "log_records": args.records,
                "court_records": exported,
                "file_bytes": len(buffer.getvalue()),
                "export_s": round(export_s, 3),
                "verify_s": round(verify_s, 3),
                "verified": report.ok,
            }
        )
    )


if __name__ == "__main__":
    main()
