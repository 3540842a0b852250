"""A node whose PostgreSQL database (LEIAN_DATABASE_URL) does not answer at start-up starts not ready,
serves nothing, and turns ready by itself once the database answers (api.service.shared_database).

The database is reached through a TCP proxy on a fixed port: nothing listens there at first
(connection refused), then the proxy forwards it to the real server.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from api.cli.service import _database_down
from api.http.app import create_app
from api.service.config import Settings
from api.service.push.store import PUSH_DB, PushStore
from api.service.shared_database import redacted, scrubbed
from retrieval.audit.store import AuditLog
from tests.api_env import (
    PENDING,
    REPO,
    THEFT_FACTS,
    Env,
    create_accounts,
    load_cluster,
    serve,
    settings_for,
)
from tests.audit_stores import PostgresBackdoor, admin_execute
from tests.tcp_proxy import TcpProxy, free_port

# nodes started on an unreachable database and waited on until it answers: the whole suite, not the fast loop
pytestmark = pytest.mark.slow

PASSWORD = "s3cret-not-for-responses"  # trust authentication ignores it; no answer may carry it


def _via(url: str, port: int) -> str:
    """``url`` with a password, at 127.0.0.1:``port``."""
    parts = urlsplit(url)
    user = parts.netloc.rsplit("@", 1)[0] if "@" in parts.netloc else "postgres"
    return urlunsplit((parts.scheme, f"{user}:{PASSWORD}@127.0.0.1:{port}", parts.path, "", ""))


def _upstream(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 5432


def _ready_within(env: Env, seconds: float) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        answer = env.client.get("/readyz")
        if answer.status_code == 200 or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def _assert_no_secret(env: Env) -> None:
    for response in env.client.seen:
        assert PASSWORD not in response.text


def test_a_node_starts_not_ready_serves_nothing_and_turns_ready_when_the_database_answers(
    sample_index: Path, tmp_path: Path, pg_database: str
) -> None:
    tokens = create_accounts(settings_for(sample_index, tmp_path / "setup", database_url=pg_database))
    port = free_port()
    url = _via(pg_database, port)
    with serve(sample_index, tmp_path / "node", tokens=tokens, database_url=url) as env:
        assert env.client.get("/healthz").status_code == 200  # alive
        ready = env.client.get("/readyz")
        assert ready.status_code == 503
        error = ready.json()["error"]
        database = error["checks"]["database"]
        assert not database["ok"] and database["database"] == redacted(url)
        assert "refused" in database["error"].lower()
        assert redacted(url) in error["message_zh"] and "数据库" in error["message_zh"]
        assert redacted(url) in error["message_en"]
        assert int(ready.headers["Retry-After"]) >= 1
        assert not error["checks"]["audit"]["ok"] and not error["checks"]["accounts"]["ok"]
        # no search, no token check, no audit read while the database does not answer
        refused = env.search("judge_a")
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "database_unavailable"
        assert "Retry-After" in refused.headers
        for path in ("/api/v1/me", "/api/v1/audit/records"):
            answer = env.client.get(path, headers=env.h("auditor_a"))
            assert answer.status_code == 503 and answer.json()["error"]["code"] == "database_unavailable"
        with TcpProxy(port, _upstream(pg_database)) as proxy:
            ready = _ready_within(env, 30)
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["database"] == {
                "ok": True,
                "store": "postgresql",
                "database": redacted(url),
            }
            assert proxy.accepted >= 1  # it connected through the proxy, not some other way
            answer = env.search("judge_a")
            assert answer.status_code == 200, answer.text
            seq = answer.json()["audit"]["seq"]
            # the push store is opened in the database once it answers: a pending case lands there
            case = {"case_number": "（2025）浙0106刑初88号", "facts": THEFT_FACTS, "causes": ["盗窃罪"]}
            created = env.client.post("/api/v1/pending-cases", json=case, headers=env.h("judge_a"))
            assert created.status_code == 201, created.text
            pending_seq = created.json()["search"]["search_id"]
        _assert_no_secret(env)
    with AuditLog(pg_database) as log:
        searches = [r.seq for r in log.iter_kinds(("search",))]
    assert searches == [seq, pending_seq]  # the ones answered, nothing from the time it was not ready
    shared = PushStore(pg_database)
    try:
        assert [c.case_number for c in shared.cases()] == [case["case_number"]]
    finally:
        shared.close()
    assert not (tmp_path / "node" / "data" / PUSH_DB).exists()


def test_a_node_that_connects_late_refuses_accounts_its_log_does_not_rebuild(
    sample_index: Path, tmp_path: Path, pg_database: str
) -> None:
    """What ``leian serve`` checks before starting a node whose database answers, a node that
    started without it checks on connecting: an account edited behind the log is never served."""
    tokens = create_accounts(settings_for(sample_index, tmp_path / "setup", database_url=pg_database))
    admin_execute(
        sql.SQL("UPDATE users SET role = 'admin', court = NULL WHERE name = 'judge_a'"), pg_database
    )
    port = free_port()
    with serve(sample_index, tmp_path / "node", tokens=tokens, database_url=_via(pg_database, port)) as env:
        assert env.client.get("/readyz").status_code == 503
        with TcpProxy(port, _upstream(pg_database)):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                database = env.client.get("/readyz").json()["error"]["checks"]["database"]
                if database["error"].startswith("refused"):
                    break
                time.sleep(0.2)
            assert database["error"].startswith("refused: its accounts differ"), database
            assert "retry_in_s" not in database  # for good: no more attempts
            answer = env.search("judge_a")
            assert answer.status_code == 503 and answer.json()["error"]["code"] == "database_refused"
        _assert_no_secret(env)


def test_leian_serve_warns_and_goes_on_when_the_database_does_not_answer(tmp_path: Path) -> None:
    url = f"postgresql://leian:{PASSWORD}@127.0.0.1:{free_port()}/leian"
    warning = _database_down(Settings(index_home=None, data_dir=tmp_path, database_url=url))
    assert warning is not None and "starting not ready" in warning
    assert redacted(url) in warning and PASSWORD not in warning
    assert _database_down(Settings(index_home=None, data_dir=tmp_path)) is None  # SQLite: unchanged


def test_driver_messages_lose_the_password() -> None:
    url = f"postgresql://leian:{PASSWORD}@db.example:5432/leian"
    message = f"{url}: cannot open the audit log: password {PASSWORD} rejected"
    cleaned = scrubbed(message, url)
    assert PASSWORD not in cleaned and "postgresql://leian@db.example:5432/leian" in cleaned


@pytest.mark.slow  # a real `leian serve` process over the sample index
def test_leian_serve_process_starts_not_ready_and_turns_ready(
    sample_index: Path, tmp_path: Path, pg_database: str
) -> None:
    settings = settings_for(sample_index, tmp_path / "setup", database_url=pg_database)
    tokens = create_accounts(settings)
    port, http = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "LEIAN_DATABASE_URL": _via(pg_database, port),
        "LEIAN_DATA": str(tmp_path / "node"),
        "LEIAN_SIGNING_KEY": str(settings.signing_key),
        "LEIAN_INDEX": str(sample_index),
        "LEIAN_VERIFY_INDEX_CHECKSUMS": "false",
    }
    command = [sys.executable, "-m", "api.cli.main", "serve", "--port", str(http), "--log-level", "warning"]
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{http}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text("utf-8")  # it did not exit
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, log.read_text("utf-8")
            time.sleep(0.3)
        assert "starting not ready" in log.read_text("utf-8")
        assert httpx.get(base + "/readyz", timeout=5).status_code == 503
        headers = {"Authorization": f"Bearer {tokens.valid['judge_a']}"}
        body = {
            "case_number": "（2026）浙0106刑初1号",
            "trigger": "缺乏明确或统一裁判规则",
            "facts": THEFT_FACTS,
        }
        refused = httpx.post(base + "/api/v1/searches", json=body, headers=headers, timeout=30)
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "database_unavailable"
        with TcpProxy(port, _upstream(pg_database)):
            deadline = time.monotonic() + 60
            while httpx.get(base + "/readyz", timeout=5).status_code != 200:
                assert time.monotonic() < deadline, log.read_text("utf-8")
                time.sleep(0.3)
            answered = httpx.post(base + "/api/v1/searches", json=body, headers=headers, timeout=60)
            assert answered.status_code == 200, answered.text
        assert PASSWORD not in log.read_text("utf-8")
    finally:
        process.terminate()
        process.wait(timeout=30)
    with AuditLog(pg_database) as audit:
        assert [r.seq for r in audit.iter_kinds(("search",))] == [answered.json()["audit"]["seq"]]


def test_a_log_found_tampered_on_connecting_late_is_refused_as_at_start(
    sample_index: Path, tmp_path: Path, pg_database: str
) -> None:
    """A node that connects late finds an edited log exactly as one that connected at once would:
    flagged tampered, audited routes 503 ``audit_tampered``, /readyz 503 (not a database error)."""
    settings = settings_for(sample_index, tmp_path / "node", database_url=pg_database)
    tokens = create_accounts(settings)
    judge = {"Authorization": f"Bearer {tokens.valid['judge_a']}"}
    body = {"case_number": PENDING["case_number"], "trigger": "缺乏明确或统一裁判规则", "facts": THEFT_FACTS}
    with TestClient(create_app(settings)) as client:  # the node's witness now holds the head
        assert client.post("/api/v1/searches", json=body, headers=judge).status_code == 200
    with psycopg.connect(pg_database, autocommit=True) as conn:
        PostgresBackdoor(conn).update(0, leaf=bytes(32))
    answers = {}
    for late in (False, True):
        port = free_port()
        url = _via(pg_database, port) if late else pg_database
        with (
            TestClient(create_app(replace(settings, database_url=url))) as client,
            contextlib.ExitStack() as up,
        ):
            if late:
                assert client.get("/readyz").json()["error"]["checks"]["database"]["ok"] is False
                up.enter_context(TcpProxy(port, _upstream(pg_database)))
                deadline = time.monotonic() + 30
                while not client.get("/readyz").json()["error"]["checks"]["database"]["ok"]:
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
            ready = client.get("/readyz")
            refused = client.post("/api/v1/searches", json=body, headers=judge)
            answers[late] = (
                ready.status_code,
                ready.json()["error"]["checks"]["audit"]["error"].startswith("tampered"),
                refused.status_code,
                refused.json()["error"]["code"],
            )
    assert answers[False] == answers[True] == (503, True, 503, "audit_tampered")


@pytest.mark.slow
def test_a_cluster_node_opens_its_index_when_the_database_with_its_metadata_answers(
    sample_index: Path, tmp_path: Path, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the cluster backend the documents and metadata live in the same database: a node started
    while it does not answer has no index either, and must open it when the database comes back
    (not only when the push watcher, off here, next looks for a new build)."""
    monkeypatch.setenv("LEIAN_PUSH_POLL_S", "0")
    milvus_uri = str(tmp_path / "milvus.db")
    load_cluster(sample_index, milvus_uri, pg_database)
    tokens = create_accounts(settings_for(sample_index, tmp_path / "setup", database_url=pg_database))
    port = free_port()
    url = _via(pg_database, port)
    cluster = {"backend": "cluster", "milvus_uri": milvus_uri, "database_url": url}
    with serve(sample_index, tmp_path / "node", tokens=tokens, **cluster) as env:
        ready = env.client.get("/readyz")
        assert ready.status_code == 503 and not ready.json()["error"]["checks"]["index"]["ok"]
        with TcpProxy(port, _upstream(pg_database)):
            ready = _ready_within(env, 30)
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["metadata"]["store"] == "postgresql"
            answer = env.search("judge_a")
            assert answer.status_code == 200, answer.text
            assert any(group["results"] for group in answer.json()["tiers"])  # documents read from PostgreSQL
        _assert_no_secret(env)
