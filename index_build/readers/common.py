"""Helpers shared by the format readers: the error type, encoding detection, file walking.

Error policy (the same for every reader):

* A bad *record* (one JSON line, one archive member, one Markdown file) yields a ``Rejection`` and
  reading goes on.
* A bad *file* (undecodable text, a corrupt or non-tar archive, an unreadable file) also yields one
  ``Rejection`` with ``line=None``: a build over many files reports it and carries on.
* ``ReaderError`` is raised only when the *request* cannot be honoured: the path does not exist,
  the format name is unknown, or no format can be detected for the path given. Nothing was read,
  so there is nothing to report item by item.
"""

from __future__ import annotations

import codecs
import gzip
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ENCODINGS = ("utf-8-sig", "gb18030")
"""Tried in this order. GB18030 is a superset of GBK/GB2312, the other encoding courts use."""

SKIP_NAME = re.compile(
    r"(?:index\d*|readme|source)(?:\.(?:md|markdown|txt|rst))?|licen[cs]e.*", re.IGNORECASE
)
"""Listing and licence files (index.md, index2.md, README, SOURCE.md, LICENSE…) are never documents."""

_CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
GZIP_ERRORS = (OSError, EOFError, zlib.error)
"""What a damaged gzip stream raises: bad header (``BadGzipFile``), bad data, cut-off end."""
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class ReaderError(ValueError):
    """The read request itself is wrong (missing path, unknown or undetectable format)."""


def _first_error(data_chunks: Iterator[bytes], encoding: str) -> tuple[int, str] | None:
    """Byte offset and message of the first strict decoding error, or None when it all decodes."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    fed = 0
    for chunk in data_chunks:
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            # exc.object is the decoder's pending bytes + this chunk (checked for both codecs)
            return fed - pending + exc.start, exc.reason
        fed += len(chunk)
    pending = len(decoder.getstate()[0])
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return fed - pending + exc.start, exc.reason
    return None


def _encoding_failure(name: str, errors: list[tuple[str, int, str]], head: bytes) -> str:
    detail = "; ".join(f"not {enc} (byte offset {off}: {why})" for enc, off, why in errors)
    hint = ""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        hint = " (it starts with a UTF-16 byte-order mark: re-encode it as UTF-8)"
    return f"{name}: cannot decode as UTF-8 or GB18030{hint}: {detail}"


def detect_file_encoding(path: Path) -> str:
    """Encoding of a text file, checked by a strict streaming decode of the whole file.

    Whole-file checking matters: GBK text is often valid UTF-8 for its first few kilobytes of
    ASCII digits and punctuation. Raises ``UnicodeError`` naming the file and the byte offset.
    """
    errors: list[tuple[str, int, str]] = []
    for encoding in ENCODINGS:
        with path.open("rb") as fh:
            failure = _first_error(iter(lambda fh=fh: fh.read(_CHUNK), b""), encoding)
        if failure is None:
            return encoding
        errors.append((encoding.removesuffix("-sig"), *failure))
    with path.open("rb") as fh:
        head = fh.read(4)
    raise UnicodeError(_encoding_failure(str(path), errors, head))


def decode_bytes(data: bytes, name: str) -> str:
    """Decode a whole small file (one document); raises ``UnicodeError`` like detect_file_encoding."""
    errors: list[tuple[str, int, str]] = []
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError as exc:
            errors.append((encoding.removesuffix("-sig"), exc.start, exc.reason))
    raise UnicodeError(_encoding_failure(name, errors, data[:4]))


def load_json(text: str) -> Any:
    """``json.loads`` whose every failure is a ``JSONDecodeError``, so one record costs only itself.

    Two inputs the standard decoder lets through are refused too: nesting deep enough to exhaust
    the recursion limit (a ``RecursionError`` would end the build), and ``\\ud800``-style escapes of
    lone surrogates, which decode to strings that no UTF-8 file or database can hold.
    """
    try:
        data = json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(data):
        raise json.JSONDecodeError("escaped lone surrogate (\\ud800-\\udfff) is not text", text, 0)
    return data


def _has_lone_surrogate(data: Any) -> bool:
    stack = [data]  # iterative: the value may be as deep as the decoder allowed
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def is_gzip(path: Path) -> bool:
    """A gzip file by name or by its magic bytes (courts' exports are often compressed)."""
    if path.name.lower().endswith(".gz"):
        return True
    with path.open("rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def gzip_head(path: Path, size: int) -> bytes:
    """Up to ``size`` decompressed bytes from the start of a gzip file.

    A stream cut off after the head still gives its head, so detection works and the reader is
    the one to report the damage with a line number. Raises ``OSError`` for a stream that is not
    gzip or is corrupt within the head.
    """
    out = bytearray()
    with gzip.open(path, "rb") as fh:
        try:
            while len(out) < size:
                chunk = fh.read1(size - len(out))
                if not chunk:
                    break
                out += chunk
        except EOFError:
            pass
        except zlib.error as exc:
            raise OSError(f"{path}: corrupt gzip stream: {exc}") from exc
    return bytes(out)


def detect_head_encoding(head: bytes, name: str) -> str:
    """Encoding of a stream judged from its (decompressed) head; a character cut at the end is fine.

    Used where a whole-file pre-pass would cost a second decompression; the reader then decodes
    each line strictly, so a later byte that does not decode rejects only its line.
    """
    errors: list[tuple[str, int, str]] = []
    for encoding in ENCODINGS:
        try:
            codecs.getincrementaldecoder(encoding)("strict").decode(head, final=False)
        except UnicodeDecodeError as exc:
            errors.append((encoding.removesuffix("-sig"), exc.start, exc.reason))
            continue
        return encoding
    raise UnicodeError(_encoding_failure(name, errors, head[:4]))


def sniff_text(path: Path, size: int = 16384) -> str:
    """The start of a file (decompressed if gzip) as text, leniently decoded: only for detection."""
    if path.name.lower().endswith(".gz"):
        head = gzip_head(path, size)
    else:
        with path.open("rb") as fh:
            head = fh.read(size)
    for encoding in ENCODINGS:
        try:
            return head.decode(encoding)
        except UnicodeDecodeError as exc:
            if exc.start >= len(head) - 4:  # a character cut at the end of the sample
                return head[: exc.start].decode(encoding, errors="replace")
    return head.decode("utf-8", errors="replace")


def natural_key(path: Path) -> list[object]:
    """Sort key that puts ``2.json`` before ``10.json``, so reading order is stable and readable."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.as_posix())]


def is_skipped(path: Path) -> bool:
    """Listing, licence and hidden files, which are not documents."""
    return bool(SKIP_NAME.fullmatch(path.name)) or path.name.startswith((".", "~$"))


def iter_files(root: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    """Files under ``root`` (recursively, natural order) whose name ends with one of ``suffixes``."""
    if root.is_file():
        yield root
        return
    found = [
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.name.lower().endswith(suffixes)
        and not is_skipped(p)
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    yield from sorted(found, key=natural_key)


def source_name(root: Path, path: Path) -> str:
    """How a file is named in ``Document.source`` and rejections: relative to the folder read."""
    if root.is_file() or path == root:
        return path.name
    return f"{root.name}/{path.relative_to(root).as_posix()}"


def require_exists(path: Path) -> None:
    """Raise ``ReaderError`` for a path that is not there (a request error, not a data error)."""
    if not path.exists():
        raise ReaderError(f"{path}: no such file or directory")
