"""A cited provision (法条) and its canonical key ``刑法 第67条 第3款``.

The key is how a provision is stored (the metadata store, the JSON Lines schema), indexed and shown,
so the type and the reading of its key back live together here; finding citations in judgment text
(``依照《中华人民共和国刑法》第二百六十四条``) is ``retrieval.parsing.articles``' job.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_KEY = re.compile(r"(\S.*?) 第(\d+)条(?:之(\d+))?(?: 第(\d+)款)?(?: 第(\d+)项)?")
_KEY_CACHE_SIZE = 65536
"""A search decodes about a hundred candidates citing the same few hundred provisions."""


@dataclass(frozen=True, order=True)
class CitedArticle:
    """A cited provision normalised to law + 条 (+之N) + 款 + 项, e.g. ``刑法 第67条 第3款``."""

    law: str
    article: int
    article_suffix: int = 0  # 之一 → 1, 之二 → 2
    clause: int | None = None  # 款
    item: int | None = None  # 项

    def key(self) -> str:
        """Canonical text form used in indexes and responses."""
        parts = [
            self.law,
            f"第{self.article}条" + (f"之{self.article_suffix}" if self.article_suffix else ""),
        ]
        if self.clause is not None:
            parts.append(f"第{self.clause}款")
        if self.item is not None:
            parts.append(f"第{self.item}项")
        return " ".join(parts)

    def article_key(self) -> str:
        """The 条 level only (``刑法 第67条``): statute links match at this level first."""
        return CitedArticle(self.law, self.article, self.article_suffix).key()

    @classmethod
    def from_key(cls, key: str) -> CitedArticle:
        """Inverse of ``key``, cached; raises ValueError on anything else."""
        return _cached_parse(key)


def parse_article_key(key: str) -> CitedArticle:
    """Inverse of ``CitedArticle.key()``: ``"刑法 第67条 第3款"`` → ``CitedArticle("刑法", 67, 0, 3)``."""
    match = _KEY.fullmatch(key)
    if not match:
        raise ValueError(f"not a cited-article key: {key!r}")
    law, article, suffix, clause, item = match.groups()
    result = CitedArticle(
        law=law,
        article=int(article),
        article_suffix=int(suffix) if suffix else 0,
        clause=int(clause) if clause else None,
        item=int(item) if item else None,
    )
    if result.key() != key:
        raise ValueError(f"not a canonical cited-article key: {key!r}")
    return result


_cached_parse = functools.lru_cache(maxsize=_KEY_CACHE_SIZE)(parse_article_key)
