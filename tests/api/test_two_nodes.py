"""Two API nodes on the cluster backend: separate ``uvicorn`` processes on their own ports, one Milvus
(a Milvus Lite server this test starts on a loopback port) and one audit log, accounts and ledger:
a SQLite data folder, then a PostgreSQL database (``LEIAN_DATABASE_URL``, nodes on any machine), which
also holds the documents and metadata and publishes the build.

What N stateless nodes behind a load balancer must guarantee: a search answered by one is in the
audit log the other serves, and a node SIGKILLed in the middle of a load run loses nothing that was
answered (every answer has its record with the same leaf hash, the chain verifies, the ledger holds
no search the log lacks), while the other node goes on serving. The nodes get their stores from the
settings alone, so both runs are the same test.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.cli.main import main as leian
from tests.load_env import load

pytestmark = pytest.mark.slow  # a Milvus Lite server and two uvicorn processes

ANSWERS_BEFORE_KILL = 30


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def nodes(
    request: pytest.FixtureRequest, sample_index: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    from tests.audit_stores import postgres_problem, temp_database

    root = tmp_path_factory.mktemp(f"two-nodes-{request.param}")
    with contextlib.ExitStack() as stack:
        database_url = None
        if request.param == "postgresql":
            if (problem := postgres_problem()) is not None:
                pytest.fail(problem)
            database_url = stack.enter_context(temp_database())
        yield from _two_nodes(sample_index, root, database_url)


def _two_nodes(sample_index: Path, root: Path, database_url: str | None) -> Iterator[dict[str, Any]]:
    deployment = load.provision(sample_index, root, 8, database_url)
    with load.MilvusLite(root / "milvus" / "leian.db") as milvus:
        # Loaded as an operator would, through the CLI, into the Milvus both nodes share (and, with a
        # database, its metadata into PostgreSQL, which then publishes the build to both nodes).
        database = ["--database-url", database_url] if database_url else []
        export = ["cluster", "export", "--index", str(sample_index), "--milvus-uri", milvus.uri, *database]
        assert leian(export) == 0
        env = {"LEIAN_BACKEND": "cluster", "LEIAN_MILVUS_URI": milvus.uri}
        a = load.Server(deployment, root / "node-a.log", **env)
        b = load.Server(deployment, root / "node-b.log", **env)
        try:
            a.start()
            b.start()
            yield {"deployment": deployment, "a": a, "b": b, "root": root, "milvus": milvus}
        finally:
            a.stop()
            b.stop()


def _judge_and_auditor(deployment: Any) -> tuple[Any, Any]:
    auditor = next(c for c in deployment.clients if c.role == "审判管理")
    judge = next(c for c in deployment.clients if c.role == "承办法官" and c.court == auditor.court)
    return judge, auditor


def _search(url: str, token: str, case_number: str) -> dict[str, Any]:
    body = {"case_number": case_number, "trigger": load.TRIGGERS[0], "facts": load.pending_facts()[0]}
    response = httpx.post(
        f"{url}/api/v1/searches", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=120
    )
    assert response.status_code == 200, response.text
    return response.json()


def _records(url: str, token: str) -> dict[int, dict[str, Any]]:
    response = httpx.get(
        f"{url}/api/v1/audit/records",
        params={"limit": 1000},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return {r["seq"]: r for r in response.json()["records"]}


def test_both_nodes_serve_the_cluster_backend_from_one_milvus(nodes: dict[str, Any]) -> None:
    for name in ("a", "b"):
        ready = httpx.get(f"{nodes[name].url}/readyz", timeout=30).json()
        recall = ready["checks"]["recall"]
        assert recall["ok"] and recall["backend"] == "cluster" and recall["rows"] > 20
        store = ready["checks"]["audit"]["store"]
        assert store == ("postgresql" if nodes["deployment"].database_url else "sqlite")
        assert ready["checks"]["metadata"]["store"] == store  # documents and metadata: the same store
    assert nodes["a"].port != nodes["b"].port


def test_a_search_on_one_node_is_in_the_log_the_other_serves(nodes: dict[str, Any]) -> None:
    judge, auditor = _judge_and_auditor(nodes["deployment"])
    for here, there, number in (
        ("a", "b", "（2026）苏0508刑初900001号"),
        ("b", "a", "（2026）苏0508刑初900002号"),
    ):
        answer = _search(nodes[here].url, judge.token, number)
        seq, leaf = int(answer["audit"]["seq"]), str(answer["audit"]["leaf_hash"])
        seen = _records(nodes[there].url, auditor.token)
        assert seq in seen, f"the search answered by node {here} is not in node {there}'s log"
        assert seen[seq]["kind"] == "search" and seen[seq]["leaf_hash"] == leaf
        assert seen[seq]["payload"]["case_number"] == number
        assert seen[seq]["payload"]["ann"]["factory"].startswith("milvus:")  # searched in Milvus


def test_a_node_killed_mid_load_loses_no_answered_search(nodes: dict[str, Any]) -> None:
    deployment, a, b = nodes["deployment"], nodes["a"], nodes["b"]
    run = load.LoadRun(a.url, deployment.clients, seconds=120.0, more_urls=(b.url,))
    thread = threading.Thread(target=run.run)
    thread.start()
    deadline = time.monotonic() + 90
    while (
        len([o for o in run.answered() if o.node == a.url]) < ANSWERS_BEFORE_KILL
        and time.monotonic() < deadline
        and thread.is_alive()
    ):
        time.sleep(0.05)
    a.kill()  # SIGKILL with requests in flight
    killed_at = len(run.outcomes)
    time.sleep(3.0)  # node b alone serves every client now
    run.stop.set()
    thread.join(timeout=150)
    assert not thread.is_alive()

    outcomes = run.outcomes
    answered_by = {url: [o for o in run.answered() if o.node == url] for url in (a.url, b.url)}
    assert len(answered_by[a.url]) >= ANSWERS_BEFORE_KILL and len(answered_by[b.url]) >= 10
    cut = [o for o in outcomes if o.status is None and o.node == a.url]
    assert cut, "no request was cut off by the kill"
    assert [o for o in outcomes[killed_at:] if o.status == 200 and o.node == b.url], "b stopped serving"
    assert not [o for o in outcomes if o.status is not None and o.status != 200]
    assert not [o for o in outcomes if o.status is None and o.node == b.url]

    audit = load.check_audit(deployment, b.url, outcomes, nodes["root"] / "export", crashed=True)
    assert audit.failures == []
    assert audit.verified
    assert audit.receipts == len(run.answered(load.SEARCH_OPS | {"mark"}))
    assert load.server_problems(b.log_text()) == []
