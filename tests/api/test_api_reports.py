"""Report routes through the real app: a batch submitted, polled and downloaded; who may read it; the
report of one past search rebuilt from its audit record (marks included), and what happens when the
index changed since. The batch runs in the service's background thread, exactly as in production.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docx
import openpyxl
import pytest

from api.service.report_batch.service import BatchService
from index_build.update import withdraw_document
from retrieval.audit.records import SearchRecord
from retrieval.index_store import IndexStore
from retrieval.report.model import SECTIONS, TO_BE_FILLED
from retrieval.tiers import GUIDING_CANDIDATE, MUST_REFER, NOT_CITABLE
from tests.api_env import BACKENDS, COURT_A, THEFT_FACTS, Env, backend_overrides, serve
from tests.conftest import SAMPLES, read_jsonl

SAMPLE = read_jsonl(SAMPLES / "pending" / "pending_cases.jsonl")
BATCHES = "/api/v1/reports/batches"
TRIGGER = "缺乏明确或统一裁判规则"


def _cases() -> list[dict[str, Any]]:
    theft, fraud = SAMPLE[0], SAMPLE[1]
    keep = ("case_number", "facts", "charges", "dispute_focus")
    return [
        {k: theft[k] for k in keep},
        {**{k: fraud[k] for k in keep}, "trigger": "院庭长要求"},
        {"case_number": "（2025）浙0106刑初77号", "facts": ""},  # reported as an error, not refused
    ]


def wait_done(env: Env, batch_id: str, who: str = "judge_a", timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = env.client.get(f"{BATCHES}/{batch_id}", headers=env.h(who))
        assert response.status_code == 200, response.text
        status = response.json()
        if status["status"] in ("done", "failed", "interrupted") or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


@pytest.fixture(scope="module", params=BACKENDS)
def env(
    request: pytest.FixtureRequest, sample_index: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("api-reports")
    with (
        backend_overrides(request.param, sample_index, root) as backend,
        serve(sample_index, root, rate_limit=None, **backend) as served,
    ):
        yield served


@pytest.fixture(scope="module")
def batch(env: Env) -> dict[str, Any]:
    response = env.client.post(
        BATCHES, json={"cases": _cases(), "trigger": TRIGGER}, headers=env.h("judge_a")
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] in ("queued", "running", "done") and response.json()["total"] == 3
    status = wait_done(env, response.json()["batch_id"])
    assert status["status"] == "done", status
    return status


def test_a_batch_reports_every_case(batch: dict[str, Any]) -> None:
    assert (batch["total"], batch["done"], batch["ok"], batch["errors"]) == (3, 3, 2, 1)
    cases = {c["item"]: c for c in batch["cases"]}
    assert cases[1]["status"] == "ok" and cases[1]["formats"] == ["docx", "html", "json", "md"]
    assert cases[1]["guiding"] and cases[1]["tiers"]["1"] == 1
    assert cases[3]["status"] == "error" and "facts: empty" in cases[3]["error"]
    assert batch["owner"] == "judge_a" and batch["court"] == COURT_A


def test_each_search_is_audited_with_its_trigger_and_the_batch(env: Env, batch: dict[str, Any]) -> None:
    records = {r["seq"]: r for r in env.records("judge_a", kind="search")}
    cases = {c["item"]: c for c in batch["cases"]}
    first, second = records[cases[1]["search_id"]], records[cases[2]["search_id"]]
    assert first["payload"]["trigger"] == TRIGGER and second["payload"]["trigger"] == "院庭长要求"
    assert first["payload"]["batch"] == {"id": batch["batch_id"], "item": 1}
    reports = [r for r in env.records("judge_a", kind="report") if r["payload"].get("batch")]
    assert sorted(r["payload"]["search_id"] for r in reports) == sorted([first["seq"], second["seq"]])


def test_reports_download_in_every_format(env: Env, batch: dict[str, Any]) -> None:
    url = f"{BATCHES}/{batch['batch_id']}/reports/1"
    search_id = batch["cases"][0]["search_id"]
    response = env.client.get(url, headers=env.h("judge_a"))
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "application/vnd.openxml"
    )
    assert f"{batch['batch_id']}-0001.docx" in response.headers["content-disposition"]
    document = docx.Document(io.BytesIO(response.content))
    info = {r.cells[0].text: r.cells[1].text for r in document.tables[0].rows}
    assert info["检索人"] == "judge_a（承办法官）" and info["检索事由"] == TRIGGER
    assert info["审计编号"].startswith(f"检索审计编号 {search_id}；")
    texts = [p.text for p in document.paragraphs]
    assert texts[texts.index(SECTIONS[3]) + 1] == SAMPLE[0]["dispute_focus"]
    data = env.client.get(url, params={"format": "json"}, headers=env.h("judge_a")).json()
    assert data["audit_search_id"] == search_id and data["tiers"][0]["cases"][0]["doc_id"] == "guiding-901"
    html = env.client.get(url, params={"format": "html"}, headers=env.h("judge_a"))
    assert html.headers["content-type"].startswith("text/html") and SECTIONS[6] in html.text
    md = env.client.get(url, params={"format": "md"}, headers=env.h("judge_a"))
    assert md.text.startswith("# 类案检索报告")
    missing = env.client.get(f"{BATCHES}/{batch['batch_id']}/reports/3", headers=env.h("judge_a"))
    assert missing.status_code == 404  # the case that failed has no report
    bad = env.client.get(url, params={"format": "pdf"}, headers=env.h("judge_a"))
    assert bad.status_code == 422 and bad.json()["error"]["fields"] == ["format"]


def test_summary_as_csv_and_xlsx(env: Env, batch: dict[str, Any]) -> None:
    url = f"{BATCHES}/{batch['batch_id']}/summary"
    rows = list(
        csv.DictReader(io.StringIO(env.client.get(url, headers=env.h("judge_a")).content.decode("utf-8-sig")))
    )
    assert [(r["序号"], r["状态"]) for r in rows] == [("1", "已生成"), ("2", "已生成"), ("3", "出错")]
    assert rows[0]["检得指导性案例"] == "是" and rows[0]["检索审计编号"] == str(
        batch["cases"][0]["search_id"]
    )
    xlsx = env.client.get(url, params={"format": "xlsx"}, headers=env.h("auditor_a"))
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert [c.value for c in sheet[1]][:4] == ["序号", "案号", "检索人", "状态"] and sheet.max_row == 4


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("judge_a", 200),  # the owner
        ("auditor_a", 200),  # 审判管理 of the owner's court
        ("judge_a2", 403),
        ("president_a", 403),
        ("judge_b", 403),
        ("auditor_b", 403),
        ("admin", 403),
    ],
)
def test_only_the_owner_and_the_courts_auditors_read_a_batch(
    env: Env, batch: dict[str, Any], who: str, status: int
) -> None:
    base = f"{BATCHES}/{batch['batch_id']}"
    for url in (base, f"{base}/reports/1", f"{base}/summary"):
        response = env.client.get(url, headers=env.h(who))
        assert response.status_code == status, (who, url, response.text)
        if status == 403:
            assert response.json()["error"]["code"] == "forbidden"
            assert SAMPLE[0]["case_number"] not in response.text
    listed = env.client.get(BATCHES, headers=env.h(who)).json()["batches"]
    assert (batch["batch_id"] in [b["batch_id"] for b in listed]) == (status == 200)


def test_unknown_batches_and_bad_tokens(env: Env, batch: dict[str, Any]) -> None:
    for batch_id in ("rb-20990101T000000Z-abcdef", "..", "rb-x", batch["batch_id"] + "0"):
        response = env.client.get(f"{BATCHES}/{batch_id}", headers=env.h("judge_a"))
        assert response.status_code == 404, batch_id
    assert env.client.get(f"{BATCHES}/{batch['batch_id']}").status_code == 401
    assert (
        env.client.get(
            f"{BATCHES}/{batch['batch_id']}", headers={"Authorization": f"Bearer {env.revoked}"}
        ).status_code
        == 401
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"cases": [{"case_number": "（2025）浙0106刑初1号", "facts": "甲盗窃", "court": COURT_A}]},
            "cases.0.court",
        ),
        ({"cases": [{"case_number": "（2025）浙0106刑初1号", "facts": "甲盗窃"}]}, "cases.0.trigger"),
        ({"cases": [], "trigger": TRIGGER}, "cases"),
        ({"cases": [{"case_number": "", "facts": "甲盗窃"}], "trigger": TRIGGER}, "cases.0.case_number"),
        (
            {
                "cases": [{"case_number": "（2025）浙0106刑初1号", "facts": "甲"}],
                "trigger": TRIGGER,
                "k": 999,
            },
            "k",
        ),
    ],
)
def test_a_malformed_batch_is_refused_whole(env: Env, body: dict[str, Any], field: str) -> None:
    response = env.client.post(BATCHES, json=body, headers=env.h("judge_a"))
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["fields"]


def test_only_searchers_submit(env: Env) -> None:
    body = {"cases": _cases()[:1], "trigger": TRIGGER}
    for who in ("auditor_a", "admin"):
        assert env.client.post(BATCHES, json=body, headers=env.h(who)).status_code == 403


# -- the report of one past search ---------------------------------------------------------------


@pytest.fixture(scope="module")
def marked_search(env: Env) -> dict[str, Any]:
    body = env.search("judge_a", k=5).json()
    results = [r for group in body["tiers"] for r in group["results"]]
    marks = [
        {"doc_id": results[0]["doc_id"], "label": "类案", "reason": "同为入户盗窃，情节相近"},
        {"doc_id": results[1]["doc_id"], "label": "非类案", "reason": "犯罪手段不同"},
    ]
    marked = env.client.post(
        f"/api/v1/searches/{body['search_id']}/decisions", json={"marks": marks}, headers=env.h("judge_a")
    )
    assert marked.status_code == 200, marked.text
    return body


def test_report_of_a_search_is_rebuilt_from_its_record(env: Env, marked_search: dict[str, Any]) -> None:
    search_id = marked_search["search_id"]
    before = len(env.records("judge_a", kind="report"))
    response = env.client.get(
        f"/api/v1/searches/{search_id}/report", params={"format": "json"}, headers=env.h("judge_a")
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (
        report["audit_search_id"] == search_id and report["audit_hash"] == marked_search["audit"]["leaf_hash"]
    )
    shown = [c["doc_id"] for group in report["tiers"] for c in group["cases"]]
    assert shown == [r["doc_id"] for group in marked_search["tiers"] for r in group["results"]]
    assert {m["label"] for m in report["marks"]} == {"类案", "非类案", "待比对"}
    similar = [m["doc_id"] for m in report["marks"] if m["label"] == "类案"]
    assert len(report["holdings_summary"]) <= len(similar) == 1  # only the 类案-marked case
    assert report["query_text"] == THEFT_FACTS and report["dispute_focus"] == TO_BE_FILLED
    recorded = env.records("judge_a", kind="report")
    assert len(recorded) == before + 1 and recorded[-1]["payload"]["search_id"] == search_id
    assert recorded[-1]["payload"]["via"] == "api" and recorded[-1]["payload"]["formats"] == ["json"]
    document = docx.Document(
        io.BytesIO(env.client.get(f"/api/v1/searches/{search_id}/report", headers=env.h("auditor_a")).content)
    )
    texts = [p.text for p in document.paragraphs]
    marks = texts[texts.index(SECTIONS[4]) + 1 : texts.index(SECTIONS[5])]
    assert any("类案。理由：同为入户盗窃，情节相近" in t for t in marks)


@pytest.mark.parametrize(
    ("who", "status"), [("judge_b", 404), ("judge_a2", 404), ("president_a", 200), ("admin", 200)]
)
def test_report_of_a_search_follows_who_may_see_the_search(
    env: Env, marked_search: dict[str, Any], who: str, status: int
) -> None:
    response = env.client.get(f"/api/v1/searches/{marked_search['search_id']}/report", headers=env.h(who))
    assert response.status_code == status, response.text


def test_report_of_an_unknown_search_is_404(env: Env) -> None:
    assert env.client.get("/api/v1/searches/999999/report", headers=env.h("judge_a")).status_code == 404
    # seq 0 is an audit record, but not a search (an account record): no report to make
    assert env.client.get("/api/v1/searches/0/report", headers=env.h("admin")).status_code == 404


def _report(env: Env, search_id: int, fmt: str = "json") -> Any:
    return env.client.get(
        f"/api/v1/searches/{search_id}/report", params={"format": fmt}, headers=env.h("judge_a")
    )


def test_report_after_an_index_update_is_made_from_what_the_judge_saw(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A search, a 类案 mark on its guiding case, then the case is withdrawn and the service restarts
    on the new build: the report is still the search as shown, and says the case was withdrawn since."""
    body = env.search("judge_a", k=5).json()
    results = [r for group in body["tiers"] for r in group["results"]]
    guiding = next(r for r in results if r["authority"]["kind"] == "指导性案例")
    assert guiding["effect"] == GUIDING_CANDIDATE  # a candidate until compared
    marks = [{"doc_id": guiding["doc_id"], "label": "类案", "reason": "同为入户盗窃"}]
    marked = env.client.post(
        f"/api/v1/searches/{body['search_id']}/decisions", json={"marks": marks}, headers=env.h("judge_a")
    )
    assert marked.status_code == 200, marked.text
    before = _report(env, body["search_id"]).json()
    case = next(c for g in before["tiers"] for c in g["cases"] if c["doc_id"] == guiding["doc_id"])
    assert case["effect"] == MUST_REFER and case["withdrawn_since"] is None  # marked 类案: the report says so
    assert any(guiding["title"] in line for line in before["holdings_summary"])

    home = tmp_path / "index"
    shutil.copytree(env.index_home, home, symlinks=True)
    withdraw_document(home, guiding["doc_id"], "测试：检索后不再参照")
    services = env.app.state.services
    monkeypatch.setattr(services, "store", IndexStore.open(home))  # what a restart on the new build does
    assert services.index_facts()["build_id"] != body["index"]["build_id"]

    response = _report(env, body["search_id"])
    assert response.status_code == 200, response.text  # no more 409: the record has its snapshot
    after = response.json()
    shown = [c["doc_id"] for g in after["tiers"] for c in g["cases"]]
    assert shown == [r["doc_id"] for r in results]
    case = next(c for g in after["tiers"] for c in g["cases"] if c["doc_id"] == guiding["doc_id"])
    assert case["withdrawn_since"] == "测试：检索后不再参照" and case["effect"] == NOT_CITABLE
    assert not any(guiding["title"] in line for line in after["holdings_summary"])
    assert after["platform"]["build_id"] == body["index"]["build_id"]  # the build the judge searched
    text = _report(env, body["search_id"], "md").text
    assert "检索后已停止参照或撤回：测试：检索后不再参照" in text


