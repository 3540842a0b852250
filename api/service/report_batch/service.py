"""Batches submitted over HTTP, run one at a time in the background, one folder each under
``DATA/report-batches/`` (or ``LEIAN_BATCH_DIR``: a volume the nodes behind one balancer share; the
process holding a batch's lock runs it, and any node answers for its status and reports).

Each batch is the same folder the command line writes (``state``), with its pending cases saved as
``pending.jsonl`` and its owner in ``batch.json``, so a service restarted half-way resumes what it
had not finished (``resume_unfinished``) by the same rules: no case is searched twice. The 检索主体
of every case is the owner; the Art. 4 tiers follow the owner's court.

Who reads a batch: its owner, and the 审判管理 (auditors) of the owner's court; anyone else gets 403,
an unknown batch 404.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from api.service.accounts import Principal, Role
from api.service.errors import forbidden, invalid, not_found
from api.service.report_batch.judges import BATCH_TOKEN_ID, CaseError
from api.service.report_batch.pending import PendingCase, read_pending
from api.service.report_batch.runner import BatchFailed, BatchJob, run_batch
from api.service.report_batch.state import BatchBusy, BatchFolder, CaseState, new_batch_id
from api.service.report_batch.summary import SUMMARY_MEDIA, summary_bytes, summary_rows
from api.service.runtime import Services
from api.service.searching import check_facts_length
from retrieval.atomic_file import write_atomic
from retrieval.guidance import Trigger
from retrieval.report.files import report_format

log = logging.getLogger("leian.api.service.report_batch")

PENDING = "pending.jsonl"
WORKERS = 2
_BATCH_ID = re.compile(r"rb-\d{8}T\d{6}Z-[0-9a-f]{6}")


def may_read_batch(principal: Principal, owner: dict[str, Any]) -> bool:
    user = principal.user
    if user.id == owner.get("user_id"):
        return True
    return user.role is Role.AUDITOR and user.court is not None and user.court == owner.get("court")


class BatchService:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.root = services.settings.batches_path
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._queued: set[str] = set()
        self._running: str | None = None
        self._failures: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="report-batches", daemon=True)
        self._thread.start()

    # -- running -------------------------------------------------------------------------------

    def _enqueue(self, batch_id: str) -> None:
        with self._lock:
            self._queued.add(batch_id)
        self._queue.put(batch_id)

    def _work(self) -> None:
        while not self._stop.is_set():
            batch_id = self._queue.get()
            if batch_id is None:
                return
            with self._lock:
                self._queued.discard(batch_id)
                self._running = batch_id
            try:
                self._run(batch_id)
            except Exception as exc:  # a batch must never kill the worker that serves the others
                log.exception("report batch %s failed", batch_id)
                self._failures[batch_id] = str(exc)
            finally:
                with self._lock:
                    self._running = None

    def _run(self, batch_id: str) -> None:
        folder = BatchFolder(self.root / batch_id)
        meta = folder.read_meta()
        if meta is None:
            return
        cases, _ = read_pending(folder.path(PENDING))
        owner = meta["owner"]

        def subject(_case: PendingCase) -> Principal:
            user = self.services.accounts.user(owner["name"])
            if user is None or user.id != owner["user_id"] or user.disabled:
                raise CaseError(f"judge: the account {owner['name']!r} no longer searches")
            return Principal(user, BATCH_TOKEN_ID)

        job = BatchJob(
            folder=folder,
            batch_id=batch_id,
            cases=cases,
            subject=subject,
            client=meta.get("client"),
            via="api",
            workers=WORKERS,
            k=int(meta.get("k") or 10),
            stop=self._stop,
        )
        try:
            with folder.lock():
                result = run_batch(self.services, job)
        except BatchBusy:
            # Another worker process of this service (each resumes unfinished batches at start-up)
            # or a `leian report batch` runs it: not a failure, and never run twice.
            log.info("report batch %s is run by another process", batch_id)
            return
        except BatchFailed as exc:
            self._failures[batch_id] = str(exc)
            return
        if result.failure:
            self._failures[batch_id] = result.failure
        else:
            self._failures.pop(batch_id, None)

    def resume_unfinished(self) -> list[str]:
        """Queue every stored batch that has cases left (after a restart); returns their ids."""
        resumed = []
        for folder in sorted(self.root.glob("rb-*")) if self.root.is_dir() else ():
            batch = BatchFolder(folder)
            meta = batch.read_meta()
            if meta is not None and len(batch.read_state()) < int(meta["input"]["cases"]):
                self._enqueue(meta["batch_id"])
                resumed.append(meta["batch_id"])
        return resumed

    def close(self, timeout: float = 60.0) -> None:
        """Stop after the cases in flight (their state is kept; the rest resumes at the next start)."""
        self._stop.set()
        self._queue.put(None)
        self._thread.join(timeout)

    # -- the routes' operations ----------------------------------------------------------------

    def submit(
        self,
        principal: Principal,
        client: str | None,
        cases: Sequence[Mapping[str, Any]],
        trigger: Trigger | None,
        k: int,
    ) -> dict[str, Any]:
        """Queue pending cases (each a mapping of the pending-file keys) for one search and report each."""
        settings = self.services.settings
        self.services.index()  # 503 now rather than a batch of failures later
        if k > settings.max_k:
            raise invalid("k", f"不得超过 {settings.max_k}", f"must be at most {settings.max_k}")
        rows = []
        for i, case in enumerate(cases):
            chosen = case.get("trigger") or trigger
            if chosen is None:
                raise invalid(f"cases.{i}.trigger", "缺少检索事由", "required (per case or for the batch)")
            check_facts_length(self.services, len(case.get("facts") or ""), f"cases.{i}.facts")  # refused now
            rows.append({**case, "trigger": Trigger(chosen).value})
        batch_id = new_batch_id()
        folder = BatchFolder(self.root / batch_id)
        lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        write_atomic(folder.path(PENDING), lines.encode("utf-8"))
        user = principal.user
        folder.write_meta(
            {
                "batch_id": batch_id,
                "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "input": {"name": PENDING, "cases": len(rows)},
                "index_build": str(self.services.index().describe()["build_id"]),
                "owner": {
                    "user_id": user.id,
                    "name": user.name,
                    "role": user.role.value,
                    "court": user.court,
                },
                "client": client,
                "k": k,
                "via": "api",
            }
        )
        self._enqueue(batch_id)
        return self.status(principal, batch_id)

    def _folder(self, principal: Principal, batch_id: str) -> tuple[BatchFolder, dict[str, Any]]:
        folder = BatchFolder(self.root / batch_id)
        meta = folder.read_meta() if _BATCH_ID.fullmatch(batch_id) else None
        if meta is None:
            raise not_found(f"没有批次 {batch_id}", f"no report batch {batch_id!r}")
        if not may_read_batch(principal, meta["owner"]):
            raise forbidden(
                "只有提交人和本院审判管理人员可以查看该批次", "only the owner and their court's auditors"
            )
        return folder, meta

    def _phase(self, batch_id: str, done: int, total: int) -> str:
        with self._lock:
            if self._running == batch_id:
                return "running"
            if batch_id in self._queued:
                return "queued"
        if done < total and BatchFolder(self.root / batch_id).is_locked():
            return "running"  # by another worker process of the service
        if batch_id in self._failures:
            return "failed"
        return "done" if done >= total else "interrupted"

    def status(self, principal: Principal, batch_id: str) -> dict[str, Any]:
        folder, meta = self._folder(principal, batch_id)
        done = folder.read_state()
        total = int(meta["input"]["cases"])
        return {
            "batch_id": batch_id,
            "status": self._phase(batch_id, len(done), total),
            "failure": self._failures.get(batch_id),
            "owner": meta["owner"]["name"],
            "court": meta["owner"]["court"],
            "created_at": meta["created_at"],
            "total": total,
            "done": len(done),
            "ok": sum(s.status == "ok" for s in done.values()),
            "errors": sum(s.status == "error" for s in done.values()),
            "cases": [_case_json(s) for s in sorted(done.values(), key=lambda s: s.item)],
        }

    def list(self, principal: Principal) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.root.glob("rb-*"), reverse=True) if self.root.is_dir() else ():
            meta = BatchFolder(path).read_meta()
            if meta is not None and may_read_batch(principal, meta["owner"]):
                out.append(
                    {k: v for k, v in self.status(principal, meta["batch_id"]).items() if k != "cases"}
                )
        return out

    def report_file(self, principal: Principal, batch_id: str, item: int, fmt: str) -> tuple[Path, str, str]:
        """(path, media type, download name) of one case's report."""
        folder, _ = self._folder(principal, batch_id)
        state = folder.read_state().get(item)
        chosen = report_format(fmt)
        if state is None or chosen.name not in state.files:
            raise not_found(f"该批次第 {item} 件尚无报告", f"no {fmt} report for case {item} of {batch_id}")
        return (
            folder.path(state.files[chosen.name]),
            chosen.media_type,
            f"{batch_id}-{item:04d}{chosen.suffix}",
        )

    def summary(self, principal: Principal, batch_id: str, fmt: str) -> tuple[bytes, str, str]:
        """The summary table as it stands now (finished cases, the rest 未完成)."""
        folder, _ = self._folder(principal, batch_id)
        cases, _ = read_pending(folder.path(PENDING))
        rows = summary_rows(cases, folder.read_state())
        return summary_bytes(rows, fmt), SUMMARY_MEDIA[fmt], f"{batch_id}-summary.{fmt}"


def _case_json(state: CaseState) -> dict[str, Any]:
    return {
        "item": state.item,
        "case_number": state.case_number,
        "status": state.status,
        "search_id": state.search_id,
        "report_seq": state.report_seq,
        "tiers": state.tiers,
        "guiding": state.guiding,
        "formats": sorted(state.files),
        "error": state.error,
    }
