"""类案裁判要点 as a judge would write it: the published holding, else the court's conclusion in whole sentences.

A guiding, 公报 or 入库 case carries a published 裁判要点/裁判摘要 (``Document.holding``): that is the
point and is used as published. An ordinary judgment has none, so the point is selected from its
reasoning, from "本院认为" on: the sentences that state the legal conclusion on the cause (构成……罪,
予以支持, 不予支持, 应当承担……) and the circumstances that decided it (自首, 数额巨大, 利息约定 …,
as ``retrieval.parsing.circumstances`` reads them). Sentences are kept whole and in the court's order;
one that only recites a statute or announces the judgment (依照……之规定，判决如下) is left out.

Why selection rather than a prefix: the first 200 characters of 本院认为 are often the charge sheet
repeated (公诉机关指控……) and the cut falls mid-sentence, which no judge would file.
"""

from __future__ import annotations

import re

from retrieval.document import Document
from retrieval.parsing.circumstances import extract_circumstances

HOLDING = "裁判要点"
REASONING = "裁判理由摘要"
KEY_POINT_CHARS = 260
"""Budget for the selected sentences; a single longer sentence is still kept whole (up to MAX_SENTENCE)."""
MAX_SENTENCE_CHARS = 400
"""A 'sentence' longer than this is a run-on paragraph; it is then cut at its last clause end (；)."""

_REASONING_START = "本院认为"
_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]*")
_CONCLUSION = re.compile(
    r"构成[^，。；]{0,20}罪|罪名成立|不构成|应当?(?:承担|支付|返还|赔偿|偿还|给付|认定|依法)|依法应|"
    r"予以支持|不予支持|应予支持|予以采纳|不予采纳|予以确认|不予确认|有效|无效|成立|"
    r"应(?:予|当)?(?:从轻|减轻|从重|免除)|可以(?:从轻|减轻|免除)|属于|系[^，。；]{0,12}(?:行为|关系|纠纷)"
)
_RECITAL = re.compile(r"判决如下|裁定如下|之规定[，,]?$|^依照|^根据《|^依据《|^综上所述[，,]?依照")
_OPENING = re.compile(r"^(?:本院认为|综上所述|综上)[，,：:]?")
_CHARGE_SHEET = re.compile(r"^(?:公诉机关|检察院)?指控|^原告诉称|^被告辩称|^上诉人.{0,10}上诉称")


def _sentences(text: str) -> list[str]:
    return [m.group().strip() for m in _SENTENCE.finditer(text) if m.group().strip()]


def _whole(sentence: str) -> str:
    if len(sentence) <= MAX_SENTENCE_CHARS:
        return sentence
    cut = sentence.rfind("；", 0, MAX_SENTENCE_CHARS)
    return sentence[: cut + 1] if cut > 0 else sentence[:MAX_SENTENCE_CHARS]


def _score(sentence: str, causes: list[str]) -> int:
    if _is_recital(sentence):
        return 0
    score = 0
    if any(cause and cause.rstrip("罪纠纷") in sentence for cause in causes):
        score += 2
    if _CONCLUSION.search(sentence):
        score += 2
    score += min(2, len(extract_circumstances(sentence)))
    return score


def _is_recital(sentence: str) -> bool:
    body = _OPENING.sub("", sentence)
    return bool(_RECITAL.search(body.rstrip("。")) or _CHARGE_SHEET.search(body))


def _select(text: str, causes: list[str]) -> str:
    start = text.find(_REASONING_START)
    sentences = _sentences(text[max(start, 0) :])
    scored = [(_score(s, causes), i) for i, s in enumerate(sentences)]
    if not any(score for score, _ in scored):
        # No sentence states a conclusion: the first one that is not a recital, else nothing.
        return next((_whole(s) for s in sentences if not _is_recital(s)), "")
    best_first = sorted((s for s in scored if s[0] > 0), key=lambda s: (-s[0], s[1]))
    chosen: list[int] = []
    used = 0
    for _, index in best_first:
        length = len(_whole(sentences[index]))
        if chosen and used + length > KEY_POINT_CHARS:
            continue
        chosen.append(index)
        used += length
    return "".join(_whole(sentences[i]) for i in sorted(chosen))


def reasoning_point(doc: Document) -> str:
    """Whole sentences of the reasoning that state the conclusion and its decisive circumstances.

    When the reasoning section yields nothing (a parser that left only the closing recital there),
    the full text's 本院认为 is read instead.
    """
    point = _select(doc.sections.reasoning.strip(), doc.causes)
    if not point and _REASONING_START in doc.full_text:
        point = _select(doc.full_text, doc.causes)
    return point


def key_point(doc: Document) -> tuple[str, str]:
    """(kind, text): the published 裁判要点 when the case has one, else the selected reasoning sentences."""
    if doc.holding and doc.holding.strip():
        return HOLDING, doc.holding.strip()
    return REASONING, reasoning_point(doc)
