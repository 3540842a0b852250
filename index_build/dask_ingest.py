"""Segmenting and preparing documents on a Dask cluster (``leian build --scheduler``).

The driver still reads and validates (that decides row order and duplicates, as in a local build);
the per-document work — segmenting facts and full text, compressing the text, scanning legal
features (``index_build.build._prepare``) — runs on Dask workers in batches, and the results come
back in input order, so the build is the same file for file as a local one (what
``tests/index_build/test_dask_build.py`` checks). A batch whose worker dies is resubmitted by Dask
(``retries``); a batch that fails for good fails the build, which then publishes nothing.

``scheduler``: ``"local"`` starts a ``LocalCluster`` on 127.0.0.1 for the build's duration; an
address such as ``tcp://scheduler:8786`` uses a running cluster whose workers have leian installed.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

BATCH = 64  # documents per task: enough work per round trip, small enough to spread over workers
IN_FLIGHT_PER_WORKER = 3  # batches submitted ahead per worker: bounds the driver's memory
RETRIES = 2  # resubmissions of a batch whose worker died


def _apply_batch(function: Callable[..., R], batch: list[T], *extra: Any) -> list[R]:
    return [function(item, *extra) for item in batch]


@contextlib.contextmanager
def dask_client(scheduler: str, workers: int) -> Iterator[Any]:
    """A client of ``scheduler`` ("local": a LocalCluster of ``workers`` single-threaded processes)."""
    from distributed import Client, LocalCluster

    if scheduler == "local":
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
        with cluster, Client(cluster) as client:
            yield client
    else:
        with Client(scheduler) as client:
            yield client


def ordered_map(
    client: Any,
    function: Callable[..., R],
    items: Iterable[T],
    *,
    batch: int = BATCH,
    extra: tuple[Any, ...] = (),
) -> Iterator[R]:
    """``function(item, *extra)`` for each item, computed on the cluster ``batch`` items per task,
    results in input order. ``extra`` may hold futures (a scattered model): Dask resolves them on
    the worker, so large arguments travel once, not with every task."""
    size = batch
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    pending: deque[Any] = deque()
    chunk: list[T] = []

    def submit(items_of_task: list[T]) -> None:
        pending.append(
            client.submit(_apply_batch, function, items_of_task, *extra, retries=RETRIES, pure=False)
        )

    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            submit(chunk)
            chunk = []
            while len(pending) >= IN_FLIGHT_PER_WORKER * workers:
                yield from pending.popleft().result()
    if chunk:
        submit(chunk)
    while pending:
        yield from pending.popleft().result()
