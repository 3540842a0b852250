"""Hostile and malformed requests: each gets a clear 4xx (or a correct 2xx where it is just text).

Nothing may break the service or leak from it: no 5xx, no stack trace, no filesystem path, no file
content, and afterwards the accounts still work and the audit log still verifies. String payloads
go into every string parameter the OpenAPI schema declares (path, query) and every string field of
a valid body, so a route added later is covered without being named here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from retrieval.audit.verify import verify_export
from tests.api_env import REPO, THEFT_FACTS, Env, raw_request, serve

MAX_BODY = 400_000
MAX_FACTS = 100_000
PAYLOADS = [
    "' OR '1'='1' --",
    "'; DROP TABLE users; --",
    "../../../../etc/passwd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
]
LEAKS = ["Traceback", 'File "', str(REPO), "root:x:0:0", "PRIVATE KEY", "sqlite3.", "OperationalError"]


@pytest.fixture(scope="module")
def env(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("hostile")
    with serve(sample_index, root, max_body_bytes=MAX_BODY, max_facts_chars=MAX_FACTS, rate_limit=None) as e:
        yield e


@pytest.fixture(scope="module")
def search_id(env: Env) -> int:
    response = env.search("judge_a", k=3)
    assert response.status_code == 200, response.text
    return int(response.json()["search_id"])


def assert_clean(env: Env, response: httpx.Response, what: object) -> None:
    """No 5xx; an error is the API's error shape; nothing that belongs to the server leaks."""
    assert response.status_code < 500, (what, response.status_code, response.text[:300])
    text = response.content.decode("utf-8", "replace")
    for needle in [*LEAKS, str(env.settings.data_dir)]:
        assert needle not in text, (what, needle)
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] and error["message_zh"] and error["message_en"], what


# -- bodies ---------------------------------------------------------------------------------------


def post_raw(env: Env, body: bytes, content_type: str = "application/json") -> httpx.Response:
    headers = {**env.h("judge_a"), "Content-Type": content_type}
    return env.client.post("/api/v1/searches", content=body, headers=headers)


def test_oversized_bodies_are_413_on_every_route_that_takes_one(env: Env) -> None:
    posts = [p for p, item in env.app.openapi()["paths"].items() if "post" in item]
    assert len(posts) >= 2
    for template in posts:
        path = template.replace("{search_id}", "0")
        response = env.client.post(
            path,
            content=b'{"x": "' + b"a" * MAX_BODY + b'"}',
            headers={**env.h("judge_a"), "Content-Type": "application/json"},
        )
        assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large", path


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deeply_nested_json_is_a_clear_4xx(env: Env, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    response = post_raw(env, (opener * 10_000 + "1" + closer * 10_000).encode())
    assert_clean(env, response, "nested")
    assert response.status_code in (400, 422)
    field = '{"case_number": "x", "trigger": "其他", "facts": ' + "[" * 10_000 + "]" * 10_000 + "}"
    assert post_raw(env, field.encode()).status_code in (400, 422)
    assert env.search("judge_a", k=1).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b'{"case_number": "x", "trigger": "\xe5\x85", "facts": "\xff\xfe"}',  # invalid UTF-8
        json.dumps(
            {"case_number": "（2025）浙0106刑初1号", "trigger": "其他", "facts": THEFT_FACTS},
            ensure_ascii=False,
        ).encode("gbk"),  # GBK, not declared: JSON is UTF-8 (RFC 8259)
        b"\xef\xbb\xbf\xef\xbb\xbf{}",
        b"",
        b"null",
        b'"a string"',
        b"{" * 3,
    ],
    ids=["invalid-utf8", "gbk", "double-bom", "empty", "null", "string", "truncated"],
)
def test_bodies_that_are_not_utf8_json_objects_are_a_clear_4xx(env: Env, body: bytes) -> None:
    response = post_raw(env, body)
    assert_clean(env, response, body[:20])
    assert response.status_code in (400, 422)
    if response.status_code == 400:
        assert "UTF-8 JSON" in response.json()["error"]["message_en"]


def test_a_form_or_text_body_is_refused(env: Env) -> None:
    for content_type in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ):
        response = post_raw(env, b"case_number=x&trigger=%E5%85%B6%E4%BB%96", content_type)
        assert_clean(env, response, content_type)
        assert response.status_code in (400, 415, 422), content_type


