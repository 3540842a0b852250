"""审判管理 over HTTP: the Art. 13 summary counts cases, a court's export verifies offline, the
争议焦点 travels from the search to its report, and PDF is made or refused in Chinese.

One app for the module (``tests.api_env.serve``): two courts, every role.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import docx
import pytest

from api.cli.main import main as leian
from retrieval.audit.signing import load_private_key, public_key_pem
from retrieval.audit.verify import verify_export
from retrieval.report.render_pdf import pdf_available
from tests.api_env import COURT_A, COURT_B, PENDING, Env, serve

OTHER_CASE = "（2025）浙0106刑初9号"
FOCUS = "被告人是否构成入户盗窃，盗窃数额如何认定"


@pytest.fixture(scope="module")
def env(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with serve(sample_index, tmp_path_factory.mktemp("mgmt")) as served:
        yield served


@pytest.fixture(scope="module")
def searches(env: Env) -> list[dict]:
    """Court A: the pending case twice (once printed with half-width brackets), another case once;
    court B: one search."""
    bracketed = PENDING["case_number"].replace("（", "(").replace("）", ")")
    out = []
    for who, body in (
        ("judge_a", {"dispute_focus": FOCUS}),
        ("judge_a2", {"case_number": bracketed, "trigger": "院庭长要求"}),
        ("judge_a", {"case_number": OTHER_CASE}),
        ("judge_b", {}),
    ):
        response = env.search(who, k=5, **body)
        assert response.status_code == 200, response.text
        out.append(response.json())
    return out


def _today(env: Env) -> str:
    import datetime as dt

    return dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()


def test_the_summary_counts_cases_as_well_as_searches(env: Env, searches: list[dict]) -> None:
    day = _today(env)
    response = env.client.get(
        "/api/v1/audit/summary", params={"from": day, "to": day}, headers=env.h("auditor_a")
    )
    assert response.status_code == 200, response.text
    figures = response.json()
    assert figures["searches"] == 3 and figures["cases"] == 2  # two spellings of one 案号 are one case
    per_case = {c["case_number"]: c for c in figures["per_case"]}
    assert set(per_case) == {PENDING["case_number"], OTHER_CASE}
    pending = per_case[PENDING["case_number"]]
    assert pending["searches"] == 2 and pending["users"] == ["judge_a", "judge_a2"]
    assert pending["triggers"] == ["缺乏明确或统一裁判规则", "院庭长要求"]
    assert per_case[OTHER_CASE]["searches"] == 1
    assert figures["cases_by_case_type"] == {"刑事一审": 2}
    assert figures["by_case_type"] == {"刑事一审": 3}
    table = env.client.get(
        "/api/v1/audit/summary", params={"from": day, "to": day, "format": "csv"}, headers=env.h("auditor_a")
    ).content.decode("utf-8-sig")
    assert "检索涉及案件数（不同案号）,2" in table


def test_a_courts_own_jsonl_export_verifies_offline_and_tampering_is_caught(
    env: Env, searches: list[dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = env.client.get("/api/v1/audit/export", params={"format": "jsonl"}, headers=env.h("auditor_b"))
    assert export.status_code == 200
    lines = export.content.splitlines()
    header = json.loads(lines[0])["header"]
    assert header["complete"] is False and header["checkpoint"]["tree_size"] == header["tree_size"]
    assert {json.loads(line)["record"]["actor"]["court"] for line in lines[1:]} == {COURT_B}
    path = tmp_path / "court-b.jsonl"
    path.write_bytes(export.content)
    pub = tmp_path / "court.pub"
    pub.write_text(public_key_pem(load_private_key(env.key_path)), encoding="ascii")

    assert leian(["audit", "verify", str(path), "--public-key", str(pub)]) == 0
    out = capsys.readouterr().out
    assert "核验通过" in out and "OK:" in out and "不能证明没有遗漏记录" in out

    # one character of one record changed: the record no longer matches its leaf hash
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_bytes(export.content.replace(COURT_B.encode(), "江苏省苏州市吴中区人民法院".encode(), 1))
    assert leian(["audit", "verify", str(tampered), "--public-key", str(pub)]) == 1
    assert "核验未通过" in capsys.readouterr().out
    # the leaf hash recomputed too: the inclusion proof no longer leads to the signed root
    entry = json.loads(lines[1])
    entry["record"]["client"] = "forged"
    from retrieval.audit import merkle
    from retrieval.audit.records import canonical_json

    entry["leaf_hash"] = merkle.leaf_hash(canonical_json(entry["record"])).hex()
    forged = tmp_path / "forged.jsonl"
    forged.write_bytes(b"\n".join([lines[0], json.dumps(entry, ensure_ascii=False).encode(), *lines[2:]]))
    report = verify_export(forged, None, pub)
    assert not report.ok and report.first is not None and report.first.kind == "root"
    # a record of the other court slipped in with a proof of its own still fails the court check
    a_export = env.client.get("/api/v1/audit/export", headers=env.h("admin")).content.splitlines()
    a_line = next(line for line in a_export[1:] if COURT_A.encode() in line)
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_bytes(b"\n".join([*lines, a_line]))
    assert not verify_export(mixed, None, pub).ok


def test_a_verify_that_cannot_start_says_why_in_chinese_and_english(
    env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = tmp_path / "bare.jsonl"
    bare.write_text('{"header":{"complete":true}}\n', encoding="utf-8")
    assert leian(["audit", "verify", str(bare)]) == 2
    err = capsys.readouterr().err
    assert "错误：导出文件未附签名检查点" in err and "error:" in err and "carries no checkpoint" in err


def test_the_full_export_carries_its_checkpoint_too(env: Env, searches: list[dict], tmp_path: Path) -> None:
    export = env.client.get("/api/v1/audit/export", headers=env.h("admin"))
    path = tmp_path / "all.jsonl"
    path.write_bytes(export.content)
    report = verify_export(path)
    assert report.ok, report.summary()
    assert report.records == json.loads(export.content.splitlines()[0])["header"]["tree_size"]


def test_the_dispute_focus_is_recorded_with_the_search_and_printed_in_its_report(
    env: Env, searches: list[dict]
) -> None:
    search_id = searches[0]["search_id"]
    record = next(r for r in env.records("judge_a", kind="search") if r["seq"] == search_id)
    assert record["payload"]["dispute_focus"] == FOCUS
    assert (
        "dispute_focus"
        not in next(  # a search without one records no key at all
            r for r in env.records("judge_a", kind="search") if r["seq"] == searches[2]["search_id"]
        )["payload"]
    )
    response = env.client.get(f"/api/v1/searches/{search_id}/report", headers=env.h("judge_a"))
    assert response.status_code == 200
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(response.content)).paragraphs)
    assert FOCUS in text


def test_a_pdf_report_is_made_with_libreoffice_or_refused_in_chinese(
    env: Env, searches: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    search_id = searches[0]["search_id"]
    monkeypatch.setenv("LEIAN_SOFFICE", "")  # as on a server without LibreOffice
    refused = env.client.get(
        f"/api/v1/searches/{search_id}/report", params={"format": "pdf"}, headers=env.h("judge_a")
    )
    assert refused.status_code == 501
    error = refused.json()["error"]
    assert error["code"] == "pdf_unavailable" and "LibreOffice" in error["message_zh"]
    assert "未安装" in error["message_zh"]


@pytest.mark.slow  # LibreOffice starts in seconds
def test_a_pdf_report_when_libreoffice_is_installed(env: Env, searches: list[dict]) -> None:
    if not pdf_available():
        pytest.fail("LibreOffice (soffice) is not installed: apt-get install -y libreoffice-writer")
    assert os.environ.get("LEIAN_SOFFICE") is None
    response = env.client.get(
        f"/api/v1/searches/{searches[0]['search_id']}/report",
        params={"format": "pdf"},
        headers=env.h("judge_a"),
    )
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"%PDF") and response.headers["content-type"] == "application/pdf"
