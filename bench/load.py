"""Load test: concurrent clients against a real uvicorn server, then every answer checked against the audit log.

    python bench/load.py [--clients 32] [--seconds 60] [--index HOME] [--workers N] [--out FILE]
    python bench/load.py --nodes 2 --milvus-lite build/m/leian.db --index HOME   # two API nodes, cluster backend

Starts ``uvicorn api.app:app`` on loopback in a subprocess (over the sample corpus, built into a
temporary folder, unless ``--index`` names a published index), gives every client its own account
and token (the rate limit is per token, and raised here: it is not what is measured), and runs a
closed loop of mixed requests. Judges search (POST /searches, and 案例关联 through
GET /cases/{id}/similar), view cases and their related cases, and mark results of their own
searches; every eighth client is its court's 审判管理 and exports the court's log (JSON Lines, CSV),
lists records and views cases.

Then an admin exports the whole log with its signed checkpoint and the independent verifier
(``retrieval.audit.verify``, what ``leian audit verify`` runs) checks it against the published
public key; the receipt of every answered search and mark (seq and leaf hash) must name its record;
every answered search must have exactly one record, and the ledger of searches no row the log lacks.

``--nodes N`` starts N separate ``uvicorn`` processes on their own ports over one data folder (what
N machines behind a load balancer share), and spreads the clients over them; a client whose node
stops answering moves to the next one, as a load balancer's health check would. ``--milvus-lite DB``
starts a Milvus Lite server on a loopback port (the one Milvus every node uses), loads the index
into it unless its build is already published there, and serves the cluster backend
(``LEIAN_BACKEND=cluster``); ``--milvus-uri`` uses a running Milvus instead.

Prints JSON: latency p50/p95/p99 per operation, throughput, status counts, what was checked. Exits 1
when anything failed: a 5xx, any other unexpected status, a request without an answer, a missing or
doubled record, a log that does not verify, a traceback in the server's output.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
if str(REPO / "bench") not in sys.path:
    sys.path.append(str(REPO / "bench"))  # for _common; appended, shadows nothing

from _common import SAMPLE_PENDING, build_sample_index, emit_json, free_port, nearest_rank  # noqa: E402

COURTS = ("浙江省杭州市西湖区人民法院", "江苏省苏州市姑苏区人民法院")
CASE_PREFIX = {COURTS[0]: "浙0106", COURTS[1]: "苏0508"}
AUDITOR_EVERY = 8
TRIGGERS = ("缺乏明确或统一裁判规则", "拟提交专业法官会议或审委会讨论", "院庭长要求", "人民法院案例库检索")
RATE_LIMIT = "1000000/min,burst=100000"
SEARCH_OPS = frozenset({"search", "similar"})
JUDGE_MIX = {"search": 45, "similar": 5, "case": 20, "related": 10, "mark": 20}
AUDITOR_MIX = {"export_jsonl": 20, "export_csv": 20, "records": 20, "case": 40}
REQUEST_TIMEOUT_S = 120.0
_RUN_TAGS = itertools.count(1000)


@dataclass(frozen=True)
class Client:
    name: str
    role: str
    court: str
    token: str


@dataclass(frozen=True)
class Deployment:
    """An index, a data folder with accounts, and a signing key outside it (as in production)."""

    index_home: Path
    data_dir: Path
    signing_key: Path
    clients: tuple[Client, ...]
    admin_token: str
    database_url: str | None = None  # LEIAN_DATABASE_URL: audit log, accounts and ledger in PostgreSQL

    @property
    def store_env(self) -> dict[str, str]:
        """What a node needs beyond the data folder to find the shared stores."""
        return {"LEIAN_DATABASE_URL": self.database_url} if self.database_url else {}

    @property
    def public_key(self) -> Path:
        return self.signing_key.with_name(self.signing_key.name + ".pub")


def provision(index_home: Path, root: Path, n_clients: int, database_url: str | None = None) -> Deployment:
    """Accounts for ``n_clients`` clients, one token each, and an admin; written as an operator would,
    into the data folder or, with ``database_url``, into that PostgreSQL database."""
    from api.service.accounts import AccountStore, Role
    from retrieval.audit.records import Actor, TypedRecord
    from retrieval.audit.signing import generate_key, public_key_pem
    from retrieval.audit.store import AuditLog

    data, key_path = root / "data", root / "keys" / "audit-signing-key.pem"
    key_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.with_name(key_path.name + ".pub").write_text(public_key_pem(generate_key(key_path)), "ascii")
    data.mkdir(parents=True, exist_ok=True)
    accounts = AccountStore(database_url or data / "accounts.sqlite")
    clients = []
    with AuditLog(database_url or data / "audit.sqlite") as log:

        def record(entry: TypedRecord) -> object:
            return log.record(Actor("load-operator", "operator"), "cli", entry)

        for i in range(n_clients):
            role = Role.AUDITOR if i % AUDITOR_EVERY == AUDITOR_EVERY - 1 else Role.JUDGE
            court = COURTS[i % len(COURTS)]
            name = f"load-{role.name.lower()}-{i:02d}"
            accounts.create_user(name, role, court, record)
            clients.append(Client(name, role.value, court, accounts.issue_token(name, None, record)[1]))
        accounts.create_user("load-admin", Role.ADMIN, None, record)
        admin = accounts.issue_token("load-admin", None, record)[1]
    accounts.close()
    return Deployment(index_home, data, key_path, tuple(clients), admin, database_url)


def pending_facts() -> list[str]:
    """The facts of the sample pending cases: what the clients search with."""
    return [
        json.loads(line)["facts"] for line in SAMPLE_PENDING.read_text("utf-8").splitlines() if line.strip()
    ]


class MilvusLite:
    """milvus-lite's own server (the C++ core) on a loopback TCP port over ``db_file``: one Milvus that
    several API processes share by URI, as they would share a Milvus Standalone or Distributed."""

    def __init__(self, db_file: Path) -> None:
        self.db_file = Path(db_file)
        self.port = 0
        self._server: Any = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> MilvusLite:
        from milvus_lite.server import Server as LiteServer
        from pymilvus import MilvusClient

        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self._server = LiteServer(str(self.db_file), f"127.0.0.1:{self.port}")
        if not (self._server.init() and self._server.start()):
            raise RuntimeError(f"Milvus Lite did not start on {self.db_file}")
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                client = MilvusClient(self.uri, timeout=5)
                client.list_collections()
                client.close()
                return self
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.2)

    @property
    def pid(self) -> int | None:
        process = getattr(self._server, "_p", None)
        return process.pid if process is not None else None

    def stop(self) -> None:
        if self._server is None:
            return
        process = getattr(self._server, "_p", None)
        if process is not None and process.poll() is None:
            process.terminate()  # on a TCP address it does not watch the lock file: ask it to stop
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        self._server.stop()
        self._server = None

    def __enter__(self) -> MilvusLite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def export_to_milvus(index_home: Path, uri: str, database_url: str | None = None) -> str:
    """Load ``index_home``'s build into Milvus at ``uri`` unless it is already the published one;
    with ``database_url`` its metadata into PostgreSQL too, which then publishes it (what nodes with
    ``LEIAN_DATABASE_URL`` read: ``leian cluster export --database-url``)."""
    from api.service.cluster import milvus_client
    from index_build.cluster_export import export_cluster
    from index_build.milvus_export import collection_name, export_build
    from retrieval.index_store import IndexStore
    from retrieval.milvus_channels import MilvusChannelError, published_collection

    client = milvus_client(uri)
    store = IndexStore.open(index_home, verify_checksums=False)
    try:
        if database_url is not None:
            export_cluster(store, client, database_url)  # nothing loaded when already published
            return collection_name(store.version)
        try:
            if published_collection(client) == collection_name(store.version):
                return collection_name(store.version)
        except MilvusChannelError:
            pass  # nothing published yet
        return export_build(store, client).collection
    finally:
        store.close()
        client.close()


def peak_rss_mb(pid: int) -> float | None:
    """The high-water mark of a process's resident memory (VmHWM), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


