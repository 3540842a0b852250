"""Service nodes whose audit log is in PostgreSQL (LEIAN_DATABASE_URL): one chain for all of them."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.http.app import create_app
from api.service.config import Settings
from retrieval.audit.pg_storage import redacted
from retrieval.audit.receipts import Receipt, check_receipt
from retrieval.audit.signing import load_private_key
from retrieval.audit.store import AuditLog
from tests.api_env import serve
from tests.audit_stores import database_url


@pytest.mark.slow  # two service nodes started over the sample index
def test_two_nodes_write_one_chain_and_readyz_names_the_database(
    sample_index: Path, tmp_path: Path, pg_database: str
) -> None:
    with (
        serve(sample_index, tmp_path / "node-a", database_url=pg_database) as a,
        serve(sample_index, tmp_path / "node-b", database_url=pg_database) as b,
    ):
        ready = a.client.get("/readyz")
        assert ready.status_code == 200, ready.text
        audit = ready.json()["checks"]["audit"]
        assert audit["ok"] and audit["store"] == "postgresql" and audit["database"] == redacted(pg_database)
        answer = a.search("judge_a")
        assert answer.status_code == 200, answer.text
        receipt = Receipt.from_dict(answer.json()["audit"])
        # node B reads the search node A recorded, in the same chain
        seen = [r for r in b.records("auditor_a", kind="search") if r["seq"] == receipt.seq]
        assert len(seen) == 1, b.records("auditor_a", kind="search")
        later = b.search("judge_a")
        assert later.status_code == 200 and later.json()["search_id"] > receipt.seq
    for folder in ("node-a", "node-b"):
        assert not (tmp_path / folder / "data" / "audit.sqlite").exists()
    with AuditLog(pg_database) as log:
        assert log.verify() == log.stored_size()
        assert [r.kind for r in log.iter_kinds(("search",))] == ["search", "search"]
        check = check_receipt(receipt, log, load_private_key(a.key_path).public_key())
        assert check.ok, check.problems


def test_readyz_fails_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = Settings(
        index_home=None,
        data_dir=tmp_path,
        create_signing_key=True,
        database_url=database_url("leian_no_such_database"),
    )
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        audit = response.json()["error"]["checks"]["audit"]
        assert audit["ok"] is False and audit["store"] == "postgresql"
