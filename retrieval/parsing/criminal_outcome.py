"""判决结果 of a criminal judgment as structure: per defendant, the 主刑 and its term, 缓刑, 罚金.

The Art. 11 conflict check compares what courts decided, and a coarse word search gets the cases
that matter most wrong: ``撤销对被告人宣告的缓刑……决定执行有期徒刑二年`` contains 缓刑 but sends the
defendant to prison, and ``免予刑事处罚`` is neither 缓刑 nor 实刑. So the result section is read
defendant by defendant (``一、被告人甲犯……；二、被告人乙犯……``): where the court combines sentences
(数罪并罚, 撤销缓刑) the part after the last ``决定执行`` is what is executed. The reasoning supplies
the circumstances that decide whether two outcomes may be compared at all: 累犯 and 主犯/从犯, read
by ``retrieval.parsing.circumstances`` (negation and rejected arguments handled there).
Computed from the text on demand, like the 案号 and ``civil_outcome``, so the index format stays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from retrieval.parsing.circumstances import extract_amounts, extract_circumstances
from retrieval.parsing.numerals import chinese_to_int
from retrieval.parsing.sections import split_sections


class PenaltyKind(StrEnum):
    """What a defendant's sentence amounts to, the level at which two courts' outcomes conflict."""

    ACQUITTED = "无罪"
    EXEMPTED = "免予刑事处罚"  # guilty, no punishment (刑法第37条): its own outcome
    SUSPENDED = "缓刑"  # a suspended 拘役/有期徒刑 still suspended
    CUSTODIAL = "实刑"  # executed 管制/拘役/有期徒刑/无期徒刑/死刑, including a revoked suspension
    FINE_ONLY = "单处罚金"


PRINCIPAL_PENALTIES = ("死刑", "无期徒刑", "有期徒刑", "拘役", "管制")
"""主刑, most severe first."""


@dataclass(frozen=True)
class DefendantSentence:
    name: str
    kind: PenaltyKind | None  # None: the clause could not be read
    principal: str | None  # 主刑 executed: 有期徒刑, 拘役, … (None when acquitted, exempted or fine only)
    term_months: int | None  # of 有期徒刑/拘役/管制; None for life, death or unread
    probation_months: int | None  # 缓刑考验期 when suspended
    revoked_suspension: bool  # 撤销缓刑: an earlier suspension revoked, the sentence executed
    fine: float | None  # 罚金 executed, 元


@dataclass(frozen=True)
class CriminalOutcome:
    defendants: tuple[DefendantSentence, ...]
    recidivist: bool  # 累犯 (any defendant), from the reasoning
    roles: tuple[str, ...]  # 主犯 / 从犯 / 胁从犯 found in the reasoning

    @property
    def lead(self) -> DefendantSentence | None:
        """The first defendant named: the one the case is usually cited for (and, in a joint case, the 主犯)."""
        return self.defendants[0] if self.defendants else None

    @property
    def kind(self) -> PenaltyKind | None:
        lead = self.lead
        return lead.kind if lead is not None else None

    def to_dict(self) -> dict[str, object]:
        lead = self.lead
        return {
            "category": "criminal",
            "kind": self.kind.value if self.kind else None,
            "defendants": len(self.defendants),
            "principal": lead.principal if lead else None,
            "term_months": lead.term_months if lead else None,
            "probation_months": lead.probation_months if lead else None,
            "revoked_suspension": bool(lead and lead.revoked_suspension),
            "fine": lead.fine if lead else None,
            "recidivist": self.recidivist,
            "roles": list(self.roles),
        }


_DEFENDANT = re.compile(r"被告(?!单位)人?([^\s，,。；;、：:（(犯]{1,12}?)(?:犯|无罪)")
_AFTER_COMBINATION = re.compile(r"决定(?:合并)?执行")
_REVOKED = re.compile(r"撤销[^。；]{0,40}?缓刑")
_EXEMPT = re.compile(r"免[予于除](?:刑事)?处[罚分]")
_NUM = r"[0-9０-９一二三四五六七八九十两零〇]+"
_TERM = re.compile(rf"(有期徒刑|拘役|管制)(?:(?P<years>{_NUM})年)?(?:(?P<months>{_NUM})个?月)?")
_LIFE = re.compile(r"死刑|无期徒刑")
_SUSPENDED = re.compile(
    rf"(?:有期徒刑|拘役)[^。；]{{0,16}}?[，,]\s*缓刑(?:(?P<years>{_NUM})年)?(?:(?P<months>{_NUM})个?月)?"
)
_FINE = re.compile(r"(?:并处|单处|判处)?罚金(?:人民币)?([^，,。；;）)]{1,20}?元)")
_ROLES = ("主犯", "从犯", "胁从犯")


def _months(years: str | None, months: str | None) -> int | None:
    try:
        total = (chinese_to_int(years) * 12 if years else 0) + (chinese_to_int(months) if months else 0)
    except ValueError:
        return None
    return total or None


def _fine(text: str) -> float | None:
    found = list(_FINE.finditer(text))
    if not found:
        return None
    amounts = extract_amounts(found[-1][1])
    return amounts[-1] if amounts else None


def read_sentence(name: str, clause: str) -> DefendantSentence:
    """One defendant's clause of the result, e.g. ``被告人甲犯盗窃罪，判处有期徒刑一年，缓刑二年，并处罚金…``."""
    revoked = bool(_REVOKED.search(clause))
    combined = list(_AFTER_COMBINATION.finditer(clause))
    executed = clause[combined[-1].end() :] if combined else clause
    life = _LIFE.search(executed)
    term = _TERM.search(executed)
    if "无罪" in clause and not (term or life):
        return DefendantSentence(name, PenaltyKind.ACQUITTED, None, None, None, False, None)
    if _EXEMPT.search(clause) and not (term or life):  # 犯A罪免予刑事处罚 beside a punished B罪 is not exempt
        return DefendantSentence(name, PenaltyKind.EXEMPTED, None, None, None, False, None)
    fine = _fine(executed)
    if life and (term is None or life.start() < term.start()):
        return DefendantSentence(name, PenaltyKind.CUSTODIAL, life[0], None, None, revoked, fine)
    if term is None:
        kind = PenaltyKind.FINE_ONLY if fine is not None else None
        return DefendantSentence(name, kind, None, None, None, revoked, fine)
    months = _months(term["years"], term["months"])
    suspended = None if revoked else _SUSPENDED.search(executed)
    if suspended is not None:
        probation = _months(suspended["years"], suspended["months"])
        return DefendantSentence(name, PenaltyKind.SUSPENDED, term[1], months, probation, False, fine)
    return DefendantSentence(name, PenaltyKind.CUSTODIAL, term[1], months, None, revoked, fine)


