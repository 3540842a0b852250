"""BM25 keyword index over segmented text (bm25s), one per field (facts, full text).

The build writes these folders with ``index_build.bm25_build`` (bounded memory, incremental add);
they are in bm25s's own layout, so querying goes through ``bm25s.BM25.load``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import bm25s
import numpy as np

BM25_PARAMS = {"k1": 1.2, "b": 0.75, "method": "lucene"}


class KeywordIndex:
    """Scores every document of the index for a token query; array-based like bm25s itself."""

    def __init__(self, retriever: bm25s.BM25, size: int) -> None:
        self._retriever = retriever
        self.size = size
        self._vocabulary: list[tuple[str, int]] | None = None

    @classmethod
    def load(cls, folder: Path, mmap: bool = True) -> KeywordIndex:
        folder = Path(folder)
        retriever = bm25s.BM25.load(str(folder), mmap=mmap, show_progress=False, verbosity=0)
        size = int(json.loads((folder / "params.index.json").read_text())["num_docs"])
        return cls(retriever, size)

    def has_token(self, token: str) -> bool:
        return token in self._retriever.vocab_dict

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every row (0 where nothing matches); unknown tokens are ignored."""
        ids = self._retriever.get_tokens_ids(list(tokens))
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores_from_ids(ids), dtype=np.float32)

    def rows_containing(self, fragment: str) -> np.ndarray:
        """Rows having any indexed token that contains ``fragment`` (盗窃 → 盗窃, 盗窃罪, 入户盗窃 …).

        A judge's keyword may sit inside a longer dictionary word; matching vocabulary entries by
        substring finds those documents without scanning their text.
        """
        if self._vocabulary is None:
            self._vocabulary = list(self._retriever.vocab_dict.items())
        scores = self._retriever.scores
        indptr, indices = scores["indptr"], scores["indices"]
        mask = np.zeros(self.size, dtype=bool)
        postings = len(indptr) - 1  # bm25s adds "" to the vocabulary without a postings list
        for token, token_id in self._vocabulary:
            if token_id < postings and fragment in token:
                mask[indices[indptr[token_id] : indptr[token_id + 1]]] = True
        return mask

    def document_frequency(self, token: str) -> int:
        """How many documents contain ``token`` (used to pick a case's distinctive terms)."""
        token_id = self._retriever.vocab_dict.get(token)
        indptr = self._retriever.scores["indptr"]
        if token_id is None or token_id + 1 >= len(indptr):
            return 0
        return int(indptr[token_id + 1] - indptr[token_id])


def build_keyword_index(token_lines: Iterable[str], out_dir: Path) -> int:
    """Index space-joined token lines (row order = line order) with bm25s itself, in memory.

    For small in-process indexes (test fixtures) and as the reference that
    ``index_build.bm25_build`` is tested against; its memory grows with the corpus (~50 kB per
    judgment), so index builds use the streaming builder instead.
    """
    vocab: dict[str, int] = {}
    ids: list[list[int]] = []
    for line in token_lines:
        ids.append([vocab.setdefault(tok, len(vocab)) for tok in line.split()])
    retriever = bm25s.BM25(**BM25_PARAMS)
    retriever.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
    retriever.save(str(out_dir), show_progress=False)
    return len(ids)
