"""Segmented token lines of a build (one row per line, space-joined), stored as immutable gzip parts.

``tokens/<field>/part-00000.txt.gz`` holds the rows the build ingested; every ``leian add`` writes
the next part, and a derived build hard-links the parts it inherits instead of copying them, so an
add costs the new rows only. Each part has a ``.rows`` sidecar with its line count, which lets a
reader start at a row without decompressing the parts before it. gzip level 1 because the files
are written once during ingestion and read a few times (keyword index, embedder): it stores well
under half the plain size for a small share of ingestion's CPU (see bench/README.md).
"""

from __future__ import annotations

import gzip
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

from retrieval import index_layout as layout

_PART_GLOB = "part-*.txt.gz"
_ROWS_SUFFIX = ".rows"


def field_dir(build_dir: Path, field: str) -> Path:
    return Path(build_dir) / layout.TOKENS / field


def part_paths(build_dir: Path, field: str) -> list[Path]:
    """The parts of ``field`` in row order (their numbers are zero-padded, so names sort)."""
    return sorted(field_dir(build_dir, field).glob(_PART_GLOB))


def _rows_path(part: Path) -> Path:
    return part.with_name(part.name.removesuffix(".txt.gz") + _ROWS_SUFFIX)


def part_rows(part: Path) -> int:
    """Lines of one part, from its sidecar (counted from the part itself if the sidecar is missing)."""
    sidecar = _rows_path(part)
    if sidecar.exists():
        return int(sidecar.read_text(encoding="ascii"))
    return sum(1 for _ in iter_part_lines(part))


def row_count(build_dir: Path, field: str) -> int:
    return sum(part_rows(part) for part in part_paths(build_dir, field))


def iter_part_lines(part: Path) -> Iterator[str]:
    with gzip.open(part, "rt", encoding="utf-8", newline="\n") as handle:
        for line in handle:
            yield line.rstrip("\n")


def iter_token_lines(build_dir: Path, field: str, start: int = 0) -> Iterator[str]:
    """Rows ``start..`` of ``field`` across its parts, one space-joined token line per row."""
    skip = start
    for part in part_paths(build_dir, field):
        if skip:
            rows = part_rows(part)
            if skip >= rows:
                skip -= rows
                continue
        lines = iter_part_lines(part)
        for _ in range(skip):
            next(lines, None)
        skip = 0
        yield from lines


def remove_field(build_dir: Path, field: str) -> None:
    shutil.rmtree(field_dir(build_dir, field), ignore_errors=True)


class PartWriter:
    """Writes the next part of ``field``; ``close`` adds the row-count sidecar (an empty part is removed)."""

    def __init__(self, build_dir: Path, field: str) -> None:
        folder = field_dir(build_dir, field)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"part-{len(part_paths(build_dir, field)):05d}.txt.gz"
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
