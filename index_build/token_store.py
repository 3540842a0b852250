"""Segmented token lines of a build (one row per line, space-joined), stored as immutable parts.

``tokens/<field>/part-00000.*`` holds the rows the build ingested; every ``leian add`` writes the
next part, and a derived build hard-links the parts it inherits instead of copying them, so an add
costs the new rows only. Each part has a ``.rows`` sidecar with its line count, which lets a reader
start at a row without decompressing the parts before it. A part has one of two forms:

- ``.txt.gz``, gzip level 1 text, while the build runs: written once during ingestion and read by
  the keyword index and the embedder;
- ``.ids.zst``, what a published build keeps of the facts (for re-embedding): the token ids of the
  field's BM25 vocabulary (``vocab.index.json``, which numbers every token of the field) as uint32
  in zstd level 3, with the tokens of each row in ``.lengths.npy``. The BM25 builder writes it
  from the ids it computes anyway (``index_build.bm25_build``), and it stores 40 % less than the
  gzip text (bench/README.md, "Storage"). An add extends the vocabulary with new columns only, so
  the ids of older parts stay valid.

When both forms of a part exist (the build, between the keyword index and the end of embedding)
the text is read.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import shutil
from array import array
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import zstandard

from retrieval import index_layout as layout

_TEXT_SUFFIX = ".txt.gz"
_IDS_SUFFIX = ".ids.zst"
_LENGTHS_SUFFIX = ".lengths.npy"
_ROWS_SUFFIX = ".rows"
IDS_LEVEL = 3  # level 6 stored 6 % less for twice the CPU (bench/README.md, "Storage")
_ID_DTYPE = np.dtype("<u4")
# The BM25 folder whose vocabulary numbers a field's token ids.
VOCABULARY_OF = {"facts": layout.BM25_FACTS, "full": layout.BM25_FULL}


def field_dir(build_dir: Path, field: str) -> Path:
    return Path(build_dir) / layout.TOKENS / field


def _stem(part: Path) -> str:
    return part.name.removesuffix(_TEXT_SUFFIX).removesuffix(_IDS_SUFFIX)


def part_paths(build_dir: Path, field: str) -> list[Path]:
    """The parts of ``field`` in row order (their numbers are zero-padded, so names sort): the text
    form of a part where it exists, else its ids."""
    folder = field_dir(build_dir, field)
    found: dict[str, Path] = {}
    for suffix in (_IDS_SUFFIX, _TEXT_SUFFIX):  # text last: it wins
        for path in folder.glob(f"part-*{suffix}"):
            found[_stem(path)] = path
    return [found[stem] for stem in sorted(found)]


def _rows_path(part: Path) -> Path:
    return part.with_name(_stem(part) + _ROWS_SUFFIX)


def _lengths_path(part: Path) -> Path:
    return part.with_name(_stem(part) + _LENGTHS_SUFFIX)


def ids_path(text_part: Path) -> Path:
    """Where the ids form of ``text_part`` goes."""
    return text_part.with_name(_stem(text_part) + _IDS_SUFFIX)


def part_rows(part: Path) -> int:
    """Lines of one part, from its sidecar (counted from the part itself if the sidecar is missing)."""
    sidecar = _rows_path(part)
    if sidecar.exists():
        return int(sidecar.read_text(encoding="ascii"))
    if part.name.endswith(_IDS_SUFFIX):
        return len(np.load(_lengths_path(part), mmap_mode="r"))
    return sum(1 for _ in iter_part_lines(part))


def row_count(build_dir: Path, field: str) -> int:
    return sum(part_rows(part) for part in part_paths(build_dir, field))


def iter_part_lines(part: Path, vocabulary: list[str] | None = None) -> Iterator[str]:
    """The lines of one text part, or of one ids part given its field's ``vocabulary`` (id → token)."""
    if part.name.endswith(_IDS_SUFFIX):
        if vocabulary is None:
            raise ValueError(f"{part}: token ids need the vocabulary of the field's BM25 folder")
        yield from _iter_id_rows(part, vocabulary)
        return
    with gzip.open(part, "rt", encoding="utf-8", newline="\n") as handle:
        for line in handle:
            yield line.rstrip("\n")


def _iter_id_rows(part: Path, vocabulary: list[str]) -> Iterator[str]:
    lengths = np.load(_lengths_path(part)).astype(np.int64)
    with part.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as reader:
        for length in lengths.tolist():
            data = reader.read(length * _ID_DTYPE.itemsize) if length else b""
            if len(data) != length * _ID_DTYPE.itemsize:
                raise ValueError(f"{part}: truncated (a row's token ids end early)")
            yield " ".join([vocabulary[i] for i in np.frombuffer(data, dtype=_ID_DTYPE).tolist()])


def read_vocabulary(build_dir: Path, field: str) -> list[str]:
    """id → token of ``field``'s BM25 vocabulary (bm25s's trailing ``""`` entry included)."""
    path = Path(build_dir) / VOCABULARY_OF[field] / "vocab.index.json"
    columns: dict[str, int] = json.loads(path.read_text(encoding="utf-8"))
    tokens = [""] * len(columns)
    for token, column in columns.items():
        tokens[column] = token
    return tokens


