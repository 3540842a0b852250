"""The watcher (审计日志巡检): re-verifies the log in the background, so an edit is not first seen by an auditor.

The writer trusts the leaf hashes it stored; an attacker with a shell can change a record's content
in place and leave its leaf hash, and nothing that only reads leaf hashes notices. The watcher
recomputes every leaf hash from the record's content:

* new records as they arrive (incremental), extending its own tree, whose root must equal the one
  the writer held (and signed) at that size;
* old records in a rolling sweep, a batch per tick, whose tree at the end of a pass must equal the
  one the watcher had when the pass began (a rewrite with recomputed leaf hashes shows there).

A problem is sticky: once raised it stays until the service restarts, since a log that was edited
once is not trusted again because the edit was undone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from retrieval.audit import merkle
from retrieval.audit.store import AuditLog, AuditTampered, AuditUnavailable

log = logging.getLogger("leian.audit")

SWEEP_BATCH = 20000
"""Old records re-hashed per tick: about 0.1 s of SHA-256 for search-sized records."""


@dataclass(frozen=True)
class WatchState:
    ok: bool
    verified: int  # records whose content was re-hashed and matched the signed tree
    problem: str | None
    checked_at: float | None  # time.time() of the last tick


class Watcher:
    def __init__(
        self,
        audit: AuditLog,
        *,
        sweep_batch: int = SWEEP_BATCH,
        on_problem: Callable[[str], None] | None = None,
    ) -> None:
        self.audit = audit
        self.sweep_batch = sweep_batch
        self.on_problem = on_problem
        self._frontier = merkle.Frontier()
        self._sweep: merkle.Frontier | None = None
        self._sweep_target = (0, merkle.EMPTY_ROOT)
        self._problem: str | None = None
        self._checked_at: float | None = None
        self._lock = threading.Lock()  # one tick at a time (the thread, or a caller that wants it now)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> WatchState:
        return WatchState(self._problem is None, self._frontier.size, self._problem, self._checked_at)

    def tick(self, *, full_sweep: bool = False) -> WatchState:
        """Verify new records and one sweep batch (``full_sweep``: the whole log, e.g. before signing)."""
        with self._lock:
            if self._problem is None:
                if full_sweep:
                    self._sweep = None  # a pass begun earlier would skip what it already covered
                try:
                    self._extend()
                    self._sweep_batch(None if full_sweep else self.sweep_batch)
                    self.audit.check_witness()
                    self.audit.sync_witness()
                except AuditTampered as exc:
                    self._raise(str(exc))
                except AuditUnavailable as exc:  # a locked or missing disk: the writer reports it
                    log.warning("audit watcher could not read the log: %s", exc)
            self._checked_at = time.time()
            return self.state

    def _raise(self, problem: str) -> None:
        self._problem = problem
        log.error("audit log tampering detected by the watcher: %s", problem)
        if self.on_problem is not None:
            self.on_problem(problem)

    def _rows(self, start: int, limit: int | None) -> list[tuple[int, bytes, bytes]]:
        return self.audit.rows(start, limit)

    def _extend(self) -> None:
        size = self.audit.stored_size()
        if size < self._frontier.size:
            raise AuditTampered(
                f"the log has {size} records but the watcher verified {self._frontier.size}: records were removed"
            )
        while self._frontier.size < size:
            rows = self._rows(self._frontier.size, self.sweep_batch)
            if not rows:
                raise AuditTampered(f"record {self._frontier.size} disappeared while being verified")
            for seq, leaf, data in rows:
                self._check_row(seq, self._frontier.size, leaf, data)
                self._frontier.append(leaf)
        known = self.audit.known_root(self._frontier.size)
        if known is not None and known != self._frontier.root():
            raise AuditTampered(
                f"records 0..{self._frontier.size - 1} do not make the tree the log signed at that size: "
                "a record was rewritten"
            )

    def _sweep_batch(self, limit: int | None) -> None:
        if self._sweep is None:
            self._sweep = merkle.Frontier()
            self._sweep_target = (self._frontier.size, self._frontier.root())
        target, root = self._sweep_target
        remaining = target - self._sweep.size
        if remaining > 0:
            for seq, leaf, data in self._rows(
                self._sweep.size, remaining if limit is None else min(limit, remaining)
            ):
                self._check_row(seq, self._sweep.size, leaf, data)
                self._sweep.append(leaf)
        if self._sweep.size >= target:
            if self._sweep.root() != root:
                raise AuditTampered(
                    f"records 0..{target - 1} no longer make the tree verified before: a record was rewritten "
                    "with a recomputed leaf hash"
                )
            self._sweep = None

    @staticmethod
    def _check_row(seq: int, expected: int, leaf: bytes, data: bytes) -> None:
        if seq != expected:
            raise AuditTampered(f"audit records: seq {expected} is missing (next is {seq})")
        if merkle.leaf_hash(data) != leaf:
            raise AuditTampered(f"record {seq} was changed: its content no longer matches its leaf hash")

    # -- the background thread ---------------------------------------------------------------

    def start(self, interval_s: float) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.tick()
                except Exception:  # the thread must not die silently; the next tick tries again
                    log.exception("audit watcher tick failed")
                self._stop.wait(interval_s)

        self._thread = threading.Thread(target=loop, name="leian-audit-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
