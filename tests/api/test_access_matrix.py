"""Access control: every route of the app × every role × own court / other court / bad credentials.

``ROUTES`` says, for each route the app serves, who may use it and how to call it about resources of
court A (judge_a's search, its audit record, a report batch). The routes are read from the app
itself, so a route that nobody classified here fails ``test_every_route_of_the_app_is_classified``.
Every answer is also checked for the security headers and for anything that must never leave the
server.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from api.http.app import STATIC_DIR
from api.service import security
from api.service.accounts import SEARCH_ROLES, AccountStore, Role
from tests.api_env import COURT_A, COURT_B, THEFT_FACTS, USERS, Env, raw_request, serve

CASE_A = "（2025）浙0106刑初4242号"  # markers of court A's search: must never reach court B's users
CASE_B = "（2025）苏0508刑初5151号"
FOREIGN = "https://elsewhere.example"
TODAY = dt.date.today().isoformat()


@dataclass(frozen=True)
class Actor:
    label: str
    user: str | None  # None: a bad credential, named by ``label``
    same_court: bool = False  # the actor's court is the resource's (court A)
    owner: bool = False  # the actor made the search the resource is about

    @property
    def role(self) -> Role | None:
        return USERS[self.user][0] if self.user else None


ACTORS = [
    Actor("searcher", "judge_a", same_court=True, owner=True),
    Actor("judge/own court", "judge_a2", same_court=True),
    Actor("judge/other court", "judge_b"),
    Actor("assistant/own court", "assistant_a", same_court=True),
    Actor("assistant/other court", "assistant_b"),
    Actor("president/own court", "president_a", same_court=True),
    Actor("president/other court", "president_b"),
    Actor("auditor/own court", "auditor_a", same_court=True),
    Actor("auditor/other court", "auditor_b"),
    Actor("admin", "admin"),
    Actor("no token", None),
    Actor("garbage token", None),
    Actor("revoked token", None),
    Actor("expired token", None),
]


@dataclass(frozen=True)
class Resources:
    search_a: int  # judge_a's search, also the seq of its audit record
    result_a: str  # a doc id among its results
    batch_a: str  # judge_a's report batch, finished
    pending_a: int  # judge_a's pending case (智能推送)
    inbox_a: int  # the inbox item of its registration search


Request = tuple[str, dict[str, Any]]  # url, keyword arguments of the client's request
Rule = Callable[[Actor], bool]


def anyone(_actor: Actor) -> bool:
    return True


def searchers(actor: Actor) -> bool:
    return actor.role in SEARCH_ROLES


def readers_of_the_search(actor: Actor) -> bool:
    return (
        actor.owner
        or actor.role is Role.ADMIN
        or (actor.role in (Role.PRESIDENT, Role.AUDITOR) and actor.same_court)
    )


def markers(actor: Actor) -> bool:
    return actor.owner or (actor.role is Role.PRESIDENT and actor.same_court)


def own_court_or_admin(actor: Actor) -> bool:
    return actor.role is Role.ADMIN or actor.same_court


def court_exporters(actor: Actor) -> bool:
    return actor.role is Role.ADMIN or (actor.role is Role.AUDITOR and actor.same_court)


def batch_readers(actor: Actor) -> bool:
    return actor.owner or (actor.role is Role.AUDITOR and actor.same_court)


def sees_the_search(actor: Actor) -> bool:
    """Who is told the search exists: anyone else gets the 404 of a missing id (ids are not probed)."""
    return readers_of_the_search(actor) or actor.role is None


def court_supervisors(actor: Actor) -> bool:
    return actor.role is Role.ADMIN or (actor.role in (Role.AUDITOR, Role.PRESIDENT) and actor.same_court)


def pending_viewers(actor: Actor) -> bool:
    return actor.role in (Role.JUDGE, Role.PRESIDENT, Role.AUDITOR)


def pending_readers(actor: Actor) -> bool:
    return actor.owner or (actor.role in (Role.PRESIDENT, Role.AUDITOR) and actor.same_court)


def pending_closers(actor: Actor) -> bool:
    return actor.owner or (actor.role in (Role.PRESIDENT, Role.AUDITOR) and actor.same_court)


def owner_only(actor: Actor) -> bool:
    return actor.owner


PUBLIC: Rule | None = None
"""No token needed: bad credentials are not even looked at."""

HIDDEN: dict[tuple[str, str], Rule] = {
    ("GET", "/api/v1/searches/{search_id}"): sees_the_search,
    ("POST", "/api/v1/searches/{search_id}/decisions"): sees_the_search,
    ("GET", "/api/v1/searches/{search_id}/report"): sees_the_search,
}
"""Routes about one search: an account refused by the rule that may not even see the search gets 404."""

BATCH_BODY = {
    "cases": [{"case_number": "（2025）京0101刑初2号", "facts": THEFT_FACTS[:300]}],
    "trigger": "其他",
    "k": 2,
}
PENDING_BODY = {
    "case_number": "（2025）浙0106刑初4545号",
    "facts": THEFT_FACTS,
    "causes": ["盗窃罪"],
    "judge": "judge_a",
}
SEARCH_BODY = {"case_number": "（2025）京0101刑初1号", "trigger": "其他", "facts": THEFT_FACTS, "k": 3}


def _static(url: str) -> Callable[[Resources], Request]:
    return lambda _res: (url, {})


ROUTES: dict[tuple[str, str], tuple[Rule | None, Callable[[Resources], Request]]] = {
    ("POST", "/api/v1/searches"): (searchers, lambda _r: ("/api/v1/searches", {"json": SEARCH_BODY})),
    ("GET", "/api/v1/searches/{search_id}"): (
        readers_of_the_search,
        lambda r: (f"/api/v1/searches/{r.search_a}", {}),
    ),
    ("POST", "/api/v1/searches/{search_id}/decisions"): (
        markers,
        lambda r: (
            f"/api/v1/searches/{r.search_a}/decisions",
            {"json": {"marks": [{"doc_id": r.result_a, "label": "类案", "reason": "案情相近"}]}},
        ),
    ),
    ("POST", "/api/v1/searches/{search_id}/drafts"): (
        markers,
        lambda r: (
            f"/api/v1/searches/{r.search_a}/drafts",
            {"json": {"doc_id": r.result_a, "cited_by": "公诉机关"}},
        ),
    ),
    ("GET", "/api/v1/cases/{doc_id}"): (anyone, _static("/api/v1/cases/guiding-901")),
    ("GET", "/api/v1/cases/{doc_id}/related"): (
        anyone,
        _static("/api/v1/cases/txt-2023_zhe0106_xingchu_123/related"),
    ),
    ("GET", "/api/v1/cases/{doc_id}/similar"): (searchers, _static("/api/v1/cases/guiding-901/similar?k=3")),
    ("GET", "/api/v1/audit/records"): (
        own_court_or_admin,
        lambda _r: ("/api/v1/audit/records", {"params": {"court": COURT_A}}),
    ),
    ("GET", "/api/v1/audit/export"): (
        court_exporters,
        lambda _r: ("/api/v1/audit/export", {"params": {"court": COURT_A, "format": "csv"}}),
    ),
    ("GET", "/api/v1/audit/summary"): (
        court_supervisors,
        lambda _r: ("/api/v1/audit/summary", {"params": {"court": COURT_A, "from": TODAY, "to": TODAY}}),
    ),
    ("GET", "/api/v1/audit/checkpoint"): (anyone, _static("/api/v1/audit/checkpoint")),
    ("GET", "/api/v1/audit/records/{seq}/proof"): (
        readers_of_the_search,
        lambda r: (f"/api/v1/audit/records/{r.search_a}/proof", {}),
    ),
    ("GET", "/api/v1/searches/{search_id}/report"): (
        readers_of_the_search,
        lambda r: (f"/api/v1/searches/{r.search_a}/report", {"params": {"format": "md"}}),
    ),
    ("POST", "/api/v1/reports/batches"): (
        searchers,
        lambda _r: ("/api/v1/reports/batches", {"json": BATCH_BODY}),
    ),
    ("GET", "/api/v1/reports/batches"): (anyone, _static("/api/v1/reports/batches")),
    ("GET", "/api/v1/reports/batches/{batch_id}"): (
        batch_readers,
        lambda r: (f"/api/v1/reports/batches/{r.batch_a}", {}),
    ),
    ("GET", "/api/v1/reports/batches/{batch_id}/reports/{item}"): (
        batch_readers,
        lambda r: (f"/api/v1/reports/batches/{r.batch_a}/reports/1", {"params": {"format": "md"}}),
    ),
    ("GET", "/api/v1/reports/batches/{batch_id}/summary"): (
        batch_readers,
        lambda r: (f"/api/v1/reports/batches/{r.batch_a}/summary", {}),
    ),
    ("POST", "/api/v1/pending-cases"): (
        owner_only,
        lambda _r: ("/api/v1/pending-cases", {"json": PENDING_BODY}),
    ),
    ("GET", "/api/v1/pending-cases"): (pending_viewers, _static("/api/v1/pending-cases")),
    ("GET", "/api/v1/pending-cases/{case_id}"): (
        pending_readers,
        lambda r: (f"/api/v1/pending-cases/{r.pending_a}", {}),
    ),
    ("POST", "/api/v1/pending-cases/{case_id}/close"): (
        pending_closers,
        lambda r: (f"/api/v1/pending-cases/{r.pending_a}/close", {}),
    ),
    ("GET", "/api/v1/inbox"): (pending_viewers, _static("/api/v1/inbox")),
    ("GET", "/api/v1/inbox/events"): (pending_viewers, _static("/api/v1/inbox/events?timeout=0")),
    ("GET", "/api/v1/inbox/{item_id}"): (pending_readers, lambda r: (f"/api/v1/inbox/{r.inbox_a}", {})),
    ("POST", "/api/v1/inbox/{item_id}/decision"): (
        owner_only,
        lambda r: (f"/api/v1/inbox/{r.inbox_a}/decision", {"json": {"decision": "accept", "reason": "已阅"}}),
    ),
    ("GET", "/api/v1/me"): (anyone, _static("/api/v1/me")),
    ("GET", "/healthz"): (PUBLIC, _static("/healthz")),
    ("GET", "/readyz"): (PUBLIC, _static("/readyz")),
    ("GET", "/metrics"): (anyone, _static("/metrics")),
    ("GET", "/"): (PUBLIC, _static("/")),
    ("GET", "/openapi.json"): (PUBLIC, _static("/openapi.json")),
    ("GET", "/docs"): (PUBLIC, _static("/docs")),
    ("GET", "/docs/oauth2-redirect"): (PUBLIC, _static("/docs/oauth2-redirect")),
    ("MOUNT", "/static"): (PUBLIC, _static("/static/app.js")),
}


def app_routes(env: Env) -> set[tuple[str, str]]:
    """(method, path template) of everything the app serves, included routers flattened; a mount once."""
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(env.app.routes):
        if isinstance(context.original_route, Mount):
            found.add(("MOUNT", str(context.path)))
        else:
            assert context.methods, context.path
            found.update((m, str(context.path)) for m in context.methods if m != "HEAD")
    return found


@pytest.fixture(scope="module")
def env(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with serve(sample_index, tmp_path_factory.mktemp("access")) as served:
        yield served


@pytest.fixture(scope="module")
def resources(env: Env) -> Resources:
    a = env.search("judge_a", case_number=CASE_A, k=3)
    assert env.search("judge_b", case_number=CASE_B, k=3).status_code == 200
    assert a.status_code == 200, a.text
    body = a.json()
    first = body["tiers"][0]["results"][0]["doc_id"]
    marked = env.client.post(  # a draft answers a marked case only
        f"/api/v1/searches/{body['search_id']}/decisions",
        json={"marks": [{"doc_id": first, "label": "类案", "reason": "案情相近"}]},
        headers=env.h("judge_a"),
    )
    assert marked.status_code == 200, marked.text
    batch = env.client.post("/api/v1/reports/batches", json=BATCH_BODY, headers=env.h("judge_a"))
    assert batch.status_code == 202, batch.text
    batch_id = batch.json()["batch_id"]
    deadline = time.monotonic() + 120
    while batch.json()["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        batch = env.client.get(f"/api/v1/reports/batches/{batch_id}", headers=env.h("judge_a"))
    assert batch.json()["status"] == "done" and batch.json()["ok"] == 1, batch.text
    pending = env.client.post(
        "/api/v1/pending-cases",
        json={"case_number": CASE_A, "facts": THEFT_FACTS, "causes": ["盗窃罪"]},
        headers=env.h("judge_a"),
    )
    assert pending.status_code == 201, pending.text
    items = env.client.get("/api/v1/inbox", headers=env.h("judge_a")).json()["items"]
    return Resources(
        body["search_id"],
        body["tiers"][0]["results"][0]["doc_id"],
        batch_id,
        pending.json()["id"],
        items[0]["id"],
    )


def credentials(env: Env, actor: Actor) -> dict[str, str]:
    if actor.user is not None:
        return env.h(actor.user)
    token = {
        "no token": None,
        "garbage token": "0123456789abcdef." + "x" * 43,
        "revoked token": env.revoked,
        "expired token": env.expired,
    }[actor.label]
    return {} if token is None else {"Authorization": f"Bearer {token}"}


def assert_security_headers(response: httpx.Response) -> None:
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    if not response.request.url.path.startswith("/docs"):  # Swagger UI's page loads its script from a CDN
        assert "default-src 'self'" in csp and "object-src 'none'" in csp


def assert_nothing_leaks(env: Env, response: httpx.Response) -> None:
    text = response.content.decode("utf-8", "replace")
    key = env.key_path.read_text("ascii").splitlines()[1]
    for needle in ("PRIVATE KEY", key, str(env.key_path.parent), str(env.settings.data_dir), "Traceback"):
        assert needle not in text, (response.request.url, needle)


def test_every_route_of_the_app_is_classified(env: Env) -> None:
    served = app_routes(env)
    assert served - set(ROUTES) == set(), "routes without an access rule: classify them in ROUTES"
    assert set(ROUTES) - served == set(), "rules for routes the app no longer serves"


@pytest.mark.parametrize("route", sorted(ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
def test_only_what_the_role_allows_succeeds(env: Env, resources: Resources, route: tuple[str, str]) -> None:
    rule, build = ROUTES[route]
    method = "GET" if route[0] == "MOUNT" else route[0]
    url, kwargs = build(resources)
    outcomes = []
    for actor in ACTORS:
        response = env.client.request(method, url, headers=credentials(env, actor), **kwargs)
        outcomes.append((actor.label, 200 if response.is_success else response.status_code))
        assert_security_headers(response)
        assert_nothing_leaks(env, response)
        if rule is PUBLIC:
            assert response.is_success, (actor.label, response.text[:300])
        elif actor.user is None:
            assert response.status_code == 401, (actor.label, response.text[:300])
            assert response.json()["error"]["code"] == "unauthenticated"
            assert response.headers["www-authenticate"].startswith("Bearer")
        elif rule(actor):
            assert response.is_success, (actor.label, response.status_code, response.text[:300])
        elif route in HIDDEN and not HIDDEN[route](actor):
            assert response.status_code == 404, (actor.label, response.text[:300])
            assert response.json()["error"]["code"] == "not_found"
        else:
            assert response.status_code == 403, (actor.label, response.text[:300])
            assert response.json()["error"]["code"] == "forbidden"
    if rule not in (PUBLIC, anyone):  # the rule really separates someone from someone else
        refused = {404} if route in HIDDEN else {403}
        assert {status for _, status in outcomes} >= {200, 401, *refused}, outcomes


def test_one_courts_records_exports_and_searches_are_invisible_to_another_court(
    env: Env, resources: Resources
) -> None:
    seen_by_a = env.client.get("/api/v1/audit/export", params={"format": "csv"}, headers=env.h("auditor_a"))
    assert CASE_A in seen_by_a.content.decode("utf-8-sig")  # the marker is there to be found
    for who in ("auditor_b", "president_b", "judge_b", "assistant_b"):
        records = env.client.get("/api/v1/audit/records", params={"limit": 1000}, headers=env.h(who)).json()
        assert CASE_A not in str(records), who
        assert {r["actor"]["court"] for r in records["records"]} <= {COURT_B}, who
        if who in ("auditor_b", "president_b"):  # they see their court's search by judge_b
            assert CASE_B in str(records), who
        search = env.client.get(f"/api/v1/searches/{resources.search_a}", headers=env.h(who))
        assert search.status_code == 404 and CASE_A not in search.text
    for fmt in ("csv", "jsonl"):
        export = env.client.get("/api/v1/audit/export", params={"format": fmt}, headers=env.h("auditor_b"))
        assert export.status_code == 200 and CASE_B in export.content.decode("utf-8-sig")
        assert CASE_A not in export.content.decode("utf-8-sig")
        # COURT_A may appear as the court that decided a public corpus case shown to court B (the
        # search snapshot); never as the court of a record's actor.
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
            assert rows and all(row["法院"] != COURT_A for row in rows)
        else:
            lines = [json.loads(line) for line in export.text.splitlines() if line.strip()]
            actors = [line["record"]["actor"] for line in lines if "record" in line]
            assert actors and all(actor["court"] != COURT_A for actor in actors)
        asked = env.client.get(
            "/api/v1/audit/export", params={"format": fmt, "court": COURT_A}, headers=env.h("auditor_b")
        )
        assert asked.status_code == 403 and CASE_A not in asked.text
    for who in ("auditor_b", "president_b", "judge_b", "admin"):
        listed = env.client.get("/api/v1/reports/batches", headers=env.h(who))
        assert listed.status_code == 200 and resources.batch_a not in listed.text, who
    assert resources.batch_a in env.client.get("/api/v1/reports/batches", headers=env.h("auditor_a")).text
    for path, status in (
        (f"/api/v1/reports/batches/{resources.batch_a}", 403),
        (f"/api/v1/searches/{resources.search_a}/report", 404),
    ):
        refused = env.client.get(path, headers=env.h("auditor_b"))
        assert refused.status_code == status and CASE_A not in refused.text, path
    filtered = env.client.get("/api/v1/audit/records", params={"user": "judge_a"}, headers=env.h("auditor_b"))
    assert filtered.status_code == 403 and CASE_A not in filtered.text


def test_tokens_are_stored_as_sha256_hashes_only(env: Env) -> None:
    with sqlite3.connect(env.settings.accounts_db) as conn:
        stored = dict(conn.execute("SELECT token_id, token_hash FROM tokens").fetchall())
        cells = [
            str(cell)
            for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
            for row in conn.execute(f"SELECT * FROM {table}").fetchall()
            for cell in row
        ]
    issued = [*env.tokens.values(), env.revoked, env.expired]
    assert len(stored) == len(issued)
    for token in issued:
        token_id, secret = token.split(".")
        assert stored[token_id] == hashlib.sha256(token.encode()).hexdigest()
        assert not any(secret in cell for cell in cells)


def test_tokens_are_compared_in_constant_time(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    accounts = AccountStore(env.settings.accounts_db)
    try:
        token = env.tokens["judge_a"]
        token_id = token.split(".")[0]
        wrong = f"{token_id}.{'y' * 43}"
        unknown = f"{'f' * 16}.{'y' * 43}"
        assert accounts.authenticate(token) is not None
        assert accounts.authenticate(wrong) is None
        assert accounts.authenticate(unknown) is None
    finally:
        accounts.close()
    stored = hashlib.sha256(token.encode()).hexdigest()
    digest = lambda t: hashlib.sha256(t.encode()).hexdigest()  # noqa: E731
    # Every look-up, even of an unknown id, ends in one comparison of two equal-length digests.
    assert calls == [(digest(token), stored), (digest(wrong), stored), (digest(unknown), "0" * 64)]


TRAVERSALS = [
    "/static/{rel}",
    "/static/{rel_encoded}",
    "/static/{rel_slash_encoded}",
    "/static/%2e%2e/config.py",
    "/static/..%2fconfig.py",
    "/static/..%5cconfig.py",
    "/static/%252e%252e/config.py",
    "/static/{abs}",
    "/static//{abs}",
    "/static/%2F{abs_encoded}",
    "/{rel}",
    "/api/v1/cases/{rel_encoded}",
]


def test_the_signing_key_is_never_served_not_even_by_path_traversal(env: Env) -> None:
    rel = os.path.relpath(env.key_path, STATIC_DIR)
    assert rel.startswith("..")  # a real traversal target: the key outside the static folder
    values = {
        "rel": rel,
        "rel_encoded": rel.replace(".", "%2e"),
        "rel_slash_encoded": rel.replace("/", "%2f"),
        "abs": str(env.key_path).lstrip("/"),
        "abs_encoded": str(env.key_path).lstrip("/").replace("/", "%2F"),
    }
    secret = env.key_path.read_text("ascii").splitlines()[1]
    for template in TRAVERSALS:
        path = template.format(**values)
        for headers in ([], [(b"authorization", f"Bearer {env.tokens['admin']}".encode())]):
            status, response_headers, body = raw_request(env, "GET", path.encode(), headers)
            assert status in (400, 401, 404), (path, status)
            text = body.decode("utf-8", "replace")
            assert "PRIVATE KEY" not in text and secret not in text and "import" not in text, path
            assert str(env.key_path.parent) not in text, path
            assert response_headers["x-content-type-options"] == "nosniff"
    status, _, body = raw_request(env, "GET", b"/static/app.js")
    assert status == 200 and b"sessionStorage" in body  # the same request shape does reach a static file


def test_cors_is_closed_by_default(env: Env) -> None:
    preflight = env.client.options(
        "/api/v1/searches",
        headers={"Origin": FOREIGN, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code >= 400 and "access-control-allow-origin" not in preflight.headers
    for origin in (FOREIGN, "null", "http://testserver.evil.example"):
        cross = env.client.get("/api/v1/me", headers={**env.h("judge_a"), "Origin": origin})
        assert cross.status_code == 200
        assert not any(h.startswith("access-control-") for h in cross.headers), origin


def test_cors_opens_only_to_the_configured_origins(sample_index: Path, tmp_path: Path) -> None:
    allowed = "https://court-intranet.example"
    with serve(sample_index, tmp_path, cors_origins=(allowed,)) as env:
        ok = env.client.options(
            "/api/v1/searches",
            headers={
                "Origin": allowed,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == allowed
        assert "POST" in ok.headers["access-control-allow-methods"]
        refused = env.client.options(
            "/api/v1/searches", headers={"Origin": FOREIGN, "Access-Control-Request-Method": "POST"}
        )
        assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
        simple = env.client.get("/api/v1/me", headers={**env.h("judge_a"), "Origin": allowed})
        assert simple.headers["access-control-allow-origin"] == allowed
        foreign = env.client.get("/api/v1/me", headers={**env.h("judge_a"), "Origin": FOREIGN})
        assert "access-control-allow-origin" not in foreign.headers
        delete = env.client.options(
            "/api/v1/searches", headers={"Origin": allowed, "Access-Control-Request-Method": "DELETE"}
        )
        assert delete.status_code == 400


def test_the_matrix_has_every_role_in_both_courts() -> None:
    roles = {(USERS[a.user][0], a.same_court) for a in ACTORS if a.user and a.user != "admin"}
    casework = {r for r in Role if r is not Role.ADMIN}
    assert roles == {(r, same) for r in casework for same in (True, False)}
    assert {USERS[a.user][1] for a in ACTORS if a.user and not a.same_court} == {COURT_B, None}
