"""The project's own JSON Lines schema: one ``Document.to_dict()`` object per line.

This is the format to convert any other corpus into, so it is strict: a record that
``Document.from_dict`` refuses, a line that is not JSON, or a repeated ``doc_id`` is rejected with
its 1-based line number, and the rest of the file is still read.

Files may be gzip-compressed (``*.jsonl.gz``), as courts' exports often are: they are streamed,
never unpacked to disk. Their encoding is judged from the decompressed head and every line is
decoded strictly, so an undecodable line is rejected by number; a damaged stream (corrupt data, a
cut-off end) is one Rejection naming the file and the line where reading stopped.
"""

from __future__ import annotations

import codecs
import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from index_build.readers.base import ReadItem, Rejection
from index_build.readers.common import (
    GZIP_ERRORS,
    detect_file_encoding,
    detect_head_encoding,
    gzip_head,
    is_gzip,
    iter_files,
    load_json,
    require_exists,
    source_name,
)
from retrieval.document import SCHEMA_VERSION, Document

FORMAT = "jsonl"
SUFFIXES = (".jsonl", ".ndjson", ".json")
GZIP_SUFFIXES = tuple(suffix + ".gz" for suffix in SUFFIXES)
_HEAD = 1 << 16  # decompressed bytes judged for the encoding: a couple of judgments


def read(path: Path) -> Iterator[ReadItem]:
    """Documents of a .jsonl file, or of every .jsonl/.json file under a folder, each maybe .gz.

    Ids are unique per file.
    """
    path = Path(path)
    require_exists(path)
    for file in iter_files(path, SUFFIXES + GZIP_SUFFIXES):
        yield from _read_file(file, source_name(path, file))


def _read_file(file: Path, name: str) -> Iterator[ReadItem]:
    try:
        compressed = is_gzip(file)
    except OSError as exc:
        yield Rejection(name, None, f"cannot read: {exc}")
        return
    if compressed:
        yield from _read_gzip(file, name)
        return
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


def _read_gzip(file: Path, name: str) -> Iterator[ReadItem]:
    try:
        encoding = detect_head_encoding(gzip_head(file, _HEAD), name)
    except UnicodeError as exc:
        yield Rejection(name, None, str(exc))
        return
    except OSError as exc:
        yield Rejection(name, None, f"not a readable gzip file: {exc}")
        return
    seen: dict[str, int] = {}
    lineno = 0
    codec = encoding.removesuffix("-sig")
    try:
        with gzip.open(file, "rb") as fh:
            for lineno, raw in enumerate(_without_bom(fh, encoding), start=1):
                try:
                    line = raw.decode(codec)
                except UnicodeDecodeError as exc:
                    where = f"byte {exc.start} of the line: {exc.reason}"
                    yield Rejection(name, lineno, f"cannot decode as {codec} ({where})")
                    continue
                if line.strip():
                    yield _parse_line(line, name, lineno, seen)
    except GZIP_ERRORS as exc:
        damage = f"{type(exc).__name__}: {exc}"
        reason = f"damaged gzip stream after line {lineno} ({damage}); the rest of the file was not read"
        yield Rejection(name, lineno + 1, reason)


def _without_bom(lines: Iterable[bytes], encoding: str) -> Iterator[bytes]:
    """The lines, the first without its UTF-8 byte-order mark (as ``utf-8-sig`` reads a plain file)."""
    iterator = iter(lines)
    first = next(iterator, None)
    if first is None:
        return
    yield first.removeprefix(codecs.BOM_UTF8) if encoding == "utf-8-sig" else first
    yield from iterator


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
