"""The metadata store's document encoding: card + texts, zstd with dictionaries trained at build."""

from __future__ import annotations

import json
import pickle
import sqlite3
from pathlib import Path

import pytest
import zstandard

from index_build.metadata_writer import MetadataWriter
from retrieval.doc_codec import CARD_OMITS, DocumentCodec, texts_json
from retrieval.document import Document, Sections
from retrieval.metadata import MetadataStore
from tests.retrieval.test_document_json import full_document

FACTS = "经审理查明：2020年3月1日，被告人张某在南京市鼓楼区某超市内秘密窃取他人手机一部，价值{n}元。"
REASONING = "本院认为，被告人张某以非法占有为目的，秘密窃取他人财物，数额较大，其行为已构成盗窃罪。"
RESULT = "判决如下：被告人张某犯盗窃罪，判处有期徒刑{m}个月，并处罚金人民币二千元。"


def judgment(i: int) -> Document:
    """A judgment whose sections are cut from its full text, as the readers produce them."""
    facts, result = FACTS.format(n=1000 + 37 * i), RESULT.format(m=6 + i % 7)
    full = f"南京市鼓楼区人民法院\n刑事判决书\n（2020）苏0106刑初{i}号\n{facts}\n{REASONING}\n{result}\n审判员 李某"
    return Document(
        doc_id=f"d-{i}",
        title=f"张某{i}盗窃一审刑事判决书",
        causes=["盗窃罪"],
        sections=Sections(facts, REASONING, result),
        full_text=full,
    )


def corpus(n: int = 120) -> list[Document]:
    return [judgment(i) for i in range(n)]


@pytest.fixture(scope="module")
def trained() -> DocumentCodec:
    return DocumentCodec.train(corpus())


def test_documents_round_trip_whole_and_as_cards(trained: DocumentCodec) -> None:
    odd = full_document()  # sections not in its full text ("全文"): kept as text
    edge = Document(doc_id="e", full_text="只有全文", sections=Sections("", "只有全文", ""))
    for codec in (trained, DocumentCodec()):
        for doc in [*corpus(5), odd, edge, Document(doc_id="bare")]:
            texts, card = codec.encode(doc)
            assert codec.decode(card, texts) == doc
            carded = codec.decode_card(card)
            assert carded.full_text == "" and carded.sections == Sections()
            assert carded.to_dict() | {k: doc.to_dict()[k] for k in CARD_OMITS} == doc.to_dict()


def test_sections_found_in_the_full_text_are_stored_as_offsets() -> None:
    doc = judgment(3)
    full, *sections = json.loads(texts_json(doc))
    assert full == doc.full_text
    assert all(isinstance(s, list) for s in sections)
    assert [full[a:b] for a, b in sections] == [
        doc.sections.facts,
        doc.sections.reasoning,
        doc.sections.result,
    ]
    _, *kept = json.loads(texts_json(full_document()))
    assert kept == ["经审理查明……", "本院认为……", "判决如下……"]


def test_training_is_deterministic_and_the_dictionaries_pay(trained: DocumentCodec) -> None:
    again = DocumentCodec.train(corpus())
    assert again == trained
    assert again.card_dictionary == trained.card_dictionary and trained.card_dictionary
    assert trained.texts_dictionary
    unseen = [judgment(i) for i in range(500, 540)]
    plain = DocumentCodec()
    with_dict = sum(len(b) for d in unseen for b in trained.encode(d))
    without = sum(len(b) for d in unseen for b in plain.encode(d))
    assert with_dict < 0.7 * without
    assert [trained.encode(d) for d in unseen] == [again.encode(d) for d in unseen]


def test_too_few_documents_give_plain_zstd() -> None:
    codec = DocumentCodec.train([judgment(0)])
    assert codec == DocumentCodec()
    texts, card = codec.encode(judgment(1))
    assert zstandard.ZstdDecompressor().decompress(card)  # no dictionary needed
    assert codec.decode(card, texts) == judgment(1)


def test_a_codec_pickles_as_its_dictionaries(trained: DocumentCodec) -> None:
    copy = pickle.loads(pickle.dumps(trained))
    assert copy == trained
    texts, card = trained.encode(judgment(7))
    assert copy.decode(card, texts) == judgment(7)


def test_the_store_keeps_its_dictionaries_and_reads_every_row_with_them(
    tmp_path: Path, trained: DocumentCodec
) -> None:
    path = tmp_path / "metadata.sqlite"
    writer = MetadataWriter(path)
    writer.set_codec(trained)
    docs = corpus(30)
    for row, doc in enumerate(docs):
        writer.add(row, doc)
    writer.withdraw("d-4", "已撤销")
    writer.close()
    with pytest.raises(ValueError, match="already has its codec"):
        MetadataWriter(path).set_codec(DocumentCodec())
    assert MetadataWriter(path).codec == trained  # what `leian add` reuses
    store = MetadataStore(path)
    assert store.codec == trained
    whole = store.documents(range(30))
    assert [whole[r].doc_id for r in range(30)] == [d.doc_id for d in docs]
    assert whole[2] == docs[2] and store.document(2) == docs[2]
    assert whole[4].authority.withdrawn and whole[4].authority.withdrawn_reason == "已撤销"
    assert whole[4].full_text == docs[4].full_text
    cards = store.cards([4, 9])
    assert cards[9].title == docs[9].title and cards[9].full_text == ""
    assert cards[4].authority.withdrawn
    assert [row for row, _ in store.iter_documents()] == list(range(30))
    store.close()
    # No column holds a text twice: the docs table keeps only the small columns.
    conn = sqlite3.connect(path)
    columns = {r[1] for r in conn.execute("PRAGMA table_info(docs)")}
    assert not columns & {"data", "card", "full_text"}
    conn.close()
