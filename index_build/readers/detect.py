"""Pick the reader for a path: by explicit name (``--format``) or from names, extensions and content.

``read_any`` is the one entry point the build uses. A folder whose files are all one format is
handed to that reader whole (so LeCaRD duplicates are dropped and ids stay unique per reader); a
folder with mixed content is walked and each file (or LeCaRD ``<ridx>/`` tree) read by its own reader.
Errors follow the policy in ``index_build.readers.common``: data problems are Rejections,
``ReaderError`` means the request itself cannot be served.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from index_build.readers import cail, gongbao_md, guiding_md, jsonl, lecard, plaintext
from index_build.readers.base import Reader, ReadItem, Rejection
from index_build.readers.common import (
    ReaderError,
    is_skipped,
    natural_key,
    require_exists,
    sniff_text,
    source_name,
)

__all__ = ["FORMATS", "MIXED", "ReaderError", "detect_format", "read_any"]

FORMATS: dict[str, Reader] = {
    module.FORMAT: module for module in (jsonl, lecard, cail, guiding_md, gongbao_md, plaintext)
}
MIXED = "mixed"
"""What ``detect_format`` returns for a folder holding several formats; ``read_any`` handles it."""

_LECARD_KEYS = ('"ajId"', '"ajName"', '"ajjbqk"', '"qw"', '"writName"', '"writId"')
_DATA_SUFFIXES = (
    ".json",
    ".jsonl",
    ".ndjson",
    ".md",
    ".markdown",
    ".txt",
    *lecard.ARCHIVE_SUFFIXES,
    *jsonl.GZIP_SUFFIXES,
)


def detect_format(path: Path) -> str:
    """The format name for ``path`` (a key of FORMATS, or MIXED for a mixed folder).

    A folder is one format only when every data file in it (json, md, txt, archives …) is
    recognised as that format; otherwise it is MIXED and unrecognised files become Rejections.

    Raises ReaderError when the path is missing or nothing in it is recognisable.
    """
    path = Path(path)
    require_exists(path)
    if path.is_file():
        fmt = _detect_file(path)
        if fmt is None:
            raise ReaderError(f"{path}: cannot tell its format; name one of {_names()}")
        return fmt
    return _folder_format(path, _plan(path))


def _folder_format(path: Path, plan: list[tuple[Path, str | None]]) -> str:
    formats = {fmt for file, fmt in plan if fmt is not None or _is_data_file(file)}
    if not formats - {None}:
        raise ReaderError(f"{path}: no file in a recognised format; name one of {_names()}")
    return formats.pop() if len(formats) == 1 else MIXED


def read_any(path: Path, fmt: str | None = None) -> Iterator[ReadItem]:
    """Documents and Rejections from ``path``, read as ``fmt`` or as detected.

    Validation happens here, before the first item, so a wrong path or format fails at once.
    """
    path = Path(path)
    require_exists(path)
    if fmt is not None:
        if fmt not in FORMATS:
            raise ReaderError(f"unknown format {fmt!r}; valid formats: {_names()}")
        return FORMATS[fmt].read(path)
    if path.is_file():
        return FORMATS[detect_format(path)].read(path)
    plan = _plan(path)
    detected = _folder_format(path, plan)
    if detected != MIXED:
        return FORMATS[detected].read(path)
    return _read_mixed(path, plan)


def _names() -> str:
    return ", ".join(sorted(FORMATS))


def _read_mixed(root: Path, plan: list[tuple[Path, str | None]]) -> Iterator[ReadItem]:
    for path, fmt in plan:
        if fmt is not None:
            prefix = source_name(root, path.parent) + "/" if path.parent != root else f"{root.name}/"
            for item in FORMATS[fmt].read(path):
                yield _with_prefix(item, path.name, prefix)
        elif _is_data_file(path):
            yield Rejection(source_name(root, path), None, _unrecognised(path))


def _unrecognised(path: Path) -> str:
    if path.name.lower().endswith(jsonl.GZIP_SUFFIXES):
        return f"compressed files are read only in the project's JSON Lines format ({jsonl.FORMAT}): decompress it"
    if path.name.lower().endswith((".md", ".markdown")) and "检例第" in sniff_text(path, 400):
        return "最高人民检察院指导性案例 (检例) are procuratorate cases, not court cases: not read"
    return f"format not recognised; name one of {_names()}"


def _with_prefix(item: ReadItem, name: str, prefix: str) -> ReadItem:
    """Name the source relative to the folder given, as a whole-folder read would (``a/b/x.md``)."""
    if isinstance(item, Rejection):
        return replace(item, source=prefix + item.source) if item.source.startswith(name) else item
    if item.source and item.source.startswith(name):
        item.source = prefix + item.source
    return item


def _is_data_file(path: Path) -> bool:
    """A file one of the readers could be meant for, so leaving it unread deserves a Rejection."""
    return path.is_file() and path.name.lower().endswith(_DATA_SUFFIXES)


def _plan(folder: Path) -> list[tuple[Path, str | None]]:
    """(path, format) for everything under ``folder``; a LeCaRD ``<ridx>/`` tree is one entry."""
    if _is_lecard_tree(folder):
        return [(folder, lecard.FORMAT)]
    plan: list[tuple[Path, str | None]] = []
    for child in sorted(folder.iterdir(), key=natural_key):
        if is_skipped(child):
            continue
        if child.is_dir():
            plan.extend(_plan(child))
        elif child.is_file():
            plan.append((child, _detect_file(child)))
    return plan


def _is_lecard_tree(folder: Path) -> bool:
    """LeCaRD ships candidates as ``<ridx>/<docid>.json``: numbered folders of candidate JSON."""
    for sub in folder.iterdir():
        if sub.is_dir() and sub.name.isdigit():
            sample = next(iter(sorted(sub.glob("*.json"))), None)
            if sample is not None and _looks_like_lecard(sniff_text(sample)):
                return True
    return False


def _looks_like_lecard(head: str) -> bool:
    """Two LeCaRD keys in the sample; ``qw`` alone may lie beyond it, after long sections."""
    return sum(key in head for key in _LECARD_KEYS) >= 2


def _first_record(head: str) -> str:
    return next((line for line in head.splitlines() if line.strip()), "")


def _looks_like_cail(line: str) -> bool:
    try:
        row = json.loads(line)
    except json.JSONDecodeError:  # the sample may cut a long line: fall back to the key names
        return '"fact"' in line and '"meta"' in line
    return isinstance(row, dict) and "fact" in row and "meta" in row


def _object_without(line: str, key: str) -> bool:
    """The line is a whole JSON object lacking ``key`` (e.g. pending-case queries, not documents)."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return False
    return isinstance(row, dict) and key not in row


