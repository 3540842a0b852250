"""`leian pending import`, `leian push webhook|status|match` on a data folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli.main import main
from api.service.push.store import PUSH_DB
from index_build.update import add_documents
from tests.api.push_env import COURT, NEW_GUIDING, THEFT, fresh_index, make_accounts, write_jsonl
from tests.api_env import settings_for


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_import_match_and_status(
    store: str,
    sample_index: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    home = fresh_index(sample_index, tmp_path / "index")
    url = request.getfixturevalue("pg_database") if store == "postgresql" else None
    if url is not None:  # the commands open the database of LEIAN_DATABASE_URL, as a node would
        monkeypatch.setenv("LEIAN_DATABASE_URL", url)
    settings = settings_for(home, tmp_path, database_url=url)
    make_accounts(settings)
    data = ["--data", str(settings.data_dir)]
    export = tmp_path / "cases.csv"
    export.write_text(
        "案号,法院,承办法官,罪名,基本案情\n"
        f"{THEFT['case_number']},{COURT},judge_a,盗窃罪,{THEFT['facts']}\n"
        f"（2025）浙0106刑初90号,{COURT},judge_a,盗窃罪,\n"
        f"（2025）浙0106刑初91号,{COURT},president_a,盗窃罪,{THEFT['facts']}\n",
        encoding="utf-8",
    )
    assert main(["pending", "import", str(export), "--index", str(home), *data, "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["status"] for r in rows] == ["registered", "refused", "refused"]
    assert "facts" in rows[1]["error"] and "judge" in rows[2]["error"]
    # a rerun of the same export registers nothing twice
    assert main(["pending", "import", str(export), "--index", str(home), *data, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["rows"][0]["status"] == "exists"

    assert main(["push", "webhook", "set", "--court", COURT, "--url", "ftp://x/y", *data]) == 2
    capsys.readouterr()
    add_documents(home, [write_jsonl(tmp_path / "new.jsonl", [NEW_GUIDING])], progress=False)
    assert main(["push", "match", "--index", str(home), *data]) == 0
    assert "1 pushes" in capsys.readouterr().out
    assert main(["push", "status", *data, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["counts"] == {} and status["matched_build"] == home.joinpath("current").resolve().name
    assert (settings.data_dir / PUSH_DB).exists() == (url is None)


def test_webhook_set_and_rotate(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    data = ["--data", str(tmp_path / "data")]
    monkeypatch.setenv("LEIAN_WEBHOOK_ALLOW", "cms.court.example,127.0.0.1")
    assert (
        main(["push", "webhook", "set", "--court", COURT, "--url", "https://cms.court.example/push", *data])
        == 0
    )
    made = json.loads(capsys.readouterr().out)
    assert made["url"] == "https://cms.court.example/push" and len(made["secret"]) >= 32
    assert (
        main(["push", "webhook", "set", "--court", COURT, "--url", "https://other.example/push", *data]) == 2
    )
    capsys.readouterr()
    assert main(["push", "webhook", "rotate", "--court", COURT, *data]) == 0
    rotated = json.loads(capsys.readouterr().out)
    assert rotated["secret_id"] == 2 and rotated["secret"] != made["secret"]
    assert main(["push", "webhook", "rotate", "--court", "不存在的法院", *data]) == 1


def test_push_commands_name_a_database_that_does_not_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    from tests.tcp_proxy import free_port

    monkeypatch.setenv("LEIAN_DATABASE_URL", f"postgresql://leian:s3cret@127.0.0.1:{free_port()}/leian")
    data = ["--data", str(tmp_path / "data")]
    for argv in (["push", "status", *data], ["push", "webhook", "rotate", "--court", COURT, *data]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "push store in postgresql://leian@127.0.0.1" in err and "s3cret" not in err
    assert not (tmp_path / "data" / PUSH_DB).exists()  # not a local file instead
