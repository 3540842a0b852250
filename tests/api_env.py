"""A served app for the API tests: the sample index, a fresh data folder, users of every role in two courts.

Shared by the API, access-control, hostile-input and schema tests, so that they all speak about the
same accounts (and the signing key always lives outside the data folder, as in production).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import anyio
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.http.app import create_app
from api.service.accounts import AccountStore, Role
from api.service.config import Settings
from retrieval.audit.records import Actor, TypedRecord
from retrieval.audit.signing import generate_key
from retrieval.audit.store import AuditLog

REPO = Path(__file__).resolve().parents[1]
COURT_A = "浙江省杭州市西湖区人民法院"
COURT_B = "江苏省苏州市姑苏区人民法院"
PENDING = json.loads(
    (REPO / "corpus_samples" / "pending" / "pending_cases.jsonl").read_text("utf-8").splitlines()[0]
)
THEFT_FACTS = PENDING["facts"]
USERS = {
    "judge_a": (Role.JUDGE, COURT_A),
    "judge_a2": (Role.JUDGE, COURT_A),
    "assistant_a": (Role.ASSISTANT, COURT_A),
    "president_a": (Role.PRESIDENT, COURT_A),
    "auditor_a": (Role.AUDITOR, COURT_A),
    "judge_b": (Role.JUDGE, COURT_B),
    "assistant_b": (Role.ASSISTANT, COURT_B),
    "president_b": (Role.PRESIDENT, COURT_B),
    "auditor_b": (Role.AUDITOR, COURT_B),
    "admin": (Role.ADMIN, None),
}


class RecordingClient(TestClient):
    """Keeps every response, so that a test can check that none ever carried the key's path."""

    seen: list[httpx.Response]

    def request(self, *args: Any, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        response = super().request(*args, **kwargs)
        self.seen.append(response)
        return response


@dataclass(frozen=True)
class Tokens:
    valid: dict[str, str]  # user name → token
    revoked: str  # judge_a's, revoked
    expired: str  # judge_a's, expired a second ago


@dataclass
class Env:
    client: RecordingClient
    settings: Settings
    key_path: Path
    tokens: dict[str, str]
    revoked: str
    expired: str
    index_home: Path
    app: FastAPI

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def search(self, who: str, **body: Any) -> httpx.Response:
        payload = {
            "case_number": PENDING["case_number"],
            "trigger": "缺乏明确或统一裁判规则",
            "facts": THEFT_FACTS,
        }
        payload.update(body)
        return self.client.post("/api/v1/searches", json=payload, headers=self.h(who))

    def records(self, who: str, **params: Any) -> list[dict[str, Any]]:
        response = self.client.get(
            "/api/v1/audit/records", params={"limit": 1000, **params}, headers=self.h(who)
        )
        assert response.status_code == 200, response.text
        return response.json()["records"]


def raw_request(
    env: Env, method: str, raw_path: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw_path`` to the app as a server would pass it, dot segments and all.

    HTTP clients (httpx included) remove ``../`` from URLs before sending; a hostile client does not.
    """
    path, _, query = raw_path.partition(b"?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(path.decode("latin-1")),
        "raw_path": path,
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"testserver"), *(headers or [])],
        "client": ("testclient", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent: list[dict[str, Any]] = []
    requested = False

    async def call() -> None:
        done = anyio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()  # the client stays connected until the whole answer is sent
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                done.set()

        await env.app(scope, receive, send)

    assert env.client.portal is not None
    env.client.portal.call(call)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return (
        start["status"],
        {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start["headers"]},
        body,
    )


def settings_for(index_home: Path, root: Path, **overrides: Any) -> Settings:
    """Settings over ``root/data`` with a fresh signing key in ``root/keys`` (outside the data folder)."""
    key_path = root / "keys" / "checkpoint-signing.pem"
    key_path.parent.mkdir(parents=True, exist_ok=True)
    generate_key(key_path)
    return Settings(
        index_home=index_home,
        data_dir=root / "data",
        signing_key=key_path,
        create_signing_key=False,
        verify_index_checksums=False,  # the build tests check checksums; here start-up speed matters
        **overrides,
    )


def create_accounts(settings: Settings) -> Tokens:
    """Every user of ``USERS`` with a token, plus a revoked and an expired token of judge_a."""
    valid: dict[str, str] = {}
    accounts = AccountStore(settings.accounts_location)
    with AuditLog(settings.audit_location) as log:

        def record(entry: TypedRecord) -> object:
            return log.record(Actor("test-operator", "operator"), "cli", entry)

        for name, (role, court) in USERS.items():
            accounts.create_user(name, role, court, record)
            valid[name] = accounts.issue_token(name, None, record)[1]
        revoked_info, revoked = accounts.issue_token("judge_a", None, record)
        accounts.revoke_token(revoked_info.token_id, record)
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        expired = accounts.issue_token("judge_a", past, record)[1]
    accounts.close()
    return Tokens(valid, revoked, expired)


@contextlib.contextmanager
def serve(index_home: Path, root: Path, *, tokens: Tokens | None = None, **overrides: Any) -> Iterator[Env]:
    """The app started (lifespan run) with the accounts of ``create_accounts``, or with ``tokens``
    of accounts already made (a second node on the same PostgreSQL database)."""
    settings = settings_for(index_home, root, **overrides)
    tokens = tokens or create_accounts(settings)
    app = create_app(settings)
    client = RecordingClient(app)
    client.seen = []
    assert settings.signing_key is not None
    with client:
        yield Env(
            client,
            settings,
            settings.signing_key,
            tokens.valid,
            tokens.revoked,
            tokens.expired,
            index_home,
            app,
        )


# The search, report and audit tests run on both backends: "embedded" (the build's FAISS and bm25s
# files, SQLite for the rest) and "cluster" (the same build loaded into a Milvus Lite file the test
# starts and, with COPY, into a fresh PostgreSQL database that then publishes it: the node reads
# documents and metadata from PostgreSQL, and keeps its audit log, accounts and ledger there too).
# The cluster runs are slow-marked: Milvus Lite starts a server process per module.
BACKENDS = ["embedded", pytest.param("cluster", marks=pytest.mark.slow)]


@contextlib.contextmanager
def backend_overrides(backend: str, index_home: Path, root: Path) -> Iterator[dict[str, Any]]:
    """Settings overrides serving ``index_home`` on ``backend`` (loading it into Milvus and PostgreSQL
    for cluster, the database dropped on the way out)."""
    if backend == "embedded":
        yield {}
        return
    from tests.audit_stores import postgres_problem, temp_database

    if (problem := postgres_problem()) is not None:
        pytest.fail(problem)
    uri = str(root / "milvus.db")
    with temp_database() as database_url:
        load_cluster(index_home, uri, database_url)
        yield {"backend": "cluster", "milvus_uri": uri, "database_url": database_url}


def load_cluster(index_home: Path, milvus_uri: str, database_url: str) -> None:
    """``leian cluster export`` of ``index_home``: vectors and keyword weights into Milvus, documents and
    metadata into PostgreSQL, which then publishes the build."""
    from api.service.cluster import milvus_client
    from index_build.cluster_export import export_cluster
    from retrieval.index_store import IndexStore

    client = milvus_client(milvus_uri)
    store = IndexStore.open(index_home, verify_checksums=False)
    try:
        export_cluster(store, client, database_url)
    finally:
        store.close()
        client.close()
