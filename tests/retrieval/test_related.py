"""关联案件 on the sample corpus (whose README lists every relation) and on small made-up stores."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from index_build.metadata_writer import MetadataWriter
from retrieval.document import Authority, CaseCategory, Court, Document, Party
from retrieval.index_store import IndexStore
from retrieval.metadata import MetadataStore
from retrieval.parsing.case_number import Stage
from retrieval.related import LinkKind, RelatedLink, find_related, find_related_for_pending

CHAIN, PARTY, SERIAL = LinkKind.SAME_DISPUTE_CHAIN, LinkKind.SAME_PARTY, LinkKind.SERIAL_CASE

XINGCHU, XINGZHONG = "txt-2023_zhe0106_xingchu_123", "txt-2023_zhe01_xingzhong_588"
MINCHU, MINZHONG, ZHI = (
    "txt-2022_zhe0110_minchu_8765",
    "txt-2023_zhe01_minzhong_1024",
    "txt-2023_zhe0110_zhi_4321",
)
GANG_1, GANG_2 = "txt-2021_su0508_xingchu_356", "txt-2022_zhe0212_xingchu_1045"
QINGHE_1, QINGHE_2 = "txt-2021_zhe0105_minchu_3456", "txt-2024_zhe0105_minchu_2211"
ZHANG_1, ZHANG_2 = "txt-2020_yue0305_xingchu_1187", "txt-2024_chuan0107_xingchu_512"
CIVIL_CHAIN = {MINCHU: Stage.FIRST_INSTANCE, MINZHONG: Stage.SECOND_INSTANCE, ZHI: Stage.ENFORCEMENT}

# Every link the sample corpus holds (corpus_samples/README.md, "Relations the tests can rely on").
EXPECTED: dict[str, set[tuple[str, LinkKind]]] = {
    XINGCHU: {(XINGZHONG, CHAIN)},
    XINGZHONG: {(XINGCHU, CHAIN)},
    **{doc: {(other, CHAIN) for other in CIVIL_CHAIN if other != doc} for doc in CIVIL_CHAIN},
    GANG_1: {(GANG_2, SERIAL)},
    GANG_2: {(GANG_1, SERIAL)},
    QINGHE_1: {(QINGHE_2, PARTY)},
    QINGHE_2: {(QINGHE_1, PARTY)},
}


@pytest.fixture(scope="module")
def all_links(store: IndexStore) -> dict[str, list[RelatedLink]]:
    return {doc.doc_id: find_related(store, doc.doc_id) for _, doc in store.metadata.iter_documents()}


def by_id(links: list[RelatedLink]) -> dict[str, RelatedLink]:
    return {link.doc_id: link for link in links}


def test_the_corpus_holds_exactly_the_documented_links(all_links: dict[str, list[RelatedLink]]) -> None:
    # This also proves the two unrelated 张某 cases, chain-internal parties (周建平, 郑丽华) and
    # shared 公诉机关 (杭州市西湖区人民检察院 in chain A) create no extra links.
    found = {doc: {(link.doc_id, link.kind) for link in links} for doc, links in all_links.items()}
    assert {doc: links for doc, links in found.items() if links} == EXPECTED


def test_no_self_links_and_each_document_once(all_links: dict[str, list[RelatedLink]]) -> None:
    for doc_id, links in all_links.items():
        ids = [link.doc_id for link in links]
        assert doc_id not in ids
        assert len(ids) == len(set(ids)), doc_id
        assert all(link.reason and link.evidence and not link.withdrawn for link in links)


def test_criminal_chain_both_directions(all_links: dict[str, list[RelatedLink]]) -> None:
    up = by_id(all_links[XINGZHONG])[XINGCHU]
    assert up.stage is Stage.FIRST_INSTANCE and up.case_number == "（2023）浙0106刑初123号"
    assert up.evidence == ("（2023）浙0106刑初123号",)
    assert up.reason == "本案（2023）浙01刑终588号的裁判文书援引（2023）浙0106刑初123号，系同一案件的一审"

    down = by_id(all_links[XINGCHU])[XINGZHONG]
    assert down.stage is Stage.SECOND_INSTANCE
    assert down.reason == "（2023）浙01刑终588号的裁判文书援引本案（2023）浙0106刑初123号，系同一案件的二审"


@pytest.mark.parametrize("member", list(CIVIL_CHAIN))
def test_civil_chain_from_each_member(all_links: dict[str, list[RelatedLink]], member: str) -> None:
    links = by_id(all_links[member])
    assert set(links) == set(CIVIL_CHAIN) - {member}
    for doc_id, link in links.items():
        assert link.kind is CHAIN and link.stage is CIVIL_CHAIN[doc_id]
        assert link.case_number is not None and link.case_number in link.reason
        assert all(number in link.reason for number in link.evidence)
        assert link.reason.endswith(f"系同一案件的{CIVIL_CHAIN[doc_id].value}")


def test_enforcement_reason_names_the_judgment_it_enforces(all_links: dict[str, list[RelatedLink]]) -> None:
    link = by_id(all_links[MINZHONG])[ZHI]
    assert link.reason == "（2023）浙0110执4321号的裁判文书援引本案（2023）浙01民终1024号，系同一案件的执行"


def test_serial_case_names_both_shared_defendants(all_links: dict[str, list[RelatedLink]]) -> None:
    for origin, other, number in (
        (GANG_1, GANG_2, "（2022）浙0212刑初1045号"),
        (GANG_2, GANG_1, "（2021）苏0508刑初356号"),
    ):
        link = by_id(all_links[origin])[other]
        assert link.kind is SERIAL
        assert link.evidence == ("韩立军", "蔡文博")  # not 杜晓东 or 邵明, each in one case only
        assert "韩立军、蔡文博" in link.reason and number in link.reason


def test_company_in_two_civil_cases(all_links: dict[str, list[RelatedLink]]) -> None:
    link = by_id(all_links[QINGHE_1])[QINGHE_2]
    assert link.kind is PARTY and link.evidence == ("杭州青禾贸易有限公司",)
    assert link.reason == (
        "本案（2021）浙0105民初3456号的当事人杭州青禾贸易有限公司（本案原告，该案被告）"
        "亦为（2024）浙0105民初2211号的当事人"
    )


def test_anonymised_zhang_mou_not_linked(all_links: dict[str, list[RelatedLink]]) -> None:
    assert all_links[ZHANG_1] == [] and all_links[ZHANG_2] == []


def test_unknown_doc_id(store: IndexStore) -> None:
    with pytest.raises(KeyError):
        find_related(store, "no-such-doc")


# --- pending cases -------------------------------------------------------------------------------

APPEAL_TEXT = "上诉人宋志远不服浙江省杭州市余杭区人民法院（2022）浙0110民初8765号民事判决，向本院提起上诉。"


def test_pending_appeal_joins_the_civil_chain(store: IndexStore) -> None:
    links = find_related_for_pending(
        store,
        case_number="（2025）浙01民终2001号",
        parties=[Party("宋志远", "上诉人"), Party("郑丽华", "被上诉人")],
        court=Court("浙江省杭州市中级人民法院"),
        text=APPEAL_TEXT,
    )
    assert [(link.doc_id, link.kind) for link in links] == [(MINCHU, CHAIN), (MINZHONG, CHAIN), (ZHI, CHAIN)]
    first = links[0]
    assert first.reason == "本案（2025）浙01民终2001号的材料援引（2022）浙0110民初8765号，系同一案件的一审"
    assert all("（2022）浙0110民初8765号" in link.evidence for link in links)


def test_pending_with_its_own_number_cited_nowhere_and_no_text(store: IndexStore) -> None:
    assert (
        find_related_for_pending(store, case_number="（2025）浙0110民初3301号", parties=[], court=None) == []
    )


def test_pending_shares_defendant_with_gang_cases(store: IndexStore) -> None:
    links = find_related_for_pending(
        store, case_number="（2025）苏0508刑初142号", parties=[Party("韩立军", "被告人")], court=None
    )
    assert {(link.doc_id, link.kind) for link in links} == {(GANG_1, SERIAL), (GANG_2, SERIAL)}
    assert all(link.evidence == ("韩立军",) for link in links)


def test_pending_anonymised_name_with_same_court_and_procuratorate_is_not_enough(store: IndexStore) -> None:
    links = find_related_for_pending(
        store,
        case_number="（2020）粤0305刑初2001号",
        parties=[Party("深圳市南山区人民检察院", "公诉机关"), Party("张某", "被告人")],
        court=Court("广东省深圳市南山区人民法院"),
    )
    assert links == []


@pytest.mark.parametrize(
    ("case_number", "parties", "text"),
    [
        # a 前罪 judgment of the same defendant is another case, not an earlier stage
        (
            "（2025）浙0106刑初88号",
            [Party("周建平", "被告人")],
            "被告人周建平曾因犯盗窃罪于2023年被本院以（2023）浙0106刑初123号刑事判决判处有期徒刑。",
        ),
        # a 一审 citing another 一审 (类案) is not a chain, whatever the parties
        ("（2025）浙0110民初3301号", [], "参照（2022）浙0110民初8765号民事判决的裁判思路。"),
        # an appeal by strangers cannot be the appeal of that judgment
        ("（2025）浙01民终2002号", [Party("王小明", "上诉人"), Party("李大伟", "被上诉人")], APPEAL_TEXT),
    ],
)
def test_citations_that_are_not_chain_steps(
    store: IndexStore, case_number: str, parties: list[Party], text: str
) -> None:
    links = find_related_for_pending(store, case_number=case_number, parties=parties, court=None, text=text)
    assert [link for link in links if link.kind is CHAIN] == []


# --- rules the sample corpus does not exercise: a small store written here ----------------------


def _doc(doc_id: str, number: str, parties: list[Party], text: str = "", **kw) -> Document:
    return Document(
        doc_id=doc_id,
        case_number=number,
        parties=parties,
        full_text=text,
        court=kw.pop("court", Court("浙江省杭州市余杭区人民法院")),
        decision_date=kw.pop("decision_date", dt.date(2023, 1, 1)),
        category=kw.pop("category", CaseCategory.CIVIL),
        **kw,
    )


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory):
    a, b = Party("甲某", "原告"), Party("乙某", "被告")
    docs = [
        _doc("m1", "（2019）浙0110民初1号", [a, b]),
        _doc("m2", "（2020）浙01民终2号", [a, b], "不服（2019）浙0110民初1号民事判决"),
        _doc("m3", "（2021）浙民申3号", [a, b], "不服（2020）浙01民终2号民事判决，申请再审"),
        _doc("m4", "（2022）浙民再4号", [a, b], "本院作出（2021）浙民申3号民事裁定，提审本案"),
        _doc("m5", "（2023）浙0110执5号", [a, b], "（2022）浙民再4号民事判决已经发生法律效力"),
        _doc("m6", "（2024）浙0110执异6号", [a, b], "本院在执行（2023）浙0110执5号案件中"),
        _doc(
            "m1-copy",
            "(2019)浙0110民初字第1号",
            [a, b],
            authority=Authority(withdrawn=True, withdrawn_reason="重复"),
        ),
        # anonymised names: two shared + same court links; two shared, other court, 3 years apart does not
        _doc("x1", "（2023）浙0110民初7号", [Party("丙某", "原告"), Party("丁某", "被告")]),
        _doc("x2", "（2023）浙0110民初8号", [Party("丙某", "原告"), Party("丁某", "被告")]),
        _doc(
            "x3",
            "（2020）苏0508民初9号",
            [Party("丙某", "原告"), Party("丁某", "被告")],
            court=Court("江苏省苏州市姑苏区人民法院"),
            decision_date=dt.date(2020, 1, 1),
        ),
    ]
    path = tmp_path_factory.mktemp("related") / "metadata.sqlite"
    writer = MetadataWriter(path)
    for row, doc in enumerate(docs):
        writer.add(row, doc)
    writer.close()
    metadata = MetadataStore(path)
    yield SimpleNamespace(metadata=metadata)
    metadata.close()


def test_chain_is_followed_to_depth_four(small_store) -> None:
    links = by_id(find_related(small_store, "m1"))
    # m2..m5 are 1 to 4 steps away; m6 (执异) is 5 steps away, out of the chain's reach, and only
    # its two anonymised parties (same court) link it, as the same party
    assert {link.doc_id for link in links.values() if link.kind is CHAIN} == {
        "m1-copy",
        "m2",
        "m3",
        "m4",
        "m5",
    }
    assert links["m6"].kind is PARTY
    assert links["m5"].stage is Stage.ENFORCEMENT
    assert links["m5"].reason.count("援引") == 4
    assert links["m5"].evidence == tuple(
        f"（{n}" for n in ("2019）浙0110民初1号", "2020）浙01民终2号", "2021）浙民申3号", "2022）浙民再4号")
    )
    assert set(by_id(find_related(small_store, "m6"))) >= {"m1", "m2", "m3", "m4", "m5"}


def test_same_number_is_the_same_case_and_withdrawn_is_flagged(small_store) -> None:
    link = by_id(find_related(small_store, "m1"))["m1-copy"]
    assert link.kind is CHAIN and link.withdrawn
    assert link.reason.endswith("系同一案件的另一份文书")
    assert not by_id(find_related(small_store, "m1-copy"))["m1"].withdrawn


def test_anonymised_names_need_a_second_name_and_court_or_year(small_store) -> None:
    links = by_id(find_related(small_store, "x1"))
    assert set(links) == {"x2"}
    assert links["x2"].kind is PARTY and links["x2"].evidence == ("丙某", "丁某")
    assert "浙江省杭州市余杭区人民法院" in links["x2"].reason
