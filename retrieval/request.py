"""What a judge asks for: a ``SearchRequest`` for a pending case (待决案件)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from retrieval.document import CaseCategory, Court, CourtLevel
from retrieval.tiers import RECENT_YEARS

MAX_K = 200


class Method(StrEnum):
    """检索方法 (Art. 5 of the 2020 SPC guidance), plus semantic nearest neighbours."""

    KEYWORD = "keyword"  # 关键词检索
    STATUTE = "statute"  # 法条关联案件检索
    CASE = "case"  # 案例关联检索
    SEMANTIC = "semantic"  # 语义检索 (embedding nearest neighbours)


DEFAULT_METHODS = (Method.KEYWORD, Method.SEMANTIC, Method.STATUTE)


@dataclass(frozen=True)
class KeywordQuery:
    """Terms a judge types: all ``must`` terms present, none of ``must_not``; ``phrases`` verbatim."""

    must: tuple[str, ...] = ()
    should: tuple[str, ...] = ()
    must_not: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not (self.must or self.should or self.must_not or self.phrases)


@dataclass(frozen=True)
class SearchFilters:
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    court_levels: tuple[CourtLevel, ...] = ()
    provinces: tuple[str, ...] = ()
    categories: tuple[CaseCategory, ...] = ()  # 案件类型
    causes: tuple[str, ...] = ()  # 罪名/案由: any of them
    include_uncitable: bool = False  # also documents without 案号, court or date (retrieval.citation)


@dataclass
class SearchRequest:
    facts: str = ""  # the pending case's facts, up to a whole judgment
    case_number: str | None = None  # the pending case's 案号
    requesting_court: Court | None = None  # decides the tiers (Art. 4)
    charges: list[str] = field(default_factory=list)  # known 罪名/案由
    articles: list[str] = field(default_factory=list)  # known provisions, normalised keys
    keywords: KeywordQuery = field(default_factory=KeywordQuery)
    seed_doc_id: str | None = None  # 案例关联: start from a case in the corpus
    filters: SearchFilters = field(default_factory=SearchFilters)
    methods: tuple[Method, ...] | None = None  # None: the default hybrid
    k: int = 10
    tiering: bool = True  # group by Art. 4 tiers; off for benchmark scoring of similarity alone
    recency_years: int | None = RECENT_YEARS  # prefer the last N years (except tier 1); None: off
    today: dt.date | None = None  # for reproducible recency; None: today's date
    restrict_to: frozenset[str] | None = None  # only these doc ids (a candidate pool)
    legal_rerank: bool = True  # rerank fused results by agreement of causes, articles, circumstances
    # Tiered searches leave out results under search.SIMILARITY_FLOOR (未检索到类案); True: show them too.
    include_dissimilar: bool = False

    def validate(self) -> None:
        """Raise ValueError naming the field, before any work is done."""
        if not 1 <= self.k <= MAX_K:
            raise ValueError(f"k: must be between 1 and {MAX_K}")
        methods = self.methods or DEFAULT_METHODS
        if not (self.facts.strip() or self.seed_doc_id or not self.keywords.is_empty() or self.articles):
            raise ValueError("facts: give facts, keywords, articles or a seed case")
        if Method.CASE in methods and not self.seed_doc_id and self.methods is not None:
            raise ValueError("seed_doc_id: 案例关联检索 needs a case id or 案号 from the corpus")
        f = self.filters
        if f.date_from and f.date_to and f.date_from > f.date_to:
            raise ValueError("filters.date_from: after date_to")
        self.provision_keys()

    def provision_keys(self) -> list[str]:
        """``articles`` as canonical keys; accepts keys (刑法 第264条) or citations (刑法第二百六十四条)."""
        from retrieval.cited_article import parse_article_key
        from retrieval.parsing.articles import extract_articles

        keys: list[str] = []
        for value in self.articles:
            try:
                keys.append(parse_article_key(value).key())
                continue
            except ValueError:
                pass
            found = extract_articles(value)
            if not found:
                raise ValueError(f"articles: cannot read {value!r} as a provision; write e.g. '刑法 第264条'")
            keys.extend(a.key() for a in found)
        return list(dict.fromkeys(keys))
