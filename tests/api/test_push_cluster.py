"""智能推送 on several nodes sharing one PostgreSQL database (LEIAN_DATABASE_URL): a pending case
registered through one node is listed and pushed through another, every node's matching of a new
build makes each push once, and every webhook delivery is sent by one node only."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from api.service import pending_cases
from api.service.errors import ApiError
from api.service.pending_cases import PendingInput
from api.service.push.service import MATCHED_BUILD, PushService
from api.service.push.store import PUSH, RESULTS, NewItem, PushStore
from index_build.update import add_documents
from tests.api.push_env import (
    COURT,
    NEW_GUIDING,
    THEFT,
    UNRELATED,
    Receiver,
    fresh_index,
    make_accounts,
    principal,
    push_service,
    write_jsonl,
)
from tests.api_env import Tokens, serve, settings_for

# two service nodes on one database, threads racing: the whole suite, not the fast loop
pytestmark = pytest.mark.slow


@pytest.fixture
def nodes(
    sample_index: Path, tmp_path: Path, pg_database: str
) -> Iterator[tuple[Path, PushService, PushService]]:
    """Two nodes (Services and push service each, data folders of their own) on one database and
    one published index; their threads are off until a test starts them."""
    home = fresh_index(sample_index, tmp_path / "index")
    a_settings = settings_for(home, tmp_path / "node-a", database_url=pg_database)
    b_settings = settings_for(home, tmp_path / "node-b", database_url=pg_database)
    make_accounts(a_settings)
    with ExitStack() as stack:
        a = stack.enter_context(push_service(a_settings))
        b = stack.enter_context(push_service(b_settings))
        yield home, a, b


def _register(push: PushService, case_number: str = THEFT["case_number"]) -> dict:
    data = PendingInput(**{**THEFT, "causes": tuple(THEFT["causes"]), "case_number": case_number})
    return pending_cases.register(push, principal(push.services, "judge_a"), data, "test")


def _wait(predicate, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_a_case_registered_on_one_node_is_listed_and_pushed_on_the_other(nodes) -> None:
    home, a, b = nodes
    created = _register(a)
    judge_on_b = principal(b.services, "judge_a")
    assert [c.id for c in pending_cases.visible_cases(b, judge_on_b)] == [created["id"]]
    [results] = pending_cases.inbox(b, judge_on_b)["items"]
    assert results["kind"] == RESULTS and results["search_id"] == created["search"]["search_id"]

    add_documents(home, [write_jsonl(home.parent / "new.jsonl", [NEW_GUIDING, UNRELATED])], progress=False)
    previous = a.store.get_state(MATCHED_BUILD)
    summary = b.check_index()  # node B notices the build first and pushes to A's case
    assert summary is not None and summary.pushes == 1
    pushes = [
        i for i in pending_cases.inbox(a, principal(a.services, "judge_a"))["items"] if i["kind"] == PUSH
    ]
    assert [(p["doc_id"], p["pending_id"]) for p in pushes] == [(NEW_GUIDING["doc_id"], created["id"])]

    # Node A read the state before B committed it and matches the same change all over again: the
    # push B made is not made twice, A does not fail, and no second push record is written.
    with a.store.transaction() as tx:
        a.store.set_state(tx, MATCHED_BUILD, previous or "")
    again = a.check_index()
    assert again is not None and again.added == 2 and again.pushes == 0
    box = pending_cases.inbox(b, judge_on_b)["items"]
    assert [i["doc_id"] for i in box if i["kind"] == PUSH] == [NEW_GUIDING["doc_id"]]
    records = [r for r in a.services.audit_log().iter_records() if r.kind == "push"]
    assert len(records) == 1


def test_both_nodes_noticing_one_build_score_it_once_and_push_each_document_once(nodes, monkeypatch) -> None:
    home, a, b = nodes
    cases = [_register(a, f"（2025）浙0106刑初{n}号")["id"] for n in range(88, 91)]
    add_documents(home, [write_jsonl(home.parent / "new.jsonl", [NEW_GUIDING])], progress=False)
    # A scores slowly; B notices the same build meanwhile. B must wait for A, then find it matched.
    a_scoring, b_started = threading.Event(), threading.Event()
    scored: list[str] = []
    for name, node in (("a", a), ("b", b)):
        apply = node._apply

        def scoring(*args, _apply=apply, _name=name, **kwargs):
            scored.append(_name)
            if _name == "a":
                a_scoring.set()
                b_started.wait(10)
                time.sleep(2)  # time enough for B to reach its own scoring, were it not held back
            return _apply(*args, **kwargs)

        monkeypatch.setattr(node, "_apply", scoring)
    failures: list[BaseException] = []
    summaries = {}

    def run(name: str, node: PushService) -> None:
        try:
            if name == "b":
                a_scoring.wait(30)
                b_started.set()
            summaries[name] = node.check_index()
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=item) for item in (("a", a), ("b", b))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert scored == ["a"]  # B waited for A's matching, then found the build matched
    assert summaries["a"] is not None and summaries["a"].pushes == 3
    assert summaries["b"] is None or summaries["b"].pushes == 0
    box = pending_cases.inbox(b, principal(b.services, "judge_a"))["items"]
    pushed = sorted((i["pending_id"], i["doc_id"]) for i in box if i["kind"] == PUSH)
    assert pushed == [(case_id, NEW_GUIDING["doc_id"]) for case_id in cases]
    assert len([r for r in a.services.audit_log().iter_records() if r.kind == "push"]) == 3


def test_each_delivery_is_sent_by_one_node_when_both_deliver(nodes) -> None:
    _home, a, b = nodes
    receiver = Receiver(delay_s=0.3).start()  # slow answers: the two deliverers overlap
    try:
        receiver.secret = a.set_webhook(COURT, receiver.url)["secret"]
        assert b.store.webhook(COURT) is not None
        for n in range(88, 92):  # written before any deliverer runs: all four due at once
            _register(a, f"（2025）浙0106刑初{n}号")
        a.start(watch=False)
        b.start(watch=False)
        _wait(lambda: len(b.store.outbox_rows(state="delivered")) == 4)
        time.sleep(0.5)  # a second send would have arrived by now
        keys = [r["key"] for r in receiver.received]
        assert len(keys) == 4 and len(set(keys)) == 4
        for row in a.store.outbox_rows():
            assert [t["status"] for t in a.store.attempts(row["id"])] == [200]
        assert receiver.bad_signatures == 0
    finally:
        receiver.stop()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_claimed_delivery_is_nobody_elses_until_its_lease_runs_out(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    location = request.getfixturevalue("pg_database") if kind == "postgresql" else tmp_path / "push.sqlite"
    one, other = PushStore(location), PushStore(location)  # two nodes' connections
    try:
        with one.transaction() as tx:
            case_id = one.insert_case(
                tx,
                {
                    "court": COURT,
                    "case_number": "（2025）浙0106刑初1号",
                    "judge": "judge_a",
                    "facts": "f",
                    "created_at": "2026-01-01T00:00:00Z",
                },
            )
            item_id = one.insert_item(tx, NewItem(case_id, RESULTS, "", None, {}), None)
            assert item_id is not None
            assert one.insert_item(tx, NewItem(case_id, RESULTS, "", None, {}), None) is None
            one.enqueue(tx, item_id, COURT, "key-1", {"n": 1})
        now = time.time()
        claimed = one.claim_due(now, now + 60)
        assert claimed is not None and claimed[2] == "key-1"
        assert other.claim_due(now + 1, now + 61) is None  # taken: the other node skips it
        # the claiming node died mid-attempt: once the lease is over, the delivery is due again
        retaken = other.claim_due(now + 61, now + 121)
        assert retaken is not None and retaken[0] == claimed[0] and retaken[4] == 0
        assert other.attempt_done(
            claimed[0], 1, 200, None, delivered=True, dead=False, next_at=now, claimed_until=now + 121
        )
        # the first node wakes up with its answer long after: recorded, but the state stays delivered
        assert not one.attempt_done(
            claimed[0], 1, 500, "late", delivered=False, dead=False, next_at=now, claimed_until=now + 60
        )
        [row] = one.outbox_rows()
        assert row["state"] == "delivered" and row["last_error"] is None
        assert [a["status"] for a in one.attempts(claimed[0])] == [200, 500]
    finally:
        one.close()
        other.close()


def test_the_app_role_keeps_the_push_tables_but_deletes_nothing(pg_database: str) -> None:
    """``leian audit setup-db --app-role``: the service's role registers, pushes, claims and
    records deliveries in the push tables it did not create, and deletes nothing."""
    import uuid

    import psycopg
    from psycopg import errors, sql

    from api.cli.audit import main as audit_main
    from tests.audit_stores import admin_execute, database_url

    role = f"leian_app_{uuid.uuid4().hex[:10]}"
    try:
        assert audit_main(["setup-db", pg_database, "--app-role", role]) == 0
        app_url = database_url(pg_database.rsplit("/", 1)[1], user=role)
        store = PushStore(app_url)
        try:
            store.set_webhook(COURT, "http://127.0.0.1:9/hook", "s")
            assert store.rotate_secret(COURT, "t") == 2
            with store.transaction() as tx:
                case_id = store.insert_case(
                    tx,
                    {
                        "court": COURT,
                        "case_number": "（2025）浙0106刑初1号",
                        "judge": "judge_a",
                        "facts": "f",
                        "created_at": "2026-01-01T00:00:00Z",
                    },
                )
                store.add_case_docs(tx, case_id, ["d1", "d1"], "search")
                item_id = store.insert_item(tx, NewItem(case_id, PUSH, "d1", "b", {}), 1)
                assert item_id is not None
                store.enqueue(tx, item_id, COURT, "key-1", {})
                store.set_state(tx, MATCHED_BUILD, "b")
            claimed = store.claim_due(time.time(), time.time() + 60)
            assert claimed is not None
            store.attempt_done(claimed[0], 1, 200, None, delivered=True, dead=False, next_at=time.time())
            store.mark_read(item_id)
            assert store.case_docs() == {case_id: ["d1"]}
            assert store.outbox_rows(state="delivered")[0]["idempotency_key"] == "key-1"
        finally:
            store.close()
        with psycopg.connect(app_url, autocommit=True) as app:
            for statement in ("DELETE FROM inbox", "DELETE FROM outbox", "TRUNCATE pending_cases"):
                with pytest.raises(errors.InsufficientPrivilege):
                    app.execute(statement)
    finally:
        admin_execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)), pg_database)
        admin_execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_two_apps_on_one_database_share_pending_cases_and_inboxes(
    sample_index: Path, tmp_path: Path, pg_database: str
) -> None:
    home = fresh_index(sample_index, tmp_path / "index")
    with serve(home, tmp_path / "node-a", database_url=pg_database) as a:
        tokens = Tokens(a.tokens, a.revoked, a.expired)
        with serve(home, tmp_path / "node-b", tokens=tokens, database_url=pg_database) as b:
            body = {"case_number": THEFT["case_number"], "facts": THEFT["facts"], "causes": THEFT["causes"]}
            created = a.client.post("/api/v1/pending-cases", json=body, headers=a.h("judge_a"))
            assert created.status_code == 201, created.text
            listed = b.client.get("/api/v1/pending-cases", headers=b.h("judge_a"))
            assert listed.status_code == 200, listed.text
            assert [c["id"] for c in listed.json()["cases"]] == [created.json()["id"]]
            again = b.client.post("/api/v1/pending-cases", json=body, headers=b.h("judge_a"))
            assert again.status_code == 409 and again.json()["error"]["existing_id"] == created.json()["id"]
            add_documents(home, [write_jsonl(tmp_path / "new.jsonl", [NEW_GUIDING])], progress=False)
            b.app.state.push.check_index()
            a.app.state.push.check_index()
            box = a.client.get("/api/v1/inbox", headers=a.h("judge_a")).json()
            assert sorted(i["kind"] for i in box["items"]) == [PUSH, RESULTS]
            assert box == b.client.get("/api/v1/inbox", headers=b.h("judge_a")).json()
    for node in ("node-a", "node-b"):
        assert not (tmp_path / node / "data" / "push.sqlite").exists()


def test_a_database_set_up_before_the_push_tables_refuses_pushes_only_until_setup_db(
    sample_index: Path, tmp_path: Path, pg_database: str
) -> None:
    """An upgrade: the application role may not create the push tables. The pending cases and the
    inbox answer 503 naming ``setup-db``, searches go on, and once it has run they open unrestarted."""
    import uuid

    from psycopg import sql

    from api.cli.audit import main as audit_main
    from api.service.push.store import PG_TABLES
    from tests.api_env import create_accounts
    from tests.audit_stores import admin_execute, database_url

    role = f"leian_app_{uuid.uuid4().hex[:10]}"
    try:
        assert audit_main(["setup-db", pg_database, "--app-role", role]) == 0
        tables = sql.SQL(", ").join(sql.Identifier(t) for t in PG_TABLES)
        admin_execute(sql.SQL("DROP TABLE {} CASCADE").format(tables), pg_database)  # as before pushes
        app_url = database_url(pg_database.rsplit("/", 1)[1], user=role)
        tokens = create_accounts(settings_for(sample_index, tmp_path / "setup", database_url=app_url))
        with serve(sample_index, tmp_path / "node", tokens=tokens, database_url=app_url) as env:
            refused = env.client.get("/api/v1/pending-cases", headers=env.h("judge_a"))
            assert refused.status_code == 503, refused.text
            error = refused.json()["error"]
            assert error["code"] == "push_unavailable" and "setup-db" in error["message_en"]
            assert env.search("judge_a").status_code == 200
            assert audit_main(["setup-db", pg_database, "--app-role", role]) == 0
            listed = env.client.get("/api/v1/pending-cases", headers=env.h("judge_a"))
            assert listed.status_code == 200 and listed.json()["cases"] == []
    finally:
        admin_execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)), pg_database)
        admin_execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_a_push_decided_and_a_case_closed_on_two_nodes_at_once_is_recorded_once(nodes, monkeypatch) -> None:
    """Node B read the item (and the case) before node A's decision committed: B's decision is
    refused, and its 结案 adds nothing, however the two requests interleave."""
    _home, a, b = nodes
    created = _register(a)
    judge_a, judge_b = principal(a.services, "judge_a"), principal(b.services, "judge_a")
    [item] = pending_cases.inbox(b, judge_b)["items"]
    stale_item, stale_case = pending_cases._item_for(b, judge_b, item["id"])
    stale = b.store.case(created["id"])
    pending_cases.decide(a, judge_a, item["id"], "accept", "", "test")
    pending_cases.close(a, judge_a, created["id"], "test")
    monkeypatch.setattr(pending_cases, "_item_for", lambda *args: (stale_item, stale_case))
    monkeypatch.setattr(pending_cases, "get_case", lambda *args: stale)
    with pytest.raises(ApiError) as refused:
        pending_cases.decide(b, judge_b, item["id"], "dismiss", "不同", "test")
    assert refused.value.status == 409 and refused.value.extra == {"state": "accepted"}
    assert pending_cases.close(b, judge_b, created["id"], "test")["status"] == "结案"
    actions = [
        r.to_dict()["payload"]["action"] for r in a.services.audit_log().iter_records() if r.kind == "push"
    ]
    assert actions == ["accept", "close"]
    assert a.store.item(item["id"])["state"] == "accepted"
