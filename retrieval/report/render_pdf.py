"""The report as PDF, converted from its DOCX by LibreOffice (``soffice --headless``) when installed.

PDF is optional: Python has no faithful DOCX→PDF writer, and LibreOffice is a large system package
that a court's server may not have. Without it ``PdfUnavailable`` is raised and the service answers
501 with a message saying so; the DOCX (the file the court edits and signs) is always available.
Each conversion runs in its own temporary profile (``-env:UserInstallation``) so that concurrent
conversions do not fight over LibreOffice's profile lock, and under a time limit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from retrieval.report.model import RetrievalReport
from retrieval.report.render_docx import docx_bytes

SOFFICE_NAMES = ("soffice", "libreoffice")
TIMEOUT_S = 120.0


class PdfUnavailable(RuntimeError):
    """No LibreOffice on this machine, or the conversion failed: no PDF can be made here."""


def soffice_path() -> str | None:
    """LibreOffice's command: ``LEIAN_SOFFICE`` if set (empty: PDF off), else the first on PATH."""
    configured = os.environ.get("LEIAN_SOFFICE")
    if configured is not None:
        return shutil.which(configured) if configured else None
    return next((found for name in SOFFICE_NAMES if (found := shutil.which(name))), None)


def pdf_available() -> bool:
    return soffice_path() is not None


def pdf_from_docx(docx: bytes, timeout_s: float = TIMEOUT_S) -> bytes:
    soffice = soffice_path()
    if soffice is None:
        raise PdfUnavailable("LibreOffice (soffice) is not installed")
    with tempfile.TemporaryDirectory(prefix="leian-pdf-") as tmp:
        folder = Path(tmp)
        source = folder / "report.docx"
        source.write_bytes(docx)
        command = [
            soffice,
            f"-env:UserInstallation={(folder / 'profile').as_uri()}",
            "--headless",
            "--norestore",
            "--nologo",
            "--convert-to",
            "pdf",
            "--outdir",
            str(folder),
            str(source),
        ]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PdfUnavailable(f"LibreOffice failed: {exc}") from exc
        target = folder / "report.pdf"
        if done.returncode != 0 or not target.exists():
            tail = (done.stderr or done.stdout).decode("utf-8", "replace")[-300:]
            raise PdfUnavailable(f"LibreOffice exited {done.returncode} without a PDF: {tail}")
        return target.read_bytes()


def pdf_bytes(report: RetrievalReport) -> bytes:
    return pdf_from_docx(docx_bytes(report))
