"""A lock granted in arrival order, for the one-caller-at-a-time section of an open index (``IndexStore``).

``threading.Lock`` lets whichever waiter the scheduler wakes first win: under 16 concurrent
clients some searches waited 18 s while the median waited 0.2 s (``bench/perf_http.py`` on the
100k index). Handing the lock to the longest waiter bounds every wait by the queue ahead of it.
"""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType


class FairLock:
    """Mutual exclusion with first-come, first-served hand-over; not reentrant."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._held = False

    def acquire(self) -> None:
        with self._mutex:
            if not self._held:
                self._held = True
                return
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        turn.acquire()  # released by ``release`` of the holder before us: the lock is ours

    def release(self) -> None:
        with self._mutex:
            if not self._held:
                raise RuntimeError("release of an unheld FairLock")
            if self._waiters:
                self._waiters.popleft().release()  # handed over: stays held, by the next in line
            else:
                self._held = False

    def locked(self) -> bool:
        return self._held

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
