"""智能推送 over HTTP: register, refusals, inbox, live events, accept with a reason in the audit log."""

from __future__ import annotations

import json
from pathlib import Path

from index_build.update import add_documents
from tests.api.push_env import NEW_GUIDING, THEFT, fresh_index, write_jsonl
from tests.api_env import serve


def _body(**fields):
    return {**THEFT, **fields}


def test_pending_cases_over_http(sample_index: Path, tmp_path: Path) -> None:
    home = fresh_index(sample_index, tmp_path / "index")
    with serve(home, tmp_path) as env:
        judge = env.h("judge_a")
        created = env.client.post("/api/v1/pending-cases", json=_body(), headers=judge)
        assert created.status_code == 201, created.text
        case = created.json()
        assert case["court"] == "浙江省杭州市西湖区人民法院" and case["status"] == "在办"

        dup = env.client.post("/api/v1/pending-cases", json=_body(), headers=judge)
        assert dup.status_code == 409 and dup.json()["error"]["existing_id"] == case["id"]
        for fields, name in (({"facts": " "}, "facts"), ({"causes": ["没有这个罪"]}, "causes")):
            bad = env.client.post(
                "/api/v1/pending-cases",
                json=_body(case_number="（2025）浙0106刑初99号", **fields),
                headers=judge,
            )
            assert bad.status_code == 422 and bad.json()["error"]["fields"] == [name], bad.text
        missing = env.client.post("/api/v1/pending-cases", json={"case_number": "x"}, headers=judge)
        assert missing.status_code == 422 and "facts" in missing.json()["error"]["fields"]

        box = env.client.get("/api/v1/inbox", headers=judge).json()
        assert box["unread"] == 1 and box["items"][0]["kind"] == "results"
        events = env.client.get("/api/v1/inbox/events", params={"timeout": 0}, headers=judge)
        assert events.headers["content-type"].startswith("text/event-stream")
        data = [json.loads(line[5:]) for line in events.text.splitlines() if line.startswith("data:")]
        assert data == [{"unread": 1, "latest_id": box["items"][0]["id"]}]

        add_documents(home, [write_jsonl(tmp_path / "new.jsonl", [NEW_GUIDING])], progress=False)
        summary = env.app.state.push.check_index()
        assert summary.pushes == 1
        box = env.client.get("/api/v1/inbox", headers=judge).json()
        assert box["unread"] == 2
        [pushed] = [i for i in box["items"] if i["kind"] == "push"]
        opened = env.client.get(f"/api/v1/inbox/{pushed['id']}", headers=judge).json()
        assert opened["state"] == "read" and opened["doc_id"] == NEW_GUIDING["doc_id"]
        assert env.client.get("/api/v1/inbox", headers=judge).json()["unread"] == 1
        # the searches now run on the new build, which has the guiding case
        search = env.search("judge_a", charges=["盗窃罪"])
        assert NEW_GUIDING["doc_id"] in search.text

        accepted = env.client.post(
            f"/api/v1/inbox/{pushed['id']}/decision",
            json={"decision": "accept", "reason": "同为攀爬管道入户盗窃"},
            headers=judge,
        )
        assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"
        again = env.client.post(
            f"/api/v1/inbox/{pushed['id']}/decision",
            json={"decision": "dismiss", "reason": "x"},
            headers=judge,
        )
        assert again.status_code == 409
        pushes = [r for r in env.records("auditor_a") if r["kind"] == "push"]
        assert [r["payload"]["action"] for r in pushes] == ["push", "accept"]
        assert pushes[1]["payload"]["reason"] == "同为攀爬管道入户盗窃"
        assert pushes[1]["actor"]["user"] == "judge_a"

        closed = env.client.post(f"/api/v1/pending-cases/{case['id']}/close", headers=judge)
        assert closed.json()["status"] == "结案"
        assert env.client.get("/api/v1/pending-cases", params={"status": "在办"}, headers=judge).json() == {
            "cases": []
        }


def test_an_inbox_cursor_beyond_any_row_id_is_a_422_naming_it(sample_index: Path, tmp_path: Path) -> None:
    """A cursor too large for SQLite's integers was a 500 (found by the schema fuzz)."""
    with serve(sample_index, tmp_path) as env:
        response = env.client.get("/api/v1/inbox", params={"since_id": 2**63}, headers=env.h("judge_a"))
        assert response.status_code == 422
        assert response.json()["error"]["fields"] == ["since_id"]
        assert (
            env.client.get(
                "/api/v1/inbox", params={"since_id": 2**63 - 1}, headers=env.h("judge_a")
            ).status_code
            == 200
        )
