"""Feeds the periodic summary only from a log that verifies, and says which log state it was.

Figures reported upward must rest on the records the court can prove, so the summary is never made
from the database as is: a checkpoint is signed now, the whole log is exported at its size, the
export is checked by the independent verifier (every leaf hash recomputed from the record, the root
against the signed checkpoint and the earlier ones), and the summary is computed from that very
export file. A log that fails is refused (``UnverifiedLog``), not summarised with a warning.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from retrieval.audit.store import AuditLog, AuditTampered
from retrieval.audit.summary import Period, Summary, summarise
from retrieval.audit.verify import verify_export

PROBLEMS_QUOTED = 2000
"""Characters of the verifier's problems a refusal quotes: the first problems say where tampering starts."""


class UnverifiedLog(RuntimeError):
    """The audit log fails verification: no summary is made from it."""


def _records(export: Path) -> Iterator[dict[str, Any]]:
    with export.open("rb") as fp:
        for line in fp:
            entry = json.loads(line)
            if "record" in entry:
                yield entry["record"]


def verified_summary(log: AuditLog, key: Ed25519PrivateKey, court: str | None, period: Period) -> Summary:
    """The summary of ``court`` over ``period`` from every record up to a checkpoint signed now."""
    with tempfile.TemporaryDirectory(prefix="leian-summary-") as tmp:
        export, checkpoint = Path(tmp) / "audit.jsonl", Path(tmp) / "audit.checkpoint.json"
        try:
            signed = log.export_bundle(export, checkpoint, key)
        except AuditTampered as exc:  # the writer re-hashes before signing: nothing was signed
            raise UnverifiedLog(str(exc)) from exc
        report = verify_export(export, checkpoint)
        if not report.ok:
            problems = "; ".join(p.message for p in sorted(report.problems, key=lambda p: p.sort_key()))
            raise UnverifiedLog(f"{report.summary()} ({problems[:PROBLEMS_QUOTED]})")
        summary = summarise(_records(export), court, period)
    cp = signed.checkpoint
    source = [
        ("审计日志", cp.log_id),
        ("记录范围", f"seq 0..{cp.tree_size - 1}（共 {cp.tree_size} 条）"),
        ("根哈希", cp.root_hash),
        ("检查点时间", cp.at),
        ("签名密钥", signed.key_id),
        ("校验", "通过：每条记录的叶哈希已重算，根哈希与已签名检查点一致；本汇总即由该导出计算"),
    ]
    return dataclasses.replace(summary, source=source)
