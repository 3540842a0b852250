"""The metadata store (SQLite): documents, their cited provisions, causes and parties.

A document's ``row`` is its position in the keyword index and its id in the FAISS index, so every
index speaks in rows and this store maps rows to documents. The schema lives here, once; the
build writes it (``index_build.metadata_writer``) and the query side opens it read-only.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

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


def read_codec(conn: sqlite3.Connection) -> DocumentCodec:
    """The codec of a metadata store: its stored dictionaries (none stored: plain zstd)."""
    stored = dict(conn.execute("SELECT name, dictionary FROM codec"))
    return DocumentCodec(stored.get("card", b""), stored.get("texts", b""))


class MetadataStore:
    """Read-only access to a published index's metadata."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"metadata store missing: {self.path}")
        self._conn = sqlite3.connect(
            f"file:{self.path}?mode=ro&immutable=1", uri=True, check_same_thread=False
        )
        found = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'doc_elements'"
        self.has_elements = self._conn.execute(found).fetchone() is not None
        self.codec = read_codec(self._conn)

    def close(self) -> None:
        self._conn.close()

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM docs").fetchone()[0])

    def row_of(self, doc_id: str) -> int | None:
        found = self._conn.execute("SELECT row FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
        return int(found[0]) if found else None

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
            for row, card, texts in self._conn.execute(query.format(",".join("?" * len(chunk))), chunk):
                out[int(row)] = self.codec.decode(card, texts)
        return out

    def cards(self, rows: Iterable[int]) -> dict[int, Document]:
        """Documents without their texts (``DocumentCodec.decode_card``): enough to rank, tier and predict."""
        out: dict[int, Document] = {}
        for chunk in _chunks(rows):
            query = f"SELECT row, card FROM doc_cards WHERE row IN ({','.join('?' * len(chunk))})"
            for row, blob in self._conn.execute(query, chunk):
                out[int(row)] = self.codec.decode_card(blob)
        return out

    def legal_features(self, rows: Iterable[int]) -> dict[int, LegalFeatures]:
        rows = list(rows)
        out: dict[int, LegalFeatures] = {}
        for start in range(0, len(rows), _ROWS_PER_QUERY):
            chunk = rows[start : start + _ROWS_PER_QUERY]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT row, circumstances, amount_band FROM doc_features WHERE row IN ({marks})"
            elements: dict[int, CaseElements] = {}
            if self.has_elements:
                stored = f"SELECT row, elements FROM doc_elements WHERE row IN ({marks})"
                elements = {int(r): decode_elements(e) for r, e in self._conn.execute(stored, chunk)}
            for row, circumstances, band in self._conn.execute(query, chunk):
                out[int(row)] = LegalFeatures(
                    frozenset(json.loads(circumstances)), band, elements.get(int(row))
                )
        return out

    def iter_documents(self) -> Iterator[tuple[int, Document]]:
        query = (
            "SELECT c.row, c.card, t.texts FROM doc_cards c JOIN doc_texts t ON t.row = c.row ORDER BY c.row"
        )
        for row, card, texts in self._conn.execute(query):
            yield int(row), self.codec.decode(card, texts)

    def documents_of_kind(self, kind: str) -> Iterator[tuple[int, Document]]:
        """Every document of one authority kind (指导性案例 …), withdrawn ones included."""
        query = "SELECT row FROM docs WHERE authority_kind = ? ORDER BY row"
        rows = [int(row) for (row,) in self._conn.execute(query, (kind,)).fetchall()]
        found = self.documents(rows)
        for row in rows:
            yield row, found[row]

    def attribute_rows(self) -> Iterator[tuple[int, str, str | None, str | None, str | None, str | None]]:
        """(row, doc_id, court level, province, category, decision date) for every document."""
        query = "SELECT row, doc_id, court_level, province, category, decision_date FROM docs ORDER BY row"
        yield from self._conn.execute(query)

    def citation_rows(self) -> Iterator[tuple[int, str | None, str | None, str | None, str]]:
        """(row, 案号, court name, decision date, authority kind): what decides whether a row may be cited."""
        query = "SELECT row, case_number, court_name, decision_date, authority_kind FROM docs ORDER BY row"
        yield from self._conn.execute(query)

    def rows_with_causes(self, causes: Iterable[str]) -> set[int]:
        keys = list(causes)
        if not keys:
            return set()
        marks = ",".join("?" * len(keys))
        return {
            int(r)
            for (r,) in self._conn.execute(f"SELECT row FROM doc_causes WHERE cause IN ({marks})", keys)
        }

    def article_document_frequency(self) -> dict[str, int]:
        """How many documents cite each article (条 level): rarer articles are more specific."""
        query = "SELECT article, COUNT(DISTINCT row) FROM doc_articles GROUP BY article"
        return {a: int(n) for a, n in self._conn.execute(query)}

    def withdrawn_mask(self, size: int) -> np.ndarray:
        """Boolean array over rows, True where a document is withdrawn and must never be served."""
        mask = np.zeros(size, dtype=bool)
        for (row,) in self._conn.execute("SELECT row FROM docs WHERE withdrawn = 1"):
            if row < size:
                mask[row] = True
        return mask

    def rows_citing(self, articles: Iterable[str]) -> list[tuple[int, str, str]]:
        """(row, article, provision) for documents citing any of the given articles (条 level keys)."""
        keys = list(articles)
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        query = f"SELECT row, article, provision FROM doc_articles WHERE article IN ({marks})"
        return [(int(r), a, p) for r, a, p in self._conn.execute(query, keys)]

    def rows_with_case_numbers(self, case_numbers: Iterable[str]) -> list[tuple[int, str]]:
        keys = list(case_numbers)
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        return [
            (int(r), c)
            for r, c in self._conn.execute(
                f"SELECT row, case_number FROM docs WHERE case_number IN ({marks})", keys
            )
        ]

    def rows_referring_to(self, case_numbers: Iterable[str]) -> list[tuple[int, str]]:
        """(row, canonical 案号) of documents whose text cites one of ``case_numbers``."""
        keys = list(case_numbers)
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        query = f"SELECT row, case_number FROM doc_case_refs WHERE case_number IN ({marks})"
        return [(int(r), c) for r, c in self._conn.execute(query, keys)]

    def rows_with_party(self, names: Iterable[str]) -> list[tuple[int, str, str]]:
        keys = list(names)
        if not keys:
            return []
        marks = ",".join("?" * len(keys))
        return [
            (int(r), n, role)
            for r, n, role in self._conn.execute(
                f"SELECT row, name, role FROM doc_parties WHERE name IN ({marks})", keys
            )
        ]


def _chunks(rows: Iterable[int]) -> Iterator[list[int]]:
    rows = list(rows)
    for start in range(0, len(rows), _ROWS_PER_QUERY):
        yield rows[start : start + _ROWS_PER_QUERY]
