"""What every reader yields: a parsed ``Document`` or a ``Rejection`` saying where and why."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from retrieval.document import Document


@dataclass(frozen=True)
class Rejection:
    """One input record that could not be read; the build reports it and goes on."""

    source: str  # file (and member inside an archive)
    line: int | None  # 1-based line for line-oriented formats
    reason: str


ReadItem = Document | Rejection


class Reader(Protocol):
    """A format reader: a module with FORMAT and read(path)."""

    FORMAT: str

    def read(self, path: Path) -> Iterator[ReadItem]: ...