class Server:
    """``uvicorn api.app:app`` in its own process group on a free loopback port; output to a log file.

    With ``workers`` above 1 it is ``leian serve --workers N``: N processes on one socket.
    """

    def __init__(self, deployment: Deployment, log_path: Path, workers: int = 1, **env: str) -> None:
        self.deployment = deployment
        self.log_path = log_path
        self.workers = workers
        self.env = env
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 180.0) -> Server:
        d = self.deployment
        self.port = free_port()
        environ = {
            **os.environ,
            "LEIAN_INDEX": str(d.index_home),
            "LEIAN_DATA": str(d.data_dir),
            "LEIAN_SIGNING_KEY": str(d.signing_key),
            "LEIAN_CREATE_SIGNING_KEY": "false",
            "LEIAN_RATE_LIMIT": RATE_LIMIT,
            **d.store_env,
            **self.env,
        }
        if self.workers == 1:
            command = [sys.executable, "-m", "uvicorn", "api.app:app", "--host", "127.0.0.1"]
            command += ["--port", str(self.port), "--log-level", "warning", "--no-access-log"]
        else:
            command = [sys.executable, "-m", "api.cli.main", "serve", "--host", "127.0.0.1"]
            command += ["--port", str(self.port), "--log-level", "warning", "--workers", str(self.workers)]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=environ, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited ({self.process.returncode}): {self.log_text()[-2000:]}"
                )
            try:
                ready = httpx.get(f"{self.url}/readyz", timeout=2.0)
            except httpx.TransportError:
                ready = None
            if ready is not None and ready.status_code == 200:
                return self
            if ready is not None and not ready.json()["error"]["checks"]["index"]["ok"]:
                self.kill()  # the index is loaded once, at start-up: this will not get better
                raise RuntimeError(f"the server refused the index: {ready.text}")
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"the server was not ready within {timeout_s:.0f} s: {self.log_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL, no shutdown: what a power cut or the OOM killer does."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_text(self) -> str:
        return self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the clients ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One request as its client saw it."""

    op: str
    client: str
    status: int | None  # None: no answer (connection refused or reset, timeout)
    seconds: float
    error: str | None = None
    case_number: str | None = None  # the pending case's 案号 a search was sent with (unique per search)
    receipt: tuple[int, str] | None = None  # (seq, leaf hash) of the audit record the answer named
    search_id: int | None = None  # the search a mark was about
    node: str | None = None  # the API node (base URL) it was sent to


@dataclass
class LoadRun:
    """Closed-loop clients until ``seconds`` have passed or ``stop`` is set; every request kept."""

    url: str
    clients: Sequence[Client]
    seconds: float
    more_urls: tuple[str, ...] = ()  # further API nodes: client i starts on node i mod n
    tag: int = field(default_factory=lambda: next(_RUN_TAGS))  # makes every run's 案号 its own
    seed: int = 7
    stop: threading.Event = field(default_factory=threading.Event)
    outcomes: list[Outcome] = field(default_factory=list)
    started: float = 0.0
    elapsed: float = 0.0

    def __post_init__(self) -> None:
        self._facts = pending_facts()
        self._doc_ids: list[str] = []  # seen in answers: what clients view, mark and search from
        self._seen: set[str] = set()
        self._numbers = iter(range(10**6))

    def run(self) -> list[Outcome]:
        asyncio.run(self._main())
        return self.outcomes

    def answered(self, ops: frozenset[str] | None = None) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == 200 and (ops is None or o.op in ops)]

    async def _main(self) -> None:
        self.started = time.perf_counter()
        deadline = self.started + self.seconds
        await asyncio.gather(*(self._client(i, c, deadline) for i, c in enumerate(self.clients)))
        self.elapsed = time.perf_counter() - self.started

    async def _client(self, index: int, client: Client, deadline: float) -> None:
        rng = random.Random(self.seed * 1000 + index)
        mix = AUDITOR_MIX if client.role == "审判管理" else JUDGE_MIX
        ops, weights = list(mix), list(mix.values())
        searches: list[tuple[int, list[str]]] = []  # this client's answered searches, to mark
        headers = {"Authorization": f"Bearer {client.token}"}
        nodes = (self.url, *self.more_urls)
        node = index % len(nodes)
        async with httpx.AsyncClient(
            headers=headers,
            timeout=REQUEST_TIMEOUT_S,
            limits=httpx.Limits(max_connections=len(nodes)),
        ) as http:
            first = True
            while time.perf_counter() < deadline and not self.stop.is_set():
                op = "search" if first and "search" in mix else rng.choices(ops, weights)[0]
                first = False
                outcome = await self._request(http, nodes[node], rng, client, op, searches)
                self.outcomes.append(outcome)
                if outcome.status is None:
                    node = (node + 1) % len(nodes)  # that node is gone: the next one, as a balancer would
                    await asyncio.sleep(0.05)  # do not spin while every node is gone

    async def _request(
        self,
        http: httpx.AsyncClient,
        node: str,
        rng: random.Random,
        client: Client,
        op: str,
        searches: list[tuple[int, list[str]]],
    ) -> Outcome:
        if op in ("case", "related", "similar") and not self._doc_ids:
            op = "search" if client.role != "审判管理" else "records"
        if op == "mark" and not searches:
            op = "search"
        outcome = Outcome(op, client.name, None, 0.0, node=node)
        method, url, kwargs = self._plan(rng, client, outcome, searches)
        clock = time.perf_counter()
        try:
            response = await http.request(method, node + url, **kwargs)
        except httpx.HTTPError as exc:
            outcome.seconds = time.perf_counter() - clock
            outcome.error = f"{type(exc).__name__}: {exc}"
            return outcome
        outcome.seconds = time.perf_counter() - clock
        outcome.status = response.status_code
        if response.status_code != 200:
            outcome.error = response.text[:300]
            return outcome
        if op in SEARCH_OPS or op == "mark":
            body = response.json()
            outcome.receipt = (int(body["audit"]["seq"]), str(body["audit"]["leaf_hash"]))
        if op in SEARCH_OPS:
            docs = [r["doc_id"] for tier in body["tiers"] for r in tier["results"]]
            if docs:
                searches.append((body["search_id"], docs))
            for doc in docs:
                if doc not in self._seen:
                    self._seen.add(doc)
                    self._doc_ids.append(doc)
        return outcome

    def _plan(
        self, rng: random.Random, client: Client, outcome: Outcome, searches: list[tuple[int, list[str]]]
    ) -> tuple[str, str, dict[str, Any]]:
        op = outcome.op
        if op in SEARCH_OPS:
            outcome.case_number = (
                f"（2026）{CASE_PREFIX[client.court]}刑初{self.tag}{next(self._numbers):06d}号"
            )
        if op == "search":
            body = {
                "case_number": outcome.case_number,
                "trigger": rng.choice(TRIGGERS),
                "facts": rng.choice(self._facts),
                "k": rng.choice((5, 10)),
            }
            return "POST", "/api/v1/searches", {"json": body}
        if op == "similar":
            params = {"k": 5, "case_number": outcome.case_number}
            return "GET", f"/api/v1/cases/{rng.choice(self._doc_ids)}/similar", {"params": params}
        if op == "case":
            return "GET", f"/api/v1/cases/{rng.choice(self._doc_ids)}", {}
        if op == "related":
            return "GET", f"/api/v1/cases/{rng.choice(self._doc_ids)}/related", {}
        if op == "mark":
            search_id, docs = rng.choice(searches)
            outcome.search_id = search_id
            mark = {
                "doc_id": rng.choice(docs),
                "label": rng.choice(("类案", "非类案")),
                "reason": "负载测试标注",
            }
            return "POST", f"/api/v1/searches/{search_id}/decisions", {"json": {"marks": [mark]}}
        if op in ("export_jsonl", "export_csv"):
            return "GET", "/api/v1/audit/export", {"params": {"format": op.removeprefix("export_")}}
        if op == "records":
            return "GET", "/api/v1/audit/records", {"params": {"limit": 50}}
        raise ValueError(f"unknown operation {op!r}")


# -- the checks -----------------------------------------------------------------------------------


@dataclass
class AuditCheck:
    """What the exported log says about the outcomes; ``failures`` empty when everything holds."""

    failures: list[str] = field(default_factory=list)
    tree_size: int = 0
    verified: bool = False
    receipts: int = 0
    unanswered_recorded: int = 0  # searches recorded whose answer never reached the client

    def to_dict(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "verified": self.verified,
            "receipts_matched": self.receipts,
            "unanswered_recorded": self.unanswered_recorded,
        }


def fetch_log(url: str, admin_token: str, folder: Path) -> tuple[Path, Path, int]:
    """The admin's full export and the checkpoint it matches, written to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    headers = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=REQUEST_TIMEOUT_S) as http:
        export = http.get("/api/v1/audit/export", params={"format": "jsonl"})
        export.raise_for_status()
        checkpoint = http.get("/api/v1/audit/checkpoint")
        checkpoint.raise_for_status()
    export_path, checkpoint_path = folder / "audit.jsonl", folder / "audit.checkpoint.json"
    export_path.write_bytes(export.content)
    checkpoint_path.write_bytes(checkpoint.content)
    return export_path, checkpoint_path, int(export.headers["X-Leian-Tree-Size"])


