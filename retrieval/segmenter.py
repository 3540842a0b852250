"""The one text segmenter used by indexing and querying (jieba's words, Chinese stopwords dropped).

We use ``rjieba`` (jieba-rs: jieba's dictionary and algorithm in Rust) rather than pure-Python jieba:
nearly the same tokens, many times faster. Index and query must segment identically, so the
segmenter has a ``fingerprint`` (engine version, our version and the stopwords' checksum) that the index
manifest records and the query side checks before it serves.

There is no legal user dictionary (charge names, 案由, 入户盗窃 as single words), and the stopwords-iso
Chinese list is added to our own: jieba's finer words and the fuller list rank better on the LeCaRD
dev labels (see bench/README.md). Charges and 案由 are matched as parsed causes, not as tokens.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import rjieba
import stopwordsiso

SEGMENTER_VERSION = "2"
_RESOURCE_PACKAGE = "retrieval.resources"
_STOPWORD_FILE = "stopwords.txt"  # judgment boilerplate and function words, beside stopwords-iso's
# A token is kept when it has a CJK ideograph or a Latin letter; digits and punctuation alone carry
# no similarity and would swamp BM25 with amounts and dates.
_MEANINGFUL = re.compile(r"[\u4e00-\u9fffA-Za-z]")
_MAX_MEMO = 2_000_000  # words remembered by _memo_with; bounds memory on endless vocabularies


@dataclass(frozen=True)
class SegmenterInfo:
    """What the manifest records so a query-time segmenter can prove it matches the index."""

    engine: str
    engine_version: str
    segmenter_version: str
    stopwords_sha256: str

    def as_dict(self) -> dict[str, str]:
        return dict(self.__dict__)

    @property
    def fingerprint(self) -> str:
        text = "|".join(self.as_dict()[k] for k in sorted(self.as_dict()))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read_resource_lines(name: str) -> list[str]:
    try:
        text = resources.files(_RESOURCE_PACKAGE).joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


class Segmenter:
    """Splits Chinese legal text into index tokens with jieba's own dictionary."""

    def __init__(self) -> None:
        self._jieba = rjieba.Jieba()
        self._stopwords = frozenset(_read_resource_lines(_STOPWORD_FILE)) | stopwordsiso.stopwords("zh")
        self._forms: dict[str, str] = {}
        self.info = SegmenterInfo(
            engine="rjieba",
            engine_version=importlib.metadata.version("rjieba"),
            segmenter_version=SEGMENTER_VERSION,
            stopwords_sha256=hashlib.sha256("\n".join(sorted(self._stopwords)).encode()).hexdigest(),
        )

    def _form_of(self, word: str) -> str:
        """The token a word becomes in the index, or "" when it is dropped."""
        if not _MEANINGFUL.search(word) or word in self._stopwords:
            return ""
        lower = word.lower()
        return word if lower == word else lower  # the memo then holds one string, not two

    def _memo_with(self, words: list[str]) -> dict[str, str]:
        """The memo of index forms, made to hold every one of ``words``.

        Memoised because the same few hundred thousand words recur and the checks cost more than
        the segmentation; learning a text's new words first lets the caller look every word up in C
        (``map``/``filter``) instead of calling Python per word. A full memo is replaced, never
        cleared in place, so a caller in another thread keeps a complete one.
        """
        forms = self._forms
        new = set(words).difference(forms)
        if new and len(forms) + len(new) > _MAX_MEMO:
            self._forms = forms = {}
            new = set(words)
        for word in new:
            forms[word] = self._form_of(word)
        return forms

    def tokens(self, text: str) -> list[str]:
        """Index tokens of ``text``: jieba words, lower-cased, without stopwords and bare numbers."""
        if not text:
            return []
        words = self._jieba.cut(text, True)
        return list(filter(None, map(self._memo_with(words).__getitem__, words)))


@cache
def default_segmenter() -> Segmenter:
    """The process-wide segmenter: jieba's dictionary is loaded once, at first use."""
    return Segmenter()
