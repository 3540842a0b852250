"""Fail-closed under real store faults: full, read-only, locked → 503, nothing served unaudited, recovery.

tests/api/test_api.py covers a refusing ``append`` (monkeypatched) and a closed log. Here each fault is
a real one of the audit database the running service writes to, and is undone while the service
keeps running:

- full: a uvicorn server whose file-size limit (RLIMIT_FSIZE, set from outside with prlimit) is
  lowered to 0 after the write-ahead log was truncated, so every commit, which must grow that log,
  is refused by the kernel at the write(2), where a full disk refuses it too (EFBIG there, ENOSPC
  here; SQLite answers either with an error and rolls back). No small file system can be mounted
  in a test, and SQLite's ``max_page_count`` would still let small records into a page's free space.
- read-only: ``PRAGMA query_only`` on the writer's connection: SQLITE_READONLY on every write, as
  on a file system remounted read-only. chmod would not do: an open connection keeps its file
  descriptor read-write whatever the mode bits say later, and the tests may run as root.
- locked: another connection holds the write lock (``BEGIN EXCLUSIVE``), as a stuck maintenance
  script or an operator's ``sqlite3`` shell would. The writer's busy timeout (5 s in service) is
  shortened to 0.5 s here so that the test does not wait.
"""

from __future__ import annotations

import contextlib
import resource
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from retrieval.audit.verify import verify_export
from tests.api_env import Env, serve
from tests.load_env import load


@dataclass(frozen=True)
class Target:
    """A running service as the scenario drives it: in-process (TestClient) or a uvicorn server."""

    client: httpx.Client
    judge: dict[str, str]
    admin: dict[str, str]
    data_dir: Path


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _tree_size(target: Target) -> int:
    with contextlib.closing(_read_only(target.data_dir / "audit.sqlite")) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])


def _ledger_case_numbers(target: Target) -> set[str]:
    with contextlib.closing(_read_only(target.data_dir / "accounts.sqlite")) as conn:
        return {row[0] for row in conn.execute("SELECT case_number FROM searches")}


def _search(target: Target, case_number: str) -> httpx.Response:
    body = {"case_number": case_number, "trigger": "缺乏明确或统一裁判规则", "facts": load.pending_facts()[0]}
    return target.client.post("/api/v1/searches", json=body, headers=target.judge)


def _refused(response: httpx.Response) -> None:
    """503 audit_unavailable with the error alone: no results, no receipt, nothing to act on."""
    assert response.status_code == 503, response.text
    assert set(response.json()) == {"error"}
    assert response.json()["error"]["code"] == "audit_unavailable"
    assert "Retry-After" in response.headers


def fails_closed_and_recovers(
    target: Target, fault: Callable[[], contextlib.AbstractContextManager[None]], tag: str, folder: Path
) -> None:
    """Under ``fault`` nothing is answered and nothing recorded; after it, the same process serves again."""
    earlier = _search(target, f"（2026）浙0106刑初{tag}1号")
    assert earlier.status_code == 200, earlier.text
    search_id = earlier.json()["search_id"]
    doc = earlier.json()["tiers"][0]["results"][0]["doc_id"]
    mark = {"marks": [{"doc_id": doc, "label": "类案", "reason": "案情相近"}]}
    refused_number = f"（2026）浙0106刑初{tag}2号"
    size = _tree_size(target)

    with fault():
        ready = target.client.get("/readyz")
        assert ready.status_code == 503
        checks = ready.json()["error"]["checks"]
        assert checks["audit"]["ok"] is False
        assert checks["index"]["ok"] and checks["accounts"]["ok"] and checks["signing_key"]["ok"]
        search = _search(target, refused_number)
        _refused(search)
        assert doc not in search.text
        params = {"case_number": refused_number}
        _refused(target.client.get(f"/api/v1/cases/{doc}/similar", params=params, headers=target.judge))
        _refused(
            target.client.post(f"/api/v1/searches/{search_id}/decisions", json=mark, headers=target.judge)
        )
        _refused(target.client.get("/api/v1/audit/export", headers=target.admin))

    assert _tree_size(target) == size  # nothing recorded, so nothing may have been served
    assert refused_number not in _ledger_case_numbers(target)
    summary = target.client.get(f"/api/v1/searches/{search_id}", headers=target.judge)
    assert summary.json()["decisions"] == []

    assert target.client.get("/readyz").status_code == 200  # the store is back: no restart needed
    again = _search(target, refused_number)
    assert again.status_code == 200 and again.json()["audit"]["seq"] == size
    marked = target.client.post(f"/api/v1/searches/{search_id}/decisions", json=mark, headers=target.judge)
    assert marked.status_code == 200
    export = target.client.get("/api/v1/audit/export", headers=target.admin)
    checkpoint = target.client.get("/api/v1/audit/checkpoint", headers=target.admin)
    (folder / "audit.jsonl").write_bytes(export.content)
    (folder / "checkpoint.json").write_bytes(checkpoint.content)
    report = verify_export(folder / "audit.jsonl", folder / "checkpoint.json")
    assert report.ok, report.summary()
    numbers = [r["payload"].get("case_number") for _, r in load.read_export(folder / "audit.jsonl").values()]
    assert numbers.count(refused_number) == 1  # the search answered after the fault, once


