"""The HTTP service through the real app: every route, role and error, the audit trail, fail-closed.

One app for the module (the sample index, a fresh data folder, a signing key outside it, users of
every role in two courts); a few tests build a second app where they need another configuration.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.cli.main import main as leian
from api.http.app import create_app
from api.service.accounts import AccountStore, Role
from api.service.config import Settings
from retrieval.audit.records import SearchRecord
from retrieval.audit.signing import public_key_pem
from retrieval.audit.store import AuditLog, AuditUnavailable
from retrieval.audit.verify import verify_export, verify_inclusion_file
from tests.api_env import BACKENDS, COURT_A, COURT_B, PENDING, THEFT_FACTS, Env, backend_overrides, serve
from tests.conftest import REPO

MAX_K = 30
MAX_BODY = 100_000


@pytest.fixture(scope="module", params=BACKENDS)
def env(
    request: pytest.FixtureRequest, sample_index: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("api")
    limits = {"max_body_bytes": MAX_BODY, "max_k": MAX_K, "max_facts_chars": 20_000}
    with (
        backend_overrides(request.param, sample_index, root) as backend,
        serve(sample_index, root, **limits, **backend) as served,
    ):
        yield served


@pytest.fixture(scope="module")
def first_search(env: Env) -> dict[str, Any]:
    response = env.search("judge_a", k=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_every_key_of_the_recorded_search_belongs_to_the_record_type(
    env: Env, first_search: dict[str, Any]
) -> None:
    """SearchRecord is the one owner of the search record's keys: what the service wrote reads back whole."""
    with AuditLog(env.settings.audit_location) as log:
        record, _ = log.read(first_search["search_id"])
    typed = SearchRecord.from_payload(record.payload)
    assert typed.to_payload() == dict(record.payload)
    assert typed.doc_ids == [r["doc_id"] for r in _all_results(first_search)]
    assert typed.case_number == first_search["case_number"] and typed.trigger == first_search["trigger"]


def _all_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for group in body["tiers"] for r in group["results"]]


# -- search ---------------------------------------------------------------------------------------


def test_search_returns_tiered_explained_results_with_its_audit_receipt(first_search: dict[str, Any]) -> None:
    body = first_search
    assert body["search_id"] == body["audit"]["seq"]
    assert len(body["audit"]["leaf_hash"]) == 64 and int(body["audit"]["leaf_hash"], 16) >= 0
    tiers = [g["tier"] for g in body["tiers"]]
    assert tiers == sorted(tiers) and tiers[0] == 1
    results = _all_results(body)
    # k = 10, less what falls under the similarity floor (未检索到类案 rather than filling k)
    assert [r["rank"] for r in results] == list(range(1, len(results) + 1))
    assert 0 < len(results) <= 10 and len(results) + body["below_floor"] >= 10
    for group in body["tiers"]:
        assert all(r["tier"] == group["tier"] and r["tier_label"] == group["label"] for r in group["results"])
    guiding = [r for r in results if r["authority"]["kind"] == "指导性案例"]
    # Art. 9: a guiding case binds once the judge finds it similar; a fresh result is a candidate
    assert guiding and all(r["effect"] == "经比对属于类案的，应当参照" for r in guiding)
    assert all(r["citation"] == f"指导案例{r['authority']['number']}号" for r in guiding)
    assert all(r["effect"] == "可以参考" for r in results if r not in guiding)
    assert body["requesting_court"]["name"] == COURT_A
    for result in results:
        explanation = result["explanation"]
        assert explanation["summary"]
        for passage in explanation["passages"]:
            for start, end in passage["highlights"]:
                assert passage["text"][start:end].lower() in explanation["matched_terms"]
    assert set(body["timings_ms"]) >= {"recall", "fuse", "rerank", "tier_explain", "related"}


