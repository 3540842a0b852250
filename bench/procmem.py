"""Resident memory of a process from ``/proc``, split into anonymous and file-backed pages.

The service memory-maps its BM25 arrays (and SQLite pages sit in the page cache), so total RSS
mixes memory the process owns (``RssAnon``: heap, numpy arrays, the FAISS index) with file pages
the kernel can drop and re-read (``RssFile``). A 4 GB budget is about the first; both are reported.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

FIELDS = {
    "VmRSS": "rss_mb",
    "RssAnon": "anon_mb",
    "RssFile": "file_mb",
    "RssShmem": "shmem_mb",
    "VmHWM": "peak_rss_mb",
}


def memory_mb(pid: int | str = "self") -> dict[str, float]:
    """RSS, its anonymous / file-backed / shared parts and the peak RSS (VmHWM) of ``pid``, in MB.

    Empty when the process is gone.
    """
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in lines:
        name, _, rest = line.partition(":")
        if name in FIELDS:
            out[FIELDS[name]] = round(int(rest.split()[0]) / 1024, 1)
    return out


class PeakSampler:
    """Samples ``memory_mb(pid)`` in a thread; ``peaks`` holds the largest value seen per field.

    The kernel keeps a peak only for total RSS (VmHWM); the anonymous peak has to be sampled.
    """

    def __init__(self, pid: int | str = "self", interval: float = 0.5) -> None:
        self.pid = pid
        self.interval = interval
        self.peaks: dict[str, float] = {}
        self.samples = 0
        self._stop = threading.Event()

    def sample(self) -> None:
        for name, value in memory_mb(self.pid).items():
            self.peaks[name] = max(value, self.peaks.get(name, 0.0))
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    @contextlib.contextmanager
    def running(self) -> Iterator[PeakSampler]:
        thread = threading.Thread(target=self._run, daemon=True)
        self.sample()
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            self.sample()

    def report(self) -> dict[str, object]:
        """Peaks of each field (``peak_rss_mb`` is the kernel's own) and the sample count."""
        return {f"max_{k}" if k != "peak_rss_mb" else k: v for k, v in self.peaks.items()} | {
            "samples": self.samples,
            "interval_s": self.interval,
        }