def read_export(path: Path) -> dict[int, tuple[str, dict[str, Any]]]:
    """seq → (leaf hash, record) of a JSONL export."""
    out = {}
    with open(path, encoding="utf-8") as fp:
        for line in fp:
            entry = json.loads(line)
            if "seq" in entry:
                out[entry["seq"]] = (entry["leaf_hash"], entry["record"])
    return out


def check_audit(
    deployment: Deployment, url: str, outcomes: Sequence[Outcome], folder: Path, *, crashed: bool = False
) -> AuditCheck:
    """Check ``outcomes`` against the log the server exports now (nothing else may be running).

    ``crashed``: requests that got no answer (the server was killed) may or may not have a record.
    """
    from retrieval.audit.records import CaseworkFields, DecisionRecord
    from retrieval.audit.verify import verify_export

    result = AuditCheck()
    fail = result.failures.append
    export_path, checkpoint_path, tree_size = fetch_log(url, deployment.admin_token, folder)
    report = verify_export(export_path, checkpoint_path, deployment.public_key)
    result.verified, result.tree_size = report.ok, report.tree_size or 0
    if not report.ok:
        fail(f"the exported log does not verify: {report.summary()}")
    if report.tree_size != tree_size:
        fail(f"the export covers {tree_size} records, the checkpoint {report.tree_size}")
    records = read_export(export_path)

    for o in outcomes:
        if o.status != 200 or o.receipt is None:
            continue
        seq, leaf = o.receipt
        if seq not in records:
            fail(f"{o.op} of {o.client} was answered with record {seq}, which the log does not have")
            continue
        stored_leaf, record = records[seq]
        payload = record.get("payload") or {}
        case_number = CaseworkFields.of(payload).case_number
        if stored_leaf != leaf:
            fail(f"record {seq}: the client got leaf hash {leaf}, the log has {stored_leaf}")
        elif record["actor"].get("user") != o.client:
            fail(f"record {seq} is by {record['actor'].get('user')}, the answer went to {o.client}")
        elif o.op in SEARCH_OPS and (record["kind"], case_number) != ("search", o.case_number):
            fail(f"record {seq} is not the search for {o.case_number}: {record['kind']} {case_number}")
        elif o.op == "mark" and (
            record["kind"] != "decision" or DecisionRecord.from_payload(payload).search_id != o.search_id
        ):
            fail(f"record {seq} is not the mark of search {o.search_id}")
        else:
            result.receipts += 1

    sent = {o.case_number: o for o in outcomes if o.op in SEARCH_OPS}
    names = {c.name for c in deployment.clients}
    per_case: Counter[str] = Counter()
    for _, record in records.values():
        if record["kind"] == "search" and record["actor"].get("user") in names:
            number = (record.get("payload") or {}).get("case_number")
            if number in sent:
                per_case[number] += 1
    for number, o in sent.items():
        n = per_case[number]
        if o.status == 200 and n != 1:
            fail(f"the answered search {number} has {n} audit records, not exactly one")
        elif o.status != 200 and n > 1:
            fail(f"the unanswered search {number} has {n} audit records")
        elif o.status != 200 and n == 1:
            result.unanswered_recorded += 1
            if not crashed:
                fail(f"the search {number} was refused ({o.status}) but recorded")

    exports = sum(
        1
        for _, r in records.values()
        if r["kind"] == "export"
        and r["actor"].get("user") in names
        and (r.get("payload") or {}).get("via") == "api"
    )
    tried = [o for o in outcomes if o.op.startswith("export_")]
    answered = sum(1 for o in tried if o.status == 200)
    if not answered <= exports <= len(tried):
        fail(f"{exports} export records for {answered} answered of {len(tried)} exports")
    result.failures.extend(ledger_problems(deployment, records))
    return result


