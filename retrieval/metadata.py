"""The metadata store (SQLite): documents, their cited provisions, causes and parties.

A document's ``row`` is its position in the keyword index and its id in the FAISS index, so every
index speaks in rows and this store maps rows to documents. The schema lives here, once; the
build writes it (``index_build.metadata_writer``) and the query side opens it read-only.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
    withdrawn_reason TEXT,
    data BLOB NOT NULL,
    card BLOB NOT NULL
);
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


# zlib level 2 compresses a judgment's JSON about 3.2x (level 6: 3.6x) in a third of the CPU time,
# and compression was the largest part of preparing a row; any level decodes the same way.
_DATA_LEVEL = 2
_ROWS_PER_QUERY = 500  # rows bound in one ``IN (…)``: under SQLite's parameter limit (999 before 3.32)


def encode_document(doc: Document) -> bytes:
    """Compressed JSON: judgments are long and compress about 3x, which keeps the store small."""
    return _data_blob(doc.to_dict())


def decode_document(blob: bytes) -> Document:
    return Document.from_dict(json.loads(zlib.decompress(blob).decode("utf-8")))


def encode_card(doc: Document) -> bytes:
    """The document without its texts (full text, sections): what ranking and tiers read.

    A search ranks about a hundred candidates but shows ten; decoding a hundred whole judgments
    (about 50 KB of JSON each) cost more than the recall itself, so candidates are read as cards
    and only the results shown are read whole.
    """
    return _card_blob(doc.to_dict())


def encode_row(doc: Document) -> tuple[bytes, bytes]:
    """``(encode_document(doc), encode_card(doc))`` from one ``to_dict``, for the build."""
    data = doc.to_dict()
    return _data_blob(data), _card_blob(data)


def _data_blob(data: dict[str, object]) -> bytes:
    return zlib.compress(json.dumps(data, ensure_ascii=False).encode("utf-8"), _DATA_LEVEL)


def _card_blob(data: dict[str, object]) -> bytes:
    card = {key: value for key, value in data.items() if key not in CARD_OMITS}
    return json.dumps(card, ensure_ascii=False).encode("utf-8")


def decode_card(blob: bytes) -> Document:
    return Document.from_dict(json.loads(blob))


CARD_OMITS = ("full_text", "sections")


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

    def close(self) -> None:
        self._conn.close()

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM docs").fetchone()[0])

    def row_of(self, doc_id: str) -> int | None:
        found = self._conn.execute("SELECT row FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
        return int(found[0]) if found else None

    def document(self, row: int) -> Document:
        found = self._conn.execute("SELECT data FROM docs WHERE row = ?", (row,)).fetchone()
        if found is None:
            raise KeyError(row)
        return decode_document(found[0])

    def documents(self, rows: Iterable[int]) -> dict[int, Document]:
        """Whole documents, texts included (for what is shown and explained)."""
        return self._decoded(rows, "data", decode_document)

    def cards(self, rows: Iterable[int]) -> dict[int, Document]:
        """Documents without their texts (``encode_card``): enough to rank, tier and predict."""
        return self._decoded(rows, "card", decode_card)

    def _decoded(
        self, rows: Iterable[int], column: str, decode: Callable[[bytes], Document]
    ) -> dict[int, Document]:
        rows = list(rows)
        out: dict[int, Document] = {}
        for start in range(0, len(rows), _ROWS_PER_QUERY):
            chunk = rows[start : start + _ROWS_PER_QUERY]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT row, {column} FROM docs WHERE row IN ({marks})"
            for row, blob in self._conn.execute(query, chunk):
                out[int(row)] = decode(blob)
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
        for row, blob in self._conn.execute("SELECT row, data FROM docs ORDER BY row"):
            yield int(row), decode_document(blob)

    def documents_of_kind(self, kind: str) -> Iterator[tuple[int, Document]]:
        """Every document of one authority kind (指导性案例 …), withdrawn ones included."""
        query = "SELECT row, data FROM docs WHERE authority_kind = ? ORDER BY row"
        for row, blob in self._conn.execute(query, (kind,)).fetchall():
            yield int(row), decode_document(blob)

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
