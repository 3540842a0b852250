"""The registry of guiding cases the SPC has stopped (不再参照): dated, sourced, shipped with the code.

The SPC can declare a guiding case no longer to be referenced (e.g. 《最高人民法院关于部分指导性案例
不再参照的通知》, 法〔2020〕343号, stopping 指导案例9号 and 20号 in view of the 民法典). Our data does not
mark such cases, and a judge must never be told to follow one, so the registry
(``resources/guiding_not_referenced.json``) is applied to every document at every index build and
``leian add`` (``withdrawn_by_registry``): the document is indexed withdrawn, with the notice as
the reason, so it is never served as citable and shows 不再参照 with that notice. ``leian
authority list|check`` prints the registry and what it does to an index.

Why a file and not a ``leian withdraw`` by hand: a rebuild from the same files would bring the
stopped case back, and nothing told whoever runs the index to withdraw it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from retrieval.citation import guiding_citation
from retrieval.document import AuthorityKind, Document

_RESOURCE = "guiding_not_referenced.json"
_FIELDS = ("number", "title", "stopped_on", "notice", "reason", "source")


@dataclass(frozen=True)
class StoppedGuidingCase:
    """One registry entry: which guiding case, when, by which notice, why, and where that was published."""

    number: str
    title: str
    stopped_on: dt.date
    notice: str
    reason: str
    source: str
    effective_from: dt.date | None = None

    def withdrawal_reason(self) -> str:
        """What the document's ``authority.withdrawn_reason`` says: the notice, its date and why."""
        return f"不再参照：{self.notice}，{self.stopped_on.isoformat()}；{self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "citation": guiding_citation(self.number),
            "title": self.title,
            "stopped_on": self.stopped_on.isoformat(),
            "effective_from": self.effective_from.isoformat() if self.effective_from else None,
            "notice": self.notice,
            "reason": self.reason,
            "source": self.source,
        }


def parse_registry(data: Any) -> dict[str, StoppedGuidingCase]:
    """Entries by guiding-case number; ValueError naming the entry and field when one is malformed."""
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError("registry: 'entries' must be a list")
    out: dict[str, StoppedGuidingCase] = {}
    for position, entry in enumerate(entries, 1):
        missing = [f for f in _FIELDS if not isinstance(entry, dict) or not str(entry.get(f) or "").strip()]
        if missing:
            raise ValueError(f"registry entry {position}: missing {', '.join(missing)}")
        number = str(int(str(entry["number"])))
        if number in out:
            raise ValueError(f"registry entry {position}: 指导案例{number}号 listed twice")
        effective = entry.get("effective_from")
        out[number] = StoppedGuidingCase(
            number=number,
            title=str(entry["title"]),
            stopped_on=dt.date.fromisoformat(str(entry["stopped_on"])),
            notice=str(entry["notice"]),
            reason=str(entry["reason"]),
            source=str(entry["source"]),
            effective_from=dt.date.fromisoformat(str(effective)) if effective else None,
        )
    return out


@cache
def registry() -> dict[str, StoppedGuidingCase]:
    """The shipped registry, by guiding-case number."""
    text = resources.files("retrieval.resources").joinpath(_RESOURCE).read_text(encoding="utf-8")
    return parse_registry(json.loads(text))


def stopped_entry(doc: Document) -> StoppedGuidingCase | None:
    """The registry entry that stops ``doc``, if it is a guiding case the registry lists."""
    auth = doc.authority
    if auth.kind is not AuthorityKind.GUIDING or not auth.number:
        return None
    try:
        number = str(int(auth.number))
    except ValueError:
        return None
    return registry().get(number)


def withdrawn_by_registry(doc: Document) -> Document:
    """``doc`` withdrawn with the notice as the reason when the registry stops it; else ``doc`` itself."""
    entry = stopped_entry(doc)
    if entry is None or doc.authority.withdrawn:
        return doc
    doc.authority = dataclasses.replace(
        doc.authority, withdrawn=True, withdrawn_reason=entry.withdrawal_reason()
    )
    return doc
