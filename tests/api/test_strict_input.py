"""Findings of the security review (issue 15, items 5 and 6), one test each.

Control characters: refused in short fields (422 naming the field), removed from free text with a
note, and never able to break a DOCX, an XLSX or a batch (a failing case is recorded as failed, with
no ``report`` record, and is not tried again at every restart). Requests: a search another court's
user may not see is a 404 like a missing id; out-of-scope filters are 403; an admin's acts on a
court's searches are that court's to see; JSON is parsed strictly (truncated, duplicate keys, huge
integers, strings or booleans for integers) and the schema states the limits.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docx
import httpx
import openpyxl
import pytest

from api.service.report_batch.state import BatchFolder
from api.service.searching import SearchInput, run_search
from retrieval.guidance import Trigger
from retrieval.report import files as report_files
from retrieval.request import SearchRequest
from tests.api_env import COURT_A, THEFT_FACTS, Env, serve

MAX_FACTS = 100_000
CONTROL_FACTS = "被告人\x00张某\x01于夜间\x1b[31m入户盗窃\x7f现金\r\n" + THEFT_FACTS


@pytest.fixture(scope="module")
def env(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("strict")
    with serve(sample_index, root, max_facts_chars=MAX_FACTS, rate_limit=None) as served:
        yield served


@pytest.fixture(scope="module")
def search_a(env: Env) -> int:
    response = env.search("judge_a", case_number="（2025）浙0106刑初6161号", k=3)
    assert response.status_code == 200, response.text
    return int(response.json()["search_id"])


def post_json(env: Env, path: str, text: str, who: str = "judge_a") -> httpx.Response:
    headers = {**env.h(who), "Content-Type": "application/json"}
    return env.client.post(path, content=text.encode("utf-8"), headers=headers)


def search_body(**changes: Any) -> dict[str, Any]:
    return {
        "case_number": "（2025）浙0106刑初1号",
        "trigger": "其他",
        "facts": THEFT_FACTS,
        "k": 2,
        **changes,
    }


def assert_422(response: httpx.Response, fields: list[str]) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error" and error["fields"] == fields, error
    assert error["message_zh"] and error["message_en"]


def wait_for(env: Env, batch_id: str, who: str = "judge_a") -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        status = env.client.get(f"/api/v1/reports/batches/{batch_id}", headers=env.h(who)).json()
        if status["status"] not in ("queued", "running") or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def principal(env: Env, who: str) -> Any:
    found = env.app.state.services.accounts.authenticate(env.tokens[who])
    assert found is not None
    return found


# -- (5) control characters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"case_number": "（2025）浙0106刑初\x01号"}, "case_number"),
        ({"case_number": "（2025）浙0106刑初\x00号"}, "case_number"),
        ({"parties": [{"name": "张\x01三", "role": "被告人"}]}, "parties.0.name"),
        ({"parties": [{"name": "张三", "role": "被告\x08人"}]}, "parties.0.role"),
        ({"charges": ["盗窃罪", "抢\x07劫罪"]}, "charges"),
        ({"keywords": {"must": ["\x1b[31m盗窃"]}}, "keywords.must"),
        ({"seed_case": "guiding\x0b-901"}, "seed_case"),
        ({"filters": {"provinces": ["浙江\x85省"]}}, "filters.provinces"),
    ],
)
def test_a_control_character_in_a_short_field_is_422_naming_it(
    env: Env, changes: dict[str, Any], field: str
) -> None:
    response = env.client.post("/api/v1/searches", json=search_body(**changes), headers=env.h("judge_a"))
    assert_422(response, [field])
    assert "U+00" in response.json()["error"]["message_en"]


def test_tab_and_newline_are_not_control_characters_here(env: Env) -> None:
    response = env.search(
        "judge_a", case_number="（2025）浙0106刑初\t2号", facts="入户\t盗窃\n" + THEFT_FACTS
    )
    assert response.status_code == 200, response.text
    assert response.json()["input_notes"] == []


def test_control_characters_in_other_bodies_are_422_naming_the_field(env: Env, search_a: int) -> None:
    batch = {"cases": [{"case_number": "（2025）浙0106刑初\x01号", "facts": THEFT_FACTS}], "trigger": "其他"}
    response = env.client.post("/api/v1/reports/batches", json=batch, headers=env.h("judge_a"))
    assert_422(response, ["cases.0.case_number"])
    marks = {"marks": [{"doc_id": "guiding-901\x00", "label": "类案", "reason": "案情相近"}]}
    response = env.client.post(f"/api/v1/searches/{search_a}/decisions", json=marks, headers=env.h("judge_a"))
    assert_422(response, ["marks.0.doc_id"])
    similar = env.client.get(
        "/api/v1/cases/guiding-901/similar",
        params={"k": 2, "case_number": "（2025）浙0106刑初\x01号"},
        headers=env.h("judge_a"),
    )
    assert_422(similar, ["case_number"])


def test_control_characters_are_removed_from_facts_with_a_note_and_the_report_opens(env: Env) -> None:
    response = env.search("judge_a", facts=CONTROL_FACTS, trigger_note="院庭长\x01要求", k=2)
    assert response.status_code == 200, response.text
    body = response.json()
    notes = {note["field"]: note for note in body["input_notes"]}
    assert set(notes) == {"facts", "trigger_note"}
    assert notes["facts"]["removed"] == 4  # NUL, U+0001, ESC, DEL; the CRLF became a newline, uncounted
    assert notes["facts"]["message_zh"] and notes["facts"]["message_en"]
    search_id = body["search_id"]
    [record] = [r for r in env.records("judge_a", kind="search") if r["seq"] == search_id]
    assert record["payload"]["query"].startswith("被告人张某于夜间[31m入户盗窃现金\n")
    report = env.client.get(
        f"/api/v1/searches/{search_id}/report", params={"format": "docx"}, headers=env.h("judge_a")
    )
    assert report.status_code == 200, report.text[:300]
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(report.content)).paragraphs)
    assert "入户盗窃现金" in text


def test_a_search_recorded_with_control_characters_still_gets_its_docx_report(env: Env) -> None:
    """A record made before the API refused them (or by the command line): the writer cleans the text."""
    judge = principal(env, "judge_a")
    case_number = "（2025）浙0106刑初\x01号"
    request = SearchRequest(facts="被告人\x00" + THEFT_FACTS, case_number=case_number, k=2)
    job = SearchInput(request, case_number, Trigger.OTHER, "备注\x02", "searches", None)
    search_id = run_search(env.app.state.services, judge, None, job)["search_id"]
    reports_before = len(env.records("admin", kind="report"))
    for fmt in ("docx", "html", "md", "json"):
        response = env.client.get(
            f"/api/v1/searches/{search_id}/report", params={"format": fmt}, headers=env.h("judge_a")
        )
        assert response.status_code == 200, (fmt, response.text[:300])
    docx_answer = env.client.get(f"/api/v1/searches/{search_id}/report", headers=env.h("judge_a"))
    cells = docx.Document(io.BytesIO(docx_answer.content)).tables[0]
    assert any("（2025）浙0106刑初号" in cell.text for row in cells.rows for cell in row.cells)
    assert len(env.records("admin", kind="report")) == reports_before + 5


def test_a_batch_case_with_control_characters_finishes_and_its_summary_opens(env: Env) -> None:
    """Submitted through the service (the command line reads pending files without the API's checks)."""
    judge = principal(env, "judge_a")
    batches = env.app.state.report_batches
    cases = [{"case_number": "（2025）浙0106刑初7\x01号", "facts": "被告人\x00" + THEFT_FACTS[:300]}]
    batch_id = batches.submit(judge, None, cases, Trigger.OTHER, 2)["batch_id"]
    status = wait_for(env, batch_id)
    assert status["status"] == "done" and status["ok"] == 1, status
    summaries = {}
    for fmt in ("xlsx", "csv"):
        summary = env.client.get(
            f"/api/v1/reports/batches/{batch_id}/summary", params={"format": fmt}, headers=env.h("judge_a")
        )
        assert summary.status_code == 200, (fmt, summary.text[:300])
        summaries[fmt] = summary.content
    sheet = openpyxl.load_workbook(io.BytesIO(summaries["xlsx"])).active
    assert sheet.cell(2, 2).value == "（2025）浙0106刑初7号"
    assert "（2025）浙0106刑初7号" in summaries["csv"].decode("utf-8-sig")
    report = env.client.get(f"/api/v1/reports/batches/{batch_id}/reports/1", headers=env.h("judge_a"))
    assert report.status_code == 200 and docx.Document(io.BytesIO(report.content)).paragraphs


def test_a_case_whose_documents_cannot_be_made_is_failed_with_its_reason_and_never_reported(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = report_files.FORMATS["docx"]

    def fails_for_4343(report: Any) -> bytes:
        if "4343" in (report.pending_case_number or ""):
            raise ValueError("All strings must be XML compatible")
        return real.render(report)

    monkeypatch.setitem(
        report_files.FORMATS,
        "docx",
        report_files.ReportFormat("docx", ".docx", real.media_type, fails_for_4343),
    )
    body = {
        "cases": [
            {"case_number": "（2025）浙0106刑初4343号", "facts": THEFT_FACTS[:300]},
            {"case_number": "（2025）浙0106刑初4344号", "facts": THEFT_FACTS[:300]},
        ],
        "trigger": "其他",
        "k": 2,
    }
    submitted = env.client.post("/api/v1/reports/batches", json=body, headers=env.h("judge_a"))
    assert submitted.status_code == 202, submitted.text
    batch_id = submitted.json()["batch_id"]
    status = wait_for(env, batch_id)
    assert status["status"] == "done" and status["failure"] is None, status
    assert (status["ok"], status["errors"]) == (1, 1), status
    failed = next(case for case in status["cases"] if case["item"] == 1)
    assert failed["status"] == "error" and "XML compatible" in failed["error"]
    assert failed["report_seq"] is None and failed["search_id"] is not None
    reports = [
        r
        for r in env.records("admin", kind="report")
        if (r["payload"].get("batch") or {}).get("id") == batch_id
    ]
    assert [r["payload"]["batch"]["item"] for r in reports] == [2]  # none for the report never made
    summary = env.client.get(
        f"/api/v1/reports/batches/{batch_id}/summary", params={"format": "xlsx"}, headers=env.h("judge_a")
    )
    assert summary.status_code == 200
    # A restart resumes nothing: the failed case is finished (as failed), not tried again.
    assert batch_id not in env.app.state.report_batches.resume_unfinished()
    state = BatchFolder(env.settings.data_dir / "report-batches" / batch_id).read_state()
    assert {item: s.status for item, s in state.items()} == {1: "error", 2: "ok"}


# -- (6) who sees what ------------------------------------------------------------------------------


def _without_ids(response: httpx.Response, *ids: int) -> str:
    text = response.text
    for i in ids:
        text = text.replace(str(i), "N")
    return text


def test_a_search_of_another_court_is_a_404_like_a_missing_id(env: Env, search_a: int) -> None:
    missing = 10**12
    for path, method, kwargs in (
        ("/api/v1/searches/{}", "GET", {}),
        ("/api/v1/searches/{}/report", "GET", {"params": {"format": "md"}}),
        (
            "/api/v1/searches/{}/decisions",
            "POST",
            {"json": {"marks": [{"doc_id": "guiding-901", "label": "类案", "reason": "案情相近"}]}},
        ),
    ):
        for who in ("judge_b", "president_b", "auditor_b", "judge_a2", "assistant_a"):
            hidden = env.client.request(method, path.format(search_a), headers=env.h(who), **kwargs)
            absent = env.client.request(method, path.format(missing), headers=env.h(who), **kwargs)
            assert hidden.status_code == absent.status_code == 404, (path, who, hidden.text)
            assert _without_ids(hidden, search_a) == _without_ids(absent, missing), (path, who)
    # An audit record that is not a search answers the same, not "is not a search".
    not_search = env.client.get("/api/v1/searches/0/report", headers=env.h("admin"))
    absent = env.client.get(f"/api/v1/searches/{missing}/report", headers=env.h("admin"))
    assert not_search.status_code == 404 and _without_ids(not_search, 0) == _without_ids(absent, missing)
    # Who may see the search but not mark it is told so (403), as before.
    marks = {"marks": [{"doc_id": "guiding-901", "label": "类案", "reason": "案情相近"}]}
    seen = env.client.post(f"/api/v1/searches/{search_a}/decisions", json=marks, headers=env.h("auditor_a"))
    assert seen.status_code == 403


def test_a_user_filter_beyond_the_court_is_403(env: Env, search_a: int) -> None:
    for who in ("president_b", "auditor_b"):
        for name in ("judge_a", "no-such-user"):
            response = env.client.get("/api/v1/audit/records", params={"user": name}, headers=env.h(who))
            assert response.status_code == 403, (who, name, response.text)
            assert response.json()["error"]["code"] == "forbidden"
        export = env.client.get(
            "/api/v1/audit/export", params={"user": "judge_a"}, headers=env.h("auditor_b")
        )
        assert export.status_code == 403
    own = env.client.get("/api/v1/audit/records", params={"user": "judge_a"}, headers=env.h("auditor_a"))
    assert own.status_code == 200 and any(r["seq"] == search_a for r in own.json()["records"])


def test_an_admins_report_and_export_of_a_courts_searches_are_that_courts_to_see(
    env: Env, search_a: int
) -> None:
    report = env.client.get(
        f"/api/v1/searches/{search_a}/report", params={"format": "md"}, headers=env.h("admin")
    )
    assert report.status_code == 200
    export = env.client.get("/api/v1/audit/export", params={"court": COURT_A}, headers=env.h("admin"))
    assert export.status_code == 200
    seen = env.records("auditor_a")
    admins = [r for r in seen if r["actor"]["user"] == "admin"]
    assert any(r["kind"] == "report" and r["payload"]["search_id"] == search_a for r in admins), admins
    assert any(r["kind"] == "export" and r["payload"]["filters"].get("court") == COURT_A for r in admins)
    assert all(r["actor"]["role"] == "admin" and r["actor"]["court"] == COURT_A for r in admins)
    assert not any(r["actor"]["user"] == "admin" for r in env.records("auditor_b"))


# -- (6) strict JSON ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cut", [1, 19, -1])
def test_truncated_json_is_a_bilingual_400(env: Env, cut: int) -> None:
    text = json.dumps(search_body(), ensure_ascii=False)
    response = post_json(env, "/api/v1/searches", text[:cut])
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "bad_request" and "fields" not in error
    assert "UTF-8 JSON" in error["message_en"] and "JSON" in error["message_zh"]
    assert error["message_zh"] != error["message_en"]


def test_nan_is_not_json(env: Env) -> None:
    response = post_json(env, "/api/v1/searches", json.dumps(search_body())[:-1] + ', "k": NaN}')
    assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    ("path", "template", "field"),
    [
        ("/api/v1/searches", '{{"case_number": "x", "trigger": "其他", "facts": "盗窃", "k": {n}}}', "k"),
        ("/api/v1/searches", '{{"case_number": "x", "trigger": "其他", "facts": -{n}}}', "facts"),
        (
            "/api/v1/reports/batches",
            '{{"cases": [{{"case_number": "x", "facts": {n}}}], "trigger": "其他"}}',
            "cases.0.facts",
        ),
    ],
)
def test_a_5000_digit_integer_is_422_naming_its_field(env: Env, path: str, template: str, field: str) -> None:
    response = post_json(env, path, template.format(n="9" * 5000))
    assert_422(response, [field])
    assert "5000" in response.json()["error"]["message_en"]


def test_duplicate_keys_are_a_400_naming_the_key(env: Env) -> None:
    for text, key in (
        ('{"case_number": "x", "trigger": "其他", "facts": "盗窃", "k": 2, "k": 50}', "k"),
        (
            '{"case_number": "x", "trigger": "其他", "facts": "盗窃",'
            ' "filters": {"provinces": [], "provinces": ["浙江省"]}}',
            "provinces",
        ),
    ):
        response = post_json(env, "/api/v1/searches", text)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["fields"] == [key] and key in error["message_en"] and key in error["message_zh"]


@pytest.mark.parametrize("k", ["5", True, 5.0, "five"])
def test_k_is_a_json_integer_not_a_string_or_boolean(env: Env, k: Any) -> None:
    response = env.client.post("/api/v1/searches", json=search_body(k=k), headers=env.h("judge_a"))
    assert_422(response, ["k"])
    batch = {"cases": [{"case_number": "x", "facts": "盗窃"}], "trigger": "其他", "k": k}
    assert_422(env.client.post("/api/v1/reports/batches", json=batch, headers=env.h("judge_a")), ["k"])


def test_filter_dates_are_iso_text_not_numbers(env: Env) -> None:
    body = search_body(filters={"date_from": 1700000000})
    assert_422(
        env.client.post("/api/v1/searches", json=body, headers=env.h("judge_a")), ["filters.date_from"]
    )


def test_the_schema_declares_the_limits(env: Env) -> None:
    schema = env.client.get("/openapi.json").json()
    models = schema["components"]["schemas"]
    settings = env.settings
    assert models["SearchBody"]["properties"]["k"]["maximum"] == settings.max_k == 50
    assert models["SearchBody"]["properties"]["facts"]["maxLength"] == MAX_FACTS
    assert models["BatchBody"]["properties"]["k"]["maximum"] == 50
    assert models["PendingCaseBody"]["properties"]["facts"]["maxLength"] == MAX_FACTS
    [k] = [
        p for p in schema["paths"]["/api/v1/cases/{doc_id}/similar"]["get"]["parameters"] if p["name"] == "k"
    ]
    assert k["schema"]["maximum"] == 50
    over = env.client.post("/api/v1/searches", json=search_body(k=51), headers=env.h("judge_a"))
    assert_422(over, ["k"])
    long_batch = {"cases": [{"case_number": "x", "facts": "盗" * (MAX_FACTS + 1)}], "trigger": "其他"}
    response = env.client.post("/api/v1/reports/batches", json=long_batch, headers=env.h("judge_a"))
    assert_422(response, ["cases.0.facts"])


def test_a_5000_digit_integer_in_a_path_or_query_is_422_naming_it(env: Env) -> None:
    digits = "9" * 5000
    similar = env.client.get(
        "/api/v1/cases/guiding-901/similar", params={"k": digits}, headers=env.h("judge_a")
    )
    assert_422(similar, ["k"])
    assert_422(env.client.get(f"/api/v1/searches/{digits}", headers=env.h("admin")), ["search_id"])


def test_a_search_cannot_be_filed_as_a_smart_push(env: Env) -> None:
    """智能推送 is the service's own trigger for a subscribed pending case: counted apart (Art. 13)."""
    response = env.search("judge_a", trigger="智能推送")
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == ["trigger"]
    similar = env.client.get(
        "/api/v1/cases/guiding-901/similar", params={"trigger": "智能推送"}, headers=env.h("judge_a")
    )
    assert similar.status_code == 422


def test_facts_over_the_limit_as_received_are_refused_though_cleaning_would_shorten_them(env: Env) -> None:
    """The schema's maxLength is about what arrives: control characters and edge whitespace that the
    service would remove do not bring an over-long text under the limit (found by the schema fuzz)."""
    over = "\x04  " + "甲" * (MAX_FACTS - 2)  # MAX_FACTS + 1 as sent, MAX_FACTS - 2 once cleaned
    search = env.client.post("/api/v1/searches", json=search_body(facts=over), headers=env.h("judge_a"))
    assert_422(search, ["facts"])
    case = {"case_number": "（2025）浙0106刑初2号", "trigger": "其他", "facts": over}
    fine = {"case_number": "（2025）浙0106刑初3号", "trigger": "其他", "facts": THEFT_FACTS}
    batch = {"cases": [fine, case], "k": 2}
    refused = env.client.post("/api/v1/reports/batches", json=batch, headers=env.h("judge_a"))
    assert_422(refused, ["cases.1.facts"])
    within = "\x04" + "甲" * (MAX_FACTS - 1)  # exactly the limit as sent
    accepted = env.client.post("/api/v1/searches", json=search_body(facts=within), headers=env.h("judge_a"))
    assert accepted.status_code == 200, accepted.text
