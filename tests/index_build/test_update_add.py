"""`leian add` extends the keyword indexes from the parent's tf store: the result is the full build's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index_build import token_store
from index_build.build import BuildOptions, build
from index_build.update import add_documents
from retrieval import index_layout as layout
from retrieval.document import Document, Sections
from retrieval.index_store import IndexStore
from retrieval.keyword_index import KeywordIndex

FACTS = [
    "被告人甲秘密窃取他人手机一部，价值人民币三千元，案发后自首。",
    "被告人乙入户盗窃现金五千元，被当场抓获，赃款已退还。",
    "原告与被告签订借款合同，被告到期未归还借款本金十万元及利息。",
    "被告人丙醉酒驾驶机动车，血液酒精含量为每百毫升一百八十毫克。",
    "被告人丁在公共场所持刀伤人，致被害人轻伤二级。",
    "原告诉称被告拖欠货款二十万元，请求判令支付货款及违约金。",
    "被告人戊多次盗窃电动自行车，共计价值一万二千元。",
]
ADDED = [
    "被告人己以非法占有为目的，虚构事实骗取被害人钱款八万元。",  # 诈骗: words the parent never saw
    "原告与被告签订房屋租赁合同，被告逾期未支付租金。",
    "被告人庚盗窃他人手机两部，价值人民币六千元。",
]


def _write_jsonl(path: Path, first: int, facts: list[str]) -> Path:
    docs = [
        Document(doc_id=f"d{first + i}", title=f"d{first + i}", sections=Sections(facts=text)).to_dict()
        for i, text in enumerate(facts)
    ]
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def added_and_rebuilt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(parent build, build after the add, a full build of the same rows in the same order)."""
    tmp = tmp_path_factory.mktemp("add")
    base = _write_jsonl(tmp / "base.jsonl", 0, FACTS)
    extra = _write_jsonl(tmp / "extra.jsonl", len(FACTS), ADDED)
    parent = build(BuildOptions(inputs=[base], home=tmp / "home", progress=False)).build_dir
    added = add_documents(tmp / "home", [extra], progress=False)
    assert added.report.indexed == len(ADDED)
    rebuilt = build(BuildOptions(inputs=[base, extra], home=tmp / "rebuilt", progress=False)).build_dir
    return parent, added.build_dir, rebuilt


@pytest.mark.parametrize("folder", [layout.BM25_FACTS, layout.BM25_FULL])
def test_add_gives_the_keyword_index_of_a_full_build(added_and_rebuilt, folder: str) -> None:
    _, added, rebuilt = added_and_rebuilt
    for name in sorted(p.name for p in (rebuilt / folder).glob("*.npy")):
        np.testing.assert_array_equal(np.load(added / folder / name), np.load(rebuilt / folder / name), name)
    want, got = KeywordIndex.load(rebuilt / folder), KeywordIndex.load(added / folder)
    assert got._retriever.vocab_dict == want._retriever.vocab_dict
    assert got.size == want.size == len(FACTS) + len(ADDED)
    for query in (["盗窃", "手机"], ["骗取"], ["合同", "租金", "借款"]):
        scores = got.scores(query)
        np.testing.assert_array_equal(scores, want.scores(query))
    assert got.scores(["骗取"])[len(FACTS)] > 0  # a token first seen in the add is searchable


def test_add_keeps_the_parent_intact_and_links_its_token_parts(added_and_rebuilt) -> None:
    parent, added, rebuilt = added_and_rebuilt
    IndexStore.open(parent)  # checksums still verify: nothing of the parent was written
    assert IndexStore.open(added).size == len(FACTS) + len(ADDED)
    parent_parts = token_store.part_paths(parent, "facts")
    added_parts = token_store.part_paths(added, "facts")
    assert [p.name for p in added_parts] == ["part-00000.ids.zst", "part-00001.ids.zst"]  # token ids
    assert added_parts[0].stat().st_ino == parent_parts[0].stat().st_ino  # hard link, not a copy
    assert list(token_store.iter_token_lines(added, "facts")) == list(
        token_store.iter_token_lines(rebuilt, "facts")
    )
    assert token_store.row_count(added, "facts") == len(FACTS) + len(ADDED)


def test_published_builds_hold_no_full_text_tokens_nor_spill_files(added_and_rebuilt) -> None:
    for build_dir in added_and_rebuilt:
        assert not token_store.field_dir(build_dir, "full").exists()
        assert token_store.row_count(build_dir, "facts") == IndexStore.open(build_dir).size
        leftovers = [p for p in build_dir.rglob("*") if p.name.startswith(".") or p.name.endswith(".new")]
        assert not leftovers
