"""The Art. 13 periodic summary: figures from a known audit log, date boundaries, files, CLI and HTTP.

The log is written with the real ``AuditLog.append``; only its clock is set, so that records fall on
chosen days (and on both sides of the period's edges in Beijing time).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
import struct
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from api.cli.main import main as leian
from retrieval.audit import store as audit_store
from retrieval.audit import summary_chart
from retrieval.audit.records import Actor, RankedResult, SearchRecord, utc_timestamp
from retrieval.audit.signing import generate_key
from retrieval.audit.store import AuditLog
from retrieval.audit.summary import Period, PeriodError, Summary, case_type, summarise
from retrieval.audit.summary_output import SummaryFormat, render
from retrieval.audit.summary_source import UnverifiedLog, verified_summary
from tests.api_env import COURT_A, COURT_B, PENDING, Env, serve
from tests.conftest import REPO

T_RULE = "缺乏明确或统一裁判规则"
T_MEETING = "拟提交专业法官会议或审委会讨论"
T_PRESIDENT = "院庭长要求"
MARCH = ("2025-03-01", "2025-03-31")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


class Clock:
    """Stands in for the log's clock: each append is stamped with the time set last."""

    def __init__(self) -> None:
        self.now: dt.datetime | None = None

    def __call__(self, moment: dt.datetime | None = None) -> str:
        return utc_timestamp(moment or self.now)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(audit_store, "utc_timestamp", fake)
    return fake


def _search(
    log: AuditLog,
    clock: Clock,
    at: str,
    who: tuple[str, str | None],
    trigger: str,
    case: str | None,
    tiers: list[int],
) -> int:
    clock.now = utc(at)
    payload = SearchRecord(
        trigger=trigger,
        case_number=case,
        methods=("keyword", "semantic"),
        query="被告人入户盗窃",
        results=tuple(RankedResult(f"doc-{i}", t, 1.0 - i / 10, "可以参考") for i, t in enumerate(tiers)),
    ).to_payload()
    return log.append("search", Actor(who[0], "承办法官", who[1]), "testclient", payload).seq


def _marks(
    log: AuditLog,
    clock: Clock,
    at: str,
    search_id: int,
    who: tuple[str, str | None],
    marks: list[tuple[str, str]],
) -> None:
    clock.now = utc(at)
    payload = {
        "search_id": search_id,
        "case_number": None,
        "trigger": T_RULE,
        "searched_by": who[0],
        "marks": [{"doc_id": d, "label": label, "reason": "比对要件事实"} for d, label in marks],
    }
    log.append("decision", Actor(who[0], "承办法官", who[1]), "testclient", payload)


def _report(log: AuditLog, clock: Clock, at: str, who: tuple[str, str | None]) -> None:
    clock.now = utc(at)
    log.append(
        "report", Actor(who[0], "承办法官", who[1]), "testclient", {"case_number": PENDING["case_number"]}
    )


A1, A2, ASSIST, B1 = (
    ("judge_a", COURT_A),
    ("judge_a2", COURT_A),
    ("assistant_a", COURT_A),
    ("judge_b", COURT_B),
)

# What COURT_A's March 2025 must show, given the records written by ``write_known_records``.
EXPECTED_A = {
    "searches": 4,
    "by_trigger": {T_RULE: 2, T_MEETING: 1, T_PRESIDENT: 1},
    "by_user": {"judge_a": 2, "judge_a2": 1, "assistant_a": 1},
    "by_case_type": {"刑事一审": 1, "民事一审": 1, "刑事二审": 1, "未知": 1},
    "searches_with_tier_1_2": 2,
    "tier_1_2_share": 0.5,
    "marked_results": 3,
    "marked_similar": 2,
    "similar_share": 0.6667,
    "reports": 2,
}
EXPECTED_A_DAYS = {"2025-03-01": 1, "2025-03-15": 2, "2025-03-31": 1}