def test_the_audit_record_of_a_search_holds_what_the_rules_ask_for(
    env: Env, first_search: dict[str, Any]
) -> None:
    (record,) = [r for r in env.records("judge_a", kind="search") if r["seq"] == first_search["search_id"]]
    assert record["leaf_hash"] == first_search["audit"]["leaf_hash"]
    assert record["actor"] == {"user": "judge_a", "role": "承办法官", "court": COURT_A}
    assert record["client"] == "testclient" and record["at"].endswith("Z")
    payload = record["payload"]
    assert payload["trigger"] == "缺乏明确或统一裁判规则"
    assert payload["case_number"] == PENDING["case_number"]
    assert payload["query"] == THEFT_FACTS
    assert payload["methods"] == first_search["methods"]
    assert set(payload["keywords"]) == {"must", "should", "must_not", "phrases"}
    assert payload["articles"] == [] and payload["seed"] is None and "court_levels" in payload["filters"]
    manifest = env.index_home / "current" / "manifest.json"
    build = json.loads(manifest.read_text("utf-8"))
    assert payload["index"] == {
        "version": build["build_id"],
        "manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest(),
        "documents": build["counts"]["documents"],
    }
    assert payload["embedder"] == f"{build['embedder']['name']}@sha256:{build['embedder']['sha256']}"
    # the record says which engine answered: the build's FAISS index, or the Milvus collection
    if env.settings.backend == "cluster":
        assert payload["ann"]["factory"] == "milvus:FLAT"
    else:
        assert payload["ann"]["factory"] == build["vector_index"]["factory"]
    assert payload["requesting_court"]["name"] == COURT_A
    results = _all_results(first_search)
    assert [(r["doc_id"], r["tier"], r["effect"]) for r in payload["results"]] == [
        (r["doc_id"], r["tier"], r["effect"]) for r in results
    ]
    assert all(abs(p["score"] - r["score"]) < 1e-6 for p, r in zip(payload["results"], results, strict=True))
    # the snapshot of what the judge was shown, from which a later report is made
    shown = payload["shown"]
    assert [(s["doc_id"], s["title"], s["case_number"], s["tier"], s["effect"]) for s in shown] == [
        (r["doc_id"], r["title"], r["case_number"], r["tier"], r["effect"]) for r in results
    ]
    assert all(s["holding"] and s["citation"] and s["explanation"]["summary"] for s in shown)
    guiding = next(s for s in shown if s["authority_kind"] == "指导性案例")
    assert guiding["citation"].startswith("指导案例") and guiding["key_point_kind"] == "裁判要点"


def test_the_requesting_court_is_the_accounts_not_the_bodys(env: Env) -> None:
    a = env.search("judge_a", k=10).json()
    b = env.search("judge_b", k=10).json()
    tiers_a = {r["doc_id"]: r["tier"] for r in _all_results(a)}
    tiers_b = {r["doc_id"]: r["tier"] for r in _all_results(b)}
    assert a["requesting_court"]["name"] == COURT_A and b["requesting_court"]["name"] == COURT_B
    # The Hangzhou first-instance judgment is tier 4 (本院) for Xihu and "other" for a Suzhou court.
    assert tiers_a["txt-2023_zhe0106_xingchu_123"] == 4
    assert tiers_b["txt-2023_zhe0106_xingchu_123"] == 5
    refused = env.search("judge_b", requesting_court=COURT_A)
    assert refused.status_code == 422 and refused.json()["error"]["fields"] == ["requesting_court"]


def test_tiers_without_a_similar_case_say_so_and_the_rest_can_be_asked_for(
    env: Env, first_search: dict[str, Any]
) -> None:
    body = first_search
    present = {g["tier"] for g in body["tiers"]}
    empty = {n["tier"] for n in body["no_similar_case"]}
    assert body["similarity_floor"] is not None and not present & empty
    assert empty | present >= {1, 2, 3, 4}
    assert all(n["message"] == "未检索到类案" for n in body["no_similar_case"])
    everything = env.search("judge_a", k=10, include_dissimilar=True)
    assert everything.status_code == 200, everything.text
    more = everything.json()
    assert more["similarity_floor"] is None and more["below_floor"] == 0
    assert len(_all_results(more)) == 10 >= len(_all_results(body))


def test_related_cases_come_with_the_search(env: Env) -> None:
    body = env.search("judge_a", case_number="（2023）浙0106刑初123号", k=3).json()
    related = {r["doc_id"]: r for r in body["related"]}
    assert related["txt-2023_zhe01_xingzhong_588"]["kind"] == "审级关联"
    assert related["txt-2023_zhe01_xingzhong_588"]["reason"]


