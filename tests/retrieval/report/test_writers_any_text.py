"""The DOCX, XLSX and CSV writers take any string: control characters, lone surrogates, U+FFFE.

lxml (python-docx) and openpyxl refuse the characters XML cannot hold; a 案号 or facts carrying one
made a report or a batch summary fail (issue 15, item 5). The writers clean the text themselves,
whatever the API lets through now or let through before.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import docx
import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.control_characters import xml_text
from retrieval.report import build_report
from retrieval.report.files import FORMATS, render_report_files
from retrieval.report.model import SearchShown
from retrieval.spreadsheet import csv_bytes, xlsx_bytes

HOSTILE = st.text(
    st.one_of(
        st.characters(categories=["Cc", "Cs", "Cf"]),
        st.sampled_from("\ufffe\uffff盗窃=+-@'\""),
    ),
    max_size=12,
)
"""Controls, lone surrogates, format characters, XML's non-characters, formula openers, some Chinese."""

EMPTY = SearchShown(
    shown=(),
    methods=["keyword"],
    causes_used=[],
    causes_predicted=False,
    seed_doc_id=None,
    build_id="b",
    documents=0,
)


@pytest.mark.slow  # about 3 s: fifteen DOCX documents
@given(case_number=HOSTILE, facts=HOSTILE, focus=HOSTILE, judge=HOSTILE)
@settings(max_examples=15, deadline=None)
def test_every_report_format_is_made_from_any_text(
    case_number: str, facts: str, focus: str, judge: str
) -> None:
    report = build_report(
        EMPTY,
        pending_case_number=case_number,
        pending_facts=facts,
        dispute_focus=focus,
        judge={"name": "林" + judge, "court": "浙江省杭州市西湖区人民法院", "role": "承办法官"},
        searched_at=dt.datetime(2025, 6, 1, 9, 30, tzinfo=dt.UTC),
        audit_search_id=7,
        audit_hash="3f" * 32,
        trigger="其他",
    )
    rendered = render_report_files(report)
    assert set(rendered) == set(FORMATS)
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(rendered["docx"])).paragraphs)
    assert xml_text(facts).replace("\r", "\n").strip() in text.replace("\r", "\n")


@given(cells=st.lists(HOSTILE, min_size=1, max_size=4))
@settings(max_examples=30, deadline=None)
def test_a_table_of_any_text_is_written_as_csv_and_xlsx(cells: list[str]) -> None:
    header = ["案号", "检索人", "错误", "备注"][: len(cells)]
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_bytes(header, [cells], title="t"))).active
    read = [sheet.cell(2, i + 1).value or "" for i in range(len(cells))]
    assert read == [xml_text(cell) for cell in cells]  # text, even "=…", minus what XML cannot hold
    rows = list(csv.reader(io.StringIO(csv_bytes(header, [cells]).decode("utf-8-sig"), newline="")))
    assert len(rows) == 2 and len(rows[1]) == len(cells)
