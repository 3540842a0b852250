"""What a search looks for, worked out from the request before any method runs.

A request may leave things out: a 案例关联 search may give only a seed case, a keyword search no
articles. The plan fills them in the one way both the search and the replay of its audit record
(``retrieval.report.replay``) must agree on, since the replay explains the recorded results with
the same facts and provisions the search ranked them by.
"""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.document import Document
from retrieval.index_store import IndexStore
from retrieval.parsing.articles import extract_articles
from retrieval.parsing.case_number import parse_case_number
from retrieval.request import DEFAULT_METHODS, KeywordQuery, Method, SearchRequest


class UnknownSeedCase(ValueError):
    """The seed case of a 案例关联 search is not in the index."""


@dataclass(frozen=True)
class SeedCase:
    """The case a 案例关联 search starts from: its row in the index and its document."""

    row: int
    document: Document


@dataclass(frozen=True)
class QueryPlan:
    """The methods to run and what they search with.

    ``facts`` are the request's, else the seed case's; ``provisions`` (canonical keys) are the
    request's, else those cited in its facts, else the seed case's. ``seed`` is set when the search
    starts from a case (案例关联), which is then never a result of its own search.
    """

    methods: tuple[Method, ...]
    facts: str
    provisions: list[str]
    keywords: KeywordQuery
    seed: SeedCase | None = None


def resolve_seed(store: IndexStore, seed: str) -> int:
    """A seed case given by doc id or by 案号 (any printed form)."""
    row = store.metadata.row_of(seed)
    if row is not None:
        return row
    try:
        canonical = parse_case_number(seed).canonical()
    except ValueError:
        canonical = seed.strip()
    found = store.metadata.rows_with_case_numbers([canonical])
    if not found:
        raise UnknownSeedCase(f"seed_doc_id: no case {seed!r} in the index")
    return found[0][0]


def plan(store: IndexStore, request: SearchRequest) -> QueryPlan:
    """The plan of a validated request; UnknownSeedCase when its seed case is not in the index.

    A seed case always adds 案例关联 to the methods, whatever the request named.
    """
    methods = tuple(request.methods or DEFAULT_METHODS)
    if request.seed_doc_id and Method.CASE not in methods:
        methods = (Method.CASE, *methods)
    facts = request.facts
    provisions = request.provision_keys() or [a.key() for a in extract_articles(facts)]
    if not request.seed_doc_id:
        return QueryPlan(methods, facts, provisions, request.keywords)
    row = resolve_seed(store, request.seed_doc_id)
    seed = store.metadata.document(row)
    return QueryPlan(
        methods,
        facts or seed.searchable_facts(),
        provisions or [a.key() for a in seed.articles],
        request.keywords,
        SeedCase(row, seed),
    )
