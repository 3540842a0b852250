"""The judges' page in a real headless browser (Debian's chromium driven by Playwright).

A uvicorn server in a thread serves the real app on a free port; the browser signs in with a token,
searches, opens a case, marks a result, and the audit log must hold the search and the mark. The
page runs under its own Content-Security-Policy, so a violation (an inline script, an external
font) shows up as a console error and fails the test. A screenshot is saved to build/screenshots/.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from api.http.app import create_app
from api.service.accounts import AccountStore, Role
from api.service.config import Settings
from retrieval.audit.records import Actor, TypedRecord
from retrieval.audit.store import AuditLog
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # Chromium (Playwright) against a real uvicorn server

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = REPO / "build" / "screenshots" / "web-page.png"
REPORT = REPO / "build" / "screenshots" / "downloads" / "report.docx"
COURT = "浙江省杭州市西湖区人民法院"
PENDING = json.loads(
    (REPO / "corpus_samples" / "pending" / "pending_cases.jsonl").read_text("utf-8").splitlines()[0]
)


def _require_browser() -> Any:
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: the dev extra must pin it (pip install playwright)")
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.fail("Debian's chromium is missing: .ci/run must `apt-get install -y chromium`")
    return sync_playwright, expect


@dataclass
class Server:
    url: str
    token: str
    auditor_token: str
    settings: Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("browser-data")
    settings = Settings(index_home=sample_index, data_dir=data, verify_index_checksums=False)
    accounts = AccountStore(settings.accounts_db)
    with AuditLog(settings.audit_db) as log:

        def record(entry: TypedRecord) -> object:
            return log.record(Actor("test-operator", "operator"), "cli", entry)

        accounts.create_user("王法官", Role.JUDGE, COURT, record)
        token = accounts.issue_token("王法官", None, record)[1]
        accounts.create_user("李审管", Role.AUDITOR, COURT, record)
        auditor_token = accounts.issue_token("李审管", None, record)[1]
    accounts.close()
    port = _free_port()
    uv = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not uv.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert uv.started, "the server did not start within 60 s"
        yield Server(f"http://127.0.0.1:{port}", token, auditor_token, settings)
    finally:
        uv.should_exit = True
        thread.join(timeout=15)


@contextlib.contextmanager
def _page(url: str, problems: list[str]) -> Iterator[Any]:
    """Chromium on the page at ``url``; console errors, page errors, failed requests and 4xx/5xx go to ``problems``."""
    sync_playwright, _ = _require_browser()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.goto(url)
            yield page
        finally:
            browser.close()


def test_sign_in_search_open_a_case_and_mark_a_result(server: Server) -> None:
    _, expect = _require_browser()
    problems: list[str] = []
    with _page(server.url + "/", problems) as page:
        page.fill("#token", server.token)
        page.click("#signin-button")
        # Locator waits, not wait_for_function: the page's CSP (no 'unsafe-eval') forbids string eval.
        expect(page.locator("#who")).to_contain_text("王法官")
        assert COURT in page.inner_text("#who")

        page.fill("#case_number", PENDING["case_number"])
        page.fill("#facts", PENDING["facts"])
        page.fill("#charges", "盗窃罪")
        # No default 检索情形: a search without one is not sent (and so never counted under a default).
        assert page.input_value("#trigger") == ""
        page.click("#search-button")
        page.wait_for_timeout(500)
        assert page.locator("#results").is_hidden()
        page.select_option("#trigger", "缺乏明确或统一裁判规则")
        page.click("#search-button")
        page.wait_for_selector(".result", timeout=30_000)
        headings = page.locator(".tier h3").all_inner_texts()
        assert headings[0] == "第1层 指导性案例"
        assert page.locator(".effect.must").count() >= 1
        assert page.locator(".passage mark").count() >= 1
        receipt = page.inner_text("#receipt")
        assert "检索编号" in receipt and "审计记录哈希" in receipt

        first = page.locator(".result").first
        first.locator(".title button.link").click()
        page.wait_for_selector("#case:not([hidden]) .section-text")
        assert page.inner_text("#case-title")
        page.click("#case-close")

        first.locator("input[value='类案']").check()
        first.locator("input[type=text]").fill("同为入户盗窃，均有多次盗窃情节")
        first.locator("button[type=submit]").click()
        expect(first.locator(".marked")).to_contain_text("已标注为类案")
        with page.expect_download() as downloaded:
            page.click("#report-actions button[data-format='docx']")
        report_path = REPORT.parent / downloaded.value.suggested_filename
        report_path.parent.mkdir(parents=True, exist_ok=True)
        downloaded.value.save_as(report_path)
        expect(page.locator("#report-status")).to_contain_text("已下载")
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert problems == [], problems
    assert SCREENSHOT.stat().st_size > 10_000

    with AuditLog(server.settings.audit_db) as log:
        records = list(log.iter_records())
    searches = [r for r in records if r.kind == "search"]
    decisions = [r for r in records if r.kind == "decision"]
    assert len(searches) == 1 and searches[0].payload["case_number"] == PENDING["case_number"]
    assert searches[0].actor.user == "王法官" and searches[0].payload["charges"] == ["盗窃罪"]
    assert len(decisions) == 1
    reports = [r for r in records if r.kind == "report"]
    assert len(reports) == 1 and reports[0].payload["search_id"] == searches[0].seq
    with zipfile.ZipFile(report_path) as docx:  # a real DOCX that carries the judge's mark and reason
        body = docx.read("word/document.xml").decode("utf-8")
    assert "同为入户盗窃，均有多次盗窃情节" in body and PENDING["case_number"] in body
    (mark,) = decisions[0].payload["marks"]
    assert mark["label"] == "类案" and mark["doc_id"] == searches[0].payload["results"][0]["doc_id"]
    assert decisions[0].payload["search_id"] == searches[0].seq


FOCUS = "被告人是否构成入户盗窃；多次盗窃的数额如何累计"
SIMILAR_REASON = "同为入户盗窃，手段与情节相同"
NOT_SIMILAR_REASON = "该案为扒窃，行为方式不同"


def _report_marks(path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """(effect line, 比对结论 line) of every case in the DOCX, and its whole text (table cells too)."""
    import docx

    document = docx.Document(str(path))
    cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    paragraphs = [*cells, *(p.text for p in document.paragraphs)]  # the info table, then the body
    pairs, effect = [], None
    for text in paragraphs:
        if text.startswith("效力："):
            effect = text
        elif text.startswith("比对结论："):
            assert effect is not None, text
            pairs.append((effect, text))
    return pairs, paragraphs


def test_the_trigger_must_be_chosen_then_two_marks_go_into_the_downloaded_report(server: Server) -> None:
    _, expect = _require_browser()
    problems: list[str] = []
    with _page(server.url + "/", problems) as page:
        page.fill("#token", server.token)
        page.click("#signin-button")
        expect(page.locator("#who")).to_contain_text("王法官")
        page.fill("#case_number", PENDING["case_number"])
        page.fill("#facts", PENDING["facts"])
        page.fill("#dispute_focus", FOCUS)
        page.click("#search-button")  # no 检索情形 chosen: refused, in Chinese, nothing sent
        expect(page.locator("#search-error")).to_contain_text("请选择检索情形")
        assert "请选择检索情形" in page.eval_on_selector("#trigger", "e => e.validationMessage")
        assert page.locator("#results").is_hidden()
        page.select_option("#trigger", "拟提交专业法官会议或审委会讨论")
        expect(page.locator("#search-error")).to_be_hidden()
        page.click("#search-button")
        page.wait_for_selector(".result", timeout=30_000)
        # no 罪名 given: the predicted ones are offered for the judge to confirm or correct
        expect(page.locator("#predicted")).to_contain_text("请确认或更正")
        page.locator("#predicted button").first.click()
        assert page.input_value("#charges") == "盗窃罪"
        receipt = page.inner_text("#receipt")
        assert "语义检索" in receipt and "semantic" not in receipt  # Chinese names, not codes
        # the four tiers are always listed; an empty one says so
        headings = page.locator(".tier h3").all_inner_texts()
        assert [h.split(" ")[0] for h in headings[:4]] == ["第1层", "第2层", "第3层", "第4层"]
        for tier in page.locator(".tier").all():
            assert tier.locator(".result").count() > 0 or "未检索到" in tier.inner_text()

        cards = page.locator(".result")
        first, second = cards.nth(0), cards.nth(1)
        assert first.locator(".effect.must").count() == 1  # a guiding case: binds once found similar
        first_title = first.locator(".title button.link").inner_text()
        second_title = second.locator(".title button.link").inner_text()
        first.locator("input[value='类案']").check()
        first.locator("input[type=text]").fill(SIMILAR_REASON)
        first.locator("button[type=submit]").click()
        expect(first.locator(".marked")).to_contain_text("已标注为类案")
        second.locator("input[value='非类案']").check()
        second.locator("input[type=text]").fill(NOT_SIMILAR_REASON)
        second.locator("button[type=submit]").click()
        expect(second.locator(".marked")).to_contain_text("已标注为非类案")
        # Art. 6: what differs is shown beside what is the same
        assert page.locator(".result .differences").count() >= 1
        # 文书辅助 (Art. 10): the prosecution cited the guiding case marked 类案 → a draft to follow it
        first.locator(".draft-form select").select_option("公诉机关")
        first.locator(".draft-form button").click()
        expect(first.locator("textarea.draft")).to_be_visible()
        draft = first.locator("textarea.draft").input_value()
        assert draft.startswith("公诉机关援引") and "应当参照" in draft, draft

        with page.expect_download() as downloaded:
            page.click("#report-actions button[data-format='docx']")
        report_path = REPORT.parent / ("marked-" + downloaded.value.suggested_filename)
        report_path.parent.mkdir(parents=True, exist_ok=True)
        downloaded.value.save_as(report_path)
        expect(page.locator("#report-status")).to_contain_text("已下载")
    assert problems == [], problems

    pairs, paragraphs = _report_marks(report_path)
    marked = [(effect, verdict) for effect, verdict in pairs if verdict != "比对结论：待比对"]
    assert marked == [  # exactly the two marks, each with the effect it gives the case
        ("效力：应当参照", f"比对结论：类案。理由：{SIMILAR_REASON}"),
        ("效力：经比对不属于类案，不予参照", f"比对结论：非类案。理由：{NOT_SIMILAR_REASON}"),
    ], marked
    assert len(pairs) > 2 and all(e.startswith("效力：可以参考") for e, v in pairs if (e, v) not in marked)
    text = "\n".join(paragraphs)
    assert FOCUS in text and "拟提交专业法官会议或审委会讨论" in text
    assert f"{first_title}" in text and f"{second_title}" in text
    assert f"：类案。理由：{SIMILAR_REASON}" in text and f"：非类案。理由：{NOT_SIMILAR_REASON}" in text


def test_the_court_management_sees_the_summary_and_exports_but_no_search_form(server: Server) -> None:
    _, expect = _require_browser()
    problems: list[str] = []
    with _page(server.url + "/", problems) as page:
        page.fill("#token", server.auditor_token)
        page.click("#signin-button")
        expect(page.locator("#who")).to_contain_text("李审管")
        assert page.locator("#search").is_hidden() and page.locator("#management").is_visible()
        # The period defaults to this month up to today, which holds the first test's search.
        assert page.input_value("#summary_from") <= page.input_value("#summary_to")
        page.click("#summary-button")
        expect(page.locator("#summary table")).to_contain_text("强制检索次数")
        expect(page.locator("#summary table")).to_contain_text("检索涉及案件数（不同案号）")
        expect(page.locator("#summary-chart .bars")).to_have_count(2)  # drawn in the page, no image fetched
        assert page.locator("#summary-chart meter.bar").count() >= 2
        expect(page.locator("#summary-cases table")).to_contain_text(PENDING["case_number"])
        figures = dict(
            zip(
                page.locator("#summary table.figures th").all_inner_texts(),
                page.locator("#summary table.figures td").all_inner_texts(),
                strict=False,
            )
        )
        assert figures["检索涉及案件数（不同案号）"] == "1" and int(figures["强制检索次数"]) >= 2
        page.screenshot(path=str(SCREENSHOT.with_name("management.png")), full_page=True)
        with page.expect_download() as downloaded:
            page.click("#export-actions button[data-export='jsonl']")
        exported = REPORT.parent / downloaded.value.suggested_filename
        downloaded.value.save_as(exported)
    assert problems == [], problems
    records = [json.loads(line)["record"] for line in exported.read_text("utf-8").splitlines()[1:]]
    assert {"summary", "export"} <= {r["kind"] for r in records}  # the acts themselves, recorded first
    assert {r["actor"]["court"] for r in records} == {COURT}  # the court's own records only
    with AuditLog(server.settings.audit_db) as log:
        drawn = [r for r in log.iter_records() if r.kind in ("summary", "export")]
    assert [r.actor.user for r in drawn] == ["李审管"] * len(drawn) and {r.kind for r in drawn} == {
        "summary",
        "export",
    }
