"""A snapshot of the HTTP API's answers: a fixed list of requests against the app, in process.

    python bench/api_snapshot.py --index build/bench/demo-index --out build/bench/api-snapshot.json
    python bench/api_snapshot.py --out api-snapshot.json        # builds a fresh sample index first

For refactors that must not change behaviour: run it before and after on the same index (a rebuild
retrains the static embedder, which changes rankings) and ``diff`` the two files. The script relies
on what a deployment relies on: the ``leian`` CLI (``user add``, ``token issue``, ``token revoke``)
and ``api.app:app`` configured from the environment (``LEIAN_INDEX``, ``LEIAN_DATA``,
``LEIAN_SIGNING_KEY``; ``LEIAN_RATE_LIMIT=off``, so that no answer depends on timing), driven by
FastAPI's TestClient over a fresh temporary data folder.

Each entry gives the request (method, path, query, account, body) and the answer (status, the
headers that carry meaning, the body). Values that differ from run to run are masked: timings,
timestamps, today's date, tokens and token ids (named after their user), audit hashes, roots and
signatures, the signing key, batch ids, the index's build id, any hexadecimal digest of 32 or more
digits and UUIDs. JSON Lines and CSV bodies are parsed row by row, Markdown and HTML kept as masked
text, DOCX and XLSX reduced to their media type, Prometheus metrics to their names.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import csv
import datetime as dt
import hashlib
import importlib
import io
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
if str(REPO / "bench") not in sys.path:
    sys.path.append(str(REPO / "bench"))  # for _common; appended, shadows nothing

from _common import SAMPLE_PENDING, SAMPLES, build_sample_index, emit_json  # noqa: E402

PENDING = [
    json.loads(line) for line in SAMPLE_PENDING.read_text(encoding="utf-8").splitlines() if line.strip()
]
COURT_A = "浙江省杭州市西湖区人民法院"
COURT_B = "江苏省苏州市姑苏区人民法院"
OPERATOR = "snapshot-operator"  # the OS user the CLI records as the operator
USERS = (  # name, role, court
    ("judge_a", "承办法官", COURT_A),
    ("president_a", "院长/庭长", COURT_A),
    ("auditor_a", "审判管理", COURT_A),
    ("judge_b", "承办法官", COURT_B),
    ("admin", "admin", None),
)
REVOKED = "judge_a_revoked"  # a second token of judge_a, revoked before the app starts
BATCH_WAIT_SECONDS = 120

# keys whose values change from run to run, whatever they hold
VOLATILE_KEYS = {
    "at": "<at>",
    "created_at": "<at>",
    "timings_ms": "<timings>",
    "leaf_hash": "<hash>",
    "root": "<hash>",
    "root_hash": "<hash>",
    "prev_hash": "<hash>",
    "signature": "<signature>",
    "public_key": "<public-key>",
    "key_id": "<key-id>",
}
TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
    r"|\d{4}年\d{1,2}月\d{1,2}日\s*\d{1,2}[:时]\d{2}(?::\d{2}|分(?:\d{1,2}秒)?)?"
    r"|\b\d{8}T\d{6,9}Z\b"  # compact, as in export file names
)
LONG_HEX = re.compile(r"\b[0-9a-f]{32,}\b")
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
KEPT_HEADERS = (
    "content-type",
    "content-disposition",
    "www-authenticate",
    "retry-after",
    "x-leian-records",
    "x-leian-tree-size",
)


# --- masking ------------------------------------------------------------------------------------


@dataclass
class Masker:
    """Replaces known volatile strings (tokens, ids) by names, then timestamps and long hex values."""

    names: dict[str, str] = field(default_factory=dict)  # volatile string → its stable name
    dates: dict[str, str] = field(default_factory=dict)  # today's date, replaced after timestamps

    def add(self, value: str | None, name: str) -> None:
        if value:
            self.names[value] = name

    def add_date(self, value: str) -> None:
        self.dates[value] = "<today>"

    def text(self, value: str) -> str:
        for table in (self.names, None, self.dates):
            if table is None:
                value = TIMESTAMP.sub("<time>", value)
                continue
            for raw in sorted(table, key=len, reverse=True):
                if raw in value:
                    value = value.replace(raw, table[raw])
        value = UUID.sub("<uuid>", value)
        return LONG_HEX.sub("<hex>", value)

    def json(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: VOLATILE_KEYS[key] if key in VOLATILE_KEYS and val is not None else self.json(val)
                for key, val in value.items()
            }
        if isinstance(value, list):
            return [self.json(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        return value


def body_of(response: Any, masker: Masker) -> Any:
    """The answer's body in a comparable form, by media type."""
    media = response.headers.get("content-type", "").split(";")[0].strip()
    content = response.content
    if media == "application/json":
        return masker.json(json.loads(content))
    if media == "application/x-ndjson":
        return [masker.json(json.loads(line)) for line in content.decode("utf-8").splitlines() if line]
    if media == "text/csv":
        rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
        return [[masker.text(cell) for cell in row] for row in rows]
    if media.startswith("text/plain") and b"# TYPE" in content:  # Prometheus: the metric names only
        return sorted(
            {line.split()[2] for line in content.decode().splitlines() if line.startswith("# TYPE")}
        )
    if media.startswith("text/") or media in ("application/javascript", "image/svg+xml"):
        return masker.text(content.decode("utf-8"))
    return {"bytes": "<binary>", "zip": content[:2] == b"PK"}


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Snapshot:
    client: Any
    tokens: dict[str, str]
    masker: Masker
    entries: list[dict[str, Any]] = field(default_factory=list)

    def call(
        self,
        name: str,
        method: str,
        path: str,
        who: str | None = None,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Send one request, record it, and return the parsed JSON body (None if not JSON)."""
        sent = dict(headers or {})
        if who is not None:
            sent["Authorization"] = f"Bearer {self.tokens[who]}"
        response = self.client.request(
            method, path, params=params, json=json_body, content=content, headers=sent
        )
        entry: dict[str, Any] = {"name": name, "method": method, "path": self.masker.text(path)}
        if params:
            entry["params"] = self.masker.json(params)
        if who is not None:
            entry["as"] = who
        if json_body is not None:
            entry["request"] = _short(json_body)
        elif content is not None:
            entry["request_bytes"] = _short(content.decode("utf-8", "replace"))
        entry["status"] = response.status_code
        entry["headers"] = {
            key: self.masker.text(response.headers[key]) for key in KEPT_HEADERS if key in response.headers
        }
        entry["body"] = body_of(response, self.masker)
        self.entries.append(entry)
        try:
            return response.json()
        except ValueError:
            return None


def _short(value: Any) -> Any:
    """Long request strings (facts of 50,000 characters) as their length and digest."""
    if isinstance(value, str) and len(value) > 300:
        return f"<{len(value)} chars sha256:{hashlib.sha256(value.encode()).hexdigest()[:16]}>"
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_short(v) for v in value]
    return value


def leian_in_process(*argv: str) -> list[str]:
    """Run the ``leian`` CLI in process; its stdout lines (exit status 0 required)."""
    from api.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    if code != 0:
        raise SystemExit(f"leian {' '.join(argv)}: exit status {code}\n{out.getvalue()}")
    return out.getvalue().splitlines()


def create_accounts(data: Path, masker: Masker) -> dict[str, str]:
    """The accounts of ``USERS`` with a token each (no expiry), and a revoked token of judge_a."""
    tokens: dict[str, str] = {}
    for name, role, court in USERS:
        lines = leian_in_process(
            "user",
            "add",
            name,
            "--role",
            role,
            *(["--court", court] if court else []),
            "--no-expiry",
            "--data",
            str(data),
        )
        tokens[name] = lines[-1].strip()
        masker.add(tokens[name], f"<token:{name}>")
        masker.add(_token_id(lines), f"<token-id:{name}>")
    lines = leian_in_process("token", "issue", "--user", "judge_a", "--no-expiry", "--data", str(data))
    tokens[REVOKED] = lines[-1].strip()
    revoked_id = _token_id(lines)
    masker.add(tokens[REVOKED], f"<token:{REVOKED}>")
    masker.add(revoked_id, f"<token-id:{REVOKED}>")
    leian_in_process("token", "revoke", revoked_id, "--data", str(data))
    return tokens


def _token_id(lines: list[str]) -> str:
    """The id in the CLI's ``token <id> expires …`` line."""
    (line,) = [line for line in lines if line.startswith("token ")]
    return line.split()[1]


def run_requests(s: Snapshot) -> None:
    theft, fraud, drunk, loan, labour = PENDING[:5]
    searches = "/api/v1/searches"

    def search_body(case: dict[str, Any], **extra: Any) -> dict[str, Any]:
        body = {
            "case_number": case["case_number"],
            "trigger": "缺乏明确或统一裁判规则",
            "facts": case["facts"],
        }
        body.update(extra)
        return body

    # probes, the page, the schema
    s.call("healthz", "GET", "/healthz")
    s.call("readyz", "GET", "/readyz")
    s.call("page", "GET", "/")
    s.call("openapi", "GET", "/openapi.json")
    for who in ("judge_a", "president_a", "auditor_a", "judge_b", "admin"):
        s.call(f"me {who}", "GET", "/api/v1/me", who)

    # authentication and routing errors
    s.call("me without a token", "GET", "/api/v1/me")
    s.call("me with an unknown token", "GET", "/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
    s.call("me with a revoked token", "GET", "/api/v1/me", REVOKED)
    s.call("me with a malformed header", "GET", "/api/v1/me", headers={"Authorization": "Basic abc"})
    s.call("unknown route", "GET", "/api/v1/nothing", "judge_a")
    s.call("method not allowed", "DELETE", "/api/v1/me", "judge_a")
    s.call("unknown query parameter", "GET", "/api/v1/me", "judge_a", params={"x": "1"})
    s.call("metrics", "GET", "/metrics", "admin")
    s.call("metrics without a token", "GET", "/metrics")

    # searches
    s1 = s.call(
        "search theft, charges, k 5", "POST", searches, "judge_a", search_body(theft, charges=["盗窃罪"], k=5)
    )
    s.call("search fraud, charges predicted", "POST", searches, "judge_a", search_body(fraud))
    s.call(
        "search drunk driving by the president",
        "POST",
        searches,
        "president_a",
        search_body(drunk, trigger="院庭长要求", charges=["危险驾驶罪"], k=3),
    )
    s.call(
        "search civil loan, causes and articles",
        "POST",
        searches,
        "judge_a",
        search_body(
            loan, charges=["民间借贷纠纷"], articles=["合同法 第52条 第5项", "民事诉讼法 第177条 第1款 第2项"]
        ),
    )
    s.call("search civil labour, other court, k 20", "POST", searches, "judge_b", search_body(labour, k=20))
    s.call(
        "search with keywords",
        "POST",
        searches,
        "judge_a",
        search_body(
            theft,
            trigger="其他",
            trigger_note="快照",
            keywords={
                "must": ["盗窃"],
                "should": ["入户", "累犯"],
                "must_not": ["抢劫"],
                "phrases": ["如实供述"],
            },
            k=8,
        ),
    )
    s.call(
        "search keywords only, no facts",
        "POST",
        searches,
        "judge_a",
        {"case_number": "（2025）浙0106刑初90号", "trigger": "其他", "keywords": {"must": ["借款"]}},
    )
    s.call(
        "search with a seed case",
        "POST",
        searches,
        "judge_a",
        search_body(theft, seed_case="guiding-901", methods=["case"], k=5),
    )
    s.call(
        "search by 案号 seed",
        "POST",
        searches,
        "judge_a",
        search_body(theft, seed_case="（2023）浙0106刑初123号", k=4),
    )
    s.call(
        "search with filters",
        "POST",
        searches,
        "judge_a",
        search_body(
            theft,
            filters={
                "date_from": "2020-01-01",
                "date_to": "2025-12-31",
                "court_levels": ["基层"],
                "provinces": ["浙江省"],
                "categories": ["刑事"],
                "causes": ["盗窃罪"],
            },
        ),
    )
    for methods in (["keyword"], ["semantic"], ["statute"]):
        s.call(
            f"search methods {methods[0]}",
            "POST",
            searches,
            "judge_a",
            search_body(theft, methods=methods, articles=["刑法 第264条"], k=3),
        )
    s.call("search k 1", "POST", searches, "judge_a", search_body(theft, k=1))
    s.call("search k 50 (the maximum)", "POST", searches, "judge_a", search_body(fraud, k=50))
    s.call(
        "search with parties, related cases",
        "POST",
        searches,
        "judge_a",
        search_body(
            theft, case_number="（2023）浙0106刑初123号", parties=[{"name": "俞某某", "role": "被告人"}], k=3
        ),
    )

    # invalid searches: 422 naming the fields, 400, 401, 403
    invalid = {
        "k 0": search_body(theft, k=0),
        "k 51": search_body(theft, k=51),
        "unknown trigger": search_body(theft, trigger="随便"),
        "bad article": search_body(theft, articles=["不是法条"]),
        "unknown seed case": search_body(theft, seed_case="no-such-case"),
        "missing case number and trigger": {"facts": "x"},
        "unknown field": search_body(theft, requesting_court=COURT_B),
        "facts too long": search_body(theft, facts="盗" * 50_001),
        "empty keyword": search_body(theft, keywords={"must": [""]}),
        "unknown court level": search_body(theft, filters={"court_levels": ["不存在"]}),
        "bad date": search_body(theft, filters={"date_from": "2024-13-01"}),
        "unknown method": search_body(theft, methods=["magic"]),
        "k not a number": search_body(theft, k="ten"),
        "empty case number": search_body(theft, case_number=""),
        "nothing to search": {"case_number": "（2025）浙0106刑初91号", "trigger": "其他"},
    }
    for name, body in invalid.items():
        s.call(f"invalid search: {name}", "POST", searches, "judge_a", body)
    s.call(
        "search body not JSON",
        "POST",
        searches,
        "judge_a",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    s.call("search without a token", "POST", searches, None, search_body(theft))
    s.call("search by an auditor", "POST", searches, "auditor_a", search_body(theft))
    s.call("search by the admin", "POST", searches, "admin", search_body(theft))

    # a past search and its marks
    sid = s1["search_id"]
    docs = [r["doc_id"] for tier in s1["tiers"] for r in tier["results"]]
    past = f"{searches}/{sid}"
    s.call("past search by its judge", "GET", past, "judge_a")
    s.call("past search by the president", "GET", past, "president_a")
    s.call("past search by the auditor", "GET", past, "auditor_a")
    s.call("past search by another court's judge", "GET", past, "judge_b")
    s.call("unknown past search", "GET", f"{searches}/999999", "judge_a")
    s.call("past search id not a number", "GET", f"{searches}/abc", "judge_a")
    marks = {
        "marks": [
            {"doc_id": docs[0], "label": "类案", "reason": "同为入户盗窃，数额巨大，且系累犯"},
            {"doc_id": docs[1], "label": "非类案", "reason": "盗窃对象与手段不同"},
        ]
    }
    s.call("mark by the judge", "POST", f"{past}/decisions", "judge_a", marks)
    s.call(
        "mark by the president",
        "POST",
        f"{past}/decisions",
        "president_a",
        {"marks": [{"doc_id": docs[2], "label": "类案", "reason": "院长意见"}]},
    )
    s.call("mark by another court's judge", "POST", f"{past}/decisions", "judge_b", marks)
    s.call("mark by the auditor", "POST", f"{past}/decisions", "auditor_a", marks)
    s.call(
        "mark with an unknown label",
        "POST",
        f"{past}/decisions",
        "judge_a",
        {"marks": [{"doc_id": docs[0], "label": "也许", "reason": "x"}]},
    )
    s.call(
        "mark without a reason",
        "POST",
        f"{past}/decisions",
        "judge_a",
        {"marks": [{"doc_id": docs[0], "label": "类案", "reason": ""}]},
    )
    s.call("mark with no marks", "POST", f"{past}/decisions", "judge_a", {"marks": []})
    s.call(
        "mark a document not in the results",
        "POST",
        f"{past}/decisions",
        "judge_a",
        {"marks": [{"doc_id": "no-such-doc", "label": "类案", "reason": "x"}]},
    )
    s.call("mark an unknown search", "POST", f"{searches}/999999/decisions", "judge_a", marks)
    s.call("past search with its marks", "GET", past, "judge_a")

    # cases
    s.call("case guiding-901", "GET", "/api/v1/cases/guiding-901", "auditor_a")
    s.call("case of a judgment", "GET", "/api/v1/cases/txt-2023_zhe0106_xingchu_123", "judge_a")
    s.call("case from jsonl", "GET", "/api/v1/cases/extra-zj-ref-2023-07", "judge_b")
    s.call("unknown case", "GET", "/api/v1/cases/nope", "judge_a")
    s.call("case without a token", "GET", "/api/v1/cases/guiding-901")
    s.call("related cases", "GET", "/api/v1/cases/txt-2023_zhe0106_xingchu_123/related", "judge_b")
    s.call(
        "related cases of the appeal", "GET", "/api/v1/cases/txt-2023_zhe01_xingzhong_588/related", "judge_a"
    )
    s.call("related of an unknown case", "GET", "/api/v1/cases/nope/related", "judge_a")
    s.call(
        "similar with parameters",
        "GET",
        "/api/v1/cases/guiding-901/similar",
        "judge_a",
        params={"k": 5, "trigger": "院庭长要求", "case_number": "（2025）浙0106刑初88号"},
    )
    s.call(
        "similar with defaults", "GET", "/api/v1/cases/txt-2022_zhe0110_minchu_8765/similar", "president_a"
    )
    s.call("similar by an auditor", "GET", "/api/v1/cases/guiding-901/similar", "auditor_a")
    s.call("similar of an unknown case", "GET", "/api/v1/cases/nope/similar", "judge_a")
    s.call("similar with k 0", "GET", "/api/v1/cases/guiding-901/similar", "judge_a", params={"k": 0})
    s.call(
        "similar with a bad trigger",
        "GET",
        "/api/v1/cases/guiding-901/similar",
        "judge_a",
        params={"trigger": "x"},
    )

    # the report of a past search
    for fmt in ("json", "md", "html", "docx"):
        s.call(f"report {fmt}", "GET", f"{past}/report", "judge_a", params={"format": fmt})
    s.call("report by the auditor", "GET", f"{past}/report", "auditor_a", params={"format": "json"})
    s.call("report by another court's judge", "GET", f"{past}/report", "judge_b", params={"format": "json"})
    s.call("report of an unknown search", "GET", f"{searches}/999999/report", "judge_a")
    s.call("report in an unknown format", "GET", f"{past}/report", "judge_a", params={"format": "pdf"})

    # batches of reports (the app works them in the background: wait until each is finished)
    batches = "/api/v1/reports/batches"
    s.call("no batches yet", "GET", batches, "judge_a")
    batch = {
        "trigger": "缺乏明确或统一裁判规则",
        "k": 3,
        "cases": [
            {"case_number": theft["case_number"], "facts": theft["facts"], "charges": ["盗窃罪"]},
            {"case_number": "（2025）浙0106刑初99号", "facts": ""},
        ],
    }
    submitted = s.client.post(batches, json=batch, headers={"Authorization": f"Bearer {s.tokens['judge_a']}"})
    s.entries.append(
        {
            "name": "submit a batch",
            "method": "POST",
            "path": batches,
            "as": "judge_a",
            "request": batch,
            "status": submitted.status_code,
            "headers": {"content-type": submitted.headers.get("content-type")},
            "body": "<status while running: see the next entry>",
        }
    )
    batch_id = submitted.json().get("batch_id")
    if batch_id:
        s.masker.add(batch_id, "<batch-id>")
        deadline = time.monotonic() + BATCH_WAIT_SECONDS
        while time.monotonic() < deadline:
            state = s.client.get(
                f"{batches}/{batch_id}", headers={"Authorization": f"Bearer {s.tokens['judge_a']}"}
            )
            if state.json().get("status") not in ("queued", "running"):
                break
            time.sleep(0.2)
        s.call("batch finished", "GET", f"{batches}/{batch_id}", "judge_a")
        s.call("batch by its court's auditor", "GET", f"{batches}/{batch_id}", "auditor_a")
        s.call("batch by another court's judge", "GET", f"{batches}/{batch_id}", "judge_b")
        s.call(
            "batch report 1 json",
            "GET",
            f"{batches}/{batch_id}/reports/1",
            "judge_a",
            params={"format": "json"},
        )
        s.call(
            "batch report 1 md", "GET", f"{batches}/{batch_id}/reports/1", "judge_a", params={"format": "md"}
        )
        s.call("batch report of the failed case", "GET", f"{batches}/{batch_id}/reports/2", "judge_a")
        s.call("batch report out of range", "GET", f"{batches}/{batch_id}/reports/3", "judge_a")
        s.call("batch summary csv", "GET", f"{batches}/{batch_id}/summary", "judge_a")
        s.call(
            "batch summary xlsx", "GET", f"{batches}/{batch_id}/summary", "judge_a", params={"format": "xlsx"}
        )
    s.call("batches listed", "GET", batches, "judge_a")
    s.call("unknown batch", "GET", f"{batches}/nope", "judge_a")
    s.call("batch by an auditor", "POST", batches, "auditor_a", batch)
    s.call("batch without cases", "POST", batches, "judge_a", {"cases": []})

    # the audit log
    records = "/api/v1/audit/records"
    s.call("records of the judge", "GET", records, "judge_a", params={"limit": 1000})
    s.call("records of the court (auditor)", "GET", records, "auditor_a", params={"limit": 1000})
    s.call("records of another court (judge_b)", "GET", records, "judge_b", params={"limit": 1000})
    s.call("all records (admin)", "GET", records, "admin", params={"limit": 1000})
    s.call("records of kind decision", "GET", records, "admin", params={"kind": "decision"})
    s.call(
        "records of a case number", "GET", records, "auditor_a", params={"case_number": theft["case_number"]}
    )
    s.call("records of a trigger", "GET", records, "admin", params={"trigger": "院庭长要求"})
    s.call("records paged", "GET", records, "admin", params={"after": 3, "limit": 2})
    s.call("records of another court by an auditor", "GET", records, "auditor_a", params={"court": COURT_B})
    s.call("records of another user by a judge", "GET", records, "judge_a", params={"user": "judge_b"})
    s.call("records with a bare year", "GET", records, "admin", params={"since": "2024"})
    s.call("records since far future", "GET", records, "admin", params={"since": "2099-01-01"})
    s.call("records with limit 0", "GET", records, "admin", params={"limit": 0})
    s.call("export jsonl (auditor)", "GET", "/api/v1/audit/export", "auditor_a")
    s.call("export csv (auditor)", "GET", "/api/v1/audit/export", "auditor_a", params={"format": "csv"})
    s.call("export by a judge", "GET", "/api/v1/audit/export", "judge_a")
    s.call("export of searches (admin)", "GET", "/api/v1/audit/export", "admin", params={"kind": "search"})
    today = _beijing_today().isoformat()
    summary = {"from": today, "to": today}  # a day of the courts' calendar (Beijing time)
    s.call("summary json (auditor)", "GET", "/api/v1/audit/summary", "auditor_a", params=summary)
    s.call(
        "summary csv (president)",
        "GET",
        "/api/v1/audit/summary",
        "president_a",
        params={**summary, "format": "csv"},
    )
    s.call("summary by a judge", "GET", "/api/v1/audit/summary", "judge_a", params=summary)
    s.call(
        "summary with a bad day", "GET", "/api/v1/audit/summary", "auditor_a", params={"from": "x", "to": "y"}
    )
    s.call("checkpoint", "GET", "/api/v1/audit/checkpoint", "auditor_a")
    s.call("proof of the first search", "GET", f"/api/v1/audit/records/{sid}/proof", "judge_a")
    s.call("proof of another court's record", "GET", f"/api/v1/audit/records/{sid}/proof", "judge_b")
    s.call("proof of an unknown record", "GET", "/api/v1/audit/records/999999/proof", "admin")
    s.call("all records at the end (admin)", "GET", records, "admin", params={"limit": 1000})


@contextlib.contextmanager
def served(index: Path, root: Path) -> Iterator[tuple[Any, dict[str, str], Masker]]:
    """``api.app:app`` over ``index`` and a fresh data folder under ``root``, with the accounts."""
    os.environ["LOGNAME"] = OPERATOR  # getpass.getuser(): the operator the CLI's records name
    data = root / "data"
    key = root / "keys" / "checkpoint-signing.pem"
    key.parent.mkdir(parents=True)
    masker = Masker()
    tokens = create_accounts(data, masker)
    os.environ.update(
        {
            "LEIAN_INDEX": str(index),
            "LEIAN_DATA": str(data),
            "LEIAN_SIGNING_KEY": str(key),
            "LEIAN_RATE_LIMIT": "off",
        }
    )
    from fastapi.testclient import TestClient

    app = importlib.import_module("api.app").app
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, tokens, masker


def snapshot(index: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="leian-api-snapshot-") as tmp:
        root = Path(tmp)
        with served(index, root) as (client, tokens, masker):
            ready = client.get("/readyz").json()
            build_id = ready["checks"]["index"]["build_id"]
            masker.add(build_id, "<build-id>")
            masker.add(str(root), "<tmp>")
            masker.add(str(index.resolve()), "<index>")
            masker.add(str(index), "<index>")
            masker.add(_key_text(root / "keys" / "checkpoint-signing.pem"), "<public-key>")
            for day in _today():
                masker.add_date(day.isoformat())
                masker.add_date(f"{day.year}年{day.month}月{day.day}日")
                masker.add_date(f"{day.year}年{day.month:02d}月{day.day:02d}日")
            s = Snapshot(client, tokens, masker)
            run_requests(s)
        return {
            "snapshot": "leian-api",
            "requests": len(s.entries),
            "entries": s.entries,
        }


def _today() -> set[dt.date]:
    """Today in UTC and in Beijing (the courts' calendar): reports and summaries print the date."""
    return {dt.datetime.now(dt.UTC).date(), _beijing_today()}


def _beijing_today() -> dt.date:
    return dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).date()


def _key_text(path: Path) -> str | None:
    """The public key as the checkpoint states it (base64 of the raw key), when it can be read."""
    with contextlib.suppress(Exception):
        from cryptography.hazmat.primitives import serialization

        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode()
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the JSON here (default: stdout)")
    parser.add_argument(
        "--index",
        type=Path,
        help="a published index home to serve, e.g. of corpus_samples/ (default: build a fresh one in a "
        "temporary folder, whose rankings no other run shares)",
    )
    args = parser.parse_args(argv)

    with contextlib.ExitStack() as stack:
        index = args.index
        if index is None:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="leian-demo-index-")))
            print(f"building the demo index of {SAMPLES} into {tmp / 'index'}", file=sys.stderr)
            index = build_sample_index(tmp / "index")
        result = snapshot(index)
    emit_json(result, args.out, echo=args.out is None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
