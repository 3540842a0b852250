"""The project's own JSON Lines schema: one ``Document.to_dict()`` object per line.

This is the format to convert any other corpus into, so it is strict: a record that
``Document.from_dict`` refuses, a line that is not JSON, or a repeated ``doc_id`` is rejected with
its 1-based line number, and the rest of the file is still read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from index_build.readers.base import ReadItem, Rejection
from index_build.readers.common import (
    detect_file_encoding,
    iter_files,
    load_json,
    require_exists,
    source_name,
)
from retrieval.document import SCHEMA_VERSION, Document

FORMAT = "jsonl"
SUFFIXES = (".jsonl", ".ndjson", ".json")


def read(path: Path) -> Iterator[ReadItem]:
    """Documents of a .jsonl file, or of every .jsonl/.json file under a folder (ids unique per file)."""
    path = Path(path)
    require_exists(path)
    for file in iter_files(path, SUFFIXES):
        yield from _read_file(file, source_name(path, file))


def _read_file(file: Path, name: str) -> Iterator[ReadItem]:
    try:
        encoding = detect_file_encoding(file)
    except (UnicodeError, OSError) as exc:
        yield Rejection(name, None, str(exc))
        return
    seen: dict[str, int] = {}
    with file.open(encoding=encoding) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            yield _parse_line(line, name, lineno, seen)


def _parse_line(line: str, name: str, lineno: int, seen: dict[str, int]) -> ReadItem:
    try:
        data = load_json(line)
    except json.JSONDecodeError as exc:
        return Rejection(name, lineno, f"invalid JSON: {exc}")
    if isinstance(data, dict):
        version = data.get("schema_version", SCHEMA_VERSION)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            return Rejection(name, lineno, f"unsupported schema_version {version!r} (max {SCHEMA_VERSION})")
    try:
        doc = Document.from_dict(data)
    except ValueError as exc:
        return Rejection(name, lineno, f"invalid document: {exc}")
    if doc.doc_id in seen:
        return Rejection(name, lineno, f"duplicate doc_id {doc.doc_id!r} (first on line {seen[doc.doc_id]})")
    seen[doc.doc_id] = lineno
    if not doc.source:  # keep a provenance the record already carries (e.g. a converted corpus)
        doc.source = f"{name}:{lineno}"
    return doc