def ledger_problems(deployment: Deployment, records: dict[int, tuple[str, dict[str, Any]]]) -> list[str]:
    """Rows of the service's ledger of searches that the audit log does not back (there must be none)."""
    query = "SELECT s.search_id, u.name FROM searches s JOIN users u ON u.id = s.user_id"
    if deployment.database_url:
        import psycopg

        with psycopg.connect(deployment.database_url) as pg:
            rows = pg.execute(query).fetchall()
    else:
        conn = sqlite3.connect(f"file:{deployment.data_dir / 'accounts.sqlite'}?mode=ro", uri=True)
        try:
            rows = conn.execute(query).fetchall()
        finally:
            conn.close()
    problems = []
    for search_id, user in rows:
        record = records.get(search_id, ("", {}))[1]
        if record.get("kind") != "search" or record["actor"].get("user") != user:
            problems.append(f"the ledger has search {search_id} of {user}, the audit log has no such record")
    return problems


def server_problems(log_text: str) -> list[str]:
    return [f"the server logged a traceback: {line}" for line in _tracebacks(log_text)]


def _tracebacks(text: str) -> Iterator[str]:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Traceback"):
            yield next((x for x in lines[i + 1 :] if x and not x.startswith(" ")), line)


# -- figures --------------------------------------------------------------------------------------


