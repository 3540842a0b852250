"""Several worker processes over one data folder: one signing key, one runner per report batch.

The audit chain under two real workers is checked by ``test_load.py``; these are the start-up and
background parts that each worker runs for itself.
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import threading
import time
from pathlib import Path

import pytest
import uvicorn
import uvicorn.supervisors

from api.cli import main as cli
from api.http.workers import tcp_listener, worker_environment
from api.service.config import Settings
from api.service.report_batch.service import BatchService
from api.service.report_batch.state import BatchFolder
from api.service.runtime import _load_key
from retrieval.audit.signing import key_id, load_public_key
from tests.api_env import serve

TRIGGER = "缺乏明确或统一裁判规则"


def test_workers_starting_together_share_one_new_signing_key(tmp_path: Path) -> None:
    settings = Settings(index_home=None, data_dir=tmp_path)
    start = threading.Barrier(8)
    keys: list[object] = []

    def worker() -> None:
        start.wait()
        keys.append(_load_key(settings))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(keys) == 8 and None not in keys
    assert len({key_id(k) for k in keys}) == 1  # type: ignore[arg-type]
    path = settings.signing_key_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    public = load_public_key(path.with_name(path.name + ".pub"))
    assert public.public_bytes_raw() == keys[0].public_key().public_bytes_raw()  # type: ignore[attr-defined]
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, path.name + ".pub"]  # no staging left


def test_workers_read_the_settings_the_command_line_chose(tmp_path: Path) -> None:
    chosen = Settings(
        index_home=tmp_path / "index",
        data_dir=tmp_path / "data",
        signing_key=tmp_path / "keys" / "k.pem",
        verify_index_checksums=False,
    )
    seen = Settings.from_env(worker_environment(chosen))
    assert (seen.index_home, seen.data_dir, seen.signing_key_path, seen.verify_index_checksums) == (
        chosen.index_home,
        chosen.data_dir,
        chosen.signing_key_path,
        False,
    )


def _settled(service: BatchService, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while service._running is not None or service._queued or not service._queue.empty():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.1)  # the worker thread took the item: let it finish with it


def test_a_batch_another_worker_runs_is_running_for_this_one_and_not_failed(
    sample_index: Path, tmp_path: Path
) -> None:
    with serve(sample_index, tmp_path, rate_limit=None) as env:
        env.app.state.report_batches.close()
        facts = "被告人趁夜入户，窃取现金人民币五千元。"
        cases = [{"case_number": f"（2025）浙0106刑初{i}号", "facts": facts} for i in (1, 2)]
        submitted = env.client.post(
            "/api/v1/reports/batches", json={"cases": cases, "trigger": TRIGGER}, headers=env.h("judge_a")
        )
        batch_id = submitted.json()["batch_id"]
        folder = BatchFolder(env.settings.data_dir / "report-batches" / batch_id)
        service = BatchService(env.app.state.services)  # this worker, starting while another runs it
        env.app.state.report_batches = service
        try:
            with folder.lock():  # the other worker
                assert service.resume_unfinished() == [batch_id]
                _settled(service)
                status = env.client.get(
                    f"/api/v1/reports/batches/{batch_id}", headers=env.h("judge_a")
                ).json()
                assert (status["status"], status["failure"], status["done"]) == ("running", None, 0)
            status = env.client.get(f"/api/v1/reports/batches/{batch_id}", headers=env.h("judge_a")).json()
            assert (status["status"], status["failure"]) == ("interrupted", None)  # resumable, not failed
            assert env.records("judge_a", kind="search") == []  # this worker searched nothing
        finally:
            service.close()


def test_serve_with_workers_runs_uvicorn_workers_on_a_tcp_listener_with_the_checked_settings(
    sample_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[int, int, int]] = []

    class Supervisor:
        def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
            assert (config.app, config.workers) == ("api.app:app", 2)
            self.sockets = sockets

        def run(self) -> None:
            (sock,) = self.sockets
            started.append((sock.proto, sock.getsockname()[1], int(sock.get_inheritable())))

    monkeypatch.setattr(uvicorn.supervisors, "Multiprocess", Supervisor)
    monkeypatch.setattr(os, "environ", dict(os.environ))
    data = tmp_path / "data"
    argv = ["serve", "--index", str(sample_index), "--data", str(data), "--workers", "2", "--port", "0"]
    assert cli.main(argv) == 0
    assert len(started) == 1 and started[0][0] == socket.IPPROTO_TCP and started[0][1] > 0 and started[0][2]
    seen = Settings.from_env()
    assert (seen.index_home, seen.data_dir) == (sample_index, data)
    assert seen.verify_index_checksums is False  # checked once, before the workers start
    with pytest.raises(SystemExit) as refused:
        cli.main(["serve", "--index", str(sample_index), "--workers", "0"])
    assert refused.value.code == 2


def _accepted_nodelay(listener: socket.socket) -> int:
    """TCP_NODELAY of a connection asyncio accepts on ``listener`` (what uvicorn's workers do)."""

    async def main() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
            value = await asyncio.wait_for(accepted, 10)
            writer.close()
            return value

    return asyncio.run(main())


def test_connections_to_the_workers_listener_send_without_waiting_for_acks() -> None:
    """asyncio sets TCP_NODELAY only on connections accepted from a socket made as IPPROTO_TCP;
    uvicorn's own --workers socket (protocol 0) leaves Nagle on: 40 ms per keep-alive answer."""
    assert _accepted_nodelay(tcp_listener("127.0.0.1", 0)) != 0
    plain = socket.socket(socket.AF_INET)  # as uvicorn's Config.bind_socket makes it
    plain.bind(("127.0.0.1", 0))
    assert _accepted_nodelay(plain) == 0
