"""Replaying account records (``retrieval.audit.accounts_replay``): pure, over records as the log holds them."""

from __future__ import annotations

from typing import Any

import pytest

from retrieval.audit.accounts_replay import (
    AccountsState,
    ReplayError,
    TokenRow,
    UserRow,
    check_accounts,
    courts_concerned,
    differences,
    replay_accounts,
)
from retrieval.audit.records import (
    ACCOUNTS_SCHEMA,
    AccountRecord,
    AccountsSnapshotRecord,
    Actor,
    AuditRecord,
    InvalidRecord,
    TokenRecord,
    payload_schema,
)

COURT = "浙江省杭州市西湖区人民法院"
USER = {"name": "李审管", "role": "审判管理", "court": COURT}
T0 = "2026-01-01T00:00:00.000Z"


def _log(*entries: Any) -> list[AuditRecord]:
    actor = Actor("ops", "operator")
    return [AuditRecord(i, e.kind.value, T0, actor, "cli", e.to_payload()) for i, e in enumerate(entries)]


def _create(uid: int = 1, user: dict[str, Any] = USER) -> AccountRecord:
    return AccountRecord("create_user", user, user_id=uid, created_at=T0)


def _issue(token_id: str = "t1", uid: int = 1) -> TokenRecord:
    return TokenRecord("issue", token_id, USER, "2027-01-01T00:00:00.000Z", uid, "ab" * 32, T0)


def test_whole_row_records_round_trip_and_old_ones_stay_readable() -> None:
    for entry in (_create(), _issue(), TokenRecord("revoke", "t1", USER, user_id=1, revoked_at=T0)):
        payload = entry.to_payload()
        assert payload_schema(payload) == ACCOUNTS_SCHEMA
        assert type(entry).from_payload(payload) == entry
    old = {"action": "create_user", "user": USER, "schema": 1}  # as the previous version wrote it
    assert AccountRecord.from_payload(old) == AccountRecord("create_user", USER)
    with pytest.raises(InvalidRecord, match="newer"):
        TokenRecord.from_payload({**_issue().to_payload(), "schema": ACCOUNTS_SCHEMA + 1})


def test_replay_follows_issue_change_revoke_and_a_snapshot_restarts_it() -> None:
    moved = {**USER, "court": "浙江省杭州市中级人民法院"}
    records = _log(
        _create(),
        _issue(),
        AccountRecord("change_user", moved, user_id=1, created_at=T0, previous=USER),
        TokenRecord("revoke", "t1", moved, user_id=1, revoked_at="2026-02-01T00:00:00.000Z"),
    )
    replay = replay_accounts(records)
    assert replay.complete and replay.records == 4
    assert replay.state.users == (UserRow(1, "李审管", "审判管理", moved["court"], T0),)
    assert replay.state.tokens[0].revoked_at == "2026-02-01T00:00:00.000Z"
    snapshot = AccountsState.of([UserRow(7, "王法官", "承办法官", COURT, T0)], [])
    again = replay_accounts([*records, *_log(snapshot.snapshot("adopt"))])
    assert again.state == snapshot


def test_records_from_before_whole_rows_ask_for_adoption_not_a_guess() -> None:
    records = _log(AccountRecord("create_user", USER), _issue(uid=1))  # the issue names an unknown user
    replay = replay_accounts(records)
    assert not replay.complete and replay.legacy == (0,)
    check = check_accounts(records, AccountsState())
    assert check.needs_adoption and "leian accounts adopt" in check.summary()


@pytest.mark.parametrize(
    "entries",
    [
        (_create(), _create()),  # created twice
        (_issue(),),  # a token of nobody
        (_create(), TokenRecord("revoke", "t9", USER, user_id=1, revoked_at=T0)),  # never issued
        (_create(), AccountRecord("change_user", {**USER, "name": "x"}, user_id=1, created_at=T0)),
    ],
)
def test_contradictory_records_do_not_replay(entries: tuple[Any, ...]) -> None:
    with pytest.raises(ReplayError):
        replay_accounts(_log(*entries))
    assert not check_accounts(_log(*entries), AccountsState()).ok


def test_differences_name_each_row_and_field() -> None:
    logged = replay_accounts(_log(_create(), _issue())).state
    held = AccountsState.of(
        [UserRow(1, "李审管", "admin", None, T0)],
        [*logged.tokens, TokenRow("t2", 1, "cd" * 32, T0, "2099-01-01T00:00:00.000Z")],
    )
    lines = differences(logged, held)
    assert "user '李审管': role is 'admin' in the database, the log says '审判管理'" in lines
    assert f"user '李审管': court is None in the database, the log says '{COURT}'" in lines
    assert "token t2 of '李审管' is in the database, but no audit record issued it" in lines
    assert differences(logged, logged) == []


def test_a_change_is_recorded_under_each_court_concerned_and_replays_once() -> None:
    assert courts_concerned(_issue()) == (COURT,)
    assert courts_concerned(AccountRecord("create_user", {"name": "a", "role": "admin", "court": None})) == (
        None,
    )
    assert courts_concerned(AccountsSnapshotRecord((), ())) == (None,)
    moved = {**USER, "court": "浙江省杭州市中级人民法院"}
    change = AccountRecord("change_user", moved, user_id=1, created_at=T0, previous=USER)
    assert courts_concerned(change) == (COURT, moved["court"])  # the court it left, the court it joined
    promoted = AccountRecord(
        "change_user", {**USER, "role": "admin"}, user_id=1, created_at=T0, previous=USER
    )
    assert courts_concerned(promoted) == (COURT,)
    once, twice = replay_accounts(_log(_create(), change)), replay_accounts(_log(_create(), change, change))
    assert once.state == twice.state and once.state.users[0].court == moved["court"]
