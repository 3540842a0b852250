"""`leian report batch`: a report per pending case, each search audited once, resumable after a kill.

The sample pending cases plus rows that must fail (empty facts, an unknown charge or trigger, broken
JSON, a judge without an account, a judge moved to another court, an auditor as 检索主体) go through
the command in-process. Kills are simulated at the two points where a real one matters (after the
search record, after the report record) and with a torn state line and a stray temporary file; the
rerun must account for every row exactly once in the summary and in the audit log.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docx
import openpyxl
import pytest

from api.cli.common import os_user
from api.cli.main import main as leian
from api.service.config import Settings
from api.service.report_batch import runner
from api.service.report_batch.operator import OS_USERS_FILE
from api.service.report_batch.pending import BadRow, PendingCase, read_pending
from retrieval import atomic_file
from retrieval.audit import merkle
from retrieval.audit.store import AuditLog
from retrieval.citation import citation
from retrieval.report.model import SECTIONS, TO_BE_FILLED
from retrieval.tiers import GUIDING_CANDIDATE
from tests.api_env import COURT_A, COURT_B, create_accounts, settings_for
from tests.conftest import SAMPLES, read_jsonl

# Batches killed mid-way and resumed, Ctrl-C, half-written files: minutes of processes; batches over
# HTTP stay in the inner loop (tests/api/test_api_reports.py).
pytestmark = pytest.mark.slow

SAMPLE = read_jsonl(SAMPLES / "pending" / "pending_cases.jsonl")
# The rows name several judges: the batch runs as an admin's audited override (api/service/report_batch/operator.py).
OVERRIDE = ["--admin-override", "审判管理办公室交办的批量检索"]
TRIGGER = "拟提交专业法官会议或审委会讨论"
DEFAULT_TRIGGER = "其他"


def _rows() -> list[Any]:
    theft, fraud, drunk, loan, lease = SAMPLE
    return [
        {**theft, "judge": "judge_a", "trigger": TRIGGER},  # 1
        {**fraud, "judge": "judge_b"},  # 2: the default trigger
        {k: v for k, v in drunk.items() if k not in ("court", "charges", "dispute_focus")},  # 3: --user
        {**{k: v for k, v in loan.items() if k != "court"}, "judge": "judge_a"},  # 4: civil
        {**{k: v for k, v in lease.items() if k != "court"}, "role": "承办法官"},  # 5
        {**theft, "case_number": "（2025）浙0106刑初901号", "facts": "  "},  # 6: empty facts
        {**theft, "case_number": "（2025）浙0106刑初902号", "charges": ["飞天罪"]},  # 7
        {**theft, "case_number": "（2025）浙0106刑初903号", "trigger": "随便查查"},  # 8
        "{not json",  # 9
        {**theft, "case_number": "（2025）浙0106刑初904号", "judge": "nobody"},  # 10
        {**theft, "case_number": "（2025）浙0106刑初905号", "court": COURT_B},  # 11: judge_a is of court A
        {**theft, "case_number": "（2025）浙0106刑初906号", "judge": "auditor_a"},  # 12
    ]


OK_ITEMS = [1, 2, 3, 4, 5]
ERRORS = {
    6: "facts: empty",
    7: "charges: unknown 罪名/案由 飞天罪",
    8: "trigger: '随便查查' is not one of",
    9: "invalid JSON",
    10: "no account 'nobody'",
    11: f"court: {COURT_B} is not the court of 'judge_a'",
    12: "'auditor_a' is 审判管理, who does not search",
}


@dataclass
class Batch:
    settings: Settings
    pending: Path
    out: Path
    index: Path

    def run(self, *extra: str) -> int:
        return leian(
            [
                "report",
                "batch",
                str(self.pending),
                "--out",
                str(self.out),
                "--index",
                str(self.index),
                "--data",
                str(self.settings.data_dir),
                "--user",
                "judge_a",
                "--trigger",
                DEFAULT_TRIGGER,
                "--quiet",
                *OVERRIDE,
                *extra,
            ]
        )

    def records(self) -> list[Any]:
        with AuditLog(self.settings.audit_db) as log:
            return list(log.iter_records())

    def batch_id(self) -> str:
        return json.loads((self.out / "batch.json").read_text("utf-8"))["batch_id"]

    def batch_records(self, kind: str) -> Counter[int]:
        batch_id = self.batch_id()
        return Counter(
            r.payload["batch"]["item"]
            for r in self.records()
            if r.kind == kind and (r.payload.get("batch") or {}).get("id") == batch_id
        )

    def summary(self) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO((self.out / "summary.csv").read_text("utf-8-sig"))))

    def state_items(self) -> list[int]:
        lines = (self.out / "state.jsonl").read_text("utf-8").splitlines()
        return [json.loads(line)["item"] for line in lines]


def _write_pending(path: Path) -> Path:
    lines = [row if isinstance(row, str) else json.dumps(row, ensure_ascii=False) for row in _rows()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Killed(BaseException):
    """Stands for the process dying at this point (not an error the batch could handle)."""


def _kill_at(monkeypatch: pytest.MonkeyPatch, name: str, item: int) -> None:
    real = getattr(runner, name)

    def dying(*args: Any, **kwargs: Any) -> Any:
        stem = args[2] if name == "write_rendered" else None
        batch = kwargs.get("batch") if name == "record_report" else None
        if (stem and stem.startswith(f"{item:04d}_")) or (batch is not None and batch.item == item):
            raise Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, name, dying)


@pytest.fixture(scope="module")
def batch(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Batch]:
    """A batch killed twice and resumed, then run once more to the end."""
    root = tmp_path_factory.mktemp("report-batch")
    settings = settings_for(sample_index, root)
    create_accounts(settings)
    settings.data_dir.joinpath(OS_USERS_FILE).write_text(json.dumps({os_user(): "admin"}), "utf-8")
    made = Batch(settings, _write_pending(root / "pending.jsonl"), root / "out", sample_index)
    with pytest.MonkeyPatch.context() as patch:  # dies after case 1's search record
        _kill_at(patch, "record_report", 1)
        with pytest.raises(Killed):
            made.run("--workers", "1")
    assert made.batch_records("search")[1] == 1 and made.batch_records("report")[1] == 0
    with pytest.MonkeyPatch.context() as patch:  # dies after case 1's report record, before its files
        _kill_at(patch, "write_rendered", 1)
        with pytest.raises(Killed):
            made.run("--workers", "2")
    assert made.batch_records("report")[1] == 1 and not list((made.out / "reports").glob("0001_*"))
    with (made.out / "state.jsonl").open("ab") as state:  # a line torn by a kill
        state.write(b'{"item": 3, "status": "o')
    (made.out / "reports" / ".0003_x.docx.k1ll3d.tmp").write_bytes(b"PK\x03\x04half")
    assert made.run("--workers", "2") == 1  # finished, with per-case errors
    yield made


def test_every_case_is_accounted_for_exactly_once(batch: Batch) -> None:
    rows = batch.summary()
    assert [int(r["序号"]) for r in rows] == list(range(1, 13))
    assert sorted(batch.state_items()) == list(range(1, 13))  # the torn line was cut, not counted
    assert [int(r["序号"]) for r in rows if r["状态"] == "已生成"] == OK_ITEMS
    searched, reported = batch.batch_records("search"), batch.batch_records("report")
    assert searched == Counter(OK_ITEMS) and reported == Counter(OK_ITEMS)  # once each, despite two kills
    for row in rows:
        if row["状态"] == "已生成":
            assert int(row["检索审计编号"]) < int(row["报告审计编号"])
            assert (batch.out / row["报告文件"]).is_file()


def test_per_case_errors_are_listed_and_do_not_stop_the_batch(batch: Batch) -> None:
    rows = {int(r["序号"]): r for r in batch.summary()}
    for item, message in ERRORS.items():
        assert rows[item]["状态"] == "出错" and message in rows[item]["错误"], rows[item]
        assert rows[item]["检索审计编号"] == ""  # refused before any search: nothing to audit
    assert rows[6]["案号"] == "（2025）浙0106刑初901号"


def test_search_records_carry_trigger_batch_and_subject(batch: Batch) -> None:
    batch_id = batch.batch_id()
    searches = {
        r.payload["batch"]["item"]: r
        for r in batch.records()
        if r.kind == "search" and (r.payload.get("batch") or {}).get("id") == batch_id
    }
    assert searches[1].payload["trigger"] == TRIGGER and searches[2].payload["trigger"] == DEFAULT_TRIGGER
    assert searches[1].actor.user == "judge_a" and searches[1].actor.court == COURT_A
    assert searches[2].actor.user == "judge_b" and searches[2].actor.court == COURT_B
    assert searches[3].actor.user == "judge_a"  # --user for a row that names no judge
    assert searches[3].payload["causes_predicted"] and searches[1].payload["endpoint"] == "reports/batch"
    assert {r.client for r in searches.values()} == {f"cli:{os_user()}"}  # who ran the batch
    overrides = [r for r in batch.records() if r.kind == "override" and r.payload["target"] == batch_id]
    assert overrides and overrides[0].seq < min(r.seq for r in searches.values())
    assert overrides[0].actor.user == "admin" and {"judge_a", "judge_b"} <= set(
        overrides[0].payload["as_users"]
    )


def test_summary_xlsx_matches_csv(batch: Batch) -> None:
    sheet = openpyxl.load_workbook(batch.out / "summary.xlsx").active
    values = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    assert values[0] == list(batch.summary()[0])
    assert values[1:] == [list(r.values()) for r in batch.summary()]
    assert sheet.freeze_panes == "A2"


def _docx(batch: Batch, item: int):
    row = next(r for r in batch.summary() if int(r["序号"]) == item)
    return docx.Document(str(batch.out / row["报告文件"])), row


def test_docx_has_the_art8_elements_traced_to_the_audit_log(batch: Batch, store) -> None:
    document, row = _docx(batch, 1)
    seq = int(row["检索审计编号"])
    with AuditLog(batch.settings.audit_db) as log:
        record, leaf_hash = log.read(seq)
    assert leaf_hash == merkle.leaf_hash(record.to_bytes()).hex()
    info = {r.cells[0].text: r.cells[1].text for r in document.tables[0].rows}
    assert info["待决案件案号"] == SAMPLE[0]["case_number"] and info["检索事由"] == TRIGGER
    assert info["检索人"] == "judge_a（承办法官）" and info["检索法院"] == COURT_A
    assert info["检索时间"].startswith(record.at[:4] + "年")
    assert str(store.describe()["build_id"]) in info["检索平台"] and "类案强制检索服务" in info["检索平台"]
    assert info["审计编号"] == f"检索审计编号 {seq}；记录哈希 {leaf_hash}"
    assert leaf_hash in document.sections[0].footer.paragraphs[1].text
    texts = [p.text for p in document.paragraphs]
    assert [p.text for p in document.paragraphs if p.style.name == "Heading 1"] == list(SECTIONS)
    tiers = [p.text for p in document.paragraphs if p.style.name == "Heading 2"]
    assert [t[:4] for t in tiers[:4]] == ["第1层级", "第2层级", "第3层级", "第4层级"]
    assert SAMPLE[0]["facts"] in texts and "检索方法：关键词检索、语义检索" in texts
    # the results, in the order the audit record ranked them (tier by tier)
    numbers = {doc.doc_id: citation(doc) for _, doc in store.metadata.iter_documents()}
    recorded = [numbers[r["doc_id"]] for r in record.payload["results"]]
    results = texts[texts.index(SECTIONS[1]) : texts.index(SECTIONS[2])]
    shown = [t.split("　")[-1] for t in results if t[:1].isdigit() and ". " in t[:4]]
    assert shown == recorded
    guiding = texts.index(tiers[0]) + 1
    assert "龚小川盗窃案" in texts[guiding] and f"效力：{GUIDING_CANDIDATE}" in texts[guiding + 2]
    assert any(t.startswith("裁判要点：") for t in texts[guiding:])
    assert SAMPLE[0]["dispute_focus"] in texts
    analysis = texts.index(SECTIONS[5])
    assert TO_BE_FILLED in texts[analysis : texts.index(SECTIONS[6])]
    # nothing marked yet: every result is listed as 待比对, none is called 类案
    listed = texts[texts.index(SECTIONS[4]) + 1 : analysis]
    assert listed and all(t.endswith("待比对（尚未比对，不作为类案）") for t in listed)


def test_a_case_without_dispute_focus_leaves_it_to_the_judge(batch: Batch) -> None:
    document, _ = _docx(batch, 3)
    texts = [p.text for p in document.paragraphs]
    assert texts[texts.index(SECTIONS[3]) + 1] == TO_BE_FILLED


def test_rerun_changes_nothing_and_replayed_reports_equal_the_live_ones(batch: Batch) -> None:
    def acts() -> list[str]:  # each run's admin override is itself recorded; nothing else may be
        return [r.kind for r in batch.records() if r.kind != "override"]

    def overrides() -> int:
        return sum(r.kind == "override" for r in batch.records())

    before, overridden = acts(), overrides()
    assert batch.run() == 1
    assert acts() == before and overrides() == overridden + 1
    live = {p.name: json.loads(p.read_text("utf-8")) for p in (batch.out / "reports").glob("*.json")}
    # lose every report and the state: all cases come back from their records, none is searched again
    shutil.rmtree(batch.out / "reports")
    (batch.out / "state.jsonl").unlink()
    assert batch.run() == 1
    assert acts() == before and overrides() == overridden + 2
    replayed = {p.name: json.loads(p.read_text("utf-8")) for p in (batch.out / "reports").glob("*.json")}
    assert replayed == live and len(live) == len(OK_ITEMS)


def test_no_half_written_file_after_a_kill_during_a_write(
    batch: Batch, monkeypatch: pytest.MonkeyPatch
) -> None:
    (batch.out / "state.jsonl").unlink()
    target = next((batch.out / "reports").glob("0002_*.docx"))
    old = target.read_bytes()

    def die(*_args: Any) -> None:
        raise Killed

    monkeypatch.setattr(atomic_file.os, "replace", die)
    with pytest.raises(Killed):
        batch.run("--workers", "1")
    monkeypatch.undo()
    assert target.read_bytes() == old  # the old file, whole; the new one never replaced it half-done
    assert not [p for p in (batch.out / "reports").iterdir() if p.name.startswith(".")]
    assert batch.run() == 1
    for path in (batch.out / "reports").iterdir():
        assert not path.name.startswith(".")
        if path.suffix == ".docx":
            docx.Document(str(path))
        elif path.suffix == ".json":
            json.loads(path.read_text("utf-8"))


def test_a_folder_holds_one_batch(batch: Batch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps(_rows()[0], ensure_ascii=False) + "\n", encoding="utf-8")
    code = leian(
        [
            "report",
            "batch",
            str(other),
            "--out",
            str(batch.out),
            "--index",
            str(batch.index),
            "--data",
            str(batch.settings.data_dir),
            "--quiet",
            *OVERRIDE,
        ]
    )
    assert code == 2 and "another input" in capsys.readouterr().err
    assert batch.run("--user", "judge_b") == 2  # another default subject is another batch
    assert "--user" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trigger", "随便"], "--trigger"),
        (["--workers", "0"], "--workers"),
        (["--role", "清洁工"], "--role"),
    ],
)
def test_bad_options_exit_2(batch: Batch, args: list[str], message: str, capsys) -> None:
    code = leian(["report", "batch", str(batch.pending), "--out", str(batch.out), *args])
    assert code == 2 and message in capsys.readouterr().err


def test_bad_input_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, data in (("cases.txt", b"x"), ("cases.csv", b""), ("cases.jsonl", b"\xff\xfe\x00\xd8bad")):
        path = tmp_path / name
        path.write_bytes(data)
        assert leian(["report", "batch", str(path), "--out", str(tmp_path / "o")]) == 2
        assert "leian: error:" in capsys.readouterr().err
    assert leian(["report", "batch", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")]) == 2


def test_csv_with_chinese_headers_in_gb18030(tmp_path: Path) -> None:
    theft = SAMPLE[0]
    text = (
        "案号,检索事由,基本案情,罪名,争议焦点,承办法官\r\n"
        f"{theft['case_number']},{TRIGGER},{theft['facts']},盗窃罪、诈骗罪,{theft['dispute_focus']},judge_a\r\n"
        f"（2025）浙0106刑初2号,,被告人甲盗窃。,,,\r\n"
    )
    path = tmp_path / "pending.csv"
    path.write_bytes(text.encode("gb18030"))
    cases, digest = read_pending(path, default_trigger=None)
    first, second = cases
    assert (
        isinstance(first, PendingCase) and first.charges == ["盗窃罪", "诈骗罪"] and first.judge == "judge_a"
    )
    assert first.facts == theft["facts"] and first.dispute_focus == theft["dispute_focus"]
    assert isinstance(second, BadRow) and second.error.startswith("trigger: required")
    assert len(digest) == 64


def test_ctrl_c_lets_the_cases_in_flight_finish_then_resumes(
    batch: Batch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pending = tmp_path / "three.jsonl"
    rows = [{**SAMPLE[0], "case_number": f"（2025）浙0106刑初{n}号"} for n in (31, 32, 33)]
    pending.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    small = Batch(batch.settings, pending, tmp_path / "out", batch.index)
    real = runner.as_completed

    def interrupted(futures):
        for future in real(futures):
            yield future
            raise KeyboardInterrupt  # Ctrl-C right after the first case finished

    monkeypatch.setattr(runner, "as_completed", interrupted)
    assert small.run("--workers", "2") == 130
    monkeypatch.undo()
    first = small.state_items()  # the first case, and those already running beside it, kept their state
    assert first and len(set(first)) == len(first)
    assert small.run() == 0
    assert sorted(small.state_items()) == [1, 2, 3] and small.batch_records("search") == Counter([1, 2, 3])
