"""Markdown and HTML forms of a ``RetrievalReport``: the same sections, in the same order, as the DOCX."""

from __future__ import annotations

from html import escape

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


def _md(text: str) -> str:
    """Text safe inside a Markdown paragraph or table cell (no accidental markup, no table breaks)."""
    out = text.replace("\\", "\\\\")
    for char in "*_`[]<>|#":
        out = out.replace(char, "\\" + char)
    return out.replace("\n", " ")


def render_markdown(report: RetrievalReport) -> str:
    lines = [f"# {report.title}", "", "| 项目 | 内容 |", "| --- | --- |"]
    lines += [f"| {label} | {_md(value)} |" for label, value in basic_info(report)]
    lines += ["", f"## {SECTIONS[0]}", ""]
    lines += [f"- {_md(line)}" for line in method_lines(report)]
    lines += ["", "> " + _md(report.query_text), ""]
    lines += [f"## {SECTIONS[1]}", ""]
    for group in report.tiers:
        lines += ["### " + tier_heading(group), ""]
        if not group.cases:
            lines += [NONE_FOUND, ""]
        for number, case in enumerate(group.cases, 1):
            lines += [f"**{_md(case_heading(number, case))}**", ""]
            lines += [f"- {_md(line)}" for line in case_lines(case)]
            lines.append("")
    lines += [f"## {SECTIONS[2]}", ""]
    lines += [f"{i}. {_md(item)}" for i, item in enumerate(report.holdings_summary, 1)] or [NO_SIMILAR_YET]
    lines += ["", f"## {SECTIONS[3]}", "", _md(report.dispute_focus), "", f"## {SECTIONS[4]}", ""]
    lines += [f"- {_md(mark_line(m))}" for m in report.marks] or [f"尚未标记。{report.application_analysis}"]
    lines += ["", f"## {SECTIONS[5]}", ""]
    lines += [f"- {_md(rule)}" for rule in report.effect_rules]
    lines += ["", _md(report.application_analysis), "", f"## {SECTIONS[6]}", ""]
    lines += [f"- {_md(line)}" for line in conflict_lines(report)] or [no_conflict_text()]
    lines += [""] + [f"{_md(line)}  " for line in signature_lines(report)]
    lines += ["", "---", "", _md(audit_line(report)), ""]
    return "\n".join(lines)


_CSS = """
body { font-family: "FangSong", "仿宋", "STFangsong", serif; font-size: 16pt; max-width: 46em;
       margin: 2em auto; line-height: 1.6; }
h1 { font-family: "SimSun", "宋体", serif; font-size: 22pt; text-align: center; }
h2, h3 { font-family: "SimHei", "黑体", sans-serif; }
h2 { font-size: 16pt; } h3 { font-size: 14pt; }
table { border-collapse: collapse; width: 100%; font-size: 14pt; }
td, th { border: 1px solid #000; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
blockquote { border-left: 3px solid #999; margin: 0.5em 0; padding-left: 1em; }
.signature { text-align: right; margin-top: 2em; }
footer { border-top: 1px solid #000; margin-top: 2em; font-size: 12pt; }
"""


def _ul(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"


def render_html(report: RetrievalReport) -> str:
    """A self-contained HTML page; every value from the report is escaped."""
    e = escape
    parts = [
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{e(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(report.title)}</h1>",
        "<table>"
        + "".join(f"<tr><th>{e(label)}</th><td>{e(value)}</td></tr>" for label, value in basic_info(report))
        + "</table>",
        f"<h2>{SECTIONS[0]}</h2>",
        _ul(method_lines(report)),
        f"<blockquote>{e(report.query_text)}</blockquote>",
        f"<h2>{SECTIONS[1]}</h2>",
    ]
    for group in report.tiers:
        parts.append(f"<h3>{e(tier_heading(group))}</h3>")
        if not group.cases:
            parts.append(f"<p>{NONE_FOUND}</p>")
        for number, case in enumerate(group.cases, 1):
            parts.append(f"<p><strong>{e(case_heading(number, case))}</strong></p>")
            parts.append(_ul(case_lines(case)))
    parts.append(f"<h2>{SECTIONS[2]}</h2>")
    if report.holdings_summary:
        parts.append("<ol>" + "".join(f"<li>{e(i)}</li>" for i in report.holdings_summary) + "</ol>")
    else:
        parts.append(f"<p>{NO_SIMILAR_YET}</p>")
    parts += [f"<h2>{SECTIONS[3]}</h2>", f"<p>{e(report.dispute_focus)}</p>", f"<h2>{SECTIONS[4]}</h2>"]
    marks = [mark_line(m) for m in report.marks]
    parts.append(_ul(marks) if marks else f"<p>尚未标记。{e(report.application_analysis)}</p>")
    parts += [f"<h2>{SECTIONS[5]}</h2>", _ul(report.effect_rules), f"<p>{e(report.application_analysis)}</p>"]
    parts.append(f"<h2>{SECTIONS[6]}</h2>")
    conflicts = conflict_lines(report)
    parts.append(_ul(conflicts) if conflicts else f"<p>{no_conflict_text()}</p>")
    parts.append('<div class="signature">' + "<br>".join(e(x) for x in signature_lines(report)) + "</div>")
    parts.append(f"<footer>{e(audit_line(report))}</footer></body></html>\n")
    return "\n".join(parts)
