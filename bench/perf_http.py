"""Audited searches over HTTP: the service in a uvicorn subprocess, 1 and 16 concurrent clients.

    python bench/perf_http.py --index HOME [--clients 16] [--seconds 30] [--sequential 60]
                              [--workers N] [--env NAME=VALUE ...] [--profile DIR] [--out FILE]

Used by ``bench/perf.py`` and runnable alone. Every search writes its audit record before it is
answered (the service is fail-closed), so these latencies include the audit write. The data folder
(accounts, audit log, key) is fresh per run; each client has its own token, and the per-token rate
limit is switched off (``LEIAN_RATE_LIMIT=off``) because a load test is exactly what it exists to
stop. Alone it also reports the server's CPU time per search (user + system of the server process
and its children, from ``/proc``): on a shared machine latency and throughput move with everyone
else's load, CPU per search much less. ``--profile DIR`` records the server with py-spy during the
concurrent phase (``DIR/pyspy-<clients>.txt``, collapsed stacks).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "bench") not in sys.path:
    sys.path.append(str(REPO / "bench"))  # for _common; appended, shadows nothing

from _common import emit_json, free_port, latency_summary, lecard_query_texts, leian  # noqa: E402

COURT = "浙江省杭州市西湖区人民法院"
CASE_NUMBER = "（2025）浙0106刑初88号"


def _leian(env: dict[str, str], *args: str) -> str:
    return leian(*args, env=env).stdout.strip().splitlines()[-1]


def issue_tokens(env: dict[str, str], n: int) -> list[str]:
    """One judge; ``n`` tokens of theirs (the last line ``leian`` prints is the token)."""
    tokens = [_leian(env, "user", "add", "性能测试法官", "--role", "承办法官", "--court", COURT)]
    tokens += [_leian(env, "token", "issue", "--user", "性能测试法官") for _ in range(n - 1)]
    return tokens


@contextlib.contextmanager
def running_service(
    index_home: Path,
    data_dir: Path,
    clients: int,
    workers: int = 1,
    env_overrides: Mapping[str, str] | None = None,
) -> Iterator[tuple[str, list[str], int]]:
    """(base URL, tokens, server pid) of a fresh service over ``index_home``; stopped afterwards.

    One worker: ``uvicorn api.app:app``; more: ``leian serve --workers N`` (one socket, one chain).
    """
    from retrieval.audit.witness import default_witness_path

    # A fresh service: its data folder and the witness kept beside it (a new log under an old
    # witness is refused as tampering, rightly).
    shutil.rmtree(data_dir, ignore_errors=True)
    default_witness_path(data_dir).unlink(missing_ok=True)
    data_dir.mkdir(parents=True)
    env = os.environ | {
        "LEIAN_INDEX": str(index_home),
        "LEIAN_DATA": str(data_dir),
        "LEIAN_RATE_LIMIT": "off",
        "HF_HUB_OFFLINE": "1",
        **(env_overrides or {}),
    }
    tokens = issue_tokens(env, clients)
    port = free_port()
    if workers == 1:
        command = [sys.executable, "-m", "uvicorn", "api.app:app", "--host", "127.0.0.1", "--port", str(port)]
    else:
        command = [
            sys.executable,
            "-m",
            "api.cli.main",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
    log_path = data_dir / "uvicorn.log"
    log = log_path.open("w")
    server = subprocess.Popen(command, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600  # start-up verifies every index file's checksum
        while True:
            with contextlib.suppress(httpx.HTTPError):
                started = log_path.read_text("utf-8", "replace").count("Application startup complete")
                if httpx.get(f"{base}/readyz", timeout=5).status_code == 200 and started >= workers:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"service did not become ready; see {log_path}")
            time.sleep(0.5)
        yield base, tokens, server.pid
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM of a live process, summed over its worker processes: peak resident memory so far."""
    peaks = []
    for one in [pid, *_children(pid)]:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]))
    return round(sum(peaks) / 1024, 1) if peaks else None


def _search(client: httpx.Client, base: str, token: str, facts: str) -> float:
    body = {"case_number": CASE_NUMBER, "trigger": "缺乏明确或统一裁判规则", "facts": facts, "k": 10}
    started = time.perf_counter()
    response = client.post(
        f"{base}/api/v1/searches", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=120
    )
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"search failed: {response.status_code} {response.text[:300]}")
    return elapsed


def sequential(base: str, token: str, queries: list[str]) -> list[float]:
    with httpx.Client() as client:
        _search(client, base, token, queries[0])  # warm the connection
        return [_search(client, base, token, q) for q in queries]