def test_assistants_and_presidents_search_auditors_and_admins_do_not(env: Env) -> None:
    assert env.search("assistant_a").status_code == 200
    assert env.search("president_a", trigger="院庭长要求").status_code == 200
    for who in ("auditor_a", "admin"):
        response = env.search(who)
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"


def test_search_input_errors_are_422_naming_the_field(env: Env) -> None:
    too_many = env.search("judge_a", k=MAX_K + 1)
    assert too_many.status_code == 422
    error = too_many.json()["error"]
    assert error["fields"] == ["k"] and "k" in error["message_en"] and error["message_zh"]
    assert env.search("judge_a", k=0).json()["error"]["fields"] == ["k"]
    assert env.search("judge_a", facts="盗" * 20_001).json()["error"]["fields"] == ["facts"]
    assert env.search("judge_a", trigger="随便").json()["error"]["fields"] == ["trigger"]
    assert env.search("judge_a", articles=["不是法条"]).json()["error"]["fields"] == ["articles"]
    assert env.search("judge_a", seed_case="no-such-case").json()["error"]["fields"] == ["seed_case"]
    missing = env.client.post("/api/v1/searches", json={"facts": "x"}, headers=env.h("judge_a"))
    assert missing.status_code == 422 and set(missing.json()["error"]["fields"]) == {"case_number", "trigger"}


