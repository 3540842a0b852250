"""关联案件: deterministic links between cases, kept apart from similarity search.

A judge must know about the other stages of the same dispute (一审 → 二审 → 再审 → 执行), other
cases of the same party and, in criminal matters, 串案 that share defendants. These are facts
read from 案号 citations and party names, never scores, so every link carries a Chinese
``reason`` and the ``evidence`` (案号 or names) that produced it.

Rules (each related document appears once, under the first kind that applies, in this order):

1. 审级关联 (SAME_DISPUTE_CHAIN). Starting from the case, follow up to ``MAX_CHAIN_DEPTH`` hops:
   a document whose own 案号 is cited in the text (earlier stage), a document whose text cites
   the 案号 (later stage), or a document with the very same 案号 (another document of the same
   case). A citation counts as a chain step only if

   * it is not in a sentence about a prior record (曾因 / 刑满释放 / 前科 / 累犯): judgments cite
     前罪 judgments of the same defendant, which are another case, not another stage;
   * the citing document's stage is strictly later than the cited one's (``_STAGE_RANK``; an
     unknown stage is accepted): a 一审 citing a 一审 is a 前案 or 类案, not an appeal;
   * when both sides list parties (公诉机关 left out), they share at least one name: a 类案
     cited as authority has other parties.

2. 串案 (SERIAL_CASE). Both cases are criminal and share at least one full (not anonymised)
   name listed as a defendant (``DEFENDANT_ROLES``) in both.

3. 同一当事人 (SAME_PARTY). The cases share a normalised full party name (people and
   organisations alike; a company name is a full name unless masked, e.g. 某公司). Anonymised
   names (``is_anonymised``) link only when at least two party names are shared and the cases
   were decided by the same court or in years at most one apart. Procuratorates never count.

Withdrawn documents are linked too (a link is a fact, not citable authority), with
``withdrawn=True``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from retrieval.document import CaseCategory, Court, Document, Party
from retrieval.index_store import IndexStore
from retrieval.parsing.case_number import CaseNumber, Stage, find_case_numbers, parse_case_number
from retrieval.parsing.parties import is_anonymised, normalise_party_name

MAX_CHAIN_DEPTH = 4
"""民初 → 民终 → 再审 → 执行 → 执异 is the longest ordinary chain; further hops would only drift."""

YEAR_WINDOW = 1
"""Anonymised names corroborate each other only within ±1 decision year (or the same court)."""

PROSECUTOR_ROLES = frozenset({"公诉机关", "原公诉机关", "抗诉机关"})
"""A procuratorate is a party in every criminal case of its district; it links nothing."""

DEFENDANT_ROLES = frozenset({"被告人", "上诉人", "原审被告人", "被告单位", "原审被告单位", "罪犯"})
"""Roles naming the accused in criminal documents (上诉人 is the appealing defendant there)."""

_CRIMINAL_ONLY_ROLES = frozenset({"被告人", "原审被告人", "被告单位", "原审被告单位", "罪犯"})

# Order of procedure: a chain citation goes from a later to an earlier stage. Stages missing here
# (其他, 司法协助, 司法制裁) are unknown and never block a citation.
_STAGE_RANK: dict[Stage, int] = {
    Stage.FIRST_INSTANCE: 1,
    Stage.SPECIAL_PROCEDURE: 1,
    Stage.JURISDICTION: 1,
    Stage.PRESERVATION: 1,
    Stage.BANKRUPTCY: 1,
    Stage.SECOND_INSTANCE: 2,
    Stage.REVIEW: 3,
    Stage.RETRIAL_REVIEW: 3,
    Stage.RETRIAL: 4,
    Stage.SENTENCE_CHANGE: 5,
    Stage.ENFORCEMENT: 5,
    Stage.COMPENSATION: 5,
    Stage.JUDICIAL_AID: 5,
    Stage.ENFORCEMENT_OBJECTION: 6,
    Stage.ENFORCEMENT_RECONSIDERATION: 7,
    Stage.ENFORCEMENT_SUPERVISION: 8,
}

_PRIOR_RECORD_RE = re.compile(r"曾因|曾被|刑满释放|前科|累犯")
_SENTENCE_END = "。；;\n"
_PROSECUTOR_NAME_RE = re.compile(r"检察院$")


class LinkKind(StrEnum):
    SAME_DISPUTE_CHAIN = "审级关联"
    SAME_PARTY = "同一当事人"
    SERIAL_CASE = "串案"


@dataclass(frozen=True)
class RelatedLink:
    """One related document and why; ``evidence`` holds the 案号 (printed form) or names."""

    doc_id: str
    kind: LinkKind
    reason: str
    evidence: tuple[str, ...]
    stage: Stage | None = None
    case_number: str | None = None
    withdrawn: bool = False


def find_related(store: IndexStore, doc_id: str) -> list[RelatedLink]:
    """Related documents of a corpus document; KeyError if ``doc_id`` is not in the index."""
    row = store.metadata.row_of(doc_id)
    if row is None:
        raise KeyError(doc_id)
    loader = _Loader(store)
    return _find(loader, loader.case(row))


def find_related_for_pending(
    store: IndexStore,
    *,
    case_number: str | None,
    parties: list[Party],
    court: Court | None,
    text: str = "",
) -> list[RelatedLink]:
    """Related documents of a pending case: its 案号 and the 案号 cited in ``text`` form the chain."""
    number = _parse(case_number)
    printed = _printed(number) if number else (case_number.strip() if case_number else None)
    criminal = (number is not None and number.category is CaseCategory.CRIMINAL) or any(
        p.role in _CRIMINAL_ONLY_ROLES for p in parties
    )
    origin = _Case(
        row=None,
        doc_id=None,
        number=number,
        printed=printed,
        parties=_normalised_parties(parties),
        court=court.name.strip() if court else None,
        year=number.year if number else None,
        criminal=criminal,
        text=text,
        withdrawn=False,
    )
    return _find(_Loader(store), origin)


# --- the cases being compared ------------------------------------------------------------------


@dataclass(frozen=True)
class _Case:
    """What linking needs of a document or of the pending case (``row`` None)."""

    row: int | None
    doc_id: str | None
    number: CaseNumber | None
    printed: str | None  # 案号 as printed in reasons and evidence: full-width brackets
    parties: tuple[Party, ...]  # normalised, procuratorates removed
    court: str | None
    year: int | None
    criminal: bool
    text: str
    withdrawn: bool

    @property
    def stage(self) -> Stage | None:
        return Stage(self.number.stage) if self.number else None

    @property
    def canonical(self) -> str | None:
        return self.number.canonical() if self.number else None

    def names(self) -> set[str]:
        return {p.name for p in self.parties}

    def roles_of(self, name: str) -> list[str]:
        return [p.role for p in self.parties if p.name == name]


class _Loader:
    """Decodes each document once per call; a chain walk revisits the same rows."""

    def __init__(self, store: IndexStore) -> None:
        self.metadata = store.metadata
        self._cases: dict[int, _Case] = {}

    def cases(self, rows: Iterable[int]) -> list[_Case]:
        rows = list(dict.fromkeys(rows))
        missing = [r for r in rows if r not in self._cases]
        for row, doc in self.metadata.documents(missing).items():
            self._cases[row] = _case_of(row, doc)
        return [self._cases[r] for r in rows if r in self._cases]

    def case(self, row: int) -> _Case:
        found = self.cases([row])
        if not found:
            raise KeyError(row)
        return found[0]


def _case_of(row: int, doc: Document) -> _Case:
    number = _parse(doc.case_number)
    year = doc.decision_date.year if doc.decision_date else (number.year if number else None)
    criminal = doc.category is CaseCategory.CRIMINAL or (
        number is not None and number.category is CaseCategory.CRIMINAL
    )
    return _Case(
        row=row,
        doc_id=doc.doc_id,
        number=number,
        printed=_printed(number) if number else (doc.case_number.strip() if doc.case_number else None),
        parties=_normalised_parties(doc.parties),
        court=doc.court.name.strip() if doc.court else None,
        year=year,
        criminal=criminal,
        text=doc.full_text,
        withdrawn=doc.authority.withdrawn,
    )


def _parse(raw: str | None) -> CaseNumber | None:
    if not raw:
        return None
    try:
        return parse_case_number(raw)
    except ValueError:
        return None


def _printed(number: CaseNumber) -> str:
    """The canonical 案号 with the full-width brackets courts print: （2023）浙0106刑初123号."""
    return "（" + number.canonical()[1:].replace(")", "）", 1)


def _normalised_parties(parties: Iterable[Party]) -> tuple[Party, ...]:
    out: dict[tuple[str, str], Party] = {}
    for party in parties:
        name = normalise_party_name(party.name)
        if name and party.role not in PROSECUTOR_ROLES and not _PROSECUTOR_NAME_RE.search(name):
            out.setdefault((name, party.role), Party(name=name, role=party.role))
    return tuple(out.values())


# --- the whole search --------------------------------------------------------------------------


def _find(loader: _Loader, origin: _Case) -> list[RelatedLink]:
    chain = _chain_links(loader, origin)
    linked = {link.doc_id for link in chain}
    if origin.doc_id:
        linked.add(origin.doc_id)
    return chain + _party_links(loader, origin, linked)


# --- 审级关联 ----------------------------------------------------------------------------------


@dataclass
class _Step:
    """One chain edge as it reads in a reason, and the 案号 it rests on."""

    clause: str
    number: str
    same_number: bool = False


@dataclass
class _Reached:
    case: _Case
    depth: int
    path: list[_Step]
    evidence: dict[str, None] = field(default_factory=dict)  # ordered set


def _chain_citations(case: _Case) -> dict[str, CaseNumber]:
    """Canonical 案号 cited in ``case.text`` as another stage: not its own, not a prior record."""
    own = case.canonical
    cited: dict[str, CaseNumber] = {}
    for match in find_case_numbers(case.text):
        key = match.case_number.canonical()
        if key == own or key in cited:
            continue
        start = max(case.text.rfind(ch, 0, match.start) for ch in _SENTENCE_END) + 1
        if _PRIOR_RECORD_RE.search(case.text, start, match.start):
            continue
        cited[key] = match.case_number
    return cited


def _is_chain_step(citing: _Case, cited: _Case) -> bool:
    """Whether ``citing`` referring to ``cited`` is a later stage of it (see the module rules)."""
    later, earlier = citing.stage, cited.stage
    if later in _STAGE_RANK and earlier in _STAGE_RANK and _STAGE_RANK[later] <= _STAGE_RANK[earlier]:
        return False
    citing_names, cited_names = citing.names(), cited.names()
    return not (citing_names and cited_names and citing_names.isdisjoint(cited_names))


def _label(case: _Case, origin: _Case) -> str:
    number = case.printed or ""
    is_origin = case is origin or (case.row is not None and case.row == origin.row)
    return f"本案{number}" if is_origin else number


def _neighbours(loader: _Loader, case: _Case, origin: _Case) -> list[tuple[_Case, _Step]]:
    """Chain steps out of ``case``: earlier stages it cites, later ones citing it, same 案号."""
    material = "材料" if case.row is None else "裁判文书"
    out: list[tuple[_Case, _Step]] = []
    cites = _chain_citations(case)
    earlier_rows = [row for row, _ in loader.metadata.rows_with_case_numbers(cites)]
    for other in loader.cases(earlier_rows):
        if other.row != case.row and _is_chain_step(case, other):
            clause = f"{_label(case, origin)}的{material}援引{_label(other, origin)}"
            out.append((other, _Step(clause, other.printed or "")))
    own = case.canonical
    if own is None:
        return out
    same_rows = [row for row, _ in loader.metadata.rows_with_case_numbers([own]) if row != case.row]
    for other in loader.cases(same_rows):
        clause = f"{_label(other, origin)}与{_label(case, origin)}案号相同"
        out.append((other, _Step(clause, case.printed or "", same_number=True)))
    citing_rows = [row for row, _ in loader.metadata.rows_referring_to([own]) if row != case.row]
    for other in loader.cases(citing_rows):
        if own in _chain_citations(other) and _is_chain_step(other, case):
            clause = f"{_label(other, origin)}的裁判文书援引{_label(case, origin)}"
            out.append((other, _Step(clause, case.printed or "")))
    return out


def _chain_links(loader: _Loader, origin: _Case) -> list[RelatedLink]:
    """Breadth-first over chain steps, so each reason shows the shortest path from the case."""
    reached: dict[int, _Reached] = {}
    frontier: list[tuple[_Case, list[_Step]]] = [(origin, [])]
    for depth in range(1, MAX_CHAIN_DEPTH + 1):
        next_frontier: list[tuple[_Case, list[_Step]]] = []
        for case, path in frontier:
            for other, step in _neighbours(loader, case, origin):
                if other.row is None or other.row == origin.row:
                    continue
                hit = reached.get(other.row)
                if hit is None:
                    hit = reached[other.row] = _Reached(other, depth, [*path, step])
                    next_frontier.append((other, hit.path))
                if hit.depth == depth:  # evidence of every shortest path, longer detours add nothing
                    for earlier in [*path, step]:
                        hit.evidence.setdefault(earlier.number)
        frontier = next_frontier
        if not frontier:
            break
    hits = sorted(
        reached.values(),
        key=lambda h: (h.depth, _STAGE_RANK.get(h.case.stage, 99) if h.case.stage else 99, h.case.doc_id),
    )
    return [_chain_link(hit) for hit in hits]


def _chain_link(hit: _Reached) -> RelatedLink:
    case = hit.case
    if hit.path[-1].same_number:
        what = "另一份文书"
    elif case.stage is not None and case.stage is not Stage.OTHER:
        what = case.stage.value
    else:
        what = "另一审级文书"
    reason = "；".join(step.clause for step in hit.path) + f"，系同一案件的{what}"
    return RelatedLink(
        doc_id=case.doc_id or "",
        kind=LinkKind.SAME_DISPUTE_CHAIN,
        reason=reason,
        evidence=tuple(n for n in hit.evidence if n),
        stage=case.stage,
        case_number=case.printed,
        withdrawn=case.withdrawn,
    )


# --- 串案 and 同一当事人 ------------------------------------------------------------------------


def _party_links(loader: _Loader, origin: _Case, exclude: set[str]) -> list[RelatedLink]:
    names = origin.names()
    shared: dict[int, set[str]] = {}
    for row, name, _role in loader.metadata.rows_with_party(names):
        if row != origin.row:
            shared.setdefault(row, set()).add(name)
    serial: list[RelatedLink] = []
    same: list[RelatedLink] = []
    for other in sorted(loader.cases(shared), key=lambda c: (c.year or 0, c.doc_id or "")):
        if other.doc_id in exclude:
            continue
        common = shared[other.row or 0] & other.names()
        link = _serial_link(origin, other, common)
        if link is not None:
            serial.append(link)
            continue
        link = _same_party_link(origin, other, common)
        if link is not None:
            same.append(link)
    return serial + same


def _serial_link(origin: _Case, other: _Case, common: set[str]) -> RelatedLink | None:
    if not (origin.criminal and other.criminal):
        return None
    accused = [
        name
        for name in _in_listing_order(origin, common)
        if not is_anonymised(name)
        and DEFENDANT_ROLES.intersection(origin.roles_of(name))
        and DEFENDANT_ROLES.intersection(other.roles_of(name))
    ]
    if not accused:
        return None
    reason = (
        f"被告人{'、'.join(accused)}同为{_label(origin, origin)}与{other.printed or other.doc_id}的被告人，"
        "两案均为刑事案件且不属同一审级链条，系串案"
    )
    return _party_link(other, LinkKind.SERIAL_CASE, reason, accused)


def _same_party_link(origin: _Case, other: _Case, common: set[str]) -> RelatedLink | None:
    full = [name for name in _in_listing_order(origin, common) if not is_anonymised(name)]
    if full:
        evidence, note = full, ""
    elif len(common) >= 2 and (corroboration := _corroboration(origin, other)):
        evidence, note = (
            _in_listing_order(origin, common),
            f"（均为匿名化名称，{corroboration}，且共有两名以上当事人）",
        )
    else:
        return None
    described = "；".join(
        f"{name}（本案{'、'.join(origin.roles_of(name))}，该案{'、'.join(other.roles_of(name))}）"
        for name in evidence
    )
    reason = f"{_label(origin, origin)}的当事人{described}亦为{other.printed or other.doc_id}的当事人{note}"
    return _party_link(other, LinkKind.SAME_PARTY, reason, evidence)


def _in_listing_order(case: _Case, names: set[str]) -> list[str]:
    """Shared names in the order the case lists its parties, as a judge reads them."""
    return [name for name in dict.fromkeys(p.name for p in case.parties) if name in names]


def _corroboration(origin: _Case, other: _Case) -> str | None:
    """What makes shared anonymised names credible: the same court, or close decision years."""
    if origin.court and origin.court == other.court:
        return f"两案均由{origin.court}审理"
    if origin.year is not None and other.year is not None and abs(origin.year - other.year) <= YEAR_WINDOW:
        return f"两案裁判年份相近（{origin.year}年、{other.year}年）"
    return None


def _party_link(other: _Case, kind: LinkKind, reason: str, evidence: list[str]) -> RelatedLink:
    return RelatedLink(
        doc_id=other.doc_id or "",
        kind=kind,
        reason=reason,
        evidence=tuple(evidence),
        stage=other.stage,
        case_number=other.printed,
        withdrawn=other.withdrawn,
    )