def _detect_gzip(path: Path) -> str | None:
    """Only the project's JSON Lines is read compressed.

    A stream too damaged to show its head is still taken at its name's word, so that the reader,
    not detection, reports the damage with the file's name.
    """
    try:
        head = sniff_text(path)
    except OSError:
        return jsonl.FORMAT
    first = _first_record(head)
    if path.name.lower().endswith(".json.gz"):
        return jsonl.FORMAT if '"doc_id"' in first else None
    return None if _looks_like_cail(first) or _object_without(first, "doc_id") else jsonl.FORMAT


def _detect_file(path: Path) -> str | None:
    """Format of one file from its name and first few kilobytes, or None."""
    name = path.name.lower()
    if name.endswith(lecard.ARCHIVE_SUFFIXES):
        return lecard.FORMAT
    if name.endswith(jsonl.GZIP_SUFFIXES):
        return _detect_gzip(path)
    if not name.endswith(_DATA_SUFFIXES):
        return None
    try:
        head = sniff_text(path)
    except OSError:
        return None
    first = _first_record(head)
    if name.endswith((".jsonl", ".ndjson")):
        if _looks_like_cail(first):
            return cail.FORMAT
        return None if _object_without(first, "doc_id") else jsonl.FORMAT
    if name.endswith(".json"):
        if _looks_like_lecard(head):
            return lecard.FORMAT
        if _looks_like_cail(first):
            return cail.FORMAT
        if '"doc_id"' in first:
            return jsonl.FORMAT
        return None
    if name.endswith((".md", ".markdown")):
        title = guiding_md.clean_line(first)
        if guiding_md.GUIDING_HEADING.match(title):
            return guiding_md.FORMAT
        if "检例第" in head[:400]:  # 最高检指导性案例: a procuratorate's case, not a court's (_unrecognised)
            return None
        if "【裁判摘要】" in head or "【案例要旨】" in head or "法院" in head:
            return gongbao_md.FORMAT
        return None
    if name.endswith(".txt"):
        return plaintext.FORMAT if plaintext.looks_like_judgment(head) else None
    return None