def test_oversized_bodies_are_413(env: Env) -> None:
    big = {"case_number": "x", "trigger": "其他", "facts": "盗" * MAX_BODY}
    response = env.client.post("/api/v1/searches", json=big, headers=env.h("judge_a"))
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    assert response.headers["x-content-type-options"] == "nosniff"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading
        yield b'{"case_number": "x", "trigger": "\xe5\x85\xb6\xe4\xbb\x96", "facts": "'
        for _ in range(MAX_BODY // 1000 + 1):
            yield b"a" * 1000
        yield b'"}'

    chunked = env.client.post(
        "/api/v1/searches", content=chunks(), headers={**env.h("judge_a"), "Content-Type": "application/json"}
    )
    assert chunked.status_code == 413


# -- fail-closed ----------------------------------------------------------------------------------


def test_search_fails_closed_when_the_audit_log_refuses(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    before = len(env.records("admin"))

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AuditUnavailable("disk full")

    monkeypatch.setattr(AuditLog, "append", refuse)
    response = env.search("judge_a")
    assert response.status_code == 503
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == "audit_unavailable"
    assert "tiers" not in response.text and "guiding-901" not in response.text
    similar = env.client.get("/api/v1/cases/guiding-901/similar", headers=env.h("judge_a"))
    assert similar.status_code == 503 and "tiers" not in similar.json()
    export = env.client.get("/api/v1/audit/export", headers=env.h("admin"))
    assert export.status_code == 503 and export.json()["error"]["code"] == "audit_unavailable"
    monkeypatch.undo()
    assert len(env.records("admin")) == before


def test_search_fails_closed_when_the_audit_database_is_gone(env: Env) -> None:
    services = env.app.state.services
    log = services.audit
    log.close()  # every later write is a real AuditUnavailable from the store
    try:
        response = env.search("judge_a")
        assert response.status_code == 503 and set(response.json()) == {"error"}
    finally:
        services.audit = AuditLog(env.settings.audit_location)
    assert env.search("judge_a").status_code == 200


# -- Art. 6 marks ---------------------------------------------------------------------------------


def test_marks_by_the_searcher_or_the_courts_president(env: Env, first_search: dict[str, Any]) -> None:
    search_id = first_search["search_id"]
    doc = _all_results(first_search)[0]["doc_id"]
    url = f"/api/v1/searches/{search_id}/decisions"
    mark = {"marks": [{"doc_id": doc, "label": "类案", "reason": "同为入户盗窃，且均有多次盗窃情节"}]}
    own = env.client.post(url, json=mark, headers=env.h("judge_a"))
    assert own.status_code == 200, own.text
    assert own.json()["decisions"][0]["label"] == "类案"
    for other, status in (("judge_a2", 404), ("judge_b", 404), ("assistant_a", 404), ("auditor_a", 403)):
        # 404 for who may not see the search at all; 403 for who sees it but may not mark it
        assert env.client.post(url, json=mark, headers=env.h(other)).status_code == status, other
    change = {"marks": [{"doc_id": doc, "label": "非类案", "reason": "庭长认为争议焦点不同"}]}
    assert env.client.post(url, json=change, headers=env.h("president_a")).status_code == 200
    summary = env.client.get(f"/api/v1/searches/{search_id}", headers=env.h("judge_a")).json()
    assert [(d["doc_id"], d["label"], d["user"]) for d in summary["decisions"]] == [
        (doc, "非类案", "president_a")
    ]
    assert env.client.get(f"/api/v1/searches/{search_id}", headers=env.h("judge_b")).status_code == 404

    decisions = [r for r in env.records("judge_a", kind="decision") if r["payload"]["search_id"] == search_id]
    assert decisions[0]["payload"]["marks"] == mark["marks"]
    assert decisions[0]["payload"]["case_number"] == PENDING["case_number"]

    bad = {"marks": [{"doc_id": "not-a-result", "label": "类案", "reason": "x"}]}
    response = env.client.post(url, json=bad, headers=env.h("judge_a"))
    assert response.status_code == 422 and response.json()["error"]["fields"] == ["marks.0.doc_id"]
    no_reason = {"marks": [{"doc_id": doc, "label": "类案", "reason": ""}]}
    assert env.client.post(url, json=no_reason, headers=env.h("judge_a")).status_code == 422
    unknown = env.client.post("/api/v1/searches/999999/decisions", json=mark, headers=env.h("judge_a"))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


# -- cases ----------------------------------------------------------------------------------------


def test_case_record_related_and_similar(env: Env) -> None:
    case = env.client.get("/api/v1/cases/guiding-901", headers=env.h("auditor_a")).json()
    assert (
        case["document"]["doc_id"] == "guiding-901"
        and case["effect"] == "经比对属于类案的，应当参照"
        and case["tier"] == 1
    )
    assert case["citable"] and not case["withdrawn"]
    related = env.client.get("/api/v1/cases/txt-2023_zhe0106_xingchu_123/related", headers=env.h("judge_b"))
    assert {r["doc_id"] for r in related.json()["related"]} == {"txt-2023_zhe01_xingzhong_588"}

    similar = env.client.get(
        "/api/v1/cases/guiding-901/similar",
        params={"k": 5, "trigger": "院庭长要求", "case_number": "（2025）浙0106刑初88号"},
        headers=env.h("judge_a"),
    )
    assert similar.status_code == 200, similar.text
    body = similar.json()
    assert body["methods"] == ["case"] and "guiding-901" not in {r["doc_id"] for r in _all_results(body)}
    (record,) = [r for r in env.records("judge_a", kind="search") if r["seq"] == body["search_id"]]
    assert record["payload"]["trigger"] == "院庭长要求" and record["payload"]["seed"] == "guiding-901"
    assert record["payload"]["endpoint"] == "cases/similar"
    default = env.client.get("/api/v1/cases/guiding-901/similar", headers=env.h("judge_a")).json()
    assert default["trigger"] == "其他"


def test_unknown_documents_and_routes_are_404(env: Env) -> None:
    for path in (
        "/api/v1/cases/nope",
        "/api/v1/cases/nope/related",
        "/api/v1/cases/nope/similar",
        "/api/v1/nothing",
    ):
        response = env.client.get(path, headers=env.h("judge_a"))
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


def test_a_withdrawn_case_is_shown_as_withdrawn(env: Env, tmp_path: Path) -> None:
    from index_build.update import withdraw_document

    home = tmp_path / "index"
    shutil.copytree(env.index_home, home, symlinks=True)
    withdraw_document(home, "guiding-901", "已被新的指导性案例取代")
    settings = Settings(index_home=home, data_dir=tmp_path / "data", verify_index_checksums=False)
    accounts = AccountStore(settings.accounts_db)
    accounts.create_user("j", Role.JUDGE, COURT_A, lambda *_: None)
    token = accounts.issue_token("j", None, lambda *_: None)[1]
    accounts.close()
    with TestClient(create_app(settings)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        case = client.get("/api/v1/cases/guiding-901", headers=headers).json()
        assert case["withdrawn"] and not case["citable"] and case["effect"] == "不再参照"
        assert case["document"]["authority"]["withdrawn_reason"] == "已被新的指导性案例取代"
        body = {"case_number": "x", "trigger": "其他", "facts": THEFT_FACTS, "k": 20}
        results = client.post("/api/v1/searches", json=body, headers=headers).json()
        assert "guiding-901" not in {r["doc_id"] for r in _all_results(results)}


# -- audit ----------------------------------------------------------------------------------------


def test_judges_see_only_their_own_records(env: Env) -> None:
    env.search("judge_b")
    for who in ("judge_a", "assistant_a", "judge_b"):
        records = env.records(who)
        assert records and {r["actor"]["user"] for r in records} == {who}
    response = env.client.get("/api/v1/audit/records", params={"user": "judge_b"}, headers=env.h("judge_a"))
    assert response.status_code == 403


def test_auditors_see_their_court_and_admins_everything(env: Env) -> None:
    a = env.records("auditor_a")
    assert a and {r["actor"]["court"] for r in a} == {COURT_A}
    assert {r["actor"]["user"] for r in a} >= {"judge_a", "assistant_a", "president_a"}
    b = env.records("auditor_b")
    assert b and {r["actor"]["court"] for r in b} == {COURT_B}
    forbidden = env.client.get("/api/v1/audit/records", params={"court": COURT_B}, headers=env.h("auditor_a"))
    assert forbidden.status_code == 403
    everything = env.records("admin")
    assert {r["actor"]["court"] for r in everything} >= {COURT_A, COURT_B, None}
    assert [r["seq"] for r in everything] == sorted(r["seq"] for r in everything)
    filtered = env.records("admin", court=COURT_A, trigger="院庭长要求", kind="search")
    assert filtered and all(r["payload"]["trigger"] == "院庭长要求" for r in filtered)
    by_case = env.records("auditor_a", case_number="（2023）浙0106刑初123号")
    assert by_case and all(r["payload"]["case_number"] == "（2023）浙0106刑初123号" for r in by_case)
    future = env.records("admin", since=(dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat())
    assert future == []
    page = env.client.get("/api/v1/audit/records", params={"limit": 2}, headers=env.h("admin")).json()
    assert len(page["records"]) == 2 and page["next_after"] == page["records"][-1]["seq"]


def test_csv_export_opens_in_excel_with_chinese_intact(env: Env) -> None:
    response = env.client.get("/api/v1/audit/export", params={"format": "csv"}, headers=env.h("auditor_a"))
    assert response.status_code == 200
    assert response.content.startswith(b"\xef\xbb\xbf")
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows and {r["法院"] for r in rows} == {COURT_A}
    assert any(r["检索情形"] == "缺乏明确或统一裁判规则" and r["角色"] == "承办法官" for r in rows)
    assert list(rows[0])[:3] == ["序号", "时间（北京时间，UTC+08:00）", "记录类型"]
    assert all(r["时间（北京时间，UTC+08:00）"].endswith("+08:00") for r in rows)
    exports = env.records("auditor_a", kind="export")
    assert (
        exports and exports[-1]["payload"]["format"] == "csv" and exports[-1]["payload"]["complete"] is False
    )


def test_full_jsonl_export_verifies_against_the_served_checkpoint(env: Env, tmp_path: Path) -> None:
    export = env.client.get("/api/v1/audit/export", params={"format": "jsonl"}, headers=env.h("admin"))
    assert export.status_code == 200
    checkpoint = env.client.get("/api/v1/audit/checkpoint", headers=env.h("auditor_a"))
    assert checkpoint.status_code == 200
    cp = checkpoint.json()
    assert cp["format"] == "leian-audit-checkpoint/v1" and "PRIVATE" not in checkpoint.text
    assert int(export.headers["x-leian-tree-size"]) == cp["tree_size"]
    (tmp_path / "audit.jsonl").write_bytes(export.content)
    (tmp_path / "checkpoint.json").write_bytes(checkpoint.content)
    (tmp_path / "court.pub").write_text(public_key_pem(_private_key(env)), encoding="ascii")
    report = verify_export(tmp_path / "audit.jsonl", tmp_path / "checkpoint.json", tmp_path / "court.pub")
    assert report.ok, report.summary()
    assert report.records == cp["tree_size"]
    code = leian(["audit", "verify", str(tmp_path / "audit.jsonl"), str(tmp_path / "checkpoint.json")])
    assert code == 0
    header = json.loads(export.content.splitlines()[0])["header"]
    assert header["complete"] is True


def _private_key(env: Env):
    from retrieval.audit.signing import load_private_key

    return load_private_key(env.key_path)


def test_an_auditors_jsonl_export_is_their_court_only(env: Env) -> None:
    export = env.client.get("/api/v1/audit/export", headers=env.h("auditor_b"))
    lines = [json.loads(line) for line in export.content.splitlines()]
    assert lines[0]["header"]["complete"] is False
    assert {line["record"]["actor"]["court"] for line in lines[1:]} == {COURT_B}
    for who in ("judge_a", "president_a"):
        assert env.client.get("/api/v1/audit/export", headers=env.h(who)).status_code == 403


def test_checkpoint_follows_the_log(env: Env) -> None:
    first = env.client.get("/api/v1/audit/checkpoint", headers=env.h("judge_a")).json()
    again = env.client.get("/api/v1/audit/checkpoint", headers=env.h("judge_a")).json()
    assert again["tree_size"] == first["tree_size"] and again["signature"] == first["signature"]
    env.search("judge_a")
    grown = env.client.get("/api/v1/audit/checkpoint", headers=env.h("judge_a")).json()
    assert grown["tree_size"] == first["tree_size"] + 1 and grown["history"]


def test_inclusion_proof_of_one_record(env: Env, first_search: dict[str, Any], tmp_path: Path) -> None:
    seq = first_search["search_id"]
    response = env.client.get(f"/api/v1/audit/records/{seq}/proof", headers=env.h("judge_a"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["proof"]["leaf_hash"] == first_search["audit"]["leaf_hash"]
    (tmp_path / "proof.json").write_text(json.dumps(body["proof"], ensure_ascii=False), encoding="utf-8")
    (tmp_path / "cp.json").write_text(json.dumps(body["checkpoint"], ensure_ascii=False), encoding="utf-8")
    report = verify_inclusion_file(tmp_path / "proof.json", tmp_path / "cp.json")
    assert report.ok, report.summary()
    assert env.client.get(f"/api/v1/audit/records/{seq}/proof", headers=env.h("judge_b")).status_code == 403
    assert env.client.get(f"/api/v1/audit/records/{seq}/proof", headers=env.h("auditor_a")).status_code == 200
    assert env.client.get("/api/v1/audit/records/999999/proof", headers=env.h("admin")).status_code == 404


def test_concurrent_searches_leave_one_record_each_and_a_verifiable_log(env: Env, tmp_path: Path) -> None:
    numbers = [f"（2025）浙0106刑初{900 + i}号" for i in range(24)]
    with ThreadPoolExecutor(max_workers=24) as pool:
        responses = list(pool.map(lambda n: env.search("judge_a2", case_number=n, k=3), numbers))
    assert all(r.status_code == 200 for r in responses)
    ids = sorted(r.json()["search_id"] for r in responses)
    assert len(set(ids)) == len(numbers)
    mine = [r for r in env.records("judge_a2", kind="search") if r["payload"]["case_number"] in numbers]
    assert sorted(r["payload"]["case_number"] for r in mine) == sorted(numbers)
    assert sorted(r["seq"] for r in mine) == ids
    export = env.client.get("/api/v1/audit/export", headers=env.h("admin"))
    checkpoint = env.client.get("/api/v1/audit/checkpoint", headers=env.h("admin"))
    (tmp_path / "e.jsonl").write_bytes(export.content)
    (tmp_path / "c.json").write_bytes(checkpoint.content)
    assert verify_export(tmp_path / "e.jsonl", tmp_path / "c.json").ok


# -- authentication -------------------------------------------------------------------------------


def test_nobody_unauthenticated_reaches_anything_but_health(env: Env) -> None:
    operations = [
        (method.upper(), path)
        for path, item in env.app.openapi()["paths"].items()
        for method in item
        if path.startswith("/api/")
    ]
    assert len(operations) >= 10
    for method, path in operations:
        concrete = path.replace("{doc_id}", "guiding-901").replace("{search_id}", "0").replace("{seq}", "0")
        response = env.client.request(method, concrete, json={} if method == "POST" else None)
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"]["code"] == "unauthenticated"
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert env.client.get("/metrics").status_code == 401
    assert env.client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize("which", ["garbage", "wrong-secret", "revoked", "expired"])
def test_bad_tokens_are_401(env: Env, which: str) -> None:
    token = {
        "garbage": "not-a-token",
        "wrong-secret": env.tokens["judge_a"].split(".")[0] + "." + "x" * 43,
        "revoked": env.revoked,
        "expired": env.expired,
    }[which]
    response = env.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"
    assert env.client.get("/api/v1/me", headers=env.h("judge_a")).json()["court"] == COURT_A


def _stored_accounts(env: Env) -> bytes:
    """Everything the accounts' store holds: its SQLite files, or every row of the PostgreSQL database."""
    url = env.settings.database_url
    if url is None:
        return env.settings.accounts_db.read_bytes() + b"".join(
            p.read_bytes() for p in env.settings.data_dir.glob("accounts.sqlite-*")
        )
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            str(t)
            for (t,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ]
        assert "tokens" in tables
        return b"".join(
            repr(row).encode()
            for table in tables
            for row in conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
        )


def test_tokens_are_stored_only_as_hashes(env: Env) -> None:
    raw = _stored_accounts(env)
    for token in env.tokens.values():
        assert token.encode() not in raw and token.split(".")[1].encode() not in raw
        assert hashlib.sha256(token.encode()).hexdigest().encode() in raw


# -- health, metrics, page ------------------------------------------------------------------------


def test_readyz(env: Env, tmp_path: Path) -> None:
    ready = env.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["checks"]["index"]["documents"] > 0
    metadata = ready.json()["checks"]["metadata"]
    # the cluster backend's documents and metadata come from PostgreSQL, which publishes this build
    expected = "postgresql" if env.settings.backend == "cluster" else "sqlite"
    assert metadata["ok"] and metadata["store"] == expected
    if expected == "postgresql":
        assert (
            metadata["published_build"] == metadata["build_id"] == ready.json()["checks"]["index"]["build_id"]
        )
    settings = Settings(index_home=None, data_dir=tmp_path, create_signing_key=False)
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        checks = response.json()["error"]["checks"]
        assert not checks["index"]["ok"] and not checks["signing_key"]["ok"] and checks["audit"]["ok"]
        assert client.get("/healthz").status_code == 200


def test_metrics_count_requests_stages_and_audit_writes(env: Env) -> None:
    text = env.client.get("/metrics", headers=env.h("auditor_a")).text
    assert 'leian_http_requests_total{method="POST",route="/api/v1/searches",status="200"}' in text
    assert 'route="/api/v1/cases/{doc_id}"' in text  # templates, never raw paths
    assert (
        'leian_http_request_duration_seconds_bucket{le="0.1",method="POST",route="/api/v1/searches"}' in text
    )
    for stage in ("recall", "fuse", "rerank", "tier_explain", "related"):
        assert f'leian_search_stage_duration_seconds_count{{stage="{stage}"}}' in text
    assert 'leian_audit_write_duration_seconds_count{kind="search"}' in text
    assert 'leian_audit_write_failures_total{kind="search"}' in text
    assert 'status="413"' in text


def test_the_page_is_served_with_security_headers_and_nothing_external(env: Env) -> None:
    page = env.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "类案强制检索" in page.text
    for asset in ("/static/app.js", "/static/app.css"):
        response = env.client.get(asset)
        assert (
            response.status_code == 200
            and "default-src 'self'" in response.headers["content-security-policy"]
        )
        assert "http://" not in response.text and "https://" not in response.text
        assert ".innerHTML =" not in response.text  # server text is set with textContent only
    assert "http://" not in page.text and "https://" not in page.text
    preflight = env.client.options(
        "/api/v1/searches",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    cross = env.client.get("/healthz", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in cross.headers
    assert env.client.get("/openapi.json").json()["paths"]["/api/v1/searches"]["post"]


# -- command line ---------------------------------------------------------------------------------


def test_cli_users_and_tokens_are_audited(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data", str(tmp_path)]
    assert leian(["user", "create", "--name", "zhang", "--court", COURT_A, "--role", "承办法官", *data]) == 0
    assert leian(["user", "add", "li", "--role", "auditor", "--court", COURT_B, "--days", "3", *data]) == 0
    li_token = capsys.readouterr().out.strip().splitlines()[-1]
    assert leian(["token", "issue", "--user", "zhang", *data]) == 0
    zhang_token = capsys.readouterr().out.strip().splitlines()[-1]
    assert leian(["user", "create", "--name", "zhang", "--court", COURT_A, "--role", "judge", *data]) == 2
    assert leian(["user", "create", "--name", "x", "--court", "某某法院", "--role", "judge", *data]) == 2
    assert leian(["user", "create", "--name", "y", "--court", COURT_A, "--role", "boss", *data]) == 2
    accounts = AccountStore(tmp_path / "accounts.sqlite")
    principal = accounts.authenticate(zhang_token)
    assert principal is not None and principal.user.role is Role.JUDGE
    assert accounts.authenticate(li_token) is not None
    assert leian(["token", "revoke", principal.token_id, *data]) == 0
    assert accounts.authenticate(zhang_token) is None
    assert leian(["token", "revoke", principal.token_id, *data]) == 2
    with AuditLog(tmp_path / "audit.sqlite") as log:
        actions = [(r.kind, r.payload.get("action")) for r in log.iter_records()]
    assert actions == [
        ("account", "create_user"),
        ("account", "create_user"),
        ("token", "issue"),
        ("token", "issue"),
        ("token", "revoke"),
    ]
    assert zhang_token not in (tmp_path / "audit.sqlite").read_bytes().decode("utf-8", "replace")
    accounts.close()


def test_cli_changes_nothing_when_the_audit_log_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data", str(tmp_path)]
    assert leian(["user", "create", "--name", "wang", "--court", COURT_A, "--role", "法官助理", *data]) == 0

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AuditUnavailable("read-only disk")

    monkeypatch.setattr(AuditLog, "append", refuse)
    assert leian(["token", "issue", "--user", "wang", *data]) == 1
    assert leian(["user", "create", "--name", "chen", "--court", COURT_A, "--role", "judge", *data]) == 1
    accounts = AccountStore(tmp_path / "accounts.sqlite")
    assert accounts.tokens("wang") == [] and accounts.user("chen") is None
    accounts.close()


def test_cli_audit_keygen_and_export(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if env.settings.database_url is not None:  # the log in PostgreSQL: the CLI finds it as the service does
        monkeypatch.setenv("LEIAN_DATABASE_URL", env.settings.database_url)
    assert leian(["audit", "keygen", "--out", str(tmp_path / "k.pem")]) == 0
    out = tmp_path / "export.jsonl"
    code = leian(
        [
            "audit",
            "export",
            "--out",
            str(out),
            "--data",
            str(env.settings.data_dir),
            "--key",
            str(env.key_path),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert leian(["audit", "verify", str(out), str(tmp_path / "export.checkpoint.json")]) == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_uvicorn_serves_the_app_from_the_environment(sample_index: Path, tmp_path: Path) -> None:
    port = _free_port()
    environ = {**os.environ, "LEIAN_INDEX": str(sample_index), "LEIAN_DATA": str(tmp_path / "data")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        answer = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert answer is not None, "the server did not answer within 60 s"
        assert answer.status_code == 200 and answer.json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5.0).status_code == 200
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# -- last: nothing ever served the signing key ----------------------------------------------------


def test_no_response_ever_carried_the_signing_key(env: Env) -> None:
    for path in ("/readyz", "/openapi.json", "/api/v1/audit/checkpoint", "/api/v1/me"):
        env.client.get(path, headers=env.h("admin"))
    secret = env.key_path.read_text("ascii")
    needles = [
        str(env.key_path),
        env.key_path.name,
        str(env.key_path.parent),
        "PRIVATE KEY",
        secret.splitlines()[1],
    ]
    assert len(env.client.seen) > 50
    for response in env.client.seen:
        text = response.content.decode("utf-8", "replace") + json.dumps(dict(response.headers))
        for needle in needles:
            assert needle not in text, (response.request.url, needle)
