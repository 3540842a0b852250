"""The batch's summary table: one row per input case, finished or not, as CSV and XLSX.

Rows follow the input order, so a clerk can lay the table beside the pending list; a case that is
not finished yet (an interrupted batch) is listed as 未完成 rather than left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from api.service.report_batch.pending import BadRow, PendingCase
from api.service.report_batch.state import OK, SUMMARY_CSV, SUMMARY_XLSX, TIER_KEYS, BatchFolder, CaseState
from retrieval.atomic_file import write_atomic
from retrieval.spreadsheet import csv_bytes, xlsx_bytes

STATUS_LABELS = {OK: "已生成", "error": "出错", None: "未完成"}
HEADER = (
    "序号",
    "案号",
    "检索人",
    "状态",
    "第1层级",
    "第2层级",
    "第3层级",
    "第4层级",
    "其他",
    "检得指导性案例",
    "报告文件",
    "检索审计编号",
    "报告审计编号",
    "错误",
)
WIDTHS = (6, 26, 10, 8, 8, 8, 8, 8, 6, 14, 48, 12, 12, 50)


def summary_rows(cases: Sequence[PendingCase | BadRow], done: dict[int, CaseState]) -> list[list[Any]]:
    rows = []
    for case in cases:
        state = done.get(case.item)
        judge = case.judge if isinstance(case, PendingCase) else None
        if state is None:
            rows.append([case.item, case.case_number, judge, STATUS_LABELS[None], *[None] * 10])
            continue
        ok = state.status == OK
        tiers = [state.tiers.get(key, 0) if ok else None for key in TIER_KEYS]
        rows.append(
            [
                case.item,
                state.case_number,
                state.judge or judge,
                STATUS_LABELS.get(state.status, state.status),
                *tiers,
                ("是" if state.guiding else "否") if ok else None,
                state.files.get("docx"),
                state.search_id,
                state.report_seq,
                state.error,
            ]
        )
    return rows


SUMMARY_MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def summary_bytes(rows: list[list[Any]], fmt: str) -> bytes:
    if fmt == "xlsx":
        return xlsx_bytes(HEADER, rows, title="类案检索报告汇总", widths=WIDTHS)
    return csv_bytes(HEADER, rows)


def write_summary(
    folder: BatchFolder, cases: Sequence[PendingCase | BadRow], done: dict[int, CaseState]
) -> None:
    rows = summary_rows(cases, done)
    write_atomic(folder.path(SUMMARY_CSV), summary_bytes(rows, "csv"))
    write_atomic(folder.path(SUMMARY_XLSX), summary_bytes(rows, "xlsx"))
