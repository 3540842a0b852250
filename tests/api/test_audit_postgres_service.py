"""Service nodes on one PostgreSQL database (LEIAN_DATABASE_URL): one audit chain, one set of accounts,
one ledger of searches and marks for all of them."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from api.http.app import create_app
from api.service.accounts import AccountStore
from api.service.accounts_audit import check_store
from api.service.config import Settings
from retrieval.audit.pg_storage import redacted
from retrieval.audit.receipts import Receipt, check_receipt
from retrieval.audit.signing import load_private_key
from retrieval.audit.store import AuditLog
from tests.api_env import Tokens, serve
from tests.audit_stores import admin_execute


@pytest.mark.slow  # two service nodes started over the sample index
def test_two_nodes_write_one_chain_and_share_accounts_and_ledger(
    sample_index: Path, tmp_path: Path, pg_database: str
) -> None:
    with serve(sample_index, tmp_path / "node-a", database_url=pg_database) as a:
        tokens = Tokens(a.tokens, a.revoked, a.expired)  # made once, through node A: B sees them
        with serve(sample_index, tmp_path / "node-b", tokens=tokens, database_url=pg_database) as b:
            ready = a.client.get("/readyz")
            assert ready.status_code == 200, ready.text
            audit = ready.json()["checks"]["audit"]
            assert audit["ok"] and audit["store"] == "postgresql"
            assert audit["database"] == redacted(pg_database)
            answer = a.search("judge_a")
            assert answer.status_code == 200, answer.text
            receipt = Receipt.from_dict(answer.json()["audit"])
            search_id = answer.json()["search_id"]
            # node B reads the search node A recorded, in the same chain and the same ledger
            seen = [r for r in b.records("auditor_a", kind="search") if r["seq"] == receipt.seq]
            assert len(seen) == 1
            doc = answer.json()["tiers"][0]["results"][0]["doc_id"]
            mark = {"marks": [{"doc_id": doc, "label": "类案", "reason": "同为入户盗窃"}]}
            marked = b.client.post(
                f"/api/v1/searches/{search_id}/decisions", json=mark, headers=b.h("judge_a")
            )
            assert marked.status_code == 200, marked.text
            summary = a.client.get(f"/api/v1/searches/{search_id}", headers=a.h("judge_a")).json()
            assert [(d["doc_id"], d["label"]) for d in summary["decisions"]] == [(doc, "类案")]
            # the revoked and expired tokens are refused by both nodes alike
            for env in (a, b):
                for token in (a.revoked, a.expired):
                    denied = env.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
                    assert denied.status_code == 401
            later = b.search("judge_a")
            assert later.status_code == 200 and later.json()["search_id"] > search_id
    for folder in ("node-a", "node-b"):
        assert not (tmp_path / folder / "data" / "audit.sqlite").exists()
        assert not (tmp_path / folder / "data" / "accounts.sqlite").exists()
    with AuditLog(pg_database) as log, contextlib.closing(AccountStore(pg_database)) as accounts:
        assert log.verify() == log.stored_size()
        assert [r.kind for r in log.iter_kinds(("search",))] == ["search", "search"]
        check = check_receipt(receipt, log, load_private_key(a.key_path).public_key())
        assert check.ok, check.problems
        assert check_store(accounts, log).ok  # the shared accounts are the ones the shared log rebuilds


def test_readyz_fails_when_the_database_goes_away(tmp_path: Path, pg_database: str) -> None:
    settings = Settings(index_home=None, data_dir=tmp_path, create_signing_key=True, database_url=pg_database)
    with TestClient(create_app(settings)) as client:
        checks = client.get("/readyz").json()["error"]["checks"]  # 503 anyway: no index here
        assert checks["audit"]["ok"] and checks["accounts"]["ok"]
        assert checks["audit"]["store"] == "postgresql"
        name = pg_database.rsplit("/", 1)[1]
        admin_execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        response = client.get("/readyz")
        assert response.status_code == 503
        checks = response.json()["error"]["checks"]
        assert checks["audit"]["ok"] is False and checks["accounts"]["ok"] is False


def test_the_app_role_keeps_accounts_and_the_log_but_deletes_nothing(
    tmp_path: Path, pg_database: str
) -> None:
    """``leian audit setup-db --app-role``: the service's role changes accounts, appends records, and
    can neither delete an account nor touch a record."""
    import uuid

    import psycopg
    from psycopg import errors

    from api.cli.audit import main as audit_main
    from api.service.accounts import Role
    from retrieval.audit.records import Actor
    from tests.audit_stores import database_url

    role = f"leian_app_{uuid.uuid4().hex[:10]}"
    try:
        assert audit_main(["setup-db", pg_database, "--app-role", role]) == 0
        app_url = database_url(pg_database.rsplit("/", 1)[1], user=role)
        with AuditLog(app_url) as log, contextlib.closing(AccountStore(app_url)) as accounts:

            def record(entry: object) -> object:
                return log.record(Actor("ops", "operator"), "test", entry)  # type: ignore[arg-type]

            accounts.create_user("王法官", Role.JUDGE, "浙江省杭州市西湖区人民法院", record)
            info, token = accounts.issue_token("王法官", None, record)
            accounts.revoke_token(info.token_id, record)
            accounts.ledger.record_search(
                7, accounts.user("王法官"), "（2026）浙0106刑初1号", "x", "t", ["d1"]
            )
            assert accounts.authenticate(token) is None and check_store(accounts, log).ok
        with psycopg.connect(app_url, autocommit=True) as app:
            for statement in (
                "DELETE FROM users",
                "DELETE FROM searches",
                "TRUNCATE tokens",
                "DROP TABLE users",
            ):
                with pytest.raises(errors.InsufficientPrivilege):
                    app.execute(statement)
    finally:
        admin_execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)), pg_database)
        admin_execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_an_account_row_and_its_record_commit_together_or_not_at_all(
    tmp_path: Path, pg_database: str
) -> None:
    """On PostgreSQL the record joins the account change's transaction: a change that fails after
    its record was appended leaves neither (on SQLite, two files, the record would stay)."""
    from api.service.accounts import Role
    from retrieval.audit.records import Actor
    from retrieval.audit.signing import generate_key

    court = "浙江省杭州市西湖区人民法院"
    key = generate_key(tmp_path / "key.pem")
    with (
        AuditLog(pg_database, witness=tmp_path / "witness.json", signer=key) as log,
        contextlib.closing(AccountStore(pg_database)) as accounts,
    ):

        def record(entry: object) -> object:
            return log.record(Actor("ops", "operator"), "test", entry)  # type: ignore[arg-type]

        def record_then_fail(entry: object) -> object:
            record(entry)
            raise RuntimeError("the request failed after its record was appended")

        accounts.create_user("王法官", Role.JUDGE, court, record)
        size = log.stored_size()
        with pytest.raises(RuntimeError):
            accounts.create_user("李法官", Role.JUDGE, court, record_then_fail)
        assert accounts.user("李法官") is None and log.stored_size() == size  # neither the row nor the record
        assert log.tree_head()[0] == size
        # the node goes on: the tree, the witness and the next seq never saw the rolled-back record
        info, _ = accounts.issue_token("王法官", None, record)
        after = log.append("search", Actor("王法官", "承办法官", court), "api", {"query": "q"})
        assert after.seq == size + 1 and after.receipt is not None
        log.check_witness()
        assert log.verify() == size + 2 and check_store(accounts, log).ok
        tokens = [r for r in log.iter_kinds(("token",))]
        assert [r.payload["token_id"] for r in tokens] == [info.token_id]


def test_accounts_survive_the_server_dropping_their_connection(tmp_path: Path, pg_database: str) -> None:
    from api.service.accounts import Role
    from retrieval.audit.records import Actor

    with AuditLog(pg_database) as log, contextlib.closing(AccountStore(pg_database)) as accounts:

        def record(entry: object) -> object:
            return log.record(Actor("ops", "operator"), "test", entry)  # type: ignore[arg-type]

        accounts.create_user("王法官", Role.JUDGE, "浙江省杭州市西湖区人民法院", record)
        name = pg_database.rsplit("/", 1)[1]
        admin_execute(
            sql.SQL("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {}").format(
                sql.Literal(name)
            )
        )
        # a change (BEGIN on a new connection, for the accounts and the log alike) and a snapshot
        accounts.issue_token("王法官", None, record)
        assert len(accounts.state().tokens) == 1 and check_store(accounts, log).ok