# -- in process: read-only and locked -------------------------------------------------------------


@pytest.fixture(scope="module")
def env(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with serve(sample_index, tmp_path_factory.mktemp("fail-closed")) as served:
        yield served


def _in_process(env: Env) -> Target:
    return Target(env.client, env.h("judge_a"), env.h("admin"), env.settings.data_dir)


def _writer(env: Env) -> sqlite3.Connection:
    conn = env.app.state.services.audit.storage.conn  # the connection every audit record goes through
    assert conn is not None
    return conn


def test_a_read_only_store_fails_closed_and_recovers(env: Env, tmp_path: Path) -> None:
    @contextlib.contextmanager
    def read_only() -> Iterator[None]:
        _writer(env).execute("PRAGMA query_only = ON")
        try:
            yield
        finally:
            _writer(env).execute("PRAGMA query_only = OFF")

    fails_closed_and_recovers(_in_process(env), read_only, "ro", tmp_path)


@pytest.mark.slow
def test_a_locked_store_fails_closed_and_recovers(env: Env, tmp_path: Path) -> None:
    @contextlib.contextmanager
    def locked() -> Iterator[None]:
        writer = _writer(env)
        (timeout_ms,) = writer.execute("PRAGMA busy_timeout").fetchone()
        writer.execute("PRAGMA busy_timeout = 500")
        other = sqlite3.connect(env.settings.audit_db, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
            writer.execute(f"PRAGMA busy_timeout = {timeout_ms}")

    fails_closed_and_recovers(_in_process(env), locked, "lock", tmp_path)


# -- a uvicorn server whose disk is full ----------------------------------------------------------


@pytest.mark.slow
def test_a_full_disk_fails_closed_and_recovers(sample_index: Path, tmp_path: Path) -> None:
    deployment = load.provision(sample_index, tmp_path, 1)
    judge = {"Authorization": f"Bearer {deployment.clients[0].token}"}
    admin = {"Authorization": f"Bearer {deployment.admin_token}"}
    with (
        load.Server(deployment, tmp_path / "server.log") as server,
        httpx.Client(base_url=server.url, timeout=30.0) as client,
    ):
        assert server.process is not None
        pid = server.process.pid

        @contextlib.contextmanager
        def disk_full() -> Iterator[None]:
            with contextlib.closing(sqlite3.connect(deployment.data_dir / "audit.sqlite")) as conn:
                busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            assert busy == 0 and (deployment.data_dir / "audit.sqlite-wal").stat().st_size == 0
            soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (0, hard))
            try:
                yield
            finally:
                resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))

        fails_closed_and_recovers(
            Target(client, judge, admin, deployment.data_dir), disk_full, "full", tmp_path
        )
        assert server.process.poll() is None  # the server lived through it