def _clauses(result: str) -> list[tuple[str, str]]:
    """(defendant, clause) in order; a defendant named twice (an order to 退赔) keeps the first clause."""
    starts = list(_DEFENDANT.finditer(result))
    if not starts:  # a result quoted without the defendant's name: ``判处有期徒刑一年，缓刑二年``
        sentence = result.strip()
        readable = any(p.search(sentence) for p in (_TERM, _LIFE, _EXEMPT, _FINE))
        return [("", sentence)] if readable or sentence.startswith("无罪") else []
    out: dict[str, str] = {}
    ends = [s.start() for s in starts[1:]] + [len(result)] if starts else []
    for this, end in zip(starts, ends, strict=True):
        clause = result[this.start() : end]
        # the sentence: not the 刑期折抵 note, nor a later item (如未补种……则撤销缓刑 is a warning)
        clause = clause.split("。")[0]
        out.setdefault(this[1], clause)
    return list(out.items())


def criminal_outcome(
    full_text: str, *, result: str | None = None, reasoning: str | None = None
) -> CriminalOutcome:
    """The sentences of ``result`` (判决如下 …), with 累犯 and 主犯/从犯 from ``reasoning``."""
    if result is None or reasoning is None:
        sections = split_sections(full_text)
        result = sections.result if result is None else result
        reasoning = sections.reasoning if reasoning is None else reasoning
    defendants = tuple(read_sentence(name, clause) for name, clause in _clauses(result or ""))
    found = extract_circumstances(reasoning or "")
    return CriminalOutcome(
        defendants=defendants,
        recidivist="累犯" in found,
        roles=tuple(r for r in _ROLES if r in found),
    )
