"""LeCaRD candidate documents: ``<ridx>/<docid>.json`` with ``qw`` (全文) and pre-split sections.

Accepted layouts: the tarball the dataset ships as (``candidates.tar.xz``, streamed member by member
and never unpacked), a folder of ``<ridx>/<docid>.json`` files, or one ``.json`` file. The same docid
is a candidate of several queries, so it is stored under several folders; it is the same judgment
and is yielded once (``lecard-<docid>``), which keeps the ids the labels use.
"""

from __future__ import annotations

import json
import lzma
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from index_build.readers.base import ReadItem, Rejection
from index_build.readers.common import iter_files, load_json, require_exists, source_name
from retrieval.document import Document, Sections
from retrieval.parsing.causes import extract_causes
from retrieval.parsing.judgment import parse_judgment

FORMAT = "lecard"
ARCHIVE_SUFFIXES = (".tar.xz", ".txz", ".tar.gz", ".tgz", ".tar.bz2", ".tar")


def read(path: Path) -> Iterator[ReadItem]:
    """Each distinct LeCaRD candidate once, in archive (or natural folder) order.

    ``path`` is an archive, a candidate .json, or a folder of candidate files and/or archives.
    """
    path = Path(path)
    require_exists(path)
    seen: set[str] = set()
    for file in iter_files(path, (".json", *ARCHIVE_SUFFIXES)):
        name = source_name(path, file)
        lower = file.name.lower()
        if lower.endswith(ARCHIVE_SUFFIXES) or (file == path and not lower.endswith(".json")):
            yield from _read_archive(file, name, seen)
            continue
        if file.stem in seen:
            continue
        try:
            raw = file.read_bytes()
        except OSError as exc:
            yield Rejection(name, None, f"cannot read: {exc}")
            continue
        seen.add(file.stem)
        yield _parse_member(raw, file.stem, name)


def _read_archive(path: Path, name: str, seen: set[str]) -> Iterator[ReadItem]:
    """Stream the tarball: members are decompressed in order and only one is held at a time."""
    before = len(seen)
    try:
        with tarfile.open(path, "r|*") as archive:
            for member in archive:
                member_name = member.name
                if not member.isfile() or not member_name.lower().endswith(".json"):
                    continue
                if "/." in f"/{member_name}":  # macOS resource forks and other hidden members
                    continue
                stem = Path(member_name).stem
                fh = None if stem in seen else archive.extractfile(member)
                if fh is None:
                    continue
                raw = fh.read()  # a truncated stream fails here, before the id counts as read
                seen.add(stem)
                yield _parse_member(raw, stem, f"{name}:{member_name}")
    except (tarfile.TarError, lzma.LZMAError, OSError, EOFError) as exc:
        done = len(seen) - before
        what = "not a readable tar archive" if done == 0 else f"archive is corrupt after {done} documents"
        yield Rejection(name, None, f"{what}: {exc}")


def _parse_member(raw: bytes, docid: str, source: str) -> ReadItem:
    try:
        data = load_json(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        return Rejection(source, None, f"not UTF-8 (byte offset {exc.start}: {exc.reason})")
    except json.JSONDecodeError as exc:
        return Rejection(source, exc.lineno, f"invalid JSON: {exc}")
    try:
        return to_document(data, doc_id=f"lecard-{docid}", source=source)
    except ValueError as exc:
        return Rejection(source, None, str(exc))


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value.strip() if isinstance(value, str) else ""


def to_document(data: Any, *, doc_id: str, source: str) -> Document:
    """Map one candidate JSON object; raises ValueError when there is no full text to index."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    full_text = _text(data, "qw")
    if not full_text:
        raise ValueError("qw (full text): missing or empty")
    title = _text(data, "writName") or _text(data, "ajName")
    doc = parse_judgment(full_text, doc_id=doc_id, title=title, source=source)
    doc.title = title or doc.title
    facts, reasoning, result = _text(data, "ajjbqk"), _text(data, "cpfxgc"), _text(data, "pjjg")
    parsed = doc.sections
    doc.sections = Sections(
        facts=facts or parsed.facts,
        reasoning=reasoning or parsed.reasoning,
        result=result or parsed.result,
    )
    case_title = " ".join(t for t in (_text(data, "ajName"), _text(data, "writName")) if t)
    causes = extract_causes(title=case_title, result=doc.sections.result)
    if causes:
        doc.causes = causes
    return doc