def test_report_of_a_record_without_snapshot_is_refused_on_another_build(
    env: Env, marked_search: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records made before snapshots existed are replayed on their own build, or refused (409)."""
    services = env.app.state.services
    record, _ = services.audit_log().read(marked_search["search_id"])
    old_style = dataclasses.replace(SearchRecord.from_payload(record.payload), shown=None)
    appended = services.record(record.actor, None, old_style)
    user = services.accounts.user("judge_a")
    services.accounts.ledger.record_search(
        appended.seq, user, old_style.case_number, old_style.trigger, record.at, old_style.doc_ids
    )
    assert _report(env, appended.seq).status_code == 200  # same build: replayed
    monkeypatch.setitem(services.store.manifest, "build_id", "20990101T000000Z-000000")
    response = _report(env, appended.seq)
    assert response.status_code == 409 and response.json()["error"]["code"] == "report_unavailable"
    assert _report(env, marked_search["search_id"]).status_code == 200  # it has a snapshot


def test_a_restarted_service_resumes_a_batch_it_had_not_run(sample_index: Path, tmp_path: Path) -> None:
    with serve(sample_index, tmp_path, rate_limit=None) as env:
        env.app.state.report_batches.close()  # the service stops before the batch runs
        submitted = env.client.post(
            BATCHES, json={"cases": _cases()[:2], "trigger": TRIGGER}, headers=env.h("judge_a")
        )
        batch_id = submitted.json()["batch_id"]
        assert wait_done(env, batch_id, timeout=0)["done"] == 0
        env.app.state.report_batches = BatchService(env.app.state.services)  # as the next start does
        assert env.app.state.report_batches.resume_unfinished() == [batch_id]
        status = wait_done(env, batch_id)
        assert (status["status"], status["ok"]) == ("done", 2)
        searches = [
            r
            for r in env.records("judge_a", kind="search")
            if (r["payload"].get("batch") or {}).get("id") == batch_id
        ]
        assert len(searches) == 2
        stored = json.loads(
            (env.settings.data_dir / "report-batches" / batch_id / "batch.json").read_text("utf-8")
        )
        assert stored["owner"]["name"] == "judge_a"


@pytest.mark.slow  # two service nodes over one PostgreSQL database
def test_nodes_sharing_a_batch_folder_answer_for_each_others_batches(
    sample_index: Path, tmp_path: Path, pg_database: str
) -> None:
    """Behind one balancer (LEIAN_BATCH_DIR on a shared volume, accounts and log in PostgreSQL): a
    batch submitted to node A is listed, polled and downloaded through node B, and run once."""
    from tests.api_env import Tokens

    shared = tmp_path / "shared-batches"
    with serve(
        sample_index, tmp_path / "a", database_url=pg_database, batch_dir=shared, rate_limit=None
    ) as a:
        tokens = Tokens(a.tokens, a.revoked, a.expired)
        with serve(
            sample_index,
            tmp_path / "b",
            tokens=tokens,
            database_url=pg_database,
            batch_dir=shared,
            rate_limit=None,
        ) as b:
            submitted = a.client.post(
                BATCHES, json={"cases": _cases()[:2], "trigger": TRIGGER}, headers=a.h("judge_a")
            )
            assert submitted.status_code == 202, submitted.text
            batch_id = submitted.json()["batch_id"]
            # B cannot see A's queue: until A's thread takes the batch B reports it interrupted
            deadline = time.monotonic() + 60
            while (status := wait_done(b, batch_id))["status"] != "done" and time.monotonic() < deadline:
                time.sleep(0.1)
            assert (status["status"], status["ok"]) == ("done", 2), status
            assert [
                x["batch_id"] for x in b.client.get(BATCHES, headers=b.h("judge_a")).json()["batches"]
            ] == [batch_id]
            report = b.client.get(f"{BATCHES}/{batch_id}/reports/1", headers=b.h("judge_a"))
            assert report.status_code == 200 and report.content[:2] == b"PK"  # a .docx
            assert not (tmp_path / "a" / "data" / "report-batches").exists()
            searches = [
                r
                for r in b.records("judge_a", kind="search")
                if (r["payload"].get("batch") or {}).get("id") == batch_id
            ]
            assert len(searches) == 2  # each case searched once, whichever node ran it
