"""How the metadata store keeps a document: a *card* and its *texts*, each zstd with a trained dictionary.

The card is the document without its texts (what ranking, tiers and prediction read for about a
hundred candidates per search); the texts are the full text and the three sections, read only for
the results shown. Together they are the whole document, so nothing is stored twice:

- a section that lies in the full text (the usual case: 事实, 理由, 裁判结果 are cut from it) is kept
  as its ``[start, end)`` character offsets, which halved the text stored per judgment;
- cards and texts are compressed with zstd at level 3 against a dictionary trained once per build
  on its first ``TRAIN_DOCUMENTS`` documents (courts, statute names and the boilerplate of judgments
  recur across documents but not within one, which is what a dictionary captures). ``leian add``
  reuses its parent's dictionaries, so every row of an index decodes with one pair.

Training is deterministic (fixed FastCOVER parameters, one thread), so the same input gives the
same index byte for byte. Too few documents to train on give no dictionary (plain zstd). Figures:
bench/README.md, "Storage".
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

import zstandard

from retrieval.document import Document

CARD_OMITS = ("full_text", "sections")
LEVEL = 3  # level 6 stored 8 % less text for about 3x the compression CPU (bench/README.md, "Storage")
DICTIONARY_BYTES = 112 * 1024  # zstd's own default size
TRAIN_DOCUMENTS = 1000  # the first documents of a build: 0.5 s of training
# FastCOVER parameters fixed (no search over k and d): the same samples give the same dictionary.
_TRAIN_PARAMS = {"card": {"k": 256, "d": 8}, "texts": {"k": 1024, "d": 8}}
_SECTION_NAMES = ("facts", "reasoning", "result")


def card_dict(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key not in CARD_OMITS}


def card_json(data: dict[str, Any]) -> bytes:
    return json.dumps(card_dict(data), ensure_ascii=False).encode("utf-8")


def texts_json(doc: Document) -> bytes:
    """``[full_text, facts, reasoning, result]``, a section found in the full text as its offsets."""
    full = doc.full_text
    parts: list[object] = [full]
    for name in _SECTION_NAMES:
        section = getattr(doc.sections, name)
        at = full.find(section) if section else -1
        parts.append([at, at + len(section)] if at >= 0 else section)
    return json.dumps(parts, ensure_ascii=False).encode("utf-8")


def _texts_fields(payload: bytes) -> dict[str, Any]:
    full, *sections = json.loads(payload)
    return {
        "full_text": full,
        "sections": {
            name: full[part[0] : part[1]] if isinstance(part, list) else part
            for name, part in zip(_SECTION_NAMES, sections, strict=True)
        },
    }


def _train(samples: list[bytes], kind: str) -> bytes:
    try:
        trained = zstandard.train_dictionary(
            DICTIONARY_BYTES, samples, level=LEVEL, threads=0, **_TRAIN_PARAMS[kind]
        )
    except zstandard.ZstdError:  # too few or too small samples: plain zstd
        return b""
    return trained.as_bytes()


class DocumentCodec:
    """Encodes a document as (texts, card) blobs and decodes them; one per index (its dictionaries).

    Compressor and decompressor objects are per thread (zstandard's are not thread-safe); the codec
    itself pickles as its two dictionaries, for the build's worker processes.
    """

    def __init__(self, card_dictionary: bytes = b"", texts_dictionary: bytes = b"") -> None:
        self.card_dictionary = bytes(card_dictionary)
        self.texts_dictionary = bytes(texts_dictionary)
        self._local = threading.local()

    def __reduce__(self) -> tuple[type, tuple[bytes, bytes]]:
        return (DocumentCodec, (self.card_dictionary, self.texts_dictionary))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, DocumentCodec)
            and other.card_dictionary == self.card_dictionary
            and other.texts_dictionary == self.texts_dictionary
        )

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def train(cls, documents: Sequence[Document]) -> DocumentCodec:
        """Dictionaries from ``documents`` (the first ``TRAIN_DOCUMENTS`` are used)."""
        head = list(documents[:TRAIN_DOCUMENTS])
        cards = [card_json(doc.to_dict()) for doc in head]
        texts = [texts_json(doc) for doc in head]
        return cls(_train(cards, "card"), _train(texts, "texts"))

    def describe(self) -> dict[str, object]:
        return {
            "compression": f"zstd level {LEVEL}",
            "card_dictionary_bytes": len(self.card_dictionary),
            "texts_dictionary_bytes": len(self.texts_dictionary),
        }

    def _engines(self) -> dict[str, Any]:
        engines = getattr(self._local, "engines", None)
        if engines is None:
            engines = {}
            for kind, raw in (("card", self.card_dictionary), ("texts", self.texts_dictionary)):
                dictionary = zstandard.ZstdCompressionDict(raw) if raw else None
                engines[kind] = (
                    zstandard.ZstdCompressor(level=LEVEL, dict_data=dictionary, write_checksum=False),
                    zstandard.ZstdDecompressor(dict_data=dictionary),
                )
            self._local.engines = engines
        return engines

    def encode(self, doc: Document) -> tuple[bytes, bytes]:
        """``(texts, card)`` blobs of ``doc``."""
        engines = self._engines()
        return (
            engines["texts"][0].compress(texts_json(doc)),
            engines["card"][0].compress(card_json(doc.to_dict())),
        )

    def encode_card(self, doc: Document) -> bytes:
        return self._engines()["card"][0].compress(card_json(doc.to_dict()))

    def _card_fields(self, blob: bytes) -> dict[str, Any]:
        return json.loads(self._engines()["card"][1].decompress(blob))

    def decode_card(self, blob: bytes) -> Document:
        """The document without its texts: enough to rank, tier and predict."""
        return Document.from_dict(self._card_fields(blob))

    def decode(self, card: bytes, texts: bytes) -> Document:
        """The whole document from its two blobs."""
        fields = self._card_fields(card)
        fields.update(_texts_fields(self._engines()["texts"][1].decompress(texts)))
        return Document.from_dict(fields)
