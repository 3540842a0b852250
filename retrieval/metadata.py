"""The metadata store: documents, their cited provisions, causes and parties.

A document's ``row`` is its position in the keyword index and its id in the FAISS index, so every
index speaks in rows and this store maps rows to documents. The schema lives here, once; the
build writes it to SQLite (``index_build.metadata_writer``) and the query side opens it read-only,
from that file or, on the cluster backend, from the same tables copied into PostgreSQL
(``retrieval.pg_metadata``): one reader, its SQL written once for both.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from retrieval.doc_codec import DocumentCodec
from retrieval.document import Document
from retrieval.parsing.civil_elements import NO_ELEMENTS, CaseElements

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    row INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL UNIQUE,
    case_number TEXT,
    court_name TEXT,
    court_level TEXT,
    province TEXT,
    category TEXT,
    doc_type TEXT,
    decision_date TEXT,
    authority_kind TEXT NOT NULL,
    withdrawn INTEGER NOT NULL DEFAULT 0,
    withdrawn_reason TEXT
);
-- The document itself (retrieval.doc_codec): its card, read for every candidate, and its texts, read
-- for the results shown, each in a table of its own so that neither is read past the other (SQLite
-- reaches a late column of a row only through the overflow pages of the earlier ones), and the
-- zstd dictionaries both are compressed with ('card', 'texts'; none for a tiny build).
CREATE TABLE IF NOT EXISTS doc_cards (row INTEGER PRIMARY KEY, card BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS doc_texts (row INTEGER PRIMARY KEY, texts BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS codec (name TEXT PRIMARY KEY, dictionary BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS doc_articles (row INTEGER NOT NULL, article TEXT NOT NULL, provision TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS doc_articles_article ON doc_articles(article);
CREATE INDEX IF NOT EXISTS doc_articles_provision ON doc_articles(provision);
CREATE TABLE IF NOT EXISTS doc_causes (row INTEGER NOT NULL, cause TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS doc_causes_cause ON doc_causes(cause);
CREATE TABLE IF NOT EXISTS doc_parties (row INTEGER NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS doc_parties_name ON doc_parties(name);
CREATE INDEX IF NOT EXISTS docs_case_number ON docs(case_number);
CREATE TABLE IF NOT EXISTS doc_features (row INTEGER PRIMARY KEY, circumstances TEXT NOT NULL, amount_band TEXT);
-- 案件要素 of civil documents (retrieval.parsing.civil_elements), one row per document whose causes
-- have aspects. A row that is missing reads as unknown (None): a build made before this table, or
-- the older rows of a `leian add` onto one, and documents without aspects, which compare nothing.
CREATE TABLE IF NOT EXISTS doc_elements (row INTEGER PRIMARY KEY, elements TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS doc_case_refs (row INTEGER NOT NULL, case_number TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS doc_case_refs_number ON doc_case_refs(case_number);
"""


@dataclass(frozen=True)
class LegalFeatures:
    """Computed once at build time so that rerank and explanations need no text analysis per request."""

    circumstances: frozenset[str]  # 量刑情节 and civil circumstances in facts and reasoning
    amount_band: str | None  # band of the amounts in the facts: 标的额 (civil) or 涉案金额 (criminal)
    # 案件要素 (civil); None where none were stored (explain then reads them from the text)
    elements: CaseElements | None = NO_ELEMENTS


def encode_elements(elements: CaseElements) -> str:
    return json.dumps(
        {"aspects": list(elements.aspects), **elements.to_json()}, ensure_ascii=False, sort_keys=True
    )


def decode_elements(text: str) -> CaseElements:
    data = json.loads(text)
    return CaseElements(tuple(data["aspects"]), dict(data["values"]), dict(data["details"]))


_ROWS_PER_QUERY = 500  # rows bound in one ``IN (…)``: under SQLite's parameter limit (999 before 3.32)
CODEC_QUERY = "SELECT name, dictionary FROM codec"


def read_codec(conn: sqlite3.Connection) -> DocumentCodec:
    """The codec of a metadata store: its stored dictionaries (none stored: plain zstd)."""
    return _codec(conn.execute(CODEC_QUERY))


def _codec(rows: Iterable[tuple[str, bytes]]) -> DocumentCodec:
    stored = {name: bytes(dictionary) for name, dictionary in rows}
    return DocumentCodec(stored.get("card", b""), stored.get("texts", b""))


