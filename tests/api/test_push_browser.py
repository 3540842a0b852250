"""The 智能推送 inbox in a real headless browser: unread count, a live push, accept with a reason, audited."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from api.http.app import create_app
from index_build.update import add_documents
from retrieval.audit.store import AuditLog
from tests.api.push_env import NEW_GUIDING, THEFT, fresh_index, write_jsonl
from tests.api.test_api_browser import _free_port, _page, _require_browser
from tests.api_env import create_accounts, settings_for

pytestmark = pytest.mark.slow  # Chromium (Playwright) against a real uvicorn server


@pytest.fixture
def served(sample_index: Path, tmp_path: Path) -> Iterator[tuple[str, str, object, Path, object]]:
    home = fresh_index(sample_index, tmp_path / "index")
    settings = settings_for(home, tmp_path)
    token = create_accounts(settings).valid["judge_a"]
    app = create_app(settings)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}", token, app, home, settings
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def test_judge_sees_unread_opens_a_live_push_and_accepts_it(served, tmp_path: Path) -> None:
    url, token, app, home, settings = served
    _, expect = _require_browser()
    created = httpx.post(
        url + "/api/v1/pending-cases", json=THEFT, headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code == 201, created.text
    problems: list[str] = []
    with _page(url + "/", problems) as page:
        page.fill("#token", token)
        page.click("#signin-button")
        expect(page.locator("#inbox-unread")).to_have_text("1")
        # published while the page is open: the push arrives over the live stream, no reload
        add_documents(home, [write_jsonl(tmp_path / "new.jsonl", [NEW_GUIDING])], progress=False)
        assert app.state.push.check_index().pushes == 1
        expect(page.locator("#inbox-unread")).to_have_text("2", timeout=10_000)
        pushed = page.locator(".inbox-item.unread", has_text="新类案推送")
        pushed.locator("button").click()
        expect(page.locator("#inbox-detail")).to_contain_text("指导性案例")
        expect(page.locator("#inbox-unread")).to_have_text("1")
        page.fill("#inbox-reason", "同为攀爬管道入户盗窃，应当参照")
        page.click("#inbox-accept")
        expect(page.locator("#inbox-detail")).to_contain_text("已采纳")
    assert [p for p in problems if "/inbox/events" not in p] == [], problems
    with AuditLog(settings.audit_db) as log:
        pushes = [r for r in log.iter_records() if r.kind == "push"]
    assert [r.payload["action"] for r in pushes] == ["push", "accept"]
    assert pushes[1].payload["reason"] == "同为攀爬管道入户盗窃，应当参照"
    assert pushes[1].payload["documents"][0]["doc_id"] == NEW_GUIDING["doc_id"]
