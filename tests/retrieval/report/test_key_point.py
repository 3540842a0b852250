"""类案裁判要点 of an ordinary judgment: whole sentences of 本院认为 that state the conclusion."""

from __future__ import annotations

from retrieval.document import CaseCategory, Document, Sections
from retrieval.report.key_point import KEY_POINT_CHARS, MAX_SENTENCE_CHARS, REASONING, key_point

CHARGE_SHEET = "公诉机关指控被告人王某于2023年3月5日在杭州市西湖区某小区入户窃取财物，" * 3 + "。"
REASONING_TEXT = (
    "经审理查明的事实与起诉书指控一致。"
    "本院认为，" + CHARGE_SHEET + "被告人王某以非法占有为目的，入户盗窃他人财物，价值人民币八千元，数额较大，"
    "其行为已构成盗窃罪。被告人王某案发后主动投案，如实供述自己的罪行，系自首，依法可以从轻处罚。"
    "辩护人提出的相关辩护意见，本院予以采纳。"
    "依照《中华人民共和国刑法》第二百六十四条、第六十七条第一款之规定，判决如下："
)


def _doc() -> Document:
    return Document(
        "txt-1",
        category=CaseCategory.CRIMINAL,
        causes=["盗窃罪"],
        sections=Sections(reasoning=REASONING_TEXT, result="被告人王某犯盗窃罪，判处有期徒刑一年。"),
    )


def test_ordinary_judgment_point_is_whole_sentences_stating_the_conclusion() -> None:
    kind, text = key_point(_doc())
    assert kind == REASONING
    assert text.endswith("。")  # ends at a sentence boundary, never mid-sentence
    assert "其行为已构成盗窃罪。" in text and "系自首，依法可以从轻处罚。" in text
    assert "判决如下" not in text and "公诉机关指控" not in text
    sentences = [s + "。" for s in text.split("。") if s]
    assert all(s in REASONING_TEXT for s in sentences)  # each one whole, as the court wrote it
    assert len(text) <= KEY_POINT_CHARS or len(sentences) == 1


def test_a_run_on_sentence_is_cut_at_a_clause_end_not_mid_clause() -> None:
    clause = "被告人的行为符合盗窃罪的构成要件，应予支持；"
    doc = Document("x", causes=["盗窃罪"], sections=Sections(reasoning="本院认为，" + clause * 40 + "。"))
    _, text = key_point(doc)
    assert text.endswith("；") and len(text) <= MAX_SENTENCE_CHARS


def test_reasoning_without_a_conclusion_gives_its_first_sentence_whole() -> None:
    doc = Document("y", sections=Sections(reasoning="本院认为，本案事实清楚。其他。"))
    assert key_point(doc)[1] == "本院认为，本案事实清楚。"


def test_a_reasoning_that_is_only_the_closing_recital_gives_no_point_rather_than_the_recital() -> None:
    recital = "依照《中华人民共和国刑法》第三百五十四条之规定，判决如下："
    assert key_point(Document("z", sections=Sections(reasoning=recital)))[1] == ""
    whole = Document(
        "w",
        causes=["容留他人吸毒罪"],
        full_text="本院认为，被告人甲容留他人吸食毒品，其行为已构成容留他人吸毒罪。" + recital,
    )
    whole.sections = Sections(reasoning=recital)
    assert key_point(whole)[1] == "本院认为，被告人甲容留他人吸食毒品，其行为已构成容留他人吸毒罪。"
