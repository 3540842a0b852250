"""Writes the metadata store of a build (schema in ``retrieval.metadata``)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from retrieval.doc_codec import DocumentCodec
from retrieval.document import Document
from retrieval.metadata import SCHEMA, LegalFeatures, encode_elements, read_codec
from retrieval.parsing.case_number import find_case_numbers, parse_case_number
from retrieval.parsing.circumstances import case_amount_band, extract_circumstances
from retrieval.parsing.civil_elements import amount_text, document_text, extract_elements, is_civil_document
from retrieval.parsing.parties import normalise_party_name


def canonical_case_number(raw: str | None) -> str | None:
    """The canonical 案号 when it parses, so that differently printed forms link; else as printed."""
    if not raw:
        return None
    try:
        return parse_case_number(raw).canonical()
    except ValueError:
        return raw.strip()


def legal_features_of(doc: Document) -> LegalFeatures:
    """The circumstances, amount band and 案件要素 the rerank compares (``retrieval.metadata.LegalFeatures``)."""
    text = document_text(doc)
    civil = is_civil_document(doc)
    return LegalFeatures(
        extract_circumstances(text),
        case_amount_band(amount_text(doc, civil), civil),
        extract_elements(text, doc.causes),
    )


@dataclass(frozen=True)
class PreparedRow:
    """Everything the metadata store keeps of one document, computed away from the writer.

    Preparing is the costly part of ingestion (compression, circumstance and 案号 scans), and it
    needs nothing but the document, so the build runs it in worker processes.
    """

    doc_id: str
    columns: tuple  # the docs table's columns after ``row``
    card: bytes  # ``DocumentCodec.encode``
    texts: bytes
    articles: tuple[tuple[str, str], ...]
    causes: tuple[str, ...]
    features: tuple[str, str | None]
    elements: str | None  # encoded 案件要素, None when the document's causes have no aspects
    case_refs: tuple[str, ...]
    parties: tuple[tuple[str, str], ...]


def prepare_row(doc: Document, codec: DocumentCodec) -> PreparedRow:
    court = doc.court
    texts, card = codec.encode(doc)
    own = canonical_case_number(doc.case_number)
    features = legal_features_of(doc)
    cited = {m.case_number.canonical() for m in find_case_numbers(doc.full_text)} - {own}
    parties = {(normalise_party_name(p.name), p.role) for p in doc.parties}
    return PreparedRow(
        doc_id=doc.doc_id,
        columns=(
            doc.doc_id,
            own,
            court.name if court else None,
            court.level.value if court and court.level else None,
            court.province if court else None,
            doc.category.value if doc.category else None,
            doc.doc_type,
            doc.decision_date.isoformat() if doc.decision_date else None,
            doc.authority.kind.value,
            int(doc.authority.withdrawn),
            doc.authority.withdrawn_reason,
        ),
        card=card,
        texts=texts,
        articles=tuple((a.article_key(), a.key()) for a in dict.fromkeys(doc.articles)),
        causes=tuple(dict.fromkeys(doc.causes)),
        features=(json.dumps(sorted(features.circumstances), ensure_ascii=False), features.amount_band),
        elements=encode_elements(features.elements)
        if features.elements and features.elements.aspects
        else None,
        case_refs=tuple(sorted(cited)),
        parties=tuple((n, r) for n, r in sorted(parties) if n),
    )


class MetadataWriter:
    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(str(path))
        # A staging build is thrown away on failure, so durability comes from the final commit.
        self._conn.execute("PRAGMA journal_mode=MEMORY")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.executescript(SCHEMA)
        stored = self._conn.execute("SELECT COUNT(*) FROM codec").fetchone()[0]
        # None until ``set_codec``: a new build trains its dictionaries on its first documents; a
        # store that has them (the parent's, in `leian add`) keeps them.
        self.codec: DocumentCodec | None = read_codec(self._conn) if stored else None

    def set_codec(self, codec: DocumentCodec) -> None:
        """Store the dictionaries every row of this store is encoded with (once, before any row)."""
        if self.codec is not None:
            raise ValueError("the metadata store already has its codec")
        self._conn.executemany(
            "INSERT INTO codec (name, dictionary) VALUES (?, ?)",
            [("card", codec.card_dictionary), ("texts", codec.texts_dictionary)],
        )
        self.codec = codec

    def next_row(self) -> int:
        found = self._conn.execute("SELECT MAX(row) FROM docs").fetchone()[0]
        return 0 if found is None else int(found) + 1

    def doc_ids(self) -> set[str]:
        return {doc_id for (doc_id,) in self._conn.execute("SELECT doc_id FROM docs")}

    def add(self, row: int, doc: Document) -> None:
        if self.codec is None:
            self.set_codec(DocumentCodec.train([doc]))
        self.insert(row, prepare_row(doc, self._require_codec()))

    def insert(self, row: int, prepared: PreparedRow) -> None:
        """Write one prepared document (see ``prepare_row``) as ``row``."""
        self._conn.execute(
            "INSERT INTO docs (row, doc_id, case_number, court_name, court_level, province, category, doc_type,"
            " decision_date, authority_kind, withdrawn, withdrawn_reason)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (row, *prepared.columns),
        )
        self._conn.execute("INSERT INTO doc_cards (row, card) VALUES (?,?)", (row, prepared.card))
        self._conn.execute("INSERT INTO doc_texts (row, texts) VALUES (?,?)", (row, prepared.texts))
        self._conn.executemany(
            "INSERT INTO doc_articles (row, article, provision) VALUES (?,?,?)",
            [(row, a, p) for a, p in prepared.articles],
        )
        self._conn.executemany(
            "INSERT INTO doc_causes (row, cause) VALUES (?,?)", [(row, c) for c in prepared.causes]
        )
        self._conn.execute(
            "INSERT INTO doc_features (row, circumstances, amount_band) VALUES (?,?,?)",
            (row, *prepared.features),
        )
        if prepared.elements is not None:
            self._conn.execute(
                "INSERT INTO doc_elements (row, elements) VALUES (?,?)", (row, prepared.elements)
            )
        self._conn.executemany(
            "INSERT INTO doc_case_refs (row, case_number) VALUES (?,?)",
            [(row, c) for c in prepared.case_refs],
        )
        self._conn.executemany(
            "INSERT INTO doc_parties (row, name, role) VALUES (?,?,?)",
            [(row, n, r) for n, r in prepared.parties],
        )

    def withdraw(self, doc_id: str, reason: str) -> int:
        """Mark a document withdrawn (it stays for the record, but is never served); returns its row."""
        found = self._conn.execute(
            "SELECT d.row, c.card FROM docs d JOIN doc_cards c ON c.row = d.row WHERE d.doc_id = ?", (doc_id,)
        ).fetchone()
        if found is None:
            raise KeyError(doc_id)
        row, blob = int(found[0]), found[1]
        codec = self._require_codec()
        doc = codec.decode_card(blob)
        doc.authority = dataclasses.replace(doc.authority, withdrawn=True, withdrawn_reason=reason)
        self._conn.execute("UPDATE docs SET withdrawn = 1, withdrawn_reason = ? WHERE row = ?", (reason, row))
        self._conn.execute("UPDATE doc_cards SET card = ? WHERE row = ?", (codec.encode_card(doc), row))
        return row

    def _require_codec(self) -> DocumentCodec:
        if self.codec is None:
            raise ValueError("the metadata store has no codec yet (no document was written)")
        return self.codec

    def active_documents_of_kind(self, kind: str) -> Iterator[Document]:
        """Documents of one authority kind still served (not withdrawn): what the registry re-checks."""
        query = (
            "SELECT c.card, t.texts FROM docs d JOIN doc_cards c ON c.row = d.row JOIN doc_texts t"
            " ON t.row = d.row WHERE d.authority_kind = ? AND d.withdrawn = 0 ORDER BY d.row"
        )
        found = self._conn.execute(query, (kind,)).fetchall()
        for card, texts in found:
            yield self._require_codec().decode(card, texts)

    def counts(self) -> dict[str, int]:
        total, withdrawn = self._conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(withdrawn), 0) FROM docs"
        ).fetchone()
        return {"documents": int(total), "withdrawn": int(withdrawn)}

    def commit(self) -> None:
        self._conn.commit()

    def close(self) -> None:
        self._conn.commit()
        self._conn.close()