def iter_token_lines(build_dir: Path, field: str, start: int = 0) -> Iterator[str]:
    """Rows ``start..`` of ``field`` across its parts, one space-joined token line per row."""
    skip = start
    vocabulary: list[str] | None = None
    for part in part_paths(build_dir, field):
        if skip:
            rows = part_rows(part)
            if skip >= rows:
                skip -= rows
                continue
        if vocabulary is None and part.name.endswith(_IDS_SUFFIX):
            vocabulary = read_vocabulary(build_dir, field)  # only when an ids part is read
        lines = iter_part_lines(part, vocabulary)
        for _ in range(skip):
            next(lines, None)
        skip = 0
        yield from lines


def remove_text_parts(build_dir: Path, field: str) -> None:
    """Drop the text form of every part of ``field`` that has its ids (what a published build keeps)."""
    for text in field_dir(build_dir, field).glob(f"part-*{_TEXT_SUFFIX}"):
        if not ids_path(text).exists():
            raise FileNotFoundError(f"{text} has no token ids ({ids_path(text).name}); not removed")
        text.unlink()


def remove_field(build_dir: Path, field: str) -> None:
    shutil.rmtree(field_dir(build_dir, field), ignore_errors=True)


class PartWriter:
    """Writes the next part of ``field``; ``close`` adds the row-count sidecar (an empty part is removed)."""

    def __init__(self, build_dir: Path, field: str) -> None:
        folder = field_dir(build_dir, field)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"part-{len(part_paths(build_dir, field)):05d}{_TEXT_SUFFIX}"
        # mtime=0: the same rows give the same bytes, so checksums of rebuilt parts agree.
        self._raw = gzip.GzipFile(self.path, mode="xb", compresslevel=1, mtime=0)
        self._text = io.TextIOWrapper(self._raw, encoding="utf-8", newline="\n")
        self.rows = 0

    def write(self, line: str) -> None:
        self._text.write(line + "\n")
        self.rows += 1

    def close(self) -> Path | None:
        """The finished part, or None when no row was written."""
        self._text.close()
        if self.rows == 0:
            self.path.unlink()
            return None
        _rows_path(self.path).write_text(f"{self.rows}\n", encoding="ascii")
        return self.path


@contextlib.contextmanager
def keeping_ids(text_part: Path) -> Iterator[IdPartWriter]:
    """The ids form of ``text_part``, complete on exit; removed again if the block fails."""
    writer = IdPartWriter(text_part)
    try:
        yield writer
    except BaseException:
        writer.abort()
        raise
    writer.close()


def write_ids_of_text(build_dir: Path, field: str, chunk_rows: int = 1024) -> None:
    """The ids form of ``field``'s single text part from its finished BM25 vocabulary: what a build
    whose BM25 folder was assembled elsewhere (the Dask reduce) writes instead of the builder's
    ``ids_out``; token ids are the vocabulary's columns, as the builder's pass one assigns them."""
    (part,) = part_paths(build_dir, field)
    path = Path(build_dir) / VOCABULARY_OF[field] / "vocab.index.json"
    column_of: dict[str, int] = json.loads(path.read_text(encoding="utf-8"))
    with keeping_ids(part) as writer:
        ids, lengths = array("i"), array("I")
        for line in iter_part_lines(part):
            tokens = line.split()
            ids.extend(column_of[t] for t in tokens)
            lengths.append(len(tokens))
            if len(lengths) >= chunk_rows:
                writer.write(ids, lengths)
                ids, lengths = array("i"), array("I")
        writer.write(ids, lengths)


class IdPartWriter:
    """Writes the ids form of one text part from the BM25 builder's chunks (``write``), then renames
    it into place on ``close``: a part under its final name is complete."""

    def __init__(self, text_part: Path) -> None:
        self.path = ids_path(text_part)
        self._partial = self.path.with_name(self.path.name + ".partial")
        self._raw = self._partial.open("xb")
        self._writer = zstandard.ZstdCompressor(level=IDS_LEVEL, write_checksum=True).stream_writer(
            self._raw, closefd=False
        )
        self._lengths = array("I")

    def write(self, ids: array, lengths: array) -> None:
        """Append rows: their token ids end to end (``lengths`` tokens each)."""
        self._lengths.extend(lengths)
        self._writer.write(np.frombuffer(ids, dtype=np.int32).astype(_ID_DTYPE).tobytes())

    def close(self) -> Path:
        self._writer.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        np.save(_lengths_path(self.path), np.array(self._lengths, dtype=np.uint32))
        _rows_path(self.path).write_text(f"{len(self._lengths)}\n", encoding="ascii")
        self._partial.rename(self.path)
        return self.path

    def abort(self) -> None:
        self._writer.close()
        self._raw.close()
        self._partial.unlink(missing_ok=True)
