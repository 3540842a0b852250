"""The DOCX form of a ``RetrievalReport`` (python-docx), laid out after 党政机关公文格式 (GB/T 9704).

A4; margins top 3.7 cm, bottom 3.5 cm, left 2.8 cm, right 2.6 cm; title 宋体 二号 bold, centred;
headings 黑体 三号 (sections) and 四号 (tiers); body 仿宋 三号 at a fixed 28 pt pitch, the
basic-information table and case details 仿宋 四号 at 24 pt; the closing block (检索人, court, date)
right-aligned; footer: page number ``— N —`` and, in 小五, the audit id and record hash, so every
printed page can be traced to the log. Text goes in without the characters XML cannot hold
(``retrieval.control_characters``), so no string makes the report fail. East Asian fonts are set
through ``w:eastAsia`` on every run and on the styles, whose theme fonts are removed (a theme font
would win over them).

The file is written to a temporary file beside the target and renamed, so a reader never sees a
half-written report."""

from __future__ import annotations

import io
import os
from pathlib import Path

from docx import Document as new_document
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

from retrieval.atomic_file import write_atomic
from retrieval.control_characters import xml_text
from retrieval.report.model import (
    NO_SIMILAR_YET,
    NONE_FOUND,
    SECTIONS,
    RetrievalReport,
    audit_line,
    basic_info,
    case_heading,
    case_lines,
    conflict_lines,
    mark_line,
    method_lines,
    no_conflict_text,
    signature_lines,
    tier_heading,
)

TITLE_FONT = "宋体"  # 方正小标宋 is not on most machines; 宋体 is its usual stand-in
HEADING_FONT = "黑体"
BODY_FONT = "仿宋"
SIZE_2 = Pt(22)  # 二号
SIZE_3 = Pt(16)  # 三号
SIZE_4 = Pt(14)  # 四号
SIZE_SMALL_5 = Pt(9)  # 小五
A4 = (Cm(21.0), Cm(29.7))
MARGINS = {"top": Cm(3.7), "bottom": Cm(3.5), "left": Cm(2.8), "right": Cm(2.6)}
TEXT_WIDTH = A4[0] - MARGINS["left"] - MARGINS["right"]  # 15.6 cm
INFO_LABEL_WIDTH = Cm(3.4)
LINE_3 = Pt(28)  # fixed line pitch for 三号 text (GB/T 9704: 22 lines of 28 characters)
LINE_4 = Pt(24)  # for 四号 text (tables, case details)
_THEME_ATTRS = ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme")


def _set_fonts(rpr_owner, font: str) -> None:
    """Set ascii, hAnsi and eastAsia fonts on an element with an rPr (a run or a style)."""
    rpr = rpr_owner.get_or_add_rPr()
    rfonts = rpr.find(qn("w:rFonts"))
    if rfonts is None:
        rfonts = OxmlElement("w:rFonts")
        rpr.insert(0, rfonts)
    for attr in _THEME_ATTRS:
        rfonts.attrib.pop(qn(attr), None)
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia"):
        rfonts.set(qn(attr), font)


def _run(paragraph, text: str, font: str = BODY_FONT, size=SIZE_3, bold: bool = False):
    # Every text of the document passes here: lxml refuses control characters, so none may reach it.
    run = paragraph.add_run(xml_text(text))
    run.font.name = font
    run.font.size = size
    run.font.bold = bold
    run.font.color.rgb = RGBColor(0, 0, 0)
    _set_fonts(run._element, font)
    return run


def _style(document, name: str, font: str, size, bold: bool, line: Pt) -> None:
    style = document.styles[name]
    style.font.name = font
    style.font.size = size
    style.font.bold = bold
    style.font.color.rgb = RGBColor(0, 0, 0)
    _set_fonts(style.element, font)
    fmt = style.paragraph_format
    fmt.line_spacing_rule, fmt.line_spacing = WD_LINE_SPACING.EXACTLY, line
    fmt.space_after = Pt(0)


def _paragraph(document, text: str, size=SIZE_3, bold: bool = False, indent: bool = True):
    paragraph = document.add_paragraph()
    if indent:
        paragraph.paragraph_format.first_line_indent = Pt(size.pt * 2)  # 首行缩进二字
    if size != SIZE_3:
        paragraph.paragraph_format.line_spacing = LINE_4
    _run(paragraph, text, size=size, bold=bold)
    return paragraph


def _heading(document, text: str, level: int) -> None:
    paragraph = document.add_paragraph(style=f"Heading {level}")
    _run(paragraph, text, font=HEADING_FONT, size=SIZE_3 if level == 1 else SIZE_4, bold=level == 1)


