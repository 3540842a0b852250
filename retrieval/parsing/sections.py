"""Splitting a judgment into header, facts (事实), reasoning (理由) and result (裁判结果).

Chinese judgments follow a fixed order — parties, facts (指控 / 诉称 / 经审理查明 …), 本院认为,
判决如下, signatures — so fixed markers find the boundaries; when a marker is missing the
neighbouring part absorbs the text rather than losing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.document import Sections

# Each marker is found where the facts begin; the facts then start at the beginning of that
# sentence, so "桐乡市人民检察院指控：" keeps its subject. Strict markers need the punctuation that
# follows them in the facts, so that "起诉书指控被告人…犯…罪" in the procedural history is skipped.
_FACTS_RE = re.compile(
    r"指控(?:称|内容如下|如下)?[：:，,。]|查明[：:，,。]|(?:原判|判决|法院|原审|一审|二审)认定[：:，,]"
    r"|(?:诉|辩|述|申请)称[：:，,]|请求[：:]|基本案情|经复核确认"
    r"|向本院提出(?:诉讼|上诉|再审)?(?:请求|申请)"  # "原告向本院提出诉讼请求，1.判令…" has no colon
)
_FACTS_LOOSE_RE = re.compile(r"检察院指控|审理查明|诉称")
"""Used only when no strict marker is found: "XX检察院指控被告人梅高清于2017年…"."""
# Where the court's own findings (经审理查明) begin in a civil or administrative judgment: after the
# parties' claims, defence and the evidence assessment, whose "本院认为，该证据…" is not the reasoning.
_FINDINGS_RE = re.compile(
    r"(?:经审理|经审查|审理|本院(?:一审|二审|再审)?)查明[：:，,。]|经审理查明|审理查明(?:如下|以下)"  # 经审理查明：
    r"|(?:确认|认定|查明|确定)(?:并认定)?(?:本案)?(?:如下|以下|下列)(?:本案|案件)?(?:的)?(?:基本|法律)?事实"  # 确认以下事实
    r"|(?:确认|认定|查明)(?:本案|案件)?(?:的)?(?:基本|案件|法律)?事实(?:如下|[：:])"  # 本院认定事实如下
    r"|(?:本院|本案)(?:经审理|经审查)?[，,]?(?:对本案|对案件)?(?:的)?(?:案件)?(?:法律)?事实(?:综合)?(?:作)?(?:认定|确认)如下"
    r"|事实作如下(?:认定|确认)"
    r"|对(?:以下|如下|下列|争议|本案|案件)?(?:的)?(?:法律)?事实(?:予以|作出如下)?(?:认定|确认)"  # 对以下事实予以认定
    r"|经审理[，,]?本院认定[：:，,]"
)
_REASONING_RE = re.compile(r"本院(?:一审|二审|再审|经审理|经?审查|经审核)?认为")
# Texts that report another court's decision (公报案例) name the court instead of 本院.
_REASONING_FALLBACK_RE = re.compile(r"法院(?:一审|二审|再审)?(?:经审理)?认为[：:，,]")
_RESULT_RE = re.compile(r"(?:判决|裁定|决定|判处|调解协议|协议)如下[：:]?|(?<=[，,日])(?:判决|裁定)[：:]")
_SIGNATURE_RE = re.compile(
    r"(?:^|(?<=[\s。]))(?:审\s*判\s*长|代理审判员|审\s*判\s*员|人民陪审员|陪\s*审\s*员|书\s*记\s*员|执\s*行\s*员)"
    r"(?![的在对])"
)  # signatures are often spaced out for layout: "审   判   长：李    健"
# A space between Latin letters is part of a name (王钦杰（WANG KIAT）诉称), not a break.
_SENTENCE_BREAK_RE = re.compile(r"[\n。；;]|(?<![A-Za-z])[ \t\u3000]")
_MAX_SUBJECT_CHARS = 80  # a marker further from the sentence start is not its sentence's verb
HEADER_FALLBACK_CHARS = 1000
"""Without a facts marker the party listing is assumed to lie in this many opening characters."""


@dataclass(frozen=True)
class _Bounds:
    findings_start: int | None
    facts_start: int | None
    facts_end: int
    reasoning_start: int | None
    reasoning_end: int
    result_start: int | None
    body_end: int


def _sentence_start(text: str, pos: int) -> int:
    """Start of the sentence holding ``pos``, if it is near; else ``pos`` itself."""
    floor = max(0, pos - _MAX_SUBJECT_CHARS)
    breaks = [m.end() for m in _SENTENCE_BREAK_RE.finditer(text, floor, pos)]
    if breaks:
        return breaks[-1]
    return 0 if floor == 0 else pos


def _findings(text: str) -> re.Match[str] | None:
    """The court's findings marker, if one precedes the decision (判决如下)."""
    findings = _FINDINGS_RE.search(text)
    if findings is None:
        return None
    decision = _RESULT_RE.search(text)
    return findings if decision is None or findings.start() < decision.start() else None


