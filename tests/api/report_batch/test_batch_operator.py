"""``leian report batch`` signs reports only as the account of the OS user who runs it.

Refusals happen before anything is searched (exit 2, the audit log unchanged); acting for another
judge takes an admin's ``--as-user U --admin-override REASON``, recorded before the first search.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from api.cli.main import main as leian
from api.service.config import Settings
from api.service.report_batch.operator import OS_USERS_FILE
from retrieval.audit.store import AuditLog
from tests.api_env import create_accounts, settings_for
from tests.conftest import SAMPLES, read_jsonl

THEFT = read_jsonl(SAMPLES / "pending" / "pending_cases.jsonl")[0]
OS_NAME = "clerk07"


@dataclass
class Setup:
    settings: Settings
    index: Path
    pending: Path
    root: Path

    def run(self, *args: str, out: str = "out") -> int:
        return leian(
            [
                "report",
                "batch",
                str(self.pending),
                "--out",
                str(self.root / out),
                "--index",
                str(self.index),
                "--data",
                str(self.settings.data_dir),
                "--trigger",
                "其他",
                "--quiet",
                *args,
            ]
        )

    def map_os_user(self, account: str) -> None:
        (self.settings.data_dir / OS_USERS_FILE).write_text(json.dumps({OS_NAME: account}), "utf-8")

    def kinds(self) -> list[str]:
        with AuditLog(self.settings.audit_db) as log:
            return [r.kind for r in log.iter_records()]


@pytest.fixture
def setup(sample_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    settings = settings_for(sample_index, tmp_path)
    create_accounts(settings)
    pending = tmp_path / "pending.jsonl"
    case = {k: v for k, v in THEFT.items() if k not in ("judge", "court", "role")}
    pending.write_text(json.dumps(case, ensure_ascii=False) + "\n", encoding="utf-8")
    monkeypatch.setattr("api.cli.report_batch.os_user", lambda: OS_NAME)
    yield Setup(settings, sample_index, pending, tmp_path)


@pytest.mark.parametrize(
    ("mapped", "args", "message"),
    [
        (None, ["--user", "judge_a"], f"the OS user '{OS_NAME}' has no account"),
        ("judge_a", ["--user", "judge_b"], "signs as 'judge_a' only, not as judge_b"),
        ("judge_a", ["--user", "nobody"], "--user: no account 'nobody'"),
        ("judge_a", ["--as-user", "judge_b"], "--as-user: acting as another account needs --admin-override"),
        (
            "judge_a",
            ["--as-user", "judge_b", "--admin-override", "庭长交办"],
            "not mapped to an active admin",
        ),
        ("admin", ["--as-user", "judge_b", "--admin-override", "  "], "--admin-override: give the reason"),
        ("auditor_a", [], "is 审判管理, who does not search"),
    ],
)
def test_the_batch_refuses_to_sign_as_anyone_but_the_os_users_account(
    setup: Setup, mapped: str | None, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if mapped is not None:
        setup.map_os_user(mapped)
    before = setup.kinds()
    assert setup.run(*args) == 2
    assert message in capsys.readouterr().err
    assert setup.kinds() == before  # nothing searched, nothing recorded
    assert not (setup.root / "out" / "reports").exists()


def test_a_row_naming_another_judge_is_refused_too(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    setup.map_os_user("judge_a")
    row = {**json.loads(setup.pending.read_text("utf-8")), "judge": "judge_a2"}
    setup.pending.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    assert setup.run() == 2
    assert "not as judge_a2" in capsys.readouterr().err


@pytest.mark.slow  # one real search and its four report files
def test_the_os_users_own_account_signs_and_an_override_is_audited_first(setup: Setup) -> None:
    setup.map_os_user("judge_a")
    assert setup.run() == 0  # no --user: the OS user's own account
    setup.map_os_user("admin")
    reason = "承办法官休假，庭长交办代为检索"
    assert setup.run("--as-user", "judge_a2", "--admin-override", reason, out="out2") == 0
    with AuditLog(setup.settings.audit_db) as log:
        records = [r for r in log.iter_records() if r.kind in ("search", "override", "report")]
    searches = [r for r in records if r.kind == "search"]
    assert [r.actor.user for r in searches] == ["judge_a", "judge_a2"]
    assert {r.client for r in records} == {f"cli:{OS_NAME}"}
    (override,) = [r for r in records if r.kind == "override"]
    assert override.seq < searches[1].seq and override.actor.user == "admin"
    assert override.payload["as_users"] == ["judge_a2"] and override.payload["reason"] == reason
    assert override.payload["os_user"] == OS_NAME
