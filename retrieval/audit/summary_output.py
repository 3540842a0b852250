"""The periodic summary as files: CSV and XLSX of the same table, JSON, and the PNG chart.

The CSV and the XLSX are written from ``Summary.table()`` cell for cell (``retrieval.spreadsheet``:
UTF-8 with BOM for Excel, and never a cell read as a formula), so the two can never disagree.
"""

from __future__ import annotations

import json
from enum import StrEnum

from retrieval.audit.summary import Summary
from retrieval.audit.summary_chart import render_png
from retrieval.spreadsheet import csv_bytes, xlsx_bytes

HEADER = ("分类", "项目", "数值")
WIDTHS = (14, 36, 70)


class SummaryFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"
    PNG = "png"


MEDIA_TYPES = {
    SummaryFormat.JSON: "application/json",
    SummaryFormat.CSV: "text/csv; charset=utf-8",
    SummaryFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    SummaryFormat.PNG: "image/png",
}


def file_name(summary: Summary, fmt: SummaryFormat) -> str:
    """ASCII only, so that it survives a Content-Disposition header and any file system."""
    first, last = summary.period.first, summary.period.last
    return f"audit-summary-{first:%Y%m%d}-{last:%Y%m%d}.{fmt.value}"


def to_csv(summary: Summary) -> bytes:
    return csv_bytes(HEADER, summary.table())


def to_xlsx(summary: Summary) -> bytes:
    return xlsx_bytes(HEADER, summary.table(), title="类案检索汇总", widths=WIDTHS)


def to_json(summary: Summary) -> bytes:
    return json.dumps(summary.to_dict(), ensure_ascii=False, indent=2).encode("utf-8") + b"\n"


def render(summary: Summary, fmt: SummaryFormat) -> bytes:
    writers = {
        SummaryFormat.JSON: to_json,
        SummaryFormat.CSV: to_csv,
        SummaryFormat.XLSX: to_xlsx,
        SummaryFormat.PNG: render_png,
    }
    return writers[fmt](summary)
