"""The chart of the periodic summary: mandatory searches per day, as a PNG (matplotlib, Agg).

Chinese labels need a CJK font; matplotlib's own DejaVu has none and would draw empty boxes (tofu).
The chart takes the first installed CJK family that has a glyph for every character it will draw
(Debian's fonts-wqy-zenhei on the project's machines) and, when there is none, draws English labels
rather than boxes. No pyplot: a Figure with its own Agg canvas holds no global state between requests.
"""

from __future__ import annotations

import datetime as dt
import io
from functools import lru_cache

from retrieval.audit.summary import Summary

CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "SimHei",
    "Microsoft YaHei",
)
LATIN_FAMILY = "DejaVu Sans"  # ships with matplotlib: digits and Latin always render
SIZE_INCHES = (10.0, 4.8)
DPI = 120


@lru_cache(maxsize=1)
def _installed_cjk() -> tuple[tuple[str, frozenset[int]], ...]:
    """(family, code points it covers) of the installed CJK families, in order of preference."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    entries = {f.name: f for f in font_manager.fontManager.ttflist}
    found = []
    for family in CJK_FAMILIES:
        entry = entries.get(family)
        if entry is not None:
            charmap = FT2Font(entry.fname, face_index=entry.index).get_charmap()
            found.append((family, frozenset(charmap)))
    return tuple(found)


def cjk_family(text: str) -> str | None:
    """The first installed CJK family with a glyph for every non-ASCII character of ``text``."""
    needed = {ord(c) for c in text if ord(c) > 0x7F}
    return next((family for family, covered in _installed_cjk() if needed <= covered), None)


def _labels(summary: Summary, chinese: bool) -> dict[str, str]:
    first, last = summary.period.first.isoformat(), summary.period.last.isoformat()
    if chinese:
        return {
            "title": f"{summary.court or '全部法院'}  类案强制检索次数（按日）",
            "subtitle": f"统计期间 {first} 至 {last}（北京时间）   合计 {summary.searches} 次",
            "x": "日期",
            "y": "检索次数",
        }
    court = summary.court if summary.court and summary.court.isascii() else "court as in the table"
    return {
        "title": f"Mandatory similar-case searches per day ({court})",
        "subtitle": f"{first} to {last} (UTC+8), {summary.searches} in total",
        "x": "date",
        "y": "searches",
    }


def render_png(summary: Summary) -> bytes:
    """The per-day bar chart of ``summary`` as PNG bytes."""
    from matplotlib import dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    labels = _labels(summary, chinese=True)
    family = cjk_family("".join(labels.values()))
    if family is None:
        labels = _labels(summary, chinese=False)
    families = [family, LATIN_FAMILY] if family else [LATIN_FAMILY]

    fig = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    days = [dt.datetime.combine(day, dt.time()) for day, _ in summary.per_day]
    counts = [n for _, n in summary.per_day]
    ax.bar(days, counts, width=0.8, color="#8c1c13", align="center")
    fig.suptitle(labels["title"], family=families, fontsize=14)
    ax.set_title(labels["subtitle"], family=families, fontsize=10, color="#444444")
    ax.set_xlabel(labels["x"], family=families)
    ax.set_ylabel(labels["y"], family=families)
    locator = mdates.AutoDateLocator(minticks=3, maxticks=12)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d" if len(days) > 62 else "%m-%d"))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    half_day = dt.timedelta(hours=12)
    ax.set_xlim(days[0] - half_day, days[-1] + half_day)  # the period, not a tick beyond it
    ax.set_ylim(0, max([*counts, 1]) * 1.15)
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
