"""A report's four files (DOCX, HTML, Markdown, JSON): bytes per format and atomic writes of all four.

One table of formats serves the batch (files on disk) and the HTTP routes (a download's media type).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from retrieval.atomic_file import write_atomic
from retrieval.report.model import RetrievalReport
from retrieval.report.render_docx import docx_bytes
from retrieval.report.render_pdf import pdf_bytes
from retrieval.report.render_text import render_html, render_markdown


@dataclass(frozen=True)
class ReportFormat:
    name: str
    suffix: str
    media_type: str
    render: Callable[[RetrievalReport], bytes]


def _json_bytes(report: RetrievalReport) -> bytes:
    return (json.dumps(report.to_dict(), ensure_ascii=False, indent=1) + "\n").encode("utf-8")


FORMATS: dict[str, ReportFormat] = {
    f.name: f
    for f in (
        ReportFormat(
            "docx",
            ".docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            docx_bytes,
        ),
        ReportFormat("html", ".html", "text/html; charset=utf-8", lambda r: render_html(r).encode("utf-8")),
        ReportFormat(
            "md", ".md", "text/markdown; charset=utf-8", lambda r: render_markdown(r).encode("utf-8")
        ),
        ReportFormat("json", ".json", "application/json", _json_bytes),
    )
}


# Made on request only, never in a batch: it needs LibreOffice (``render_pdf``), which may be absent.
ON_REQUEST: dict[str, ReportFormat] = {"pdf": ReportFormat("pdf", ".pdf", "application/pdf", pdf_bytes)}


def report_format(name: str) -> ReportFormat:
    """The format called ``name`` (the batch's four, or PDF); ValueError naming the choices otherwise."""
    found = FORMATS.get(name) or ON_REQUEST.get(name)
    if found is None:
        raise ValueError(f"format: {name!r} is not one of {', '.join([*FORMATS, *ON_REQUEST])}")
    return found


def write_report_files(
    report: RetrievalReport,
    folder: str | os.PathLike[str],
    stem: str,
    formats: Iterable[str] = tuple(FORMATS),
) -> dict[str, Path]:
    """Write ``<stem><suffix>`` for each format, each atomically; returns format → path.

    Every format is rendered before the first file is written, so a rendering error leaves nothing.
    """
    rendered = {name: report_format(name).render(report) for name in formats}
    return {
        name: write_atomic(Path(folder) / f"{stem}{FORMATS[name].suffix}", data)
        for name, data in rendered.items()
    }