def test_control_characters_and_nul_are_refused_in_a_case_number_and_removed_from_facts(env: Env) -> None:
    facts = "被告人\x00张某\x01于\x1b[31m夜间\u202e入户盗窃\u200b现金\ufeff" + THEFT_FACTS
    refused = env.search("judge_a", facts=facts, case_number="（2025）浙0106刑初\x00\x07号", k=2)
    assert_clean(env, refused, "control characters in 案号")
    assert refused.status_code == 422 and refused.json()["error"]["fields"] == ["case_number"]
    case_number = "（2025）浙0106刑初\u202e7号"  # a format character, not a control one: kept verbatim
    response = env.search("judge_a", facts=facts, case_number=case_number, k=2)
    assert_clean(env, response, "control characters in facts")
    assert response.status_code == 200
    assert [note["field"] for note in response.json()["input_notes"]] == ["facts"]
    summary = env.client.get(f"/api/v1/searches/{response.json()['search_id']}", headers=env.h("judge_a"))
    assert summary.json()["case_number"] == case_number


@pytest.mark.parametrize("field", ["facts", "case_number", "trigger_note"])
def test_escaped_lone_surrogates_are_a_422_not_a_crash(env: Env, field: str) -> None:
    body = {
        "case_number": "（2025）浙0106刑初1号",
        "trigger": "其他",
        "facts": THEFT_FACTS,
        field: "盗窃\ud800",
    }
    response = post_raw(env, json.dumps(body).encode())  # ensure_ascii: the surrogate travels as \ud800
    assert_clean(env, response, field)
    assert response.status_code == 422


