"""Plain-text full judgments, one per ``.txt`` file, UTF-8 or GB18030 (detected, never declared).

Everything structured (案号, court, parties, sections …) comes from ``parse_judgment``. A text that
neither mentions a 法院 nor reads like a judgment (本院, 原告/被告, a section marker) is rejected rather
than indexed, because a stray word list or notes file in a corpus folder would otherwise become a
"judgment" that matches everything. Civil fact texts (原告诉称… 经审理查明…) often name no 法院.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from index_build.readers.base import ReadItem, Rejection
from index_build.readers.common import decode_bytes, iter_files, require_exists, source_name
from retrieval.parsing.judgment import parse_judgment
from retrieval.parsing.sections import has_sections

FORMAT = "txt"
SUFFIXES = (".txt",)
MIN_CHARS = 50


_JUDGMENT_WORDS = re.compile(r"本院|原告|被告|上诉人|申请人|公诉机关")


def looks_like_judgment(text: str) -> bool:
    """Whether a text names a 法院 or reads like a judgment (本院, 原告/被告, a section marker)."""
    return "法院" in text or bool(_JUDGMENT_WORDS.search(text)) or has_sections(text)


def read(path: Path) -> Iterator[ReadItem]:
    """One Document per .txt file (``txt-<stem>``); a folder is read recursively."""
    path = Path(path)
    require_exists(path)
    seen: dict[str, str] = {}
    for file in iter_files(path, SUFFIXES):
        name = source_name(path, file)
        doc_id = f"txt-{file.stem}"
        if doc_id in seen:
            yield Rejection(name, None, f"duplicate doc_id {doc_id!r}: same file name as {seen[doc_id]}")
            continue
        try:
            text = decode_bytes(file.read_bytes(), name)
        except (UnicodeError, OSError) as exc:
            yield Rejection(name, None, str(exc))
            continue
        text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
        if len(text) < MIN_CHARS:
            yield Rejection(name, None, f"too short for a judgment ({len(text)} characters)")
            continue
        if not looks_like_judgment(text):
            yield Rejection(
                name, None, "does not look like a court judgment (no 法院, 本院, party role or section)"
            )
            continue
        seen[doc_id] = name
        yield parse_judgment(text, doc_id=doc_id, source=name)
