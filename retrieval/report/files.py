"""A report's four files (DOCX, HTML, Markdown, JSON): bytes per format and atomic writes of all four.

One table of formats serves the batch (files on disk) and the HTTP routes (a download's media type).
Rendering (``render_report_files``) is apart from writing (``write_rendered``) so that a batch can
record a report only once its every file has been produced, and write the files after the record.
Text forms are encoded with replacement, so that a lone surrogate cannot make a report fail.
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
    return _utf8(json.dumps(report.to_dict(), ensure_ascii=False, indent=1) + "\n")


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "replace")


FORMATS: dict[str, ReportFormat] = {
    f.name: f
    for f in (
        ReportFormat(
            "docx",
            ".docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            docx_bytes,
        ),
        ReportFormat("html", ".html", "text/html; charset=utf-8", lambda r: _utf8(render_html(r))),
        ReportFormat("md", ".md", "text/markdown; charset=utf-8", lambda r: _utf8(render_markdown(r))),
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


def render_report_files(report: RetrievalReport, formats: Iterable[str] = tuple(FORMATS)) -> dict[str, bytes]:
    """Every format's bytes, in memory; nothing is written."""
    return {name: report_format(name).render(report) for name in formats}


def write_rendered(rendered: dict[str, bytes], folder: str | os.PathLike[str], stem: str) -> dict[str, Path]:
    """Write ``<stem><suffix>`` for each rendered format, each atomically; returns format → path."""
    return {
        name: write_atomic(Path(folder) / f"{stem}{FORMATS[name].suffix}", data)
        for name, data in rendered.items()
    }


def write_report_files(
    report: RetrievalReport,
    folder: str | os.PathLike[str],
    stem: str,
    formats: Iterable[str] = tuple(FORMATS),
) -> dict[str, Path]:
    """Write ``<stem><suffix>`` for each format, each atomically; returns format → path.

    Every format is rendered before the first file is written, so a rendering error leaves nothing.
    """
    return write_rendered(render_report_files(report, formats), folder, stem)