def _setup(document) -> None:
    section = document.sections[0]
    section.page_width, section.page_height = A4
    section.top_margin, section.bottom_margin = MARGINS["top"], MARGINS["bottom"]
    section.left_margin, section.right_margin = MARGINS["left"], MARGINS["right"]
    _style(document, "Normal", BODY_FONT, SIZE_3, False, LINE_3)
    _style(document, "Heading 1", HEADING_FONT, SIZE_3, True, LINE_3)
    _style(document, "Heading 2", HEADING_FONT, SIZE_4, False, LINE_4)
    for name in ("Heading 1", "Heading 2"):
        fmt = document.styles[name].paragraph_format
        fmt.space_before, fmt.space_after, fmt.keep_with_next = Pt(12), Pt(6), True


def _info_table(document, rows: list[tuple[str, str]]) -> None:
    """Label and value columns; widths go on the grid and on every cell (LibreOffice reads the grid)."""
    table = document.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    widths = (INFO_LABEL_WIDTH, TEXT_WIDTH - INFO_LABEL_WIDTH)
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width
    for label, value in rows:
        cells = table.add_row().cells
        for cell, width, text, bold in zip(cells, widths, (label, value), (True, False), strict=True):
            cell.width = width
            cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
            paragraph = cell.paragraphs[0]
            paragraph.paragraph_format.line_spacing = LINE_4
            _run(paragraph, text, size=SIZE_4, bold=bold)


def _page_number(paragraph) -> None:
    """``— N —`` centred, N a PAGE field that the word processor fills in."""
    _run(paragraph, "— ", size=SIZE_4)
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    field.append(run)
    paragraph._p.append(field)
    _run(paragraph, " —", size=SIZE_4)


def _footer(document, report: RetrievalReport) -> None:
    footer = document.sections[0].footer
    number = footer.paragraphs[0]
    number.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _page_number(number)
    audit = footer.add_paragraph()
    audit.alignment = WD_ALIGN_PARAGRAPH.CENTER
    audit.paragraph_format.line_spacing = Pt(12)
    _run(audit, audit_line(report), size=SIZE_SMALL_5)  # the full hash fits one line at 小五


def build_docx(report: RetrievalReport):
    """The python-docx ``Document`` of the report (not saved)."""
    document = new_document()
    _setup(document)
    title = document.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.paragraph_format.line_spacing = Pt(40)
    title.paragraph_format.space_after = Pt(12)
    _run(title, report.title, font=TITLE_FONT, size=SIZE_2, bold=True)
    _info_table(document, basic_info(report))

    _heading(document, SECTIONS[0], 1)
    for line in method_lines(report):
        _paragraph(document, line)
    _paragraph(document, report.query_text, size=SIZE_4)

    _heading(document, SECTIONS[1], 1)
    for group in report.tiers:
        _heading(document, tier_heading(group), 2)
        if not group.cases:
            _paragraph(document, NONE_FOUND, size=SIZE_4)
        for number, case in enumerate(group.cases, 1):
            heading = _paragraph(document, case_heading(number, case), size=SIZE_4, bold=True)
            heading.paragraph_format.space_before = Pt(6)
            heading.paragraph_format.keep_with_next = True
            for line in case_lines(case):
                _paragraph(document, line, size=SIZE_4)

    _heading(document, SECTIONS[2], 1)
    for number, item in enumerate(report.holdings_summary, 1):
        _paragraph(document, f"{number}. {item}")
    if not report.holdings_summary:
        _paragraph(document, NO_SIMILAR_YET)

    _heading(document, SECTIONS[3], 1)
    _paragraph(document, report.dispute_focus)

    _heading(document, SECTIONS[4], 1)
    if report.marks:
        for mark in report.marks:
            _paragraph(document, mark_line(mark))
    else:
        _paragraph(document, f"尚未标记。{report.application_analysis}")

    _heading(document, SECTIONS[5], 1)
    for rule in report.effect_rules:
        _paragraph(document, rule)
    _paragraph(document, report.application_analysis)

    _heading(document, SECTIONS[6], 1)
    for line in conflict_lines(report):
        _paragraph(document, line, size=SIZE_4)
    if not report.conflicts:
        _paragraph(document, no_conflict_text())

    for i, line in enumerate(signature_lines(report)):
        closing = _paragraph(document, line, indent=False)
        closing.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        if i == 0:
            closing.paragraph_format.space_before = Pt(28)
    _footer(document, report)
    return document


def docx_bytes(report: RetrievalReport) -> bytes:
    """The report as the bytes of a .docx file."""
    buffer = io.BytesIO()
    build_docx(report).save(buffer)
    return buffer.getvalue()


def render_docx(report: RetrievalReport, path: str | os.PathLike[str]) -> Path:
    """Write the report to ``path`` atomically (temporary file in the same folder, then rename)."""
    return write_atomic(path, docx_bytes(report))
