"""The registry of stopped guiding cases (不再参照): sourced entries, applied at build and at `leian add`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli.authority import index_check
from api.cli.main import main
from index_build.build import BuildOptions, build
from index_build.update import add_documents
from retrieval.authority_registry import parse_registry, registry
from retrieval.document import Authority, AuthorityKind, Document, Sections
from retrieval.index_store import IndexStore
from retrieval.request import SearchRequest
from retrieval.search import search
from retrieval.tiers import NOT_CITABLE, effect_label

STOPPED_FACTS = "买卖合同纠纷，有限责任公司股东怠于履行清算义务，导致公司财产灭失，债权人请求股东对公司债务承担连带清偿责任。"
OTHER_FACTS = "被告人甲入户盗窃他人手机一部，价值人民币三千元，案发后自首。"


def _line(doc: Document) -> str:
    return json.dumps(doc.to_dict(), ensure_ascii=False)


def _guiding(number: str, facts: str) -> Document:
    return Document(
        doc_id=f"guiding-{number}",
        title=f"指导案例{number}号",
        sections=Sections(facts=facts, reasoning="本院认为，" + facts),
        authority=Authority(kind=AuthorityKind.GUIDING, number=number),
        holding=facts,
    )


def test_every_entry_is_dated_and_sourced_and_includes_the_2020_notice() -> None:
    entries = registry()
    assert {"9", "20"} <= set(entries)
    for entry in entries.values():
        assert entry.notice and entry.source and entry.reason and entry.stopped_on.year >= 2010
    assert "法〔2020〕343号" in entries["9"].notice and entries["9"].stopped_on.isoformat() == "2020-12-29"


def test_a_malformed_registry_is_refused_naming_the_entry() -> None:
    with pytest.raises(ValueError, match=r"entry 1: missing .*source"):
        parse_registry(
            {
                "entries": [
                    {"number": "9", "title": "t", "stopped_on": "2020-12-29", "notice": "n", "reason": "r"}
                ]
            }
        )
    entry = {
        "number": "9",
        "title": "t",
        "stopped_on": "2020-12-29",
        "notice": "n",
        "reason": "r",
        "source": "s",
    }
    with pytest.raises(ValueError, match="listed twice"):
        parse_registry({"entries": [entry, dict(entry, number="09")]})


def test_a_stopped_guiding_case_is_withdrawn_at_build_and_add(tmp_path: Path) -> None:
    source = tmp_path / "docs.jsonl"
    docs = [
        _guiding("9", STOPPED_FACTS),
        _guiding("24", "交通事故受害人体质状况对损害后果的影响不属于可以减轻侵权人责任的法定情形。"),
        Document("theft", title="theft", sections=Sections(facts=OTHER_FACTS)),
    ]
    source.write_text("\n".join(_line(d) for d in docs) + "\n", encoding="utf-8")
    home = tmp_path / "home"
    built = build(BuildOptions(inputs=[source], home=home, progress=False))
    assert built.manifest["counts"]["withdrawn"] == 1

    store = IndexStore.open(home)
    stopped = store.document_by_id("guiding-9")
    assert stopped is not None and stopped.authority.withdrawn
    assert "法〔2020〕343号" in (stopped.authority.withdrawn_reason or "")
    assert effect_label(stopped) == NOT_CITABLE
    assert not store.document_by_id("guiding-24").authority.withdrawn
    found = [r.document.doc_id for r in search(store, SearchRequest(facts=STOPPED_FACTS, k=3)).results]
    assert "guiding-9" not in found

    (check,) = index_check(home)
    assert check["doc_id"] == "guiding-9" and check["withdrawn"] and check["citation"] == "指导案例9号"
    assert main(["authority", "check", "--index", str(home)]) == 0

    added = tmp_path / "more.jsonl"
    added.write_text(
        _line(_guiding("20", "专利侵权纠纷，被诉侵权人在专利授权前实施发明。")) + "\n", encoding="utf-8"
    )
    result = add_documents(home, [added], progress=False)
    assert result.manifest["counts"]["withdrawn"] == 2
    assert IndexStore.open(home).document_by_id("guiding-20").authority.withdrawn


def test_check_exits_1_when_an_index_still_serves_a_stopped_case(tmp_path: Path, capsys) -> None:
    """An index built before the registry listed a case: `check` tells IT, `leian add` applies it."""
    import index_build.build as build_module

    source = tmp_path / "docs.jsonl"
    docs = [
        _guiding("9", STOPPED_FACTS),
        Document("theft", title="theft", sections=Sections(facts=OTHER_FACTS)),
    ]
    source.write_text("\n".join(_line(d) for d in docs) + "\n", encoding="utf-8")
    home = tmp_path / "home"
    original = build_module.withdrawn_by_registry
    build_module.withdrawn_by_registry = lambda doc: doc  # an older code version, without the registry
    try:
        build(BuildOptions(inputs=[source], home=home, progress=False))
    finally:
        build_module.withdrawn_by_registry = original
    assert main(["authority", "check", "--index", str(home)]) == 1
    assert "仍在提供" in capsys.readouterr().out

    empty = tmp_path / "empty.jsonl"
    empty.write_text(
        _line(Document("loan", title="loan", sections=Sections(facts="借款到期未还。"))) + "\n",
        encoding="utf-8",
    )
    add_documents(home, [empty], progress=False)  # applies the registry to the documents already indexed
    assert main(["authority", "check", "--index", str(home)]) == 0
    assert IndexStore.open(home).document_by_id("guiding-9").authority.withdrawn


def test_authority_list_prints_the_registry_as_json(capsys) -> None:
    assert main(["authority", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {e["citation"] for e in listed} >= {"指导案例9号", "指导案例20号"}
    assert all(e["source"] and e["notice"] and e["stopped_on"] for e in listed)