def _locate(text: str) -> _Bounds:
    findings = _findings(text)
    # A 本院认为 before the findings assesses evidence (对原告提交的证据，本院认为…): the reasoning is
    # the first one after them.
    reasoning = None
    if findings is not None:
        reasoning = _REASONING_RE.search(text, findings.end())
    reasoning = reasoning or _REASONING_RE.search(text) or _REASONING_FALLBACK_RE.search(text)
    reasoning_start = None
    if reasoning:
        reasoning_start = (
            reasoning.start() if reasoning.re is _REASONING_RE else _sentence_start(text, reasoning.start())
        )
    result = _RESULT_RE.search(text, reasoning_start or 0)
    result_start = result.end() if result else None
    signature_from = result_start if result_start is not None else (reasoning_start or 0)
    signature = _SIGNATURE_RE.search(text, signature_from)
    body_end = signature.start() if signature else len(text)

    facts_end = next(p for p in (reasoning_start, result and result.start(), body_end) if p is not None)
    facts = _FACTS_RE.search(text, 0, facts_end) or _FACTS_LOOSE_RE.search(text, 0, facts_end)
    facts_start = _sentence_start(text, facts.start()) if facts else None
    reasoning_end = result.end() if result else body_end
    findings_start = None
    if findings is not None and findings.start() < facts_end:
        findings_start = _sentence_start(text, findings.start())
    return _Bounds(
        findings_start, facts_start, facts_end, reasoning_start, reasoning_end, result_start, body_end
    )


def split_sections(full_text: str, *, findings_are_facts: bool = False) -> Sections:
    """Facts, reasoning and result of a judgment; the signature block and appendix are dropped.

    Reasoning runs from 本院认为 through 判决如下 (the statutes applied are cited just before it).
    Without a facts marker everything before the reasoning counts as facts, so a bare fact
    description still yields facts to compare. With ``findings_are_facts`` (civil and administrative
    judgments) the facts are the court's findings (经审理查明 / 本院认定事实如下 …) when it states
    them, not the parties' claims and defence before them; criminal facts keep the 指控 (LeCaRD's
    figures were measured on them).
    """
    b = _locate(full_text)
    facts_start = b.facts_start if b.facts_start is not None else 0
    if findings_are_facts and b.findings_start is not None:
        facts_start = b.findings_start
    reasoning = full_text[b.reasoning_start : b.reasoning_end] if b.reasoning_start is not None else ""
    result = full_text[b.result_start : b.body_end] if b.result_start is not None else ""
    return Sections(
        facts=_trim(full_text[facts_start : b.facts_end]),
        reasoning=_trim(reasoning),
        result=_trim(result),
    )


def _trim(part: str) -> str:
    """Drop the separators a marker leaves behind (判决如下：，被告人… → 被告人…)."""
    return part.strip().lstrip("，,：:；;。").strip()


def has_sections(full_text: str) -> bool:
    """Whether any section marker (facts, findings, 本院认为, 判决如下) is found; a text without one
    is still indexed (as facts), but the build lists it."""
    b = _locate(full_text)
    return any(p is not None for p in (b.facts_start, b.findings_start, b.reasoning_start, b.result_start))


def header_of(full_text: str) -> str:
    """The part before the facts: court, title, 案号 and the party listing."""
    b = _locate(full_text)
    if b.facts_start is not None:
        return full_text[: b.facts_start].strip()
    return full_text[: min(b.facts_end, HEADER_FALLBACK_CHARS)].strip()
