"""文书辅助 (Art. 10): a draft paragraph of the judgment's reasoning answering a cited case.

Art. 10 of the SPC 2020 guidance: when the prosecution or a party cites a guiding case, the court
answers in the reasoning whether it is followed and why; when it cites another similar case, the
court may answer by explanation. The paragraph is drafted from what the record already holds: the
comparison the judge was shown (the explanation in the search's snapshot: what the two cases share
and where they differ, ``retrieval.differences``) and the judge's Art. 6 mark with its reason.
It is a draft for the judge to edit, never filed automatically, and producing it is audited
(``DraftRecord``). Without a mark there is no conclusion to draft: the caller refuses.

The wording follows what courts write: ``公诉机关援引的指导案例N号……与本案在……方面相同，但……。
经比对，……，故本案应当参照/不予参照……``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from retrieval.audit.records import ShownResult
from retrieval.citation import missing_for_citation
from retrieval.document import AuthorityKind
from retrieval.guidance import DecisionLabel

CITERS = (
    "公诉机关",
    "原告",
    "被告",
    "上诉人",
    "被上诉人",
    "申请人",
    "被申请人",
    "第三人",
    "辩护人",
    "诉讼代理人",
    "被告人",
)
"""Who may cite a case to the court, as a judgment names them."""
DRAFT_NOTICE = "本段为根据类案比对结果生成的草稿，须由承办法官审核修改，不自动写入裁判文书。"
_PENDING = "本案"
_OTHER = "该案"


def _cited_case(shown: ShownResult) -> str:
    """``指导案例901号（龚小川盗窃案）`` or ``（2023）浙0106刑初123号案件（周建平盗窃案）``."""
    citation = shown.citation or shown.case_number or shown.doc_id
    title = f"（{shown.title}）" if shown.title and shown.title != citation else ""
    if shown.authority_kind == AuthorityKind.GUIDING.value:
        return f"{citation}{title}"
    return f"{citation}案件{title}"


def _same(explanation: Mapping[str, Any], criminal: bool) -> list[str]:
    same = []
    if explanation.get("shared_causes"):
        same.append(f"{'罪名' if criminal else '案由'}（{'、'.join(explanation['shared_causes'])}）")
    if explanation.get("shared_articles"):
        articles = [str(a).replace(" ", "") for a in explanation["shared_articles"][:4]]
        same.append(f"适用法律（{'、'.join(articles)}）")
    if explanation.get("shared_circumstances"):
        kind = "量刑情节" if criminal else "案件情节"
        same.append(f"{kind}（均有{'、'.join(explanation['shared_circumstances'])}）")
    if explanation.get("shared_amount_band"):
        same.append(f"涉案金额（均在{explanation['shared_amount_band']}）")
    return same


def _differences(differences: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each difference as a clause of the paragraph; one-sided circumstances grouped per side."""
    clauses: list[str] = []
    theirs_only = [
        str(d["aspect"]) for d in differences if d.get("source") == "circumstance" and d.get("case_value")
    ]
    ours_only = [
        str(d["aspect"]) for d in differences if d.get("source") == "circumstance" and d.get("query_value")
    ]
    for d in differences:
        source = d.get("source")
        if source == "circumstance":
            continue
        theirs, ours, aspect = d.get("case_value"), d.get("query_value"), str(d.get("aspect") or "")
        if source == "role":
            said = [
                f"{who}被告人系{value}" if value else f"{who}未载明被告人在共同犯罪中的地位作用"
                for who, value in ((_OTHER, theirs), (_PENDING, ours))
            ]
        else:
            said = [
                f"{who}{aspect}为{value}" if value else f"{who}未载明{aspect}"
                for who, value in ((_OTHER, theirs), (_PENDING, ours))
            ]
        clauses.append("，".join(said))
    if theirs_only:
        clauses.append(f"{_OTHER}有{'、'.join(theirs_only)}情节，{_PENDING}未见")
    if ours_only:
        clauses.append(f"{_PENDING}有{'、'.join(ours_only)}情节，{_OTHER}未见")
    return clauses


def _reason(text: str) -> str:
    return text.strip().rstrip("。；;，,.")


def draft_reasoning(
    shown: ShownResult,
    mark: tuple[str, str],
    cited_by: str,
    *,
    criminal: bool | None = None,
    withdrawn: str | None = None,
) -> str:
    """The draft paragraph on ``shown`` cited by ``cited_by``, concluding from the judge's ``mark``.

    ``criminal`` picks 罪名/量刑情节 or 案由/案件情节 (None: from the cited case's outcome or 案号).
    ``withdrawn`` (the reason) when the cited case has been stopped since: it is then not followed
    whatever the mark, nor is a case without 案号, court or date (不可引用, ``retrieval.citation``).
    Raises ValueError on an unknown citer or mark label.
    """
    if cited_by not in CITERS:
        raise ValueError(f"cited_by: must be one of {'、'.join(CITERS)}")
    label, reason = mark
    if label not in (DecisionLabel.SIMILAR.value, DecisionLabel.NOT_SIMILAR.value):
        raise ValueError(f"mark: must be 类案 or 非类案, not {label!r}")
    explanation = shown.explanation or {}
    if criminal is None:
        category = (shown.outcome_detail or {}).get("category")
        criminal = category == "criminal" if category else "刑" in (shown.case_number or "")
    guiding = shown.authority_kind == AuthorityKind.GUIDING.value
    kind = "该指导性案例" if guiding else "该案例"
    opening = f"{cited_by}援引的{_cited_case(shown)}"
    same = _same(explanation, criminal)
    differing = _differences(list(explanation.get("differences") or ()))
    sentence = opening + (
        f"与{_PENDING}在{'、'.join(same)}方面相同"
        if same
        else f"与{_PENDING}在{'罪名' if criminal else '案由'}、适用法律等方面均不相同"
    )
    if differing:
        sentence += "，但" + "；".join(differing)
    parts = [sentence + "。"]
    if reason.strip():
        parts.append(f"经比对，{_reason(reason)}。")
    missing = missing_for_citation(
        shown.case_number, (shown.court or {}).get("name"), shown.decision_date, shown.authority_kind
    )
    if withdrawn:
        parts.append(f"{kind}已被停止参照（{_reason(withdrawn)}），故{_PENDING}不予参照。")
    elif missing:
        parts.append(f"{kind}缺少{'、'.join(missing)}，无从核实，故{_PENDING}不予参考。")
    elif label == DecisionLabel.SIMILAR.value:
        despite = "上述差异不影响二者在基本案情和法律适用方面的相似性，" if differing else ""
        verb = "应当参照该指导性案例作出裁判" if guiding else "可以参考该案例作出裁判"
        parts.append(f"{despite}{_PENDING}与{kind}属于类案，故{_PENDING}{verb}。")
    else:
        verb = "不予参照" if guiding else "不予参考"
        parts.append(f"二者在基本案情和法律适用方面不相类似，故{_PENDING}{verb}。")
    return "".join(parts)
