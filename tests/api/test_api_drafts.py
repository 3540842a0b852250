"""文书辅助 and what a search answer now carries: differences beside the matches, citability, drafts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.cli.main import main as leian
from tests.api_env import Env, serve

GUIDING = "guiding-901"


@pytest.fixture(scope="module")
def env(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with serve(sample_index, tmp_path_factory.mktemp("drafts")) as served:
        yield served


@pytest.fixture(scope="module")
def searched(env: Env) -> dict[str, Any]:
    response = env.search("judge_a", k=8, filters={"include_uncitable": True})
    assert response.status_code == 200, response.text
    return response.json()


def results(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for group in body["tiers"] for r in group["results"]]


def draft(env: Env, search_id: int, who: str = "judge_a", **body: Any):
    payload = {"doc_id": GUIDING, "cited_by": "公诉机关"} | body
    return env.client.post(f"/api/v1/searches/{search_id}/drafts", json=payload, headers=env.h(who))


def mark(env: Env, search_id: int, doc_id: str, label: str, reason: str) -> None:
    marks = {"marks": [{"doc_id": doc_id, "label": label, "reason": reason}]}
    response = env.client.post(
        f"/api/v1/searches/{search_id}/decisions", json=marks, headers=env.h("judge_a")
    )
    assert response.status_code == 200, response.text


def test_results_carry_differences_and_citability(env: Env, searched: dict[str, Any]) -> None:
    shown = results(searched)
    assert all(r["citable"] and r["uncitable_missing"] == [] for r in shown)  # the sample is all citable
    differences = [d for r in shown for d in r["explanation"]["differences"]]
    assert differences and {"aspect", "query_value", "case_value", "source"} == set(differences[0])
    recidivist = next(r for r in shown if r["doc_id"] == "txt-2023_zhe0106_xingchu_123")
    assert {
        "aspect": "累犯",
        "query_value": None,
        "case_value": "有",
        "source": "circumstance",
    } in recidivist["explanation"]["differences"]
    (record,) = [r for r in env.records("judge_a", kind="search") if r["seq"] == searched["search_id"]]
    assert record["payload"]["filters"]["include_uncitable"] is True


def test_a_draft_needs_a_mark_then_follows_it(env: Env, searched: dict[str, Any]) -> None:
    search_id = searched["search_id"]
    refused = draft(env, search_id)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_marked"
    assert refused.json()["error"]["fields"] == ["doc_id"]

    mark(env, search_id, GUIDING, "类案", "同为扒窃，认定规则可供参照")
    followed = draft(env, search_id)
    assert followed.status_code == 200, followed.text
    body = followed.json()
    text = body["draft"]
    assert text.startswith("公诉机关援引的指导案例901号（龚小川盗窃案）与本案在罪名（盗窃罪）")
    assert "经比对，同为扒窃，认定规则可供参照。" in text and text.endswith(
        "故本案应当参照该指导性案例作出裁判。"
    )
    assert "但该案" in text  # the differences are answered, not hidden
    assert body["mark"] == "类案" and "不自动写入裁判文书" in body["notice"]
    (record,) = [r for r in env.records("judge_a", kind="draft") if r["seq"] == body["audit"]["seq"]]
    assert record["payload"]["text_sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert record["payload"]["doc_id"] == GUIDING and record["payload"]["cited_by"] == "公诉机关"

    mark(env, search_id, GUIDING, "非类案", "本案系入户盗窃，不属扒窃")
    declined = draft(env, search_id, cited_by="辩护人").json()["draft"]
    assert declined.startswith("辩护人援引的指导案例901号")
    assert "经比对，本案系入户盗窃，不属扒窃。" in declined and declined.endswith("故本案不予参照。")


def test_bad_draft_requests_are_refused_naming_the_field(env: Env, searched: dict[str, Any]) -> None:
    search_id = searched["search_id"]
    bad = draft(env, search_id, cited_by="旁听群众")
    assert bad.status_code == 422 and "cited_by" in str(bad.json()["error"]["fields"])
    absent = draft(env, search_id, doc_id="not-a-result")
    assert absent.status_code == 422 and absent.json()["error"]["fields"] == ["doc_id"]
    assert draft(env, search_id, who="judge_b").status_code == 403
    assert draft(env, 10**9).status_code == 404


def test_cli_search_prints_differences_and_takes_include_uncitable(
    sample_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    facts = "被告人在公交车上扒窃被害人手机一部，价值人民币三千元。"
    argv = ["search", facts, "--index", str(sample_index), "--charges", "盗窃罪", "-k", "3"]
    assert leian([*argv, "--json", "--include-uncitable"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert any(d["aspect"] == "涉案金额" for r in printed["results"] for d in r["differences"])
    assert leian(argv) == 0
    assert "不同：" in capsys.readouterr().out
