"""Plain-text full judgments, one per ``.txt`` file, UTF-8 or GB18030 (detected, never declared).

Everything structured (案号, court, parties, sections …) comes from ``parse_judgment``. A text that
does not even mention a 法院 is rejected rather than indexed, because a stray word list or notes file
in a corpus folder would otherwise become a "judgment" that matches everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from index_build.readers.base import ReadItem, Rejection
from index_build.readers.common import decode_bytes, iter_files, require_exists, source_name
from retrieval.parsing.judgment import parse_judgment

FORMAT = "txt"
SUFFIXES = (".txt",)
MIN_CHARS = 50


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
        if "法院" not in text:
            yield Rejection(name, None, "does not look like a court judgment (no 法院 in the text)")
            continue
        seen[doc_id] = name
        yield parse_judgment(text, doc_id=doc_id, source=name)
