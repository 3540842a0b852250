"""A table (header + rows) as CSV or XLSX bytes that a court's Excel opens as text, never as formulas.

CSV: UTF-8 with BOM (Excel then reads the Chinese), CRLF, and the audit export's guard on cells that
start with ``=``, ``+``, ``-`` or ``@``. XLSX (openpyxl): header bold and frozen, column widths
given, and text cells stored as text (openpyxl would otherwise store ``=…`` as a formula). In both,
text cells lose the control characters XML cannot hold (openpyxl raises on them, and a CSV opened in
Excel should read the same as the XLSX): no string makes a table fail.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from retrieval.audit.store import csv_cell
from retrieval.control_characters import xml_text


def _clean(value: Any) -> Any:
    return xml_text(value) if isinstance(value, str) else value


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_clean(name) for name in header])
    writer.writerows([csv_cell(_clean(value)) for value in row] for row in rows)
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def xlsx_bytes(
    header: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str, widths: Sequence[float] = ()
) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    sheet.append([_clean(name) for name in header])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([_clean(value) for value in row])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str) and cell.data_type == "f":
                cell.data_type = "s"
    sheet.freeze_panes = "A2"
    for index, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