class MetadataSource(Protocol):
    """Where a store's tables are: SQLite (the build's file) or PostgreSQL (``retrieval.pg_metadata``).

    The store's SQL is written once, with ``?`` placeholders and plain ``IN (…)`` lists that both
    dialects read alike; a source only runs it (PostgreSQL's turns ``?`` into ``%s``).
    """

    def rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def stream(self, query: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]: ...

    def has_table(self, table: str) -> bool: ...

    def describe(self) -> dict[str, Any]: ...

    def check(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class SqliteSource:
    """The build's ``metadata.sqlite``, read-only: one connection, callers serialised by ``IndexStore``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"metadata store missing: {self.path}")
        self._conn = sqlite3.connect(
            f"file:{self.path}?mode=ro&immutable=1", uri=True, check_same_thread=False
        )

    def rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(query, tuple(params)).fetchall()

    def stream(self, query: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        yield from self._conn.execute(query, tuple(params))

    def has_table(self, table: str) -> bool:
        found = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return self._conn.execute(found, (table,)).fetchone() is not None

    def describe(self) -> dict[str, Any]:
        return {"store": "sqlite"}

    def check(self) -> dict[str, Any]:
        return {}  # an immutable file, opened at start-up

    def close(self) -> None:
        self._conn.close()


class MetadataStore:
    """Read-only access to a published index's metadata, wherever its tables are (``MetadataSource``)."""

    def __init__(self, where: Path | MetadataSource) -> None:
        self.source: MetadataSource = SqliteSource(where) if isinstance(where, str | Path) else where
        self.has_elements = self.source.has_table("doc_elements")
        self.codec = _codec(self.source.rows(CODEC_QUERY))

    def _rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.source.rows(query, params)

    def describe(self) -> dict[str, Any]:
        """Where the tables are read from (``store``: sqlite or postgresql), as /readyz reports it."""
        return self.source.describe()

    def check(self) -> dict[str, Any]:
        """What the source says when asked now (PostgreSQL: the build it publishes); raises if it cannot."""
        return self.source.check()

    def close(self) -> None:
        self.source.close()

    def count(self) -> int:
        return int(self._rows("SELECT COUNT(*) FROM docs")[0][0])

    def row_of(self, doc_id: str) -> int | None:
        found = self._rows("SELECT row FROM docs WHERE doc_id = ?", (doc_id,))
        return int(found[0][0]) if found else None

    def document(self, row: int) -> Document:
        found = self.documents([row])
        if row not in found:
            raise KeyError(row)
        return found[row]

    def documents(self, rows: Iterable[int]) -> dict[int, Document]:
        """Whole documents, texts included (for what is shown and explained)."""
        out: dict[int, Document] = {}
        query = "SELECT c.row, c.card, t.texts FROM doc_cards c JOIN doc_texts t ON t.row = c.row WHERE c.row IN ({})"
        for chunk in _chunks(rows):
            for row, card, texts in self._rows(query.format(_marks(chunk)), chunk):
                out[int(row)] = self.codec.decode(bytes(card), bytes(texts))
        return out

    def cards(self, rows: Iterable[int]) -> dict[int, Document]:
        """Documents without their texts (``DocumentCodec.decode_card``): enough to rank, tier and predict."""
        out: dict[int, Document] = {}
        for chunk in _chunks(rows):
            query = f"SELECT row, card FROM doc_cards WHERE row IN ({_marks(chunk)})"
            for row, blob in self._rows(query, chunk):
                out[int(row)] = self.codec.decode_card(bytes(blob))
        return out

    def legal_features(self, rows: Iterable[int]) -> dict[int, LegalFeatures]:
        out: dict[int, LegalFeatures] = {}
        for chunk in _chunks(rows):
            marks = _marks(chunk)
            query = f"SELECT row, circumstances, amount_band FROM doc_features WHERE row IN ({marks})"
            elements: dict[int, CaseElements] = {}
            if self.has_elements:
                stored = f"SELECT row, elements FROM doc_elements WHERE row IN ({marks})"
                elements = {int(r): decode_elements(e) for r, e in self._rows(stored, chunk)}
            for row, circumstances, band in self._rows(query, chunk):
                out[int(row)] = LegalFeatures(
                    frozenset(json.loads(circumstances)), band, elements.get(int(row))
                )
        return out

    def iter_documents(self) -> Iterator[tuple[int, Document]]:
        query = (
            "SELECT c.row, c.card, t.texts FROM doc_cards c JOIN doc_texts t ON t.row = c.row ORDER BY c.row"
        )
        for row, card, texts in self.source.stream(query):
            yield int(row), self.codec.decode(bytes(card), bytes(texts))

    def documents_of_kind(self, kind: str) -> Iterator[tuple[int, Document]]:
        """Every document of one authority kind (指导性案例 …), withdrawn ones included."""
        query = "SELECT row FROM docs WHERE authority_kind = ? ORDER BY row"
        rows = [int(row) for (row,) in self._rows(query, (kind,))]
        found = self.documents(rows)
        for row in rows:
            yield row, found[row]

    def attribute_rows(self) -> Iterator[tuple[int, str, str | None, str | None, str | None, str | None]]:
        """(row, doc_id, court level, province, category, decision date) for every document."""
        query = "SELECT row, doc_id, court_level, province, category, decision_date FROM docs ORDER BY row"
        yield from self.source.stream(query)

    def citation_rows(self) -> Iterator[tuple[int, str | None, str | None, str | None, str]]:
        """(row, 案号, court name, decision date, authority kind): what decides whether a row may be cited."""
        query = "SELECT row, case_number, court_name, decision_date, authority_kind FROM docs ORDER BY row"
        yield from self.source.stream(query)

    def rows_with_causes(self, causes: Iterable[str]) -> set[int]:
        keys = list(causes)
        if not keys:
            return set()
        return {
            int(r) for (r,) in self._rows(f"SELECT row FROM doc_causes WHERE cause IN ({_marks(keys)})", keys)
        }

    def article_document_frequency(self) -> dict[str, int]:
        """How many documents cite each article (条 level): rarer articles are more specific."""
        query = "SELECT article, COUNT(DISTINCT row) FROM doc_articles GROUP BY article"
        return {a: int(n) for a, n in self._rows(query)}

    def withdrawn_mask(self, size: int) -> np.ndarray:
        """Boolean array over rows, True where a document is withdrawn and must never be served."""
        mask = np.zeros(size, dtype=bool)
        for (row,) in self._rows("SELECT row FROM docs WHERE withdrawn = 1"):
            if row < size:
                mask[row] = True
        return mask

    def rows_citing(self, articles: Iterable[str]) -> list[tuple[int, str, str]]:
        """(row, article, provision) for documents citing any of the given articles (条 level keys)."""
        keys = list(articles)
        if not keys:
            return []
        query = f"SELECT row, article, provision FROM doc_articles WHERE article IN ({_marks(keys)})"
        return [(int(r), a, p) for r, a, p in self._rows(query, keys)]

    def rows_with_case_numbers(self, case_numbers: Iterable[str]) -> list[tuple[int, str]]:
        keys = list(case_numbers)
        if not keys:
            return []
        query = f"SELECT row, case_number FROM docs WHERE case_number IN ({_marks(keys)})"
        return [(int(r), c) for r, c in self._rows(query, keys)]

    def rows_referring_to(self, case_numbers: Iterable[str]) -> list[tuple[int, str]]:
        """(row, canonical 案号) of documents whose text cites one of ``case_numbers``."""
        keys = list(case_numbers)
        if not keys:
            return []
        query = f"SELECT row, case_number FROM doc_case_refs WHERE case_number IN ({_marks(keys)})"
        return [(int(r), c) for r, c in self._rows(query, keys)]

    def rows_with_party(self, names: Iterable[str]) -> list[tuple[int, str, str]]:
        keys = list(names)
        if not keys:
            return []
        query = f"SELECT row, name, role FROM doc_parties WHERE name IN ({_marks(keys)})"
        return [(int(r), n, role) for r, n, role in self._rows(query, keys)]


def _marks(keys: Sequence[Any]) -> str:
    return ",".join("?" * len(keys))


def _chunks(rows: Iterable[int]) -> Iterator[list[int]]:
    rows = list(rows)
    for start in range(0, len(rows), _ROWS_PER_QUERY):
        yield rows[start : start + _ROWS_PER_QUERY]
