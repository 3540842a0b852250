"""A batch's folder: what it is (``batch.json``), which cases are finished (``state.jsonl``), the reports.

``state.jsonl`` gets one line per finished case (report written, or error recorded), appended and
fsynced after the case's files are in place; a line torn by a kill is cut off when the folder is
opened again. The state says what is finished; what was *audited* is read from the audit log itself
(records carry the batch id and item), so a case whose search was recorded but whose report was not
written is finished from its record, never searched again. ``lock`` keeps a second process out of a
running batch (``flock``, released by the kernel when the holder dies, even by SIGKILL).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from retrieval.atomic_file import write_atomic

FORMAT = "leian-report-batch/v1"
META = "batch.json"
STATE = "state.jsonl"
LOCK = ".lock"
REPORTS = "reports"
SUMMARY_CSV = "summary.csv"
SUMMARY_XLSX = "summary.xlsx"
OK, ERROR = "ok", "error"
TIER_KEYS = ("1", "2", "3", "4", "other")


class BatchBusy(RuntimeError):
    """Another process is running this batch."""


class BatchMismatch(ValueError):
    """The folder holds a different batch (other input, index or defaults)."""


def new_batch_id(now: dt.datetime | None = None) -> str:
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return f"rb-{moment:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass
class CaseState:
    """One finished case, as the state file and the summary table hold it."""

    item: int
    case_number: str | None
    status: str  # OK or ERROR
    judge: str | None = None
    search_id: int | None = None  # the audit seq of the search record
    leaf_hash: str | None = None
    report_seq: int | None = None  # the audit seq of the report record
    tiers: dict[str, int] = field(default_factory=dict)  # TIER_KEYS → number of results
    guiding: bool = False  # a 指导性案例 among the results
    files: dict[str, str] = field(default_factory=dict)  # format → path relative to the folder
    error: str | None = None
    seconds: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaseState:
        return cls(**data)


class BatchFolder:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def reports(self) -> Path:
        return self.root / REPORTS

    def path(self, name: str) -> Path:
        return self.root / name

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK, "a+b") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise BatchBusy(f"{self.root}: another process is running this batch") from exc
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def is_locked(self) -> bool:
        """Whether some process holds the batch now (for a status answer)."""
        if not (self.root / LOCK).exists():
            return False
        with open(self.root / LOCK, "a+b") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False

    # -- batch.json ----------------------------------------------------------------------------

    def read_meta(self) -> dict[str, Any] | None:
        path = self.root / META
        if not path.exists():
            return None
        meta = json.loads(path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise BatchMismatch(f"{path}: not a report batch ({meta.get('format')!r})")
        return meta

    def write_meta(self, meta: dict[str, Any]) -> None:
        data = {"format": FORMAT, **meta}
        write_atomic(self.root / META, (json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode())

    # -- state.jsonl ---------------------------------------------------------------------------

    def read_state(self, *, repair: bool = False) -> dict[int, CaseState]:
        """Finished cases by item; ``repair`` (only under the lock) cuts a line torn by a kill."""
        path = self.root / STATE
        if not path.exists():
            return {}
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            data = data[:cut]
            if repair:
                with open(path, "r+b") as handle:
                    handle.truncate(cut)
                    os.fsync(handle.fileno())
        out: dict[int, CaseState] = {}
        for number, line in enumerate(data.decode("utf-8").splitlines(), 1):
            if line.strip():
                try:
                    state = CaseState.from_dict(json.loads(line))
                except (json.JSONDecodeError, TypeError) as exc:
                    raise BatchMismatch(f"{path}:{number}: not a state line ({exc})") from exc
                out[state.item] = state
        return out

    def append_state(self, state: CaseState) -> None:
        with open(self.root / STATE, "ab") as handle:
            handle.write((state.to_json() + "\n").encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())


def open_batch(
    folder: BatchFolder,
    *,
    input_name: str,
    input_sha256: str,
    cases: int,
    index_build: str,
    defaults: dict[str, str | None],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The folder's batch, created on the first run; a rerun must be the same batch (BatchMismatch).

    Options left out on a rerun take the first run's values, so the same command, or a shorter one,
    resumes; a different input, index build or default is refused rather than mixed into the batch.
    """
    meta = folder.read_meta()
    if meta is None:
        meta = {
            "batch_id": new_batch_id(),
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "input": {"name": input_name, "sha256": input_sha256, "cases": cases},
            "index_build": index_build,
            "defaults": defaults,
            **(extra or {}),
        }
        folder.write_meta(meta)
        return meta
    batch = meta["batch_id"]
    if meta["input"]["sha256"] != input_sha256:
        raise BatchMismatch(
            f"{folder.root} holds batch {batch} of another input ({meta['input']['name']}); use another --out"
        )
    if meta["index_build"] != index_build:
        raise BatchMismatch(
            f"batch {batch} was started on index build {meta['index_build']}; the index is now {index_build}"
        )
    for key, value in defaults.items():
        if value is not None and meta["defaults"].get(key) != value:
            raise BatchMismatch(f"--{key}: batch {batch} was started with {meta['defaults'].get(key)!r}")
    return meta
