"""类案检索报告 (Art. 8 of the SPC 2020 guidance): the data (``model``) and its DOCX, HTML and Markdown forms."""

from retrieval.report.model import RetrievalReport, build_report

__all__ = ["RetrievalReport", "build_report"]
