"""Audited searches over HTTP: the service in a uvicorn subprocess, 1 and 16 concurrent clients.

Used by ``bench/perf.py``. Every search writes its audit record before it is answered (the
service is fail-closed), so these latencies include the audit write. The data folder (accounts,
audit log, key) is fresh per run; each client has its own token, and the per-token rate limit is
switched off (``LEIAN_RATE_LIMIT=off``) because a load test is exactly what it exists to stop.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
COURT = "浙江省杭州市西湖区人民法院"
CASE_NUMBER = "（2025）浙0106刑初88号"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _leian(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def issue_tokens(env: dict[str, str], n: int) -> list[str]:
    """One judge; ``n`` tokens of theirs (the last line ``leian`` prints is the token)."""
    tokens = [_leian(env, "user", "add", "性能测试法官", "--role", "承办法官", "--court", COURT)]
    tokens += [_leian(env, "token", "issue", "--user", "性能测试法官") for _ in range(n - 1)]
    return tokens


@contextlib.contextmanager
def running_service(index_home: Path, data_dir: Path, clients: int) -> Iterator[tuple[str, list[str], int]]:
    """(base URL, tokens, server pid) of a fresh service over ``index_home``; stopped afterwards."""
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    env = os.environ | {
        "LEIAN_INDEX": str(index_home),
        "LEIAN_DATA": str(data_dir),
        "LEIAN_RATE_LIMIT": "off",
        "HF_HUB_OFFLINE": "1",
    }
    tokens = issue_tokens(env, clients)
    port = _free_port()
    log = (data_dir / "uvicorn.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:app", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600  # start-up verifies every index file's checksum
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"service did not become ready; see {data_dir / 'uvicorn.log'}")
            time.sleep(0.5)
        yield base, tokens, server.pid
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM of a live process: its peak resident memory so far."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


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