def concurrent(base: str, tokens: list[str], queries: list[str], seconds: float) -> tuple[list[float], float]:
    """Each client loops over the queries (from its own offset) for ``seconds``; latencies and wall."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client_loop(number: int, token: str) -> None:
        mine: list[float] = []
        try:
            with httpx.Client() as client:
                i = number * 7
                while time.perf_counter() < stop_at:
                    mine.append(_search(client, base, token, queries[i % len(queries)]))
                    i += 1
        except BaseException as exc:  # reported after the run, not lost in a thread
            errors.append(exc)
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=client_loop, args=(n, t)) for n, t in enumerate(tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} clients failed: {errors[0]}")
    return latencies, time.perf_counter() - started


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live children (uvicorn ``--workers``)."""
    total = 0.0
    for one in [pid, *_children(pid)]:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def memory_mb(pid: int) -> dict[str, float]:
    """Resident memory of ``pid`` and its children now (MB): RSS counts the pages the workers share
    (memory-mapped index files) once per process, PSS splits them, anonymous is each one's own."""
    total = {"Rss": 0, "Pss": 0, "Anonymous": 0}
    for one in [pid, *_children(pid)]:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{one}/smaps_rollup").read_text().splitlines():
                name, _, rest = line.partition(":")
                if name in total:
                    total[name] += int(rest.split()[0])
    return {name.lower(): round(kb / 1024, 1) for name, kb in total.items()}


def _phase(pid: int, run: Callable[[], tuple[list[float], float]]) -> dict[str, object]:
    load_before = os.getloadavg()[0]
    cpu_before, own_before = process_cpu_s(pid), time.process_time()
    latencies, wall = run()
    server_cpu, own_cpu = process_cpu_s(pid) - cpu_before, time.process_time() - own_before
    n = len(latencies)
    return latency_summary(latencies, digits=1) | {
        "searches": n,
        "seconds": round(wall, 1),
        "searches_per_second": round(n / wall, 2),
        "server_cpu_ms_per_search": round(server_cpu / n * 1000, 1),
        "client_cpu_ms_per_search": round(own_cpu / n * 1000, 1),
        "server_memory_mb": memory_mb(pid),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


@contextlib.contextmanager
def profiled(pid: int, out: Path | None, seconds: float) -> Iterator[None]:
    """py-spy on the server for ``seconds`` (collapsed stacks, every thread, idle ones left out)."""
    if out is None:
        yield
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid), "--format", "raw"]
    command += ["--rate", "50", "--duration", str(max(1, int(seconds))), "--subprocesses", "-o", str(out)]
    spy = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        spy.wait(timeout=seconds + 60)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True, help="published index home")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the concurrent phase")
    parser.add_argument("--sequential", type=int, default=60, help="searches from one client first")
    parser.add_argument("--data", type=Path, default=REPO / "build" / "perf-http-data")
    parser.add_argument("--profile", type=Path, help="py-spy the server's concurrent phase into this folder")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--workers", type=int, default=1, help="server processes (leian serve --workers)")
    parser.add_argument("--env", nargs="*", default=[], metavar="NAME=VALUE", help="server environment")
    args = parser.parse_args(argv)

    queries = lecard_query_texts()
    report: dict[str, object] = {
        "benchmark": "perf_http",
        "index": str(args.index),
        "workers": args.workers,
        "env": args.env,
        "cpus": len(os.sched_getaffinity(0)),
    }
    env = dict(item.split("=", 1) for item in args.env)
    with running_service(args.index, args.data, args.clients, args.workers, env) as (base, tokens, pid):
        sequential(base, tokens[0], queries[:10])  # warm the pages the searches touch
        picked = (queries * (args.sequential // len(queries) + 1))[: args.sequential]
        report["clients_1"] = _phase(pid, lambda: _timed_sequential(base, tokens[0], picked))
        out = args.profile / f"pyspy-{args.clients}.txt" if args.profile else None
        with profiled(pid, out, args.seconds):
            report[f"clients_{args.clients}"] = _phase(
                pid, lambda: concurrent(base, tokens, queries, args.seconds)
            )
        report["server_peak_rss_mb"] = peak_rss_mb(pid)
    emit_json(report, args.out)
    return 0


def _timed_sequential(base: str, token: str, queries: list[str]) -> tuple[list[float], float]:
    started = time.perf_counter()
    latencies = sequential(base, token, queries)
    return latencies, time.perf_counter() - started


if __name__ == "__main__":
    raise SystemExit(main())
