"""智能推送 end to end at the service level: register, publish, match, inbox, webhook, restart.

Each test runs twice: the push store in ``DATA/push.sqlite``, and in a PostgreSQL database
(LEIAN_DATABASE_URL, with the accounts and the audit log) as a cluster's nodes share it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from api.service import pending_cases
from api.service.errors import ApiError
from api.service.pending_cases import PendingInput
from api.service.push.store import ALERT, PUSH, PUSH_DB, RESULTS
from index_build.update import add_documents, withdraw_document
from retrieval.audit.records import RecordKind
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
from tests.api_env import settings_for


# The PostgreSQL store runs in the whole suite, the SQLite one in the fast loop too.
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def env(request: pytest.FixtureRequest, sample_index: Path, tmp_path: Path):
    home = fresh_index(sample_index, tmp_path / "index")
    url = request.getfixturevalue("pg_database") if request.param == "postgresql" else None
    settings = settings_for(home, tmp_path, database_url=url)
    make_accounts(settings)
    yield home, settings, tmp_path
    # in PostgreSQL the node keeps no push file of its own
    assert (settings.data_dir / PUSH_DB).exists() == (url is None)


def _register(push, who: str = "judge_a", **fields):
    data = PendingInput(**{**THEFT, "causes": tuple(THEFT["causes"]), **fields})
    return pending_cases.register(push, principal(push.services, who), data, "test")


def _records(push, kind: str) -> list[dict]:
    return [r.to_dict() for r in push.services.audit_log().iter_records() if r.kind == kind]


def _wait(predicate, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_registration_searches_once_with_trigger_smart_push(env) -> None:
    _, settings, _ = env
    with push_service(settings) as push:
        created = _register(push)
        searches = _records(push, RecordKind.SEARCH)
        assert [s["payload"]["trigger"] for s in searches] == ["智能推送"]
        assert searches[0]["payload"]["case_number"] == THEFT["case_number"]
        assert searches[0]["actor"]["user"] == "judge_a"
        box = pending_cases.inbox(push, principal(push.services, "judge_a"))
        assert box["unread"] == 1
        [item] = box["items"]
        assert item["kind"] == RESULTS and item["search_id"] == created["search"]["search_id"]
        assert item["result_count"] == len(searches[0]["payload"]["results"]) > 0


def test_new_build_pushes_the_new_guiding_case_once_to_inbox_and_webhook(env) -> None:
    home, settings, tmp = env
    receiver = Receiver().start()
    try:
        with push_service(settings) as push:
            hook = push.set_webhook(COURT, receiver.url)
            receiver.secret = hook["secret"]
            created = _register(push)
            add_documents(home, [write_jsonl(tmp / "new.jsonl", [NEW_GUIDING, UNRELATED])], progress=False)
            summary = push.check_index()
            assert summary is not None and summary.added == 2 and summary.pushes == 1
            judge = principal(push.services, "judge_a")
            pushes = [i for i in pending_cases.inbox(push, judge)["items"] if i["kind"] == PUSH]
            assert [(p["doc_id"], p["pending_id"]) for p in pushes] == [
                (NEW_GUIDING["doc_id"], created["id"])
            ]
            assert pushes[0]["tier"] == 1 and "盗窃罪" in pushes[0]["why"]
            assert pushes[0]["explanation"]["shared_causes"] == ["盗窃罪"]
            # audited: pending 案号, build, documents, why
            [record] = [r for r in _records(push, RecordKind.PUSH) if r["payload"]["action"] == "push"]
            assert record["payload"]["case_number"] == THEFT["case_number"]
            assert record["payload"]["build_id"] == push.services.index().version
            assert [d["doc_id"] for d in record["payload"]["documents"]] == [NEW_GUIDING["doc_id"]]
            assert pushes[0]["audit_seq"] == record["seq"]
            # matching the same build again pushes nothing more
            assert push.check_index() is None
            assert push.match(push.services.index()).pushes == 0
            while push.deliver_due():
                pass
            events = [r["body"] for r in receiver.received]
            assert [e["event"] for e in events] == [RESULTS, PUSH]
            assert events[1]["item"]["doc_id"] == NEW_GUIDING["doc_id"]
            assert receiver.bad_signatures == 0
            assert len({r["key"] for r in receiver.received}) == 2
    finally:
        receiver.stop()


def test_withdrawing_a_shown_case_alerts_once(env) -> None:
    home, settings, _ = env
    with push_service(settings) as push:
        _register(push)
        shown = push.store.case_docs()[1]
        victim = shown[0]
        withdraw_document(home, victim, "最高人民法院通知不再参照（测试）")
        summary = push.check_index()
        assert summary is not None and summary.alerts == 1 and summary.pushes == 0
        alerts = [
            i
            for i in pending_cases.inbox(push, principal(push.services, "judge_a"))["items"]
            if i["kind"] == ALERT
        ]
        assert [a["doc_id"] for a in alerts] == [victim]
        assert alerts[0]["effect"] == "不再参照"
        assert [r["payload"]["action"] for r in _records(push, RecordKind.PUSH)] == ["alert"]


def test_closed_case_gets_no_push(env) -> None:
    home, settings, tmp = env
    with push_service(settings) as push:
        created = _register(push)
        pending_cases.close(push, principal(push.services, "judge_a"), created["id"], "test")
        add_documents(home, [write_jsonl(tmp / "new.jsonl", [NEW_GUIDING])], progress=False)
        summary = push.check_index()
        assert summary is not None and summary.pushes == 0 and summary.open_cases == 0


def test_dismissed_push_is_audited_and_never_pushed_again(env) -> None:
    home, settings, tmp = env
    with push_service(settings) as push:
        _register(push)
        add_documents(home, [write_jsonl(tmp / "new.jsonl", [NEW_GUIDING])], progress=False)
        push.check_index()
        judge = principal(push.services, "judge_a")
        [item] = [i for i in pending_cases.inbox(push, judge)["items"] if i["kind"] == PUSH]
        with pytest.raises(ApiError) as refused:
            pending_cases.decide(push, judge, item["id"], "dismiss", " ", "test")
        assert refused.value.fields == ["reason"]
        with pytest.raises(ApiError) as other:
            pending_cases.decide(push, principal(push.services, "president_a"), item["id"], "accept", "", "t")
        assert other.value.status == 403
        done = pending_cases.decide(push, judge, item["id"], "dismiss", "案情不同：本案系多次入户", "test")
        assert done["state"] == "dismissed"
        actions = [r["payload"]["action"] for r in _records(push, RecordKind.PUSH)]
        assert actions == ["push", "dismiss"]
        subs = push.subscriptions(push.store.cases(status="在办"))
        assert NEW_GUIDING["doc_id"] in subs[0].seen


def test_bad_input_and_duplicates(env) -> None:
    _, settings, _ = env
    with push_service(settings) as push:
        for fields, name in (({"facts": "  "}, "facts"), ({"causes": ("不存在的罪名",)}, "causes")):
            with pytest.raises(ApiError) as bad:
                _register(push, **fields)
            assert bad.value.status == 422 and bad.value.fields == [name]
        created = _register(push)
        with pytest.raises(ApiError) as dup:
            _register(push, judge="judge_a")
        assert dup.value.status == 409 and dup.value.extra["existing_id"] == created["id"]
        assert len(push.store.cases()) == 1
        # the same 案号 in another court is another case
        other = _register(push, who="judge_b")
        assert other["id"] != created["id"]


def test_visibility(env) -> None:
    _, settings, _ = env
    with push_service(settings) as push:
        created = _register(push)
        for who, sees in (("judge_a", True), ("president_a", True), ("auditor_a", True), ("judge_a2", False)):
            box = pending_cases.inbox(push, principal(push.services, who))
            assert bool(box["items"]) is sees, who
        with pytest.raises(ApiError) as hidden:
            pending_cases.get_case(push, principal(push.services, "judge_b"), created["id"])
        assert hidden.value.status == 403


def test_webhook_url_refused_outside_allow_list(env) -> None:
    _, settings, _ = env
    with push_service(settings) as push:
        for url in ("ftp://127.0.0.1/x", "http://evil.example.com/hook", "file:///etc/passwd"):
            with pytest.raises(ApiError) as refused:
                push.set_webhook(COURT, url)
            assert refused.value.fields == ["url"]
        assert push.store.webhook(COURT) is None


def test_retries_then_delivered_once(env) -> None:
    _home, settings, _tmp = env
    receiver = Receiver(statuses=[500, 500]).start()
    try:
        with push_service(settings) as push:
            receiver.secret = push.set_webhook(COURT, receiver.url)["secret"]
            _register(push)
            push.start(watch=False)
            _wait(lambda: push.store.outbox_rows(state="delivered"))
            [row] = push.store.outbox_rows()
            attempts = push.store.attempts(row["id"])
            assert [a["status"] for a in attempts] == [500, 500, 200]
            assert len(receiver.received) == 1
            assert push.status()["counts"] == {"delivered": 1}
    finally:
        receiver.stop()


def test_dead_letter_after_max_attempts(env) -> None:
    _, settings, _ = env
    receiver = Receiver(statuses=[503] * 10).start()
    try:
        with push_service(settings, max_attempts=3) as push:
            receiver.secret = push.set_webhook(COURT, receiver.url)["secret"]
            _register(push)
            push.start(watch=False)
            _wait(lambda: push.store.outbox_rows(state="dead"))
            assert push.status()["dead"][0]["attempts"] == 3
            assert receiver.received == []
    finally:
        receiver.stop()


def test_rotated_secret_old_and_new_both_verify_during_grace(env) -> None:
    _, settings, _ = env
    receiver = Receiver().start()
    try:
        with push_service(settings) as push:
            old = push.set_webhook(COURT, receiver.url)["secret"]
            new = push.rotate_secret(COURT)["secret"]
            receiver.secret = old  # a receiver that has not switched yet
            _register(push)
            push.deliver_due()
            assert len(receiver.received) == 1
            receiver.secret = new
            _register(push, case_number="（2025）浙0106刑初89号")
            push.deliver_due()
            assert len(receiver.received) == 2 and receiver.bad_signatures == 0
    finally:
        receiver.stop()


def test_kill_between_publish_and_delivery_loses_nothing(env) -> None:
    home, settings, tmp = env
    receiver = Receiver().start()
    try:
        with push_service(settings) as push:
            receiver.secret = push.set_webhook(COURT, receiver.url)["secret"]
            _register(push)
            push.deliver_due()  # the registration results are out
        # published while the service was down: nothing matched, nothing delivered
        add_documents(home, [write_jsonl(tmp / "new.jsonl", [NEW_GUIDING])], progress=False)
        with push_service(settings) as push:
            summary = push.check_index()
            assert summary is not None and summary.pushes == 1
            # "killed" before delivery: the outbox row is durable
        with push_service(settings) as push:
            assert push.check_index() is None
            assert len(push.store.outbox_rows(state="pending")) == 1
            push.deliver_due()
        assert [r["body"]["event"] for r in receiver.received] == [RESULTS, PUSH]
    finally:
        receiver.stop()


def test_unreachable_webhook_does_not_block_matching(env) -> None:
    home, settings, tmp = env
    with push_service(settings, timeout_s=0.5) as push:
        push.store.set_webhook(COURT, "http://127.0.0.1:9/hook", "s")  # nothing listens on port 9
        push.start(watch=False)
        _register(push)
        add_documents(home, [write_jsonl(tmp / "new.jsonl", [NEW_GUIDING])], progress=False)
        clock = time.perf_counter()
        summary = push.check_index()
        assert summary is not None and summary.pushes == 1
        assert time.perf_counter() - clock < 5
        _wait(lambda: any(r["attempts"] for r in push.store.outbox_rows()))


def test_a_damaged_new_build_is_refused_and_the_old_one_keeps_serving(env) -> None:
    home, settings, tmp = env
    with push_service(settings) as push:
        _register(push)
        served = push.services.index().version
        result = add_documents(home, [write_jsonl(tmp / "new.jsonl", [NEW_GUIDING])], progress=False)
        (result.build_dir / "metadata.sqlite").write_bytes(b"damaged")
        assert push.check_index() is None
        assert push.services.index().version == served
        assert push.store.get_state("matched_build") == served


def test_a_registration_rolled_back_after_its_search_leaves_log_and_ledger_agreeing(env, monkeypatch) -> None:
    """The registration's search is the judge's and stays recorded (log and ledger) when the case's
    own rows fail after it: the ledger never names a search the log lacks, and later searches go on."""
    _, settings, _ = env
    with push_service(settings) as push:

        def broken(*args, **kwargs):
            raise RuntimeError("disk full (test)")

        monkeypatch.setattr(push.store, "insert_item", broken)
        with pytest.raises(RuntimeError):
            _register(push)
        monkeypatch.undo()
        assert push.store.cases() == []  # the case's rows rolled back
        [search] = _records(push, RecordKind.SEARCH)
        assert push.services.accounts.ledger.search(search["seq"]) is not None
        created = _register(push)  # the next search gets the next seq, and its ledger row
        assert created["search"]["search_id"] > search["seq"]
        assert push.services.accounts.ledger.search(created["search"]["search_id"]) is not None
        assert [s["seq"] for s in _records(push, RecordKind.SEARCH)] == [
            search["seq"],
            created["search"]["search_id"],
        ]
