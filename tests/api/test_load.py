"""The short load run of ``bench/load.py``: 8 clients × 5 s against a real uvicorn server, nothing lost.

The long run (32 clients × 60 s) is ``python bench/load.py``; its figures are in bench/README.md.
The same run against two worker processes checks that they append to one audit chain.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.load_env import load

pytestmark = pytest.mark.slow  # load runs against real uvicorn servers


@pytest.fixture(scope="module")
def loaded(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("load")
    deployment = load.provision(sample_index, root, 8)
    with load.Server(deployment, root / "server.log") as server:
        run = load.LoadRun(server.url, deployment.clients, 5.0)
        run.run()
        audit = load.check_audit(deployment, server.url, run.outcomes, root / "export")
        yield {"deployment": deployment, "server": server, "run": run, "audit": audit, "root": root}


def test_every_request_is_answered_and_none_is_a_5xx(loaded: dict[str, Any]) -> None:
    run = loaded["run"]
    figures = load.figures(run)
    assert load.request_problems(run.outcomes) == []
    assert figures["5xx"] == 0 and figures["statuses"] == {"200": len(run.outcomes)}
    assert set(figures["operations"]) == {*load.JUDGE_MIX, *load.AUDITOR_MIX}  # the whole mix ran
    assert figures["searches_per_s"] > 1
    for op in figures["operations"].values():
        assert op["p50_ms"] <= op["p95_ms"] <= op["p99_ms"] <= op["max_ms"]


def test_every_answered_search_and_mark_has_its_record_and_the_log_verifies(loaded: dict[str, Any]) -> None:
    run, audit = loaded["run"], loaded["audit"]
    assert audit.failures == []
    assert audit.verified and audit.tree_size > len(run.outcomes) // 2
    assert audit.receipts == len(run.answered(load.SEARCH_OPS | {"mark"})) > 20


def test_the_check_catches_answers_the_log_does_not_back(loaded: dict[str, Any]) -> None:
    """The checker itself: a wrong leaf, an answer without a record, a refusal recorded, exports unaccounted."""
    run, server = loaded["run"], loaded["server"]
    searches = run.answered(frozenset({"search"}))
    forged = dataclasses.replace(searches[0], receipt=(searches[0].receipt[0], "0" * 64))
    unrecorded = dataclasses.replace(searches[1], case_number="（2026）浙0106刑初1号", receipt=None)
    refused = dataclasses.replace(searches[2], status=503, receipt=None)
    audit = load.check_audit(
        loaded["deployment"], server.url, [forged, unrecorded, refused], loaded["root"] / "export2"
    )
    assert audit.verified
    assert len(audit.failures) == 4
    assert audit.failures[3].endswith("export records for 0 answered of 0 exports")  # the run's exports
    assert audit.failures[:3] == [
        f"record {forged.receipt[0]}: the client got leaf hash {'0' * 64}, the log has {searches[0].receipt[1]}",
        "the answered search （2026）浙0106刑初1号 has 0 audit records, not exactly one",
        f"the search {refused.case_number} was refused (503) but recorded",
    ]


def test_the_server_logged_no_traceback(loaded: dict[str, Any]) -> None:
    assert load.server_problems(loaded["server"].log_text()) == []
    assert load.server_problems("Traceback (most recent call last):\n  File x\nKeyError: 'y'\n") == [
        "the server logged a traceback: KeyError: 'y'"
    ]


def _workers(supervisor: int) -> list[int]:
    """The worker processes of ``leian serve --workers`` (uvicorn's, spawned by multiprocessing)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == supervisor and b"spawn_main" in command:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture(scope="module")
def two_workers(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("load-workers")
    deployment = load.provision(sample_index, root, 8)
    with load.Server(deployment, root / "server.log", workers=2) as server:
        assert server.process is not None
        deadline = time.monotonic() + 120
        while len(workers := _workers(server.process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        run = load.LoadRun(server.url, deployment.clients, 5.0)
        run.run()
        audit = load.check_audit(deployment, server.url, run.outcomes, root / "export")
        yield {"workers": workers, "server": server, "run": run, "audit": audit}


def test_two_worker_processes_append_to_one_chain_that_verifies(two_workers: dict[str, Any]) -> None:
    run, audit = two_workers["run"], two_workers["audit"]
    assert len(two_workers["workers"]) == 2
    assert load.request_problems(run.outcomes) == []
    assert load.figures(run)["5xx"] == 0
    assert audit.failures == [] and audit.verified
    receipts = [o.receipt for o in run.answered(load.SEARCH_OPS | {"mark"})]
    assert audit.receipts == len(receipts) > 20
    assert len({seq for seq, _ in receipts}) == len(receipts)  # no two answers share a record
    assert load.server_problems(two_workers["server"].log_text()) == []
