"""The judges' page in a real headless browser (Debian's chromium driven by Playwright).

A uvicorn server in a thread serves the real app on a free port; the browser signs in with a token,
searches, opens a case, marks a result, and the audit log must hold the search and the mark. The
page runs under its own Content-Security-Policy, so a violation (an inline script, an external
font) shows up as a console error and fails the test. A screenshot is saved to build/screenshots/.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
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
        yield Server(f"http://127.0.0.1:{port}", token, settings)
    finally:
        uv.should_exit = True
        thread.join(timeout=15)


def test_sign_in_search_open_a_case_and_mark_a_result(server: Server) -> None:
    sync_playwright, expect = _require_browser()
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.goto(server.url + "/")

            page.fill("#token", server.token)
            page.click("#signin-button")
            # Locator waits, not wait_for_function: the page's CSP (no 'unsafe-eval') forbids string eval.
            expect(page.locator("#who")).to_contain_text("王法官")
            assert COURT in page.inner_text("#who")

            page.fill("#case_number", PENDING["case_number"])
            page.select_option("#trigger", "缺乏明确或统一裁判规则")
            page.fill("#facts", PENDING["facts"])
            page.fill("#charges", "盗窃罪")
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
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
    assert problems == [], problems
    assert SCREENSHOT.stat().st_size > 10_000

    with AuditLog(server.settings.audit_db) as log:
        records = list(log.iter_records())
    searches = [r for r in records if r.kind == "search"]
    decisions = [r for r in records if r.kind == "decision"]
    assert len(searches) == 1 and searches[0].payload["case_number"] == PENDING["case_number"]
    assert searches[0].actor.user == "王法官" and searches[0].payload["charges"] == ["盗窃罪"]
    assert len(decisions) == 1
    (mark,) = decisions[0].payload["marks"]
    assert mark["label"] == "类案" and mark["doc_id"] == searches[0].payload["results"][0]["doc_id"]
    assert decisions[0].payload["search_id"] == searches[0].seq