def write_known_records(log: AuditLog, clock: Clock) -> None:
    """Court A: four searches in March (Beijing time), two just outside; court B: one in March."""
    # 2025-02-28 23:59:59.999 in Beijing: the day before the period.
    before = _search(log, clock, "2025-02-28T15:59:59.999", A1, T_RULE, "（2025）浙0106刑初11号", [1])
    # 2025-03-01 00:00:00.000 in Beijing: the period's first instant.
    s1 = _search(log, clock, "2025-02-28T16:00:00.000", A1, T_RULE, "（2025）浙0106刑初12号", [1, 3, 5])
    s2 = _search(log, clock, "2025-03-15T02:00:00.000", A2, T_MEETING, "（2025）浙0106民初345号", [3, 5])
    s3 = _search(log, clock, "2025-03-15T10:00:00.000", ASSIST, T_RULE, None, [4, 2])
    # 2025-03-31 23:59:59.999 in Beijing: the period's last instant; no results at all.
    _search(log, clock, "2025-03-31T15:59:59.999", A1, T_PRESIDENT, "（2025）浙01刑终67号", [])
    # 2025-04-01 00:00 in Beijing: after the period.
    _search(log, clock, "2025-03-31T16:00:00.000", A1, T_RULE, "（2025）浙0106刑初13号", [2])
    sb = _search(log, clock, "2025-03-10T03:00:00.000", B1, T_RULE, "（2025）苏0508刑初9号", [1])

    _marks(log, clock, "2025-03-02T01:00:00.000", s1, A1, [("doc-0", "类案"), ("doc-1", "非类案")])
    _marks(log, clock, "2025-04-03T01:00:00.000", s1, A1, [("doc-1", "类案")])  # a later re-mark replaces
    _marks(log, clock, "2025-03-16T01:00:00.000", s3, ASSIST, [("doc-0", "非类案")])
    _marks(log, clock, "2025-03-02T01:00:00.000", before, A1, [("doc-0", "类案")])  # search outside
    _marks(log, clock, "2025-03-11T01:00:00.000", sb, B1, [("doc-0", "类案")])  # another court's
    assert s2 > s1

    _report(log, clock, "2025-03-02T02:00:00.000", A1)
    _report(log, clock, "2025-03-20T02:00:00.000", A2)
    _report(log, clock, "2025-04-02T02:00:00.000", A1)  # outside
    _report(log, clock, "2025-03-12T02:00:00.000", B1)  # another court's
    clock.now = None


@pytest.fixture
def known_log(tmp_path: Path, clock: Clock) -> Iterator[tuple[Path, Path]]:
    """(audit database, signing key) holding the known records and an earlier signed checkpoint."""
    key_path = tmp_path / "keys" / "signing.pem"
    key_path.parent.mkdir()
    key = generate_key(key_path)
    db = tmp_path / "data" / "audit.sqlite"
    db.parent.mkdir()
    with AuditLog(db) as log:
        log.append("account", Actor("op", "operator"), "cli", {"user": "judge_a"})
        log.checkpoint(key)
        write_known_records(log, clock)
    yield db, key_path


def assert_expected_a(figures: dict[str, Any]) -> None:
    for name, value in EXPECTED_A.items():
        assert figures[name] == value, name
    days = {d["date"]: d["searches"] for d in figures["per_day"]}
    assert len(days) == 31 and min(days) == "2025-03-01" and max(days) == "2025-03-31"
    assert {d: n for d, n in days.items() if n} == EXPECTED_A_DAYS


def cli_summary(db: Path, key_path: Path, *options: str) -> int:
    """``leian audit summary`` over COURT_A's March 2025 unless ``options`` say otherwise."""
    period = [] if "--from" in options else ["--from", MARCH[0], "--to", MARCH[1]]
    return leian(
        ["audit", "summary", "--db", str(db), "--key", str(key_path), "--court", COURT_A, *period, *options]
    )


# -- the figures -------------------------------------------------------------------------------------


def test_figures_of_a_known_log(known_log: tuple[Path, Path]) -> None:
    db, key_path = known_log
    from retrieval.audit.signing import load_private_key

    with AuditLog(db) as log:
        summary = verified_summary(log, load_private_key(key_path), COURT_A, Period.parse(*MARCH))
        size, root = log.tree_head()
    figures = summary.to_dict()
    assert_expected_a(figures)
    assert figures["court"] == COURT_A and (figures["from"], figures["to"]) == MARCH
    # The source names the verified state the figures were drawn from.
    assert figures["source"]["记录范围"] == f"seq 0..{size - 1}（共 {size} 条）"
    assert figures["source"]["根哈希"] == root and figures["source"]["校验"].startswith("通过")