def figures(run: LoadRun) -> dict[str, Any]:
    elapsed = run.elapsed or (time.perf_counter() - run.started)
    per_op: dict[str, Any] = {}
    for op in sorted({o.op for o in run.outcomes}):
        mine = [o for o in run.outcomes if o.op == op]
        ms = sorted(o.seconds * 1000 for o in mine if o.status == 200)
        per_op[op] = {
            "requests": len(mine),
            "ok": len(ms),
            **{f"p{p}_ms": round(nearest_rank(ms, p), 1) for p in (50, 95, 99)},
            "max_ms": round(ms[-1], 1) if ms else None,
        }
    statuses = Counter(str(o.status) if o.status is not None else "no answer" for o in run.outcomes)
    return {
        "clients": len(run.clients),
        "seconds": round(elapsed, 1),
        "requests": len(run.outcomes),
        "requests_per_s": round(len(run.outcomes) / elapsed, 1),
        "searches_per_s": round(len(run.answered(SEARCH_OPS)) / elapsed, 1),
        "statuses": dict(sorted(statuses.items())),
        "5xx": sum(1 for o in run.outcomes if o.status is not None and o.status >= 500),
        "operations": per_op,
    }


def request_problems(outcomes: Sequence[Outcome]) -> list[str]:
    """Every request of a healthy run is answered 200; each kind of deviation listed once with a count."""
    problems: Counter[str] = Counter()
    for o in outcomes:
        if o.status != 200:
            what = f"{o.status}" if o.status is not None else "no answer"
            problems[f"{o.op}: {what}: {(o.error or '')[:160]}"] += 1
    return [f"{n} × {p}" for p, n in problems.most_common()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--index", type=Path, help="published index home (default: the sample corpus, built)")
    parser.add_argument("--workers", type=int, default=1, help="server processes (leian serve --workers)")
    parser.add_argument("--nodes", type=int, default=1, help="API nodes: separate servers on their own ports")
    milvus = parser.add_mutually_exclusive_group()
    milvus.add_argument("--milvus-lite", type=Path, help="start Milvus Lite on this db file: cluster backend")
    milvus.add_argument("--milvus-uri", help="a running Milvus (http://host:19530): cluster backend")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--keep", type=Path, help="keep the data folder, export and server log here")
    parser.add_argument(
        "--database-url", help="postgresql://… (an empty database): the nodes' audit log, accounts and ledger"
    )
    args = parser.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or args.nodes < 1:
        parser.error("--clients, --seconds and --nodes must be positive")

    with tempfile.TemporaryDirectory(prefix="leian-load-") as tmp, contextlib.ExitStack() as stack:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        index = args.index or build_sample_index(root / "index")
        deployment = provision(index, root, args.clients, args.database_url)
        env: dict[str, str] = {}
        uri = args.milvus_uri
        lite = None
        if args.milvus_lite:
            lite = stack.enter_context(MilvusLite(args.milvus_lite))
            uri = lite.uri
        if uri:
            export_to_milvus(index, uri, args.database_url)
            env = {"LEIAN_BACKEND": "cluster", "LEIAN_MILVUS_URI": uri}
        servers = [
            Server(deployment, root / f"server-{n}.log", workers=args.workers, **env)
            for n in range(args.nodes)
        ]
        for server in servers:
            stack.enter_context(server)
        run = LoadRun(servers[0].url, deployment.clients, args.seconds, tuple(s.url for s in servers[1:]))
        run.run()
        nodes_rss = [peak_rss_mb(s.process.pid) for s in servers if s.process is not None]
        milvus_rss = peak_rss_mb(lite.pid) if lite is not None and lite.pid else None
        audit = check_audit(deployment, servers[0].url, run.outcomes, root / "export")
        failures = request_problems(run.outcomes) + audit.failures
        failures += [p for s in servers for p in server_problems(s.log_text())]
        out = {
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
            "workers": args.workers,
            "nodes": args.nodes,
            "backend": "cluster" if uri else "embedded",
            "milvus": ("milvus-lite " + str(args.milvus_lite)) if lite else uri,
            **figures(run),
            "peak_rss_mb_per_node": nodes_rss,  # each node's uvicorn process (its workers not included)
            "peak_rss_mb_milvus": milvus_rss,
            "load_average_end": os.getloadavg(),
            "audit": audit.to_dict(),
            "failures": failures,
            "ok": not failures,
        }
    emit_json(out, args.out, indent=2)
    return 0 if not failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
