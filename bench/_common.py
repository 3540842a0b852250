"""What the bench scripts share: where the data lives, percentiles, timing loops, JSON output.

bench/ is not a package: a script puts its own folder on ``sys.path`` and imports ``_common``
like its other siblings (``perf_ann``, ``procmem``), so that the tests' ``bench_module`` can load
any script on its own.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"  # read in place, never copied into the repository
LECARD_DATA = SHARED_DATA / "lecard" / "data"
LECARD_ARCHIVE = LECARD_DATA / "candidates.tar.xz"
LECARD_QUERIES = LECARD_DATA / "query" / "query.json"
BENCH_BUILD = REPO / "build" / "bench"  # caches and benchmark indexes (not committed)
LECARD_INDEX = BENCH_BUILD / "lecard-index"
SAMPLES = REPO / "corpus_samples"
SAMPLE_INPUTS = [SAMPLES / "judgments", SAMPLES / "guiding", SAMPLES / "extra.jsonl"]
SAMPLE_PENDING = SAMPLES / "pending" / "pending_cases.jsonl"

T = TypeVar("T")
R = TypeVar("R")


# --- inputs -------------------------------------------------------------------------------------


def lecard_query_texts(path: Path = LECARD_QUERIES) -> list[str]:
    """The facts (``q``) of the LeCaRD queries, in file order."""
    with Path(path).open(encoding="utf-8") as handle:
        return [json.loads(line)["q"] for line in handle if line.strip()]


def open_or_build(
    home: Path,
    source: Path,
    fmt: str,
    *,
    rebuild: bool = False,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> tuple[Any, dict[str, object] | None]:
    """(store, how it was built or None): the index at ``home``, built from ``source`` first when it
    has no published build or ``rebuild`` — a benchmark compares runs on one index, so it reuses it."""
    from index_build.build import BuildOptions, build
    from retrieval.index_layout import IndexLayoutError, resolve_current
    from retrieval.index_store import IndexStore

    try:
        resolve_current(home)
        missing = rebuild
    except IndexLayoutError:
        missing = True
    built = None
    if missing:
        log(f"building {home} from {source}")
        started = time.perf_counter()
        result = build(BuildOptions(inputs=[source], home=home, fmt=fmt, progress=progress))
        built = {"seconds": round(time.perf_counter() - started, 1), "build_dir": str(result.build_dir)}
    return IndexStore.open(home), built


def build_sample_index(home: Path) -> Path:
    """The sample corpus (``corpus_samples/``) built and published into ``home``."""
    from index_build.build import BuildOptions, build

    build(BuildOptions(inputs=SAMPLE_INPUTS, home=home, progress=False))
    return home


def leian(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m api.cli.main ARGS`` in the repository, output captured; a failure raises."""
    return subprocess.run(
        [sys.executable, "-m", "api.cli.main", *args],
        env=None if env is None else dict(env),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- timing and percentiles ---------------------------------------------------------------------


def timed_calls(fn: Callable[[T], R], items: Iterable[T]) -> tuple[list[R], list[float]]:
    """``fn`` on each item in turn: the results and the wall seconds of each call."""
    results, seconds = [], []
    for item in items:
        started = time.perf_counter()
        results.append(fn(item))
        seconds.append(time.perf_counter() - started)
    return results, seconds


def timed(fn: Callable[[T], object], items: Sequence[T], warmup: int = 3) -> list[float]:
    """Wall seconds of ``fn`` on each item, after ``fn`` on the first ``warmup`` items untimed."""
    for item in items[:warmup]:
        fn(item)
    return timed_calls(fn, items)[1]


def percentile(values: Sequence[float], q: float) -> float:
    """The value at rank ``round(q/100 · (n − 1))`` of the sorted values (no interpolation)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def nearest_rank(sorted_values: Sequence[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    if not sorted_values:
        return float("nan")
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def latency_summary(seconds: Sequence[float], digits: int = 3) -> dict[str, float]:
    """p50 / p95 / p99 (``percentile``) and mean of call durations, in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "p50": round(percentile(ms, 50), digits),
        "p95": round(percentile(ms, 95), digits),
        "p99": round(percentile(ms, 99), digits),
        "mean": round(statistics.fmean(ms), digits),
    }


def latency_and_rate(seconds: Sequence[float]) -> dict[str, float]:
    """``latency_summary`` and calls per second, one after another."""
    return latency_summary(seconds) | {"per_second": round(len(seconds) / sum(seconds), 2)}


# --- output -------------------------------------------------------------------------------------


def emit_json(
    report: Any,
    out: Path | None = None,
    *,
    indent: int | None = 1,
    ensure_ascii: bool = False,
    echo: bool = True,
) -> str:
    """Print ``report`` as JSON (unless not ``echo``) and, given ``out``, write the same text there
    (its folder created)."""
    text = json.dumps(report, ensure_ascii=ensure_ascii, indent=indent)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
    if echo:
        print(text)
    return text


def label_causes(label: str) -> tuple[str, ...]:
    """The normalised causes a dataset label names: CJRC joins two charges in 14 labels (盗窃罪、抢夺罪).

    A prediction naming either charge names a charge the court convicted of, so the benchmarks count it
    right; left joined, such a label could never be predicted, nor should a classifier learn it as a
    class of its own. ``走私、贩卖、运输、制造毒品罪`` is one charge and stays one.
    """
    from retrieval.parsing.causes import extract_causes, normalise_cause

    if "罪、" in label:
        named = tuple(extract_causes(title=label))
        if named:
            return named
    return (normalise_cause(label),)


# --- PostgreSQL ---------------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_database(url: str, template: str | None = None) -> Iterator[str]:
    """A new database on ``url``'s server for one run (a copy of the database ``template``, when
    named); dropped after, connections or not. The database in ``url`` itself is never written."""
    import psycopg
    from psycopg import sql

    name = f"leian_bench_{uuid.uuid4().hex[:10]}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    with psycopg.connect(url, autocommit=True) as conn:
        if template is not None:  # a template may have no other sessions while it is copied
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (template,)
            )
            create = sql.SQL("{} TEMPLATE {}").format(create, sql.Identifier(template))
        conn.execute(create)
    parts = urlsplit(url)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")
