"""parse_judgment on real criminal and civil judgments, and on garbage (it must never raise)."""

from __future__ import annotations

import datetime as dt
import json
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.document import CaseCategory, CourtLevel, Document, Party
from retrieval.parsing.dates import extract_decision_date
from retrieval.parsing.judgment import doc_type_from, parse_judgment
from retrieval.parsing.parties import extract_parties
from retrieval.parsing.sections import header_of, split_sections
from tests.conftest import gongbao_text, lecard_candidates

SAMPLE_SIZE = 300


def lecard_sample() -> list[dict]:
    """The first SAMPLE_SIZE candidate judgments, in archive order (deterministic)."""
    return list(lecard_candidates(SAMPLE_SIZE))


@cache
def parsed_sample() -> list[Document]:
    return [parse_judgment(d["qw"], doc_id=str(d["writId"]), title=d["writName"]) for d in lecard_sample()]


def gongbao(name: str) -> Document:
    return parse_judgment(gongbao_text(name), doc_id=name, source=f"gongbao:{name}")


def test_first_instance_criminal_judgment() -> None:
    raw = lecard_sample()[0]
    doc = parse_judgment(raw["qw"], doc_id="1176", source="lecard:candidates/3/1176.json")
    # the header names no case, so the title is composed the way 中国裁判文书网 titles read
    assert doc.title == "项金根滥用职权、受贿一审刑事判决书"
    assert doc.case_number == "（2015）嘉桐刑初字第328号"
    assert doc.court is not None
    assert doc.court.name == "浙江省桐乡市人民法院"
    assert doc.court.level is CourtLevel.BASIC
    assert doc.doc_type == "判决书"
    assert doc.category is CaseCategory.CRIMINAL
    assert doc.decision_date == dt.date(2015, 7, 8)
    assert {"滥用职权罪", "受贿罪"} <= set(doc.causes)
    assert {"刑法 第397条", "刑法 第385条"} <= {a.article_key() for a in doc.articles}
    assert doc.parties == [Party("桐乡市人民检察院", "公诉机关"), Party("项金根", "被告人")]
    assert doc.sections.facts.startswith("桐乡市人民检察院指控：")
    assert doc.source == "lecard:candidates/3/1176.json"
    assert doc.full_text == raw["qw"]


def test_second_instance_criminal_judgment() -> None:
    raw = lecard_sample()[2]
    doc = parse_judgment(raw["qw"], doc_id="40107", title=raw["writName"])
    assert doc.title == raw["writName"]
    assert doc.case_number == "（2018）冀02刑终845号"
    assert doc.court is not None
    assert doc.court.name == "河北省唐山市中级人民法院"
    assert doc.court.level is CourtLevel.INTERMEDIATE
    assert doc.category is CaseCategory.CRIMINAL
    assert doc.decision_date == dt.date(2019, 4, 10)
    assert Party("李艳立", "上诉人") in doc.parties
    assert Party("孟星", "原审被告人") in doc.parties


def test_civil_ruling_of_the_supreme_court() -> None:
    doc = gongbao("FYGB0589.md")
    assert doc.title == "韩国新湖商社与四川省欧亚经贸总公司等信用证欺诈纠纷管辖权异议案"
    assert doc.doc_type == "裁定书"
    assert doc.category is CaseCategory.CIVIL
    assert doc.court is not None
    assert doc.court.level is CourtLevel.SUPREME
    assert doc.parties[:2] == [Party("韩国新湖商社", "上诉人"), Party("四川省欧亚经贸总公司", "被上诉人")]
    assert doc.source == "gongbao:FYGB0589.md"


def test_private_lending_case_report() -> None:
    doc = gongbao("FYGB0075.md")
    assert "民间借贷纠纷" in doc.causes
    assert doc.category is CaseCategory.CIVIL
    assert Party("卞松祥", "原告") in doc.parties
    assert doc.sections.facts.startswith("原告卞松祥诉称")


def test_json_round_trip() -> None:
    doc = parsed_sample()[0]
    assert Document.from_dict(json.loads(json.dumps(doc.to_dict(), ensure_ascii=False))) == doc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("李甲、朱某某诈骗案一审刑事判决书", "判决书"),
        ("北京市第二中级人民法院 刑事裁定书", "裁定书"),
        ("民事调解书", "调解书"),
        ("支付令", "令"),
        ("人身安全保护令", "令"),
        ("责令被告停止侵权", None),
        ("", None),
    ],
)
def test_doc_type_from(text: str, expected: str | None) -> None:
    assert doc_type_from(text) == expected


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("张三拒不执行判决、裁定罪一审刑事判决书", CaseCategory.CRIMINAL),
        ("李四与王五民间借贷纠纷一审民事判决书", CaseCategory.CIVIL),
        ("某公司诉某市人民政府行政处罚案", CaseCategory.ADMINISTRATIVE),
        ("赵六执行裁定书", CaseCategory.ENFORCEMENT),
        ("某案", None),
    ],
)
def test_category_from_title_without_case_number(title: str, expected: CaseCategory | None) -> None:
    assert parse_judgment("", doc_id="t", title=title).category is expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "本院认为",
        "判决如下：审判长",
        "（2015）",
        "被告人，",
        "\x00\ufffd" * 50,
        "二〇一五年二月三十日 书记员",
    ],
)
def test_fragments_give_mostly_empty_document(text: str) -> None:
    doc = parse_judgment(text, doc_id="x")
    assert doc.doc_id == "x"
    assert doc.case_number is None
    assert doc.decision_date is None
    assert doc.parties == []


# Pieces of judgments, so that fuzzing reaches the markers and not only random characters.
_JUDGMENT_WORDS = st.sampled_from(
    [
        "本院认为",
        "判决如下：",
        "审判长",
        "书记员",
        "被告人",
        "原告：",
        "（2015）",
        "刑初字第",
        "号",
        "指控：",
        "二〇一五年",
        "十三月",
        "三十日",
        "人民法院",
        "刑事判决书",
        "《中华人民共和国刑法》第",
        "条",
        "罪",
        "，",
        "。",
        " ",
        "\n",
    ]
)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_JUDGMENT_WORDS, st.text(max_size=5)), max_size=40).map("".join))
def test_arbitrary_text_never_raises(text: str) -> None:
    """parse_judgment guards its extractors; this module's own parsers must not need the guard."""
    split_sections(text)
    extract_parties(header_of(text))
    extract_decision_date(text)
    assert isinstance(parse_judgment(text, doc_id="fuzz"), Document)


def test_real_texts_fields_filled() -> None:
    """Shares on the first 300 LeCaRD candidates: every field was measured at 300/300."""
    docs = parsed_sample()
    n = len(docs)

    def share(ok: list[bool]) -> float:
        return sum(ok) / n

    assert share([d.case_number is not None for d in docs]) >= 0.97
    assert share([d.court is not None for d in docs]) >= 0.97
    assert share([d.doc_type == "判决书" for d in docs]) >= 0.9
    assert share([d.category is CaseCategory.CRIMINAL for d in docs]) >= 0.97
    assert share([d.decision_date is not None for d in docs]) >= 0.97
    assert share([bool(d.causes) for d in docs]) >= 0.9
    assert share([bool(d.articles) for d in docs]) >= 0.9
    assert (
        share([bool(d.sections.facts and d.sections.reasoning and d.sections.result) for d in docs]) >= 0.97
    )