def test_another_court_sees_only_its_own_searches(known_log: tuple[Path, Path]) -> None:
    db, _ = known_log
    with AuditLog(db) as log:
        records = [r.to_dict() for r in log.iter_records()]
    b = summarise(records, COURT_B, Period.parse(*MARCH))
    assert (b.searches, b.by_user, b.marked_results, b.marked_similar, b.reports) == (
        1,
        [("judge_b", 1)],
        1,
        1,
        1,
    )
    everyone = summarise(records, None, Period.parse(*MARCH))
    assert everyone.searches == 5 and everyone.reports == 3


@pytest.mark.parametrize(
    ("first", "last", "searches"),
    [
        ("2025-02-28", "2025-02-28", 1),  # 23:59:59.999 Beijing time
        ("2025-03-01", "2025-03-01", 1),  # 00:00:00.000 Beijing time
        ("2025-03-15", "2025-03-15", 2),  # 10:00 and 18:00 Beijing time
        ("2025-03-31", "2025-03-31", 1),
        ("2025-04-01", "2025-04-01", 1),
        ("2025-02-01", "2025-04-30", 6),
    ],
)
def test_period_edges_are_beijing_days_with_both_ends_included(
    known_log: tuple[Path, Path], first: str, last: str, searches: int
) -> None:
    db, _ = known_log
    with AuditLog(db) as log:
        records = [r.to_dict() for r in log.iter_records()]
    summary = summarise(records, COURT_A, Period.parse(first, last))
    assert summary.searches == searches
    assert sum(n for _, n in summary.per_day) == searches


@pytest.mark.parametrize(
    ("first", "last", "field"),
    [
        ("2025-3-1", "2025-03-31", "from"),
        ("20250301", "2025-03-31", "from"),
        ("2025-02-30", "2025-03-31", "from"),
        ("2025-03-01", "yesterday", "to"),
        ("2025-03-31", "2025-03-01", "to"),  # to before from
        ("1990-01-01", "2025-03-01", "to"),  # longer than ten years
    ],
)
def test_bad_periods_name_the_option(first: str, last: str, field: str) -> None:
    with pytest.raises(PeriodError) as caught:
        Period.parse(first, last)
    assert caught.value.field == field and caught.value.message


def test_case_type_comes_from_the_case_number() -> None:
    assert case_type("（2025）浙0106刑初12号") == "刑事一审"
    assert case_type("(2025)浙01民终7号") == "民事二审"
    assert case_type("（2015）嘉桐刑初字第328号") == "刑事一审"  # the pre-2016 style
    assert case_type("第12号") == case_type("") == case_type(None) == "未知"


def test_a_log_that_does_not_verify_gives_no_summary(known_log: tuple[Path, Path]) -> None:
    """A record edited in place (triggers dropped, leaf hash column untouched) is caught before any figure."""
    db, key_path = known_log
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER records_no_update")
    (data,) = conn.execute("SELECT data FROM records WHERE seq = 3").fetchone()
    edited = json.loads(data)
    edited["actor"]["user"] = "someone_else"
    conn.execute(
        "UPDATE records SET data = ? WHERE seq = 3", (json.dumps(edited, ensure_ascii=False).encode(),)
    )
    conn.commit()
    conn.close()
    from retrieval.audit.signing import load_private_key

    with AuditLog(db) as log, pytest.raises(UnverifiedLog, match="record 3"):
        verified_summary(log, load_private_key(key_path), COURT_A, Period.parse(*MARCH))
    assert cli_summary(db, key_path) == 1


# -- the files -----------------------------------------------------------------------------------------


def same_numbers(rows: list[list[str]]) -> list[list[str | float]]:
    """Cells as numbers where they are numbers: XLSX gives back 50 for the 50.0 the CSV prints."""

    def cell(text: str) -> str | float:
        try:
            return float(text)
        except ValueError:
            return text

    return [[cell(c) for c in row] for row in rows]


def csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def xlsx_rows(data: bytes) -> list[list[str]]:
    sheet = load_workbook(io.BytesIO(data)).active
    return [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def check_files_agree(csv_data: bytes, xlsx_data: bytes, png_data: bytes) -> dict[tuple[str, str], str]:
    """The CSV and XLSX hold the same figures cell for cell; the PNG is a chart of plausible size."""
    rows = csv_rows(csv_data)
    assert rows[0] == ["分类", "项目", "数值"]

    def figures(table: list[list[str]]) -> list[list[str]]:
        # Files fetched by separate requests differ in the log state only: each request is recorded.
        return [row for row in table if row[0] != "数据来源"]

    assert same_numbers(figures(xlsx_rows(xlsx_data))) == same_numbers(figures(rows))
    width, height = png_size(png_data)
    assert (width, height) == (1200, 576) and 15_000 < len(png_data) < 1_000_000
    return {(section, item): value for section, item, value in rows[1:]}


def test_csv_xlsx_and_chart_hold_the_same_figures(known_log: tuple[Path, Path], tmp_path: Path) -> None:
    db, key_path = known_log
    out = REPO / "build" / "audit-summary-test"
    assert cli_summary(db, key_path, "--out", str(out)) == 0
    stem = out / "audit-summary-20250301-20250331"
    csv_data, xlsx_data, png_data = (Path(f"{stem}.{ext}").read_bytes() for ext in ("csv", "xlsx", "png"))
    table = check_files_agree(csv_data, xlsx_data, png_data)
    assert same_numbers(xlsx_rows(xlsx_data)) == same_numbers(csv_rows(csv_data))  # the source rows too
    assert table[("概要", "强制检索次数")] == "4"
    assert table[("概要", "检索到第一、二层级案例的比例（%）")] == "50.0"
    assert table[("概要", "标注为类案的比例（%）")] == "66.67"
    assert table[("按触发情形", T_RULE)] == "2" and table[("按检索人", "judge_a2")] == "1"
    assert table[("按案件类型", "未知")] == "1" and table[("按日", "2025-03-15")] == "2"
    assert table[("范围", "法院")] == COURT_A
    assert_expected_a(json.loads(Path(f"{stem}.json").read_text("utf-8")))
    # The summary itself was recorded in the log it summarises.
    with AuditLog(db) as log:
        (recorded,) = [r for r in log.iter_records() if r.kind == "summary"]
    assert recorded.payload["court"] == COURT_A and recorded.actor.role == "operator"


def test_cli_bad_input_exits_2(
    known_log: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, key_path = known_log
    assert cli_summary(db, key_path, "--from", "2025-13-01", "--to", "2025-03-31") == 2
    assert "--from" in capsys.readouterr().err
    assert cli_summary(db, key_path, "--from", "2025-03-31", "--to", "2025-03-01") == 2
    assert "before" in capsys.readouterr().err
    assert cli_summary(db, key_path, "--format", "xlsx") == 2
    assert "--out" in capsys.readouterr().err
    assert cli_summary(db, key_path, "--from", MARCH[0]) == 2  # --to missing
    assert cli_summary(tmp_path / "none.sqlite", key_path) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_defaults_to_the_data_folder_and_prints_the_table(
    known_log: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db, key_path = known_log
    monkeypatch.setenv("LEIAN_SIGNING_KEY", str(key_path))
    options = ["--court", COURT_A, "--from", MARCH[0], "--to", MARCH[1], "--format", "json"]
    assert leian(["audit", "summary", "--data", str(db.parent), *options]) == 0
    assert_expected_a(json.loads(capsys.readouterr().out))


def _summary_of(days: int, searches_per_day: int) -> Summary:
    """Up to ``searches_per_day`` a day, fewer on some days, none on every seventh."""
    first = dt.date(2025, 1, 1)
    period = Period(first, first + dt.timedelta(days=days - 1))
    per_day = [0 if d % 7 == 6 else 1 + (d * 5) % searches_per_day for d in range(days)]
    stamps = [
        f"{first + dt.timedelta(days=d)}T02:00:00.000Z" for d, n in enumerate(per_day) for _ in range(n)
    ]
    records = [
        {
            "seq": i,
            "kind": "search",
            "at": at,
            "actor": {"user": "王法官", "role": "承办法官", "court": COURT_A},
            "payload": {"trigger": T_RULE, "results": []},
        }
        for i, at in enumerate(stamps)
    ]
    summary = summarise(records, COURT_A, period)
    assert [n for _, n in summary.per_day] == per_day
    return summary


def _rendered_without_missing_glyphs(summary: Summary) -> bytes:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = render(summary, SummaryFormat.PNG)
    missing = [str(w.message) for w in caught if "missing" in str(w.message).lower()]
    assert not missing, missing
    return png


def test_chart_labels_are_chinese_in_a_font_that_has_them() -> None:
    # .ci/run installs fonts-wqy-zenhei: a CJK family must be found, and no glyph may be missing.
    assert summary_chart.cjk_family("类案强制检索次数（按日）浙江省杭州市西湖区人民法院") is not None
    png = _rendered_without_missing_glyphs(_summary_of(90, 6))
    assert png_size(png) == (1200, 576)
    (REPO / "build").mkdir(exist_ok=True)
    (REPO / "build" / "audit-summary-90-days.png").write_bytes(png)  # to look at


def test_chart_falls_back_to_english_labels_without_a_cjk_font(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(summary_chart, "CJK_FAMILIES", ("No Such CJK Font",))
    summary_chart._installed_cjk.cache_clear()
    try:
        assert summary_chart.cjk_family("类案") is None
        png = _rendered_without_missing_glyphs(_summary_of(7, 1))
    finally:
        summary_chart._installed_cjk.cache_clear()
    assert png_size(png) == (1200, 576)


# -- over HTTP -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """The served app, its log holding the known records of March 2025 beside its own."""
    with serve(sample_index, tmp_path_factory.mktemp("summary-api")) as env:
        clock = Clock()
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(audit_store, "utc_timestamp", clock)
            with AuditLog(env.settings.audit_db) as log:
                write_known_records(log, clock)
        yield env


def get_summary(env: Env, who: str, **params: str) -> Any:
    return env.client.get("/api/v1/audit/summary", params=params, headers=env.h(who))


def test_http_summary_is_scoped_to_the_auditors_court(api: Env) -> None:
    march = {"from": MARCH[0], "to": MARCH[1]}

    response = get_summary(api, "auditor_a", **march)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert_expected_a(response.json())
    assert get_summary(api, "president_a", **march).json()["searches"] == 4
    assert get_summary(api, "admin", court=COURT_A, **march).json()["searches"] == 4

    other = get_summary(api, "auditor_b", **march)  # no court named: their own
    assert other.status_code == 200
    body = other.json()
    assert body["court"] == COURT_B and body["searches"] == 1 and set(body["by_user"]) == {"judge_b"}
    assert not any(name.startswith("judge_a") or name == "assistant_a" for name in body["by_user"])

    forbidden = get_summary(api, "auditor_b", court=COURT_A, **march)
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"
    for who in ("judge_a", "assistant_a"):
        assert get_summary(api, who, **march).status_code == 403
    assert api.client.get("/api/v1/audit/summary", params=march).status_code == 401

    recorded = api.records("admin", kind="summary")
    assert {r["actor"]["user"] for r in recorded} >= {"auditor_a", "auditor_b", "president_a", "admin"}
    assert all(r["actor"]["user"] != "judge_a" for r in recorded)  # refused requests are not summaries


def test_http_files_agree(api: Env) -> None:
    march = {"from": MARCH[0], "to": MARCH[1], "court": COURT_A}
    files = {}
    for fmt in ("csv", "xlsx", "png"):
        response = get_summary(api, "auditor_a", format=fmt, **march)
        assert response.status_code == 200, response.text
        assert f'filename="audit-summary-20250301-20250331.{fmt}"' in response.headers["content-disposition"]
        files[fmt] = response.content
    table = check_files_agree(files["csv"], files["xlsx"], files["png"])
    assert table[("概要", "强制检索次数")] == "4"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2025-03-32", "to": "2025-03-31"}, "from"),
        ({"from": "2025-03-01", "to": "31/03/2025"}, "to"),
        ({"from": "2025-03-31", "to": "2025-03-01"}, "to"),
        ({"to": "2025-03-31"}, "from"),
        ({"from": "2025-03-01", "to": "2025-03-31", "format": "pdf"}, "format"),
    ],
)
def test_http_bad_dates_are_422(api: Env, params: dict[str, str], field: str) -> None:
    response = get_summary(api, "auditor_a", **params)
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["fields"]


def test_http_summary_counts_a_real_search_and_its_marks(api: Env) -> None:
    search = api.search("judge_a", k=5)
    assert search.status_code == 200, search.text
    body = search.json()
    doc = body["tiers"][0]["results"][0]["doc_id"]
    marked = api.client.post(
        f"/api/v1/searches/{body['search_id']}/decisions",
        json={"marks": [{"doc_id": doc, "label": "类案", "reason": "基本案情与争议焦点相同"}]},
        headers=api.h("judge_a"),
    )
    assert marked.status_code == 200, marked.text
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    around = {"from": str(today - dt.timedelta(days=1)), "to": str(today + dt.timedelta(days=1))}
    figures = get_summary(api, "auditor_a", **around).json()
    assert figures["searches"] == 1 and figures["by_user"] == {"judge_a": 1}
    assert figures["by_case_type"] == {case_type(PENDING["case_number"]): 1} == {"刑事一审": 1}
    assert figures["by_trigger"] == {T_RULE: 1}
    assert figures["searches_with_tier_1_2"] == 1  # the sample corpus has a guiding case on theft
    assert (figures["marked_results"], figures["marked_similar"]) == (1, 1)


def test_cases_are_distinct_pending_case_numbers_with_their_own_figures(tmp_path: Path, clock: Clock) -> None:
    """One case searched twice (its 案号 printed once with half-width brackets) and another once."""
    x, x_half, y = "（2025）浙0106刑初12号", "(2025)浙0106刑初12号", "（2025）浙0106民初345号"
    with AuditLog(tmp_path / "audit.sqlite") as log:
        s1 = _search(log, clock, "2025-03-02T01:00:00.000", A1, T_RULE, x, [1, 4])
        s2 = _search(log, clock, "2025-03-05T01:00:00.000", A2, T_MEETING, x_half, [4])
        s3 = _search(log, clock, "2025-03-06T01:00:00.000", A1, T_RULE, y, [3])
        _marks(log, clock, "2025-03-07T01:00:00.000", s1, A1, [("doc-0", "类案"), ("doc-1", "非类案")])
        _marks(log, clock, "2025-03-07T02:00:00.000", s3, A1, [("doc-0", "非类案")])
        clock.now = utc("2025-03-07T03:00:00.000")
        log.append("report", Actor(*A1[:1], "承办法官", A1[1]), "t", {"search_id": s2, "case_number": x_half})
        records = [r.to_dict() for r in log.iter_records()]
    summary = summarise(records, COURT_A, Period.parse(*MARCH))
    assert (summary.searches, summary.cases) == (3, 2)
    assert summary.cases_by_case_type == [("刑事一审", 1), ("民事一审", 1)]
    assert (summary.cases_with_tier_1_2, summary.cases_with_report) == (1, 1)
    first, second = summary.per_case
    assert first.case_number == x and first.searches == 2 and first.users == ("judge_a", "judge_a2")
    assert (first.first_day, first.last_day) == (dt.date(2025, 3, 2), dt.date(2025, 3, 5))
    assert (first.marked_results, first.marked_similar, first.reports, first.found_tier_1_2) == (
        2,
        1,
        1,
        True,
    )
    assert second.case_number == y and (second.searches, second.marked_results, second.marked_similar) == (
        1,
        1,
        0,
    )
    rows = {(section, item): value for section, item, value in summary.table()}
    assert rows[("概要", "检索涉及案件数（不同案号）")] == 2 and rows[("按案件（检索次数）", x)] == 2
    assert summary.to_dict()["per_case"][0]["triggers"] == sorted([T_RULE, T_MEETING])
