"""The search lock hands itself over in arrival order, and still excludes."""

from __future__ import annotations

import threading
import time

import pytest

from retrieval.fair_lock import FairLock


def _wait_until(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_waiters_get_the_lock_in_the_order_they_asked_for_it() -> None:
    lock = FairLock()
    order: list[int] = []
    lock.acquire()
    threads = []
    for i in range(12):

        def take(i: int = i) -> None:
            with lock:
                order.append(i)

        thread = threading.Thread(target=take)
        thread.start()
        _wait_until(lambda i=i: len(lock._waiters) == i + 1)  # queued before the next one starts
        threads.append(thread)
    lock.release()
    for thread in threads:
        thread.join(5)
    assert order == list(range(12))
    assert not lock.locked()


def test_a_late_comer_does_not_overtake_the_queue_when_the_lock_is_released() -> None:
    """With threading.Lock a thread arriving at release time usually wins; here it queues last."""
    lock = FairLock()
    order: list[str] = []
    lock.acquire()
    waiter = threading.Thread(target=lambda: (lock.acquire(), order.append("waiter"), lock.release()))
    waiter.start()
    _wait_until(lambda: len(lock._waiters) == 1)
    lock.release()
    with lock:  # the lock was handed to the waiter: this waits for it
        order.append("late")
    waiter.join(5)
    assert order == ["waiter", "late"]


def test_only_one_holder_at_a_time() -> None:
    lock = FairLock()
    inside = 0
    most = 0
    total = 0

    def work() -> None:
        nonlocal inside, most, total
        for _ in range(200):
            with lock:
                inside += 1
                most = max(most, inside)
                total += 1
                time.sleep(0)
                inside -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert (most, total) == (1, 1600)


def test_releasing_an_unheld_lock_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        FairLock().release()
