"""类案检索报告 (Art. 8): a real search on the sample index for a pending case, then the report data,
its DOCX (opened again with python-docx), Markdown and HTML forms and its JSON form."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import docx
import pytest
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

from retrieval.document import CaseCategory, Document, Sections
from retrieval.index_store import IndexStore
from retrieval.parsing.courts import parse_court
from retrieval.report import RetrievalReport, build_report
from retrieval.report.key_point import key_point
from retrieval.report.model import (
    NO_SIMILAR_YET,
    PENDING_COMPARISON,
    SECTIONS,
    SERVICE_NAME,
    TO_BE_FILLED,
    conflict_lines,
    no_conflict_text,
    outcome_of,
)
from retrieval.report.render_docx import render_docx
from retrieval.report.render_text import render_html, render_markdown
from retrieval.request import SearchRequest
from retrieval.search import SearchResponse, search
from retrieval.tiers import GUIDING_CANDIDATE, MAY_REFER, MUST_REFER, NOT_APPLIED, Tier
from tests.conftest import SAMPLES, read_jsonl

PENDING = read_jsonl(SAMPLES / "pending" / "pending_cases.jsonl")
THEFT = next(p for p in PENDING if p.get("charges") == ["盗窃罪"])
GUIDING_THEFT = "guiding-901"
JUDGE = {"name": "林晓燕", "court": THEFT["court"], "role": "承办法官"}
SEARCHED_AT = dt.datetime(2025, 6, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
AUDIT_ID = 4711
AUDIT_HASH = "3f" * 32
FOCUS = THEFT["dispute_focus"]
TRIGGER = "缺乏明确或统一裁判规则"


@pytest.fixture(scope="module")
def request_() -> SearchRequest:
    return SearchRequest(
        facts=THEFT["facts"],
        case_number=THEFT["case_number"],
        requesting_court=parse_court(THEFT["court"]),
        charges=THEFT["charges"],
        today=dt.date(2025, 6, 1),
        # results under the similarity floor too: the report must carry a case the judge marks 非类案
        include_dissimilar=True,
    )


@pytest.fixture(scope="module")
def response(store: IndexStore, request_: SearchRequest) -> SearchResponse:
    return search(store, request_)


def make(response: SearchResponse, request: SearchRequest | None = None, **overrides) -> RetrievalReport:
    fields = {
        "pending_case_number": THEFT["case_number"],
        "pending_facts": THEFT["facts"],
        "dispute_focus": None,
        "judge": JUDGE,
        "searched_at": SEARCHED_AT,
        "audit_search_id": AUDIT_ID,
        "audit_hash": AUDIT_HASH,
        "marks": None,
        "trigger": TRIGGER,
    }
    fields.update(overrides)
    return build_report(response, request=request, **fields)


NOT_SIMILAR_REASON = "罪名不同，事实不具可比性"


def other_cause(response: SearchResponse) -> str:
    return next(r.document.doc_id for r in response.results if "盗窃罪" not in r.document.causes)


@pytest.fixture(scope="module")
def marks(response: SearchResponse) -> dict[str, tuple[str, str]]:
    """The guiding case and the other 盗窃 cases but one marked 类案, one other case 非类案, one theft unmarked."""
    thefts = [r.document.doc_id for r in response.results if "盗窃罪" in r.document.causes]
    similar = [d for d in thefts if d != GUIDING_THEFT][:-1]
    return {
        GUIDING_THEFT: ("类案", "同为盗窃财物，扒窃认定规则可供参照"),
        **{d: ("类案", "同为盗窃罪，情节可比") for d in similar},
        other_cause(response): ("非类案", NOT_SIMILAR_REASON),
    }


@pytest.fixture(scope="module")
def report(response: SearchResponse, request_: SearchRequest, marks) -> RetrievalReport:
    return make(response, request_, marks=marks)


@pytest.fixture(scope="module")
def docx_path(report: RetrievalReport, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_docx(report, tmp_path_factory.mktemp("report") / "report.docx")


@pytest.fixture(scope="module")
def opened(docx_path: Path):
    return docx.Document(str(docx_path))


def body_texts(document) -> list[str]:
    return [p.text for p in document.paragraphs]


def all_text(document) -> str:
    cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    footer = [p.text for p in document.sections[0].footer.paragraphs]
    return "\n".join(body_texts(document) + cells + footer)


def section_body(document, heading: str) -> list[str]:
    """Texts of the paragraphs between ``heading`` and the next level-1 heading."""
    out: list[str] = []
    inside = False
    for paragraph in document.paragraphs:
        if paragraph.style.name == "Heading 1":
            inside = paragraph.text == heading
            continue
        if inside:
            out.append(paragraph.text)
    return out


def elements(report: RetrievalReport, response: SearchResponse) -> list[str]:
    """Strings every form must show (Art. 8 elements)."""
    guiding = next(r.document for r in response.results if r.document.doc_id == GUIDING_THEFT)
    return [
        JUDGE["name"],
        JUDGE["court"],
        JUDGE["role"],
        "2025年6月1日 09:30:00",  # 检索时间 as a court writes it (China time)
        TRIGGER,
        SERVICE_NAME,
        str(response.index["build_id"]),
        f"{response.index['documents']} 篇",
        "关键词检索",
        "语义检索",
        THEFT["facts"],
        THEFT["case_number"],
        f"效力：{MUST_REFER}",  # the guiding case was marked 类案
        MAY_REFER,
        f"效力：{NOT_APPLIED}",  # the case marked 非类案
        guiding.holding.strip()[:60],
        *SECTIONS,
        TO_BE_FILLED,
        "同为盗窃财物，扒窃认定规则可供参照",
        "罪名不同，事实不具可比性",
        "非类案",
        PENDING_COMPARISON,
        str(AUDIT_ID),
        AUDIT_HASH,
        f"指导性案例：{GUIDING_CANDIDATE}",
        "指导案例",  # the guiding case is cited by its number, not an internal id
    ]


# --------------------------------------------------------------------------- the data


def test_report_groups_results_by_tier_in_art4_order(
    report: RetrievalReport, response: SearchResponse, marks
):
    tiers = [group.tier for group in report.tiers]
    assert tiers[:4] == [1, 2, 3, 4] and tiers == sorted(tiers)
    assert report.result_count() == len(response.results)
    guiding = report.tiers[0].cases
    assert [c.doc_id for c in guiding] == [GUIDING_THEFT]
    assert guiding[0].effect == MUST_REFER and guiding[0].key_point_kind == "裁判要点"
    others = [c for g in report.tiers[1:] for c in g.cases]
    assert all(c.effect == (NOT_APPLIED if c.mark == "非类案" else MAY_REFER) for c in others)
    assert all(c.similarity for g in report.tiers for c in g.cases)


def test_guiding_case_effect_follows_the_judges_mark(response: SearchResponse):
    """Art. 9: a guiding case binds once the judge found it similar; before, it is a candidate."""

    def guiding_case(marks):
        return make(response, marks=marks).tiers[0].cases[0]

    unmarked = guiding_case(None)
    assert unmarked.effect == GUIDING_CANDIDATE and unmarked.mark == PENDING_COMPARISON
    assert guiding_case({GUIDING_THEFT: ("类案", "可比")}).effect == MUST_REFER
    rejected = guiding_case({GUIDING_THEFT: ("非类案", "争议焦点不同")})
    assert rejected.effect == NOT_APPLIED and rejected.mark_reason == "争议焦点不同"
    assert "理由：争议焦点不同" in render_markdown(
        make(response, marks={GUIDING_THEFT: ("非类案", "争议焦点不同")})
    )


def test_key_point_is_holding_else_whole_sentences_of_the_reasoning(response: SearchResponse):
    plain = next(r.document for r in response.results if not r.document.holding)
    kind, text = key_point(plain)
    assert kind == "裁判理由摘要" and text and text[-1] in "。！？"
    assert text in plain.sections.reasoning or all(
        part + "。" in plain.sections.reasoning for part in text.split("。")[:-1]
    )
    kind, text = key_point(Document("x", holding=" 要点 ", sections=Sections(reasoning="本院认为，甲。")))
    assert (kind, text) == ("裁判要点", "要点")
    assert key_point(Document("y", sections=Sections(reasoning="经审理，本院认为乙。")))[1] == "本院认为乙。"


def test_summary_lists_only_cases_marked_similar(report: RetrievalReport, marks, response: SearchResponse):
    similar = [d for d, (label, _) in marks.items() if label == "类案"]
    assert len(report.holdings_summary) == len(similar)
    assert "龚小川盗窃案" in report.holdings_summary[0] and "扒窃" in report.holdings_summary[0]
    excluded = next(c for g in report.tiers for c in g.cases if c.doc_id == other_cause(response))
    assert not any(excluded.title in line for line in report.holdings_summary)
    assert all(c.doc_id in similar for c in report.tiers[0].cases + report.tiers[1].cases if c.mark == "类案")


def test_unmarked_results_are_pending_comparison_never_similar(response: SearchResponse):
    report = make(response, marks=None)
    assert report.holdings_summary == [] and report.conflicts == []
    assert {m.label for m in report.marks} == {PENDING_COMPARISON}
    assert len(report.marks) == len(response.results)
    text = render_markdown(report)
    assert NO_SIMILAR_YET in text and "：类案。" not in text


def test_method_fields_and_defaults(report: RetrievalReport, response: SearchResponse):
    assert report.query_text == THEFT["facts"]
    assert report.causes == ["盗窃罪"] and not report.causes_predicted
    assert report.platform["build_id"] == response.index["build_id"]
    assert report.dispute_focus == TO_BE_FILLED and report.application_analysis == TO_BE_FILLED
    assert report.searched_at == "2025-06-01T09:30:00+08:00"
    assert {m.label for m in report.marks} == {"类案", "非类案", PENDING_COMPARISON}
    reasons = {m.doc_id: m.reason for m in report.marks if m.label == "非类案"}
    assert reasons == {other_cause(response): NOT_SIMILAR_REASON}


UNMARKED_THEFT = "extra-wz-2019-theft"  # the theft the ``marks`` fixture leaves 待比对
SUSPENDED_THEFT = "txt-2025_yue0106_xingchu_356"  # 拘役 with 缓刑, first offender, 1千至3万元
RECIDIVIST_THEFT = "txt-2023_zhe0106_xingchu_123"  # 累犯, 有期徒刑, 3万至30万元


@pytest.fixture(scope="module")
def all_thefts_marked(response: SearchResponse, request_: SearchRequest, marks) -> RetrievalReport:
    return make(response, request_, marks={**marks, UNMARKED_THEFT: ("类案", "同为盗窃罪，情节可比")})


def test_conflicts_need_matching_decisive_circumstances(report: RetrievalReport, all_thefts_marked):
    """Art. 11 from structure: the sample's 缓刑 theft differs from every 实刑 theft marked 类案, but each of
    those is a 累犯, in another amount band, or not read (二审 维持原判): nothing is comparable."""
    assert report.conflicts == []
    (conflict,) = all_thefts_marked.conflicts  # the unmarked theft, once marked, is comparable
    sides = {conflict.first.doc_id: conflict.first, conflict.second.doc_id: conflict.second}
    assert set(sides) == {SUSPENDED_THEFT, UNMARKED_THEFT}
    assert sides[SUSPENDED_THEFT].outcome == "缓刑" and sides[UNMARKED_THEFT].outcome == "实刑"
    assert sides[SUSPENDED_THEFT].detail == "拘役4个月，缓刑6个月，罚金2000元"
    assert conflict.causes == ["盗窃罪"] and conflict.difference in {"缓刑／实刑", "实刑／缓刑"}
    assert conflict.comparable == ["均非累犯", "均无主从犯之分", "涉案金额均在1千至3万元"]
    for side in sides.values():
        assert side.court_level in {"基层", "中级", "高级", "最高"} and side.date


def test_conflicts_print_why_comparable_naming_each_case_once(all_thefts_marked, opened):
    (line,) = conflict_lines(all_thefts_marked)
    assert line.startswith("同为盗窃罪，均非累犯、均无主从犯之分、涉案金额均在1千至3万元，裁判结果不一致（")
    assert "拘役4个月，缓刑6个月，罚金2000元（1件）" in line
    for conflict in all_thefts_marked.conflicts:
        for side in (conflict.first, conflict.second):
            assert line.count(side.case_number) == 1
    assert line in render_markdown(all_thefts_marked)
    assert section_body(opened, SECTIONS[6])[0] == no_conflict_text()  # the default marks: none


def test_outcome_reading():
    def doc(result: str, category=CaseCategory.CRIMINAL) -> Document:
        return Document("d", category=category, sections=Sections(result=result))

    assert outcome_of(doc("被告人甲无罪。")) == "无罪"
    assert outcome_of(doc("被告人甲犯盗窃罪，免予刑事处罚。")) == "免予刑事处罚"
    assert outcome_of(doc("判处有期徒刑一年，缓刑二年。")) == "缓刑"
    assert outcome_of(doc("判处有期徒刑一年。")) == "实刑"
    revoked = "被告人甲犯盗窃罪，判处有期徒刑六个月，撤销对被告人甲宣告的缓刑，决定执行有期徒刑一年四个月。"
    assert outcome_of(doc(revoked)) == "实刑"
    assert outcome_of(doc("驳回上诉，维持原判。")) is None
    civil = CaseCategory.CIVIL
    assert outcome_of(doc("驳回原告张某的全部诉讼请求。", civil)) == "驳回"
    assert outcome_of(doc("被告于本判决生效之日起十日内偿还原告借款。", civil)) == "支持"
    assert outcome_of(doc("驳回上诉，维持原判。", civil)) is None


def test_bad_mark_label_and_missing_judge_field_are_refused(response: SearchResponse):
    with pytest.raises(ValueError, match="marks"):
        make(response, marks={GUIDING_THEFT: ("相似", "")})
    with pytest.raises(ValueError, match="judge"):
        make(response, judge={"name": "甲", "court": "乙"})


def test_json_form_round_trips(report: RetrievalReport):
    data = report.to_dict()
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert data["tiers"][0]["cases"][0]["doc_id"] == GUIDING_THEFT
    assert data["audit_search_id"] == AUDIT_ID and data["audit_hash"] == AUDIT_HASH


# --------------------------------------------------------------------------- DOCX


def test_docx_has_every_art8_element(opened, report: RetrievalReport, response: SearchResponse):
    text = all_text(opened)
    missing = [element for element in elements(report, response) if element not in text]
    assert not missing
    assert THEFT["facts"] in body_texts(opened)  # the exact query, as one paragraph
    assert section_body(opened, SECTIONS[3]) == [TO_BE_FILLED]
    number, audit = opened.sections[0].footer.paragraphs  # every printed page: its number and the record
    assert number._p.xpath("./w:fldSimple/@w:instr") == ["PAGE"]
    assert str(AUDIT_ID) in audit.text and AUDIT_HASH in audit.text
    closing = [p for p in opened.paragraphs if p.alignment == 2]  # right-aligned: 检索人, court, date
    assert [p.text for p in closing] == [
        f"检索人：{JUDGE['name']}（承办法官）",
        "签　名：＿＿＿＿＿＿",
        JUDGE["court"],
        "2025年6月1日",
    ]


def test_docx_basic_information_table(opened):
    rows = {row.cells[0].text: row.cells[1].text for row in opened.tables[0].rows}
    assert list(rows) == [
        "待决案件案号",
        "检索事由",
        "检索人",
        "检索法院",
        "检索时间",
        "检索平台",
        "审计编号",
    ]
    assert rows["待决案件案号"] == THEFT["case_number"] and rows["检索事由"] == TRIGGER
    assert rows["检索人"] == f"{JUDGE['name']}（承办法官）" and rows["检索法院"] == JUDGE["court"]
    assert rows["检索时间"] == "2025年6月1日 09:30:00"
    # widths on the grid (what LibreOffice reads), a narrow label column and the rest of the 15.6 cm line
    label, value = (column.width for column in opened.tables[0].columns)
    assert abs(label - Cm(3.4)) < Cm(0.01) and abs(label + value - Cm(15.6)) < Cm(0.01)


def test_docx_sections_and_tiers_in_order(opened):
    headings = [(p.style.name, p.text) for p in opened.paragraphs if p.style.name.startswith("Heading")]
    assert [t for s, t in headings if s == "Heading 1"] == list(SECTIONS)
    tier_headings = [t for s, t in headings if s == "Heading 2"]
    numbers = [int(t[1]) for t in tier_headings if t.startswith("第")]
    assert numbers == [int(t) for t in (Tier.GUIDING, Tier.SPC, Tier.PROVINCIAL_HIGH, Tier.SUPERIOR_AND_SELF)]
    assert tier_headings[0].startswith("第1层级：指导性案例")
    texts = body_texts(opened)
    assert texts.index(tier_headings[0]) < texts.index(SECTIONS[2])
    guiding_at = next(i for i, t in enumerate(texts) if "龚小川盗窃案" in t)
    assert texts.index(tier_headings[0]) < guiding_at < texts.index(tier_headings[1])


def test_docx_page_and_fonts(opened):
    section = opened.sections[0]
    assert abs(section.page_width - Cm(21.0)) < Cm(0.01) and abs(section.page_height - Cm(29.7)) < Cm(0.01)
    assert abs(section.top_margin - Cm(3.7)) < Cm(0.01) and abs(section.left_margin - Cm(2.8)) < Cm(0.01)
    title = opened.paragraphs[0]
    assert title.text == "类案检索报告" and title.alignment == 1  # centred
    assert title.runs[0].font.bold and title.runs[0].font.size == Pt(22)

    def east_asian(run) -> str | None:
        return run._element.rPr.rFonts.get(qn("w:eastAsia"))

    assert east_asian(title.runs[0]) == "宋体"
    body = [p for p in opened.paragraphs[1:] if not p.style.name.startswith("Heading") and p.runs]
    assert body and all(east_asian(run) == "仿宋" for p in body for run in p.runs)
    headings = [p for p in opened.paragraphs if p.style.name.startswith("Heading")]
    assert all(east_asian(run) == "黑体" for p in headings for run in p.runs)


def test_docx_given_dispute_focus_and_atomic_overwrite(response, request_, tmp_path: Path):
    target = tmp_path / "out" / "report.docx"
    render_docx(make(response, request_), target)
    render_docx(make(response, request_, dispute_focus=FOCUS), target)  # replaces the first
    assert [p.name for p in target.parent.iterdir()] == ["report.docx"]  # no temporary file left
    assert section_body(docx.Document(str(target)), SECTIONS[3]) == [FOCUS]


# --------------------------------------------------------------------------- Markdown and HTML


@pytest.mark.parametrize("render", [render_markdown, render_html])
def test_text_forms_have_the_same_elements(render, report: RetrievalReport, response: SearchResponse):
    text = render(report)
    missing = [element for element in elements(report, response) if element not in text]
    assert not missing
    positions = [text.index(heading) for heading in SECTIONS]
    assert positions == sorted(positions)
    tiers = [text.index(f"第{n}层级") for n in (1, 2, 3, 4)]
    assert tiers == sorted(tiers) and positions[1] < tiers[0] and tiers[-1] < positions[2]


def test_html_escapes_input(response: SearchResponse):
    hostile = "被告人<script>alert('x')</script>盗窃"
    page = render_html(make(response, pending_facts=hostile, dispute_focus="<b>焦点</b>"))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<b>焦点</b>" not in page and "&lt;b&gt;焦点&lt;/b&gt;" in page
    assert page.startswith("<!DOCTYPE html>") and "<link" not in page and "src=" not in page


def test_cases_show_their_differences_from_the_snapshot(report: RetrievalReport):
    """Art. 6 比对: the 累犯 theft differs from the pending first offender, and the report says so."""
    recidivist = next(c for g in report.tiers for c in g.cases if c.doc_id == RECIDIVIST_THEFT)
    assert "累犯（待决案件：未见；本案例：有）" in recidivist.differences
    assert "不同之处：" in render_markdown(report)