def test_facts_of_100k_characters(env: Env) -> None:
    long_facts = (THEFT_FACTS * (MAX_FACTS // len(THEFT_FACTS) + 1))[:MAX_FACTS]
    assert len(long_facts) == 100_000
    ok = env.search("judge_a", facts=long_facts, k=3)
    assert_clean(env, ok, "100k facts")
    assert ok.status_code == 200 and ok.json()["result_count"] >= 3  # guiding cases may come beyond k
    over = env.search("judge_a", facts=long_facts + "盗", k=3)
    assert over.status_code == 422 and over.json()["error"]["fields"] == ["facts"]


# -- injection and traversal into every string parameter -------------------------------------------


def _base_bodies(search_id: int, doc_id: str) -> dict[str, dict[str, Any]]:
    """A valid body per POST operation, with every string field present (so each can be replaced)."""
    return {
        "/api/v1/searches": {
            "case_number": "（2025）浙0106刑初7号",
            "trigger": "其他",
            "trigger_note": "院庭长要求检索",
            "facts": THEFT_FACTS,
            "charges": ["盗窃罪"],
            "articles": ["刑法 第264条"],
            "keywords": {"must": ["盗窃"], "should": ["入户"], "must_not": ["抢劫"], "phrases": ["入户盗窃"]},
            "filters": {"provinces": ["浙江省"], "causes": ["盗窃罪"]},
            "parties": [{"name": "张某某", "role": "被告人"}],
            "k": 2,
        },
        "/api/v1/searches/{search_id}/decisions": {
            "marks": [{"doc_id": doc_id, "label": "类案", "reason": "案情相近"}],
        },
        "/api/v1/searches/{search_id}/drafts": {"doc_id": doc_id, "cited_by": "公诉机关"},
        "/api/v1/pending-cases": {
            "case_number": "（2025）浙0106刑初9号",
            "facts": THEFT_FACTS[:300],
            "causes": ["盗窃罪"],
            "articles": ["刑法 第264条"],
            "dispute_focus": "是否入户",
        },
        "/api/v1/pending-cases/{case_id}/close": {},
        "/api/v1/inbox/{item_id}/decision": {"decision": "dismiss", "reason": "与本案无关"},
        "/api/v1/reports/batches": {
            "cases": [
                {
                    "case_number": "（2025）浙0106刑初8号",
                    "trigger": "其他",
                    "trigger_note": "批量",
                    "facts": THEFT_FACTS[:200],
                    "charges": ["盗窃罪"],
                    "articles": ["刑法 第264条"],
                    "dispute_focus": "是否入户",
                }
            ],
            "k": 1,
        },
    }


def _string_leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from _string_leaves(inner, (*path, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _string_leaves(inner, (*path, i))


def _replaced(value: Any, path: tuple[Any, ...], new: str) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(value[path[0]], path[1:], new)
    return copy


def _is_string(schema: dict[str, Any]) -> bool:
    options = schema.get("anyOf", [schema])
    return any(o.get("type") == "string" and "enum" not in o and "$ref" not in o for o in options)


def _operations(env: Env) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in env.app.openapi()["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def _who_may(env: Env, method: str, url: str, body: Any) -> str | None:
    """The first account of judge, auditor, admin that the operation does not refuse outright."""
    for who in ("judge_a", "auditor_a", "admin"):
        response = env.client.request(method, url, json=body, headers=env.h(who))
        if response.status_code != 403:
            return who
    return None


@pytest.mark.slow
def test_injection_and_traversal_in_every_string_parameter(env: Env, search_id: int) -> None:
    doc_id = "guiding-901"
    result = env.client.get(f"/api/v1/searches/{search_id}", headers=env.h("judge_a")).json()["doc_ids"][0]
    bodies = _base_bodies(search_id, result)
    values = {
        "search_id": str(search_id),
        "seq": str(search_id),
        "doc_id": doc_id,
        "item": "1",
        "batch_id": "none",
        "case_id": "1",
        "item_id": "1",
    }
    tried = 0
    for method, template, operation in _operations(env):
        parameters = [p for p in operation.get("parameters", []) if p["in"] in ("path", "query")]
        required = {p["name"]: "2025-01-01" for p in parameters if p["in"] == "query" and p.get("required")}
        body = bodies.get(template) if method == "POST" else None
        assert method != "POST" or body is not None, f"no base body for POST {template}: add one"
        url = template.format(**{p["name"]: values[p["name"]] for p in parameters if p["in"] == "path"})
        who = _who_may(
            env,
            method,
            url + ("?" + "&".join(f"{k}={v}" for k, v in required.items()) if required else ""),
            body,
        )
        assert who is not None, f"nobody may call {method} {template}"
        for payload in PAYLOADS:
            for parameter in parameters:
                if not _is_string(parameter["schema"]):
                    continue
                if parameter["in"] == "path":
                    target = url.replace(quote(values[parameter["name"]]), quote(payload, safe=""))
                    response = env.client.request(
                        method, target, params=required, json=body, headers=env.h(who)
                    )
                else:
                    params = {**required, parameter["name"]: payload}
                    response = env.client.request(method, url, params=params, json=body, headers=env.h(who))
                assert_clean(env, response, (method, template, parameter["name"], payload))
                tried += 1
            for leaf in _string_leaves(body):
                response = env.client.request(
                    method, url, params=required, json=_replaced(body, leaf, payload), headers=env.h(who)
                )
                assert_clean(env, response, (method, template, leaf, payload))
                tried += 1
    assert tried >= 150, tried


def test_injected_text_is_stored_as_text(env: Env) -> None:
    for payload in PAYLOADS:
        response = env.search("judge_a", case_number=payload[:64], facts=payload + THEFT_FACTS, k=1)
        assert response.status_code == 200, response.text
        summary = env.client.get(f"/api/v1/searches/{response.json()['search_id']}", headers=env.h("judge_a"))
        assert summary.json()["case_number"] == payload[:64]
    records = env.client.get(
        "/api/v1/audit/records", params={"case_number": PAYLOADS[1]}, headers=env.h("judge_a")
    )
    found = [r["payload"]["case_number"] for r in records.json()["records"]]
    assert found and set(found) == {PAYLOADS[1]}


@pytest.mark.parametrize(
    "raw_path",
    [
        b"/api/v1/cases/../../../../etc/passwd",
        b"/api/v1/cases/..%2f..%2f..%2fetc%2fpasswd",
        b"/api/v1/cases/%2e%2e/%2e%2e/etc/passwd/related",
        b"/static/../../../../../../etc/passwd",
        b"/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        b"/api/v1/audit/records/..%2f..%2fproof",
        b"/api/v1/reports/batches/..%2f..%2f..%2fetc%2fpasswd",
        b"/api/v1/reports/batches/../../../../etc/passwd/summary",
    ],
)
def test_raw_path_traversal_finds_nothing(env: Env, raw_path: bytes) -> None:
    status, headers, body = raw_request(
        env, "GET", raw_path, [(b"authorization", f"Bearer {env.tokens['admin']}".encode())]
    )
    assert status in (400, 404, 422), (raw_path, status)
    text = body.decode("utf-8", "replace")
    assert not any(needle in text for needle in LEAKS), raw_path
    assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.slow
def test_afterwards_accounts_work_and_the_audit_log_verifies(env: Env, tmp_path: Path) -> None:
    assert env.client.get("/api/v1/me", headers=env.h("judge_a")).json()["name"] == "judge_a"
    deadline = time.monotonic() + 120  # the batches submitted above append records until they finish
    while time.monotonic() < deadline and any(
        b["status"] in ("queued", "running")
        for b in env.client.get("/api/v1/reports/batches", headers=env.h("judge_a")).json()["batches"]
    ):
        time.sleep(0.2)
    export = env.client.get("/api/v1/audit/export", headers=env.h("admin"))
    checkpoint = env.client.get("/api/v1/audit/checkpoint", headers=env.h("admin"))
    (tmp_path / "audit.jsonl").write_bytes(export.content)
    (tmp_path / "checkpoint.json").write_bytes(checkpoint.content)
    report = verify_export(tmp_path / "audit.jsonl", tmp_path / "checkpoint.json")
    assert report.ok, report.summary()
    assert report.records > 100


# -- what the fuzzers found -----------------------------------------------------------------------


def test_ids_beyond_sqlite_integers_are_422(env: Env) -> None:
    for path in (
        f"/api/v1/searches/{2**63}",
        f"/api/v1/searches/{2**63}/decisions",
        f"/api/v1/searches/{2**63}/report",
        f"/api/v1/audit/records/{2**63}/proof",
        "/api/v1/searches/-1",
    ):
        method = "POST" if path.endswith("decisions") else "GET"
        body = {"marks": [{"doc_id": "x", "label": "类案", "reason": "r"}]} if method == "POST" else None
        response = env.client.request(method, path, json=body, headers=env.h("admin"))
        assert response.status_code == 422, (path, response.text)


def test_an_empty_keyword_is_422_and_the_index_survives_bm25s_empty_token(env: Env, store: Any) -> None:
    for keywords in ({"must_not": [""]}, {"must": ["  "]}, {"phrases": ["盗窃", ""]}):
        response = env.search("judge_a", keywords=keywords)
        assert response.status_code == 422, keywords
        assert response.json()["error"]["fields"][0].startswith("keywords."), keywords
    assert store.keyword_full.rows_containing("").dtype == bool  # bm25s's "" has no postings list
    assert store.keyword_full.document_frequency("") == 0


def test_audit_dates_are_iso_text_not_unix_seconds(env: Env) -> None:
    for value in ("2024", "0.5", "1700000000"):
        response = env.client.get("/api/v1/audit/records", params={"since": value}, headers=env.h("admin"))
        assert response.status_code == 422 and response.json()["error"]["fields"] == ["since"], value
    for value in ("2024-01-01", "2024-01-01T08:00:00+08:00"):
        response = env.client.get("/api/v1/audit/records", params={"until": value}, headers=env.h("admin"))
        assert response.status_code == 200, value


def test_a_405_names_every_method_of_the_path(env: Env) -> None:
    for path, item in env.app.openapi()["paths"].items():
        concrete = path.replace("{", "").replace("}", "")
        response = env.client.request("PATCH", concrete, headers=env.h("admin"))
        assert response.status_code == 405, path
        allowed = set(response.headers["allow"].split(", "))
        assert {m.upper() for m in item} <= allowed, (path, allowed)


def test_unknown_query_parameters_are_422_not_silently_ignored(env: Env) -> None:
    for path, params in (
        ("/api/v1/cases/guiding-901/similar", {"court": "江苏省高级人民法院"}),  # an audited search
        ("/api/v1/audit/records", {"cout": "江苏省苏州市姑苏区人民法院"}),  # a misspelt filter
        ("/api/v1/audit/records", {"after": "0", "": "null"}),
    ):
        response = env.client.get(path, params=params, headers=env.h("judge_a"))
        assert response.status_code == 422, (path, params)
        unknown = [name for name in params if name not in ("after",)]
        assert response.json()["error"]["fields"] == unknown
