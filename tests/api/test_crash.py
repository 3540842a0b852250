"""Crash safety: the server SIGKILLed mid-load and restarted on the same data, and a damaged index refused.

Killed twice in the middle of a load run (8 clients, requests in flight), restarted each time on
the same data folder: the log passes SQLite's integrity check and the independent verifier, every
answer that reached a client names its record with the same leaf hash, no search has two records,
the ledger holds no search the log lacks, and the service goes on extending the same log. (A build
killed mid-way is tests/index_build/test_build.py::test_killed_build_leaves_the_published_index_serving.)
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.cli.main import main as leian
from api.http.app import create_app
from retrieval import index_layout as layout
from tests.api_env import create_accounts, settings_for
from tests.load_env import load

KILLS = 2
ANSWERS_BEFORE_KILL = 40


def _run_until_killed(server: Any, deployment: Any) -> list[Any]:
    """Load in a thread; SIGKILL the server once enough answers came back, with requests in flight."""
    run = load.LoadRun(server.url, deployment.clients, seconds=120.0)
    thread = threading.Thread(target=run.run)
    thread.start()
    deadline = time.monotonic() + 90
    while len(run.answered()) < ANSWERS_BEFORE_KILL and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.05)
    server.kill()
    time.sleep(0.3)  # let every client see the connection go
    run.stop.set()
    thread.join(timeout=150)
    assert not thread.is_alive()
    return run.outcomes


@pytest.fixture(scope="module")
def crashed(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("crash")
    deployment = load.provision(sample_index, root, 8)
    server = load.Server(deployment, root / "server.log")
    outcomes: list[Any] = []
    try:
        server.start()
        for _ in range(KILLS):
            outcomes += _run_until_killed(server, deployment)
            server.start()  # a new process on the same data folder
        yield {"deployment": deployment, "server": server, "outcomes": outcomes, "root": root}
    finally:
        server.stop()


@pytest.mark.slow
def test_the_kills_came_with_requests_in_flight(crashed: dict[str, Any]) -> None:
    outcomes = crashed["outcomes"]
    answered = [o for o in outcomes if o.status == 200]
    cut = [o for o in outcomes if o.status is None and "ConnectError" not in (o.error or "")]
    assert len(answered) >= KILLS * ANSWERS_BEFORE_KILL
    assert len(cut) >= KILLS, "no request was cut off by the kill: it did not happen mid-run"
    assert not [o for o in outcomes if o.status is not None and o.status != 200]


@pytest.mark.slow
def test_the_restarted_log_is_whole_and_backs_every_answer(crashed: dict[str, Any]) -> None:
    deployment, server = crashed["deployment"], crashed["server"]
    conn = sqlite3.connect(f"file:{deployment.data_dir / 'audit.sqlite'}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    audit = load.check_audit(
        deployment, server.url, crashed["outcomes"], crashed["root"] / "export", crashed=True
    )
    assert audit.failures == []
    assert audit.verified
    assert audit.receipts == len([o for o in crashed["outcomes"] if o.status == 200 and o.receipt])


@pytest.mark.slow
def test_the_service_goes_on_extending_the_same_log(crashed: dict[str, Any]) -> None:
    deployment, server = crashed["deployment"], crashed["server"]
    before = max(o.receipt[0] for o in crashed["outcomes"] if o.receipt)
    run = load.LoadRun(server.url, deployment.clients, seconds=2.0)
    run.run()
    assert load.request_problems(run.outcomes) == []
    assert min(o.receipt[0] for o in run.outcomes if o.receipt) > before
    everything = crashed["outcomes"] + run.outcomes  # exports are counted over all runs on the data
    audit = load.check_audit(
        deployment, server.url, everything, crashed["root"] / "export-after", crashed=True
    )
    assert audit.failures == [] and audit.verified
    assert load.server_problems(server.log_text()) == []


# -- a damaged index is refused at start-up -------------------------------------------------------


def _damaged(sample_index: Path, folder: Path, damage: str) -> Path:
    home = folder / "index"
    shutil.copytree(sample_index, home, symlinks=True)
    build = layout.resolve_current(home)
    for path in build.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    if damage == "corrupt":
        data = bytearray((build / layout.VECTORS).read_bytes())
        data[len(data) // 2] ^= 0xFF  # same size: only the checksum can tell
        (build / layout.VECTORS).write_bytes(bytes(data))
    elif damage == "truncated":
        with open(build / layout.METADATA, "r+b") as fp:
            fp.truncate(fp.seek(0, 2) // 2)
    else:
        shutil.rmtree(build / layout.BM25_FULL)
    return home


REASONS = {
    "corrupt": f"{layout.VECTORS} does not match its checksum (corrupt)",
    "truncated": f"{layout.METADATA} has",
    "missing": f"{layout.BM25_FULL}/",
}


@pytest.mark.parametrize("damage", sorted(REASONS))
def test_leian_serve_refuses_a_damaged_index(
    damage: str,
    sample_index: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import uvicorn

    def never(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the server started on a damaged index")

    monkeypatch.setattr(uvicorn, "run", never)
    home = _damaged(sample_index, tmp_path, damage)
    code = leian(["serve", "--index", str(home), "--data", str(tmp_path / "data"), "--port", "9"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"refusing to serve {home}" in err and REASONS[damage] in err


@pytest.mark.parametrize("damage", sorted(REASONS))
def test_an_app_on_a_damaged_index_is_never_ready_and_serves_nothing(
    damage: str, sample_index: Path, tmp_path: Path
) -> None:
    home = _damaged(sample_index, tmp_path, damage)
    settings = settings_for(home, tmp_path).with_overrides(verify_index_checksums=True)
    token = create_accounts(settings).valid["judge_a"]
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        checks = ready.json()["error"]["checks"]
        assert checks["index"]["ok"] is False and REASONS[damage] in checks["index"]["error"]
        assert checks["audit"]["ok"] and checks["accounts"]["ok"] and checks["signing_key"]["ok"]
        assert str(tmp_path) not in ready.text  # the operator's paths stay in the log
        search = client.post(
            "/api/v1/searches",
            json={"case_number": "（2026）浙0106刑初1号", "trigger": "其他", "facts": "被告人盗窃手机一部"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert search.status_code == 503 and search.json()["error"]["code"] == "index_unavailable"


@pytest.mark.slow
def test_a_server_started_on_a_damaged_index_says_why(sample_index: Path, tmp_path: Path) -> None:
    """The same through uvicorn: the bench's Server gives up at once with /readyz's reason."""
    home = _damaged(sample_index, tmp_path, "corrupt")
    deployment = load.provision(home, tmp_path, 1)
    server = load.Server(deployment, tmp_path / "server.log", LEIAN_VERIFY_INDEX_CHECKSUMS="true")
    with pytest.raises(RuntimeError, match="refused the index") as refused:
        server.start()
    assert REASONS["corrupt"] in str(refused.value)
    assert server.process is not None and server.process.poll() is not None
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/healthz", timeout=2.0)
