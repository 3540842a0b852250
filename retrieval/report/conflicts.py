"""Art. 11 裁判结果冲突提示 from structure: which outcomes differ, and why the two cases are comparable.

Two similar cases decided differently are a conflict only when the circumstances that decide the
outcome match; a 累犯 sent to prison and a first offender given 缓刑 is the law working, not a
conflict. So each shown case keeps an outcome profile (``outcome_profile``: the parsed criminal or
civil outcome plus its decisive circumstances) and a pair is compared when:

* both are of the same category (刑事/民事) and share a 罪名/案由 with the pending case (the caller
  checks the cause; only 类案-marked cases are offered, ``retrieval.report.model.find_conflicts``);
* criminal: the same 累犯 status and the same 主犯/从犯 roles (a joint case with a 累犯 is never set
  against a single first offender), and the same 涉案金额 band when both are known;
* civil: the same 涉案金额 band when both are known.

Outcomes differ when the kinds differ (无罪 / 免予刑事处罚 / 缓刑 / 实刑 / 单处罚金; a revoked
suspension is 实刑, ``retrieval.parsing.criminal_outcome``), when two 实刑 of the same 主刑 differ by
a factor of ``TERM_RATIO`` or more, or, in civil cases, when one claim was upheld (wholly or partly)
and the other dismissed (支持 against 部分支持 is a difference of extent, not of direction).
An outcome that cannot be read (驳回上诉，维持原判 …) never conflicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from retrieval.document import CaseCategory, Document
from retrieval.parsing.circumstances import amount_band, involved_amounts
from retrieval.parsing.civil_outcome import Disposition, civil_outcome
from retrieval.parsing.criminal_outcome import PenaltyKind, criminal_outcome

TERM_RATIO = 2.0
"""Two executed terms this many times apart (e.g. 1 year against 2) are flagged as 量刑明显不一致."""

Profile = Mapping[str, Any]


def is_criminal(doc: Document) -> bool:
    return doc.category is CaseCategory.CRIMINAL or "刑" in (doc.case_number or "")


def outcome_profile(doc: Document) -> dict[str, Any] | None:
    """The outcome of ``doc`` and what decides whether it may be compared; None when there is no result."""
    result = doc.sections.result
    if not result.strip():
        return None
    band = amount_band(involved_amounts(doc.sections.facts or doc.full_text))
    if is_criminal(doc):
        criminal = criminal_outcome(doc.full_text, result=result, reasoning=doc.sections.reasoning)
        return {**criminal.to_dict(), "amount_band": band}
    civil = civil_outcome(doc.full_text, result=result)
    return {
        "category": "civil",
        "kind": civil.disposition.value if civil.disposition else None,
        "awarded": float(sum(civil.awarded)) if civil.awarded else None,
        "amount_band": band,
    }


def _duration(months: int) -> str:
    years, rest = divmod(months, 12)
    return (f"{years}年" if years else "") + (f"{rest}个月" if rest else "")


def outcome_text(profile: Profile) -> str:
    """The outcome as a judge reads it: ``有期徒刑1年，缓刑1年6个月，罚金2000元``; the kind when no more is known."""
    kind = str(profile.get("kind") or "")
    if profile.get("category") == "civil":
        awarded = profile.get("awarded")
        return f"{kind}（判付{awarded:g}元）" if awarded and kind != Disposition.DISMISSED else kind
    principal = profile.get("principal")
    if not principal:
        return kind
    months = profile.get("term_months")
    parts = [f"{principal}{_duration(int(months)) if months else ''}"]
    if kind == PenaltyKind.SUSPENDED and profile.get("probation_months"):
        parts.append(f"缓刑{_duration(int(profile['probation_months']))}")
    if profile.get("revoked_suspension"):
        parts.append("撤销缓刑后执行")
    if profile.get("fine"):
        parts.append(f"罚金{float(profile['fine']):g}元")
    return "，".join(parts)


def _roles(profile: Profile) -> str:
    return "、".join(profile.get("roles") or ()) or "无主从犯之分"


def comparability(a: Profile, b: Profile) -> tuple[list[str], str | None]:
    """(why the two are comparable, why not): the second is None when they may be compared."""
    if a.get("category") != b.get("category"):
        return [], "案件类型不同"
    same: list[str] = []
    if a.get("category") == "criminal":
        if bool(a.get("recidivist")) != bool(b.get("recidivist")):
            return [], "一案系累犯，另一案不是"
        same.append("均系累犯" if a.get("recidivist") else "均非累犯")
        if sorted(a.get("roles") or ()) != sorted(b.get("roles") or ()):
            return [], f"主从犯地位不同（{_roles(a)}／{_roles(b)}）"
        same.append("均有" + _roles(a) if a.get("roles") else "均无主从犯之分")
    band_a, band_b = a.get("amount_band"), b.get("amount_band")
    if band_a and band_b:
        if band_a != band_b:
            return [], f"涉案金额档次不同（{band_a}／{band_b}）"
        same.append(f"涉案金额均在{band_a}")
    return same, None


def outcome_difference(a: Profile, b: Profile) -> str | None:
    """How the two outcomes differ, or None when they agree or one cannot be read."""
    kind_a, kind_b = a.get("kind"), b.get("kind")
    if not kind_a or not kind_b:
        return None
    if a.get("category") == "civil" or b.get("category") == "civil":
        granted = {Disposition.UPHELD.value, Disposition.PARTLY_UPHELD.value}
        if kind_a != kind_b and not {kind_a, kind_b} <= granted:
            return f"{kind_a}／{kind_b}"
        return None
    if kind_a != kind_b:
        return f"{kind_a}／{kind_b}"
    months_a, months_b = a.get("term_months"), b.get("term_months")
    if (
        kind_a == PenaltyKind.CUSTODIAL
        and a.get("principal") == b.get("principal")
        and months_a
        and months_b
        and max(months_a, months_b) >= TERM_RATIO * min(months_a, months_b)
    ):
        return f"刑期相差悬殊（{outcome_text(a)}／{outcome_text(b)}）"
    return None
