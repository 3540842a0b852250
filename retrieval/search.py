"""Similar-case search over a published index: recall by several methods, then fuse."""

from __future__ import annotations

from dataclasses import dataclass, field

from retrieval.document import Document
from retrieval.fusion import reciprocal_rank_fusion
from retrieval.index_store import IndexStore
from retrieval.methods import keyword_hits, semantic_hits

RECALL_DEPTH = 100


@dataclass
class SearchResult:
    document: Document
    score: float
    methods: dict[str, int] = field(default_factory=dict)  # method → rank in that method


def search_similar(store: IndexStore, facts: str, k: int = 10) -> list[SearchResult]:
    """Hybrid of keyword (BM25 on facts) and semantic recall, fused by reciprocal rank."""
    if not facts.strip():
        raise ValueError("facts: empty query")
    tokens = store.segmenter.tokens(facts)
    vector = store.embedder.encode_queries([facts])[0]
    fused = reciprocal_rank_fusion(
        [keyword_hits(store, tokens, RECALL_DEPTH), semantic_hits(store, vector, RECALL_DEPTH)]
    )[:k]
    docs = store.metadata.documents(row for row, _, _ in fused)
    return [SearchResult(docs[row], score, ranks) for row, score, ranks in fused]
