"""A cited provision (法条) and its canonical key ``刑法 第67条 第3款``.

Civil provisions live on in the 民法典 under new numbers (合同法 第206条 → 民法典 第675条): the key
keeps the law as cited, and ``provision_key`` is where old and new judgments meet.

The key is how a provision is stored (the metadata store, the JSON Lines schema), indexed and shown,
so the type and the reading of its key back live together here; finding citations in judgment text
(``依照《中华人民共和国刑法》第二百六十四条``) is ``retrieval.parsing.articles``' job.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

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

    def successor(self) -> CitedArticle | None:
        """The 民法典 article (条) that replaced this one of 合同法, 担保法, 物权法, 婚姻法, 继承法,
        侵权责任法, 民法通则 or 民法总则; None for any other law and for rows marked uncertain.

        The key keeps the law it was cited under (``合同法 第206条``): the law name is the version, and
        a 2015 judgment should show what it cited. Matching across versions goes through
        ``provision_key``."""
        target = civil_code_successors().get((self.law, self.article, self.article_suffix))
        return CitedArticle(CIVIL_CODE, target) if target else None

    def provision_key(self) -> str:
        """The 条 key under which old and new versions of a civil provision meet: ``合同法 第206条`` and
        ``民法典 第675条`` both give ``民法典 第675条``; other provisions give their ``article_key``.
        Cached: a search asks it of every article every candidate cites, a few hundred distinct."""
        return _provision_key(self)

    def equivalent_article_keys(self) -> frozenset[str]:
        """Every 条 key of the same provision across versions (the 民法典 article and its predecessors)."""
        canonical = self.provision_key()
        return frozenset({self.article_key(), canonical, *_predecessors().get(canonical, ())})

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


CIVIL_CODE = "民法典"
_SUCCESSORS = "civil_code_successors.txt"
_RANGE = re.compile(r"(\d+)-(\d+)")


@functools.cache
def civil_code_successors() -> dict[tuple[str, int, int], int]:
    """(law, 条, 之N) of a replaced civil statute → its 民法典 article, from
    ``retrieval/resources/civil_code_successors.txt`` (sources and the meaning of 同/改/疑 in its
    header). Rows marked 疑 are left out."""
    text = resources.files("retrieval").joinpath("resources", _SUCCESSORS).read_text(encoding="utf-8")
    table: dict[tuple[str, int, int], int] = {}
    law = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            law = line[1:-1]
            continue
        fields = line.split()
        if law is None or len(fields) < 3:
            raise ValueError(f"{_SUCCESSORS}: bad line {raw!r}")
        old, new, relation = fields[0], fields[1], fields[2]
        if relation == "疑":
            continue
        old_range, new_range = _RANGE.fullmatch(old), _RANGE.fullmatch(new)
        if old_range and new_range and relation == "同号":
            first, last = int(old_range[1]), int(old_range[2])
            offset = int(new_range[1]) - first
            table.update({(law, n, 0): n + offset for n in range(first, last + 1)})
        elif relation in ("同", "改"):
            table[(law, int(old), 0)] = int(new)
        else:
            raise ValueError(f"{_SUCCESSORS}: bad relation in {raw!r}")
    return table


@functools.cache
def _predecessors() -> dict[str, tuple[str, ...]]:
    """民法典 article key → the 条 keys of the old laws it replaced."""
    found: dict[str, list[str]] = {}
    for (law, article, suffix), target in civil_code_successors().items():
        found.setdefault(CitedArticle(CIVIL_CODE, target).key(), []).append(
            CitedArticle(law, article, suffix).key()
        )
    return {key: tuple(values) for key, values in found.items()}


_cached_parse = functools.lru_cache(maxsize=_KEY_CACHE_SIZE)(parse_article_key)


@functools.lru_cache(maxsize=_KEY_CACHE_SIZE)
def _provision_key(article: CitedArticle) -> str:
    successor = article.successor()
    return successor.key() if successor else article.article_key()
