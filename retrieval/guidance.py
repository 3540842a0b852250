"""The vocabulary of the SPC guidance on similar-case search that records, reports and the API share.

《关于统一法律适用加强类案检索的指导意见（试行）》(2020): Art. 2 says when a search is mandatory
(``Trigger``), Art. 6 has the judge decide, after comparing, whether each result is a similar case
(``DecisionLabel``). They live here, below the HTTP schemas, because the audit records, the
report, the batch reader and the periodic summary all spell them.
"""

from __future__ import annotations

from enum import StrEnum


class Trigger(StrEnum):
    """Why the search is mandatory: Art. 2 of the 2020 SPC guidance, plus two later duties.

    《关于统一法律适用加强类案检索的指导意见（试行）》 Art. 2 (一)–(四); 人民法院案例库 makes a search of
    the case database mandatory, and 四类案件 supervision (《关于完善人民法院审判权力和责任清单的指导意见》)
    asks for one when a president or chief judge supervises such a case.
    """

    MEETING = "拟提交专业法官会议或审委会讨论"
    NO_UNIFORM_RULE = "缺乏明确或统一裁判规则"
    PRESIDENT_REQUEST = "院庭长要求"
    OTHER = "其他"
    CASE_DATABASE = "人民法院案例库检索"
    FOUR_KINDS = "四类案件监督"
    SMART_PUSH = (
        "智能推送"  # the search run when a pending case subscribes to pushes (not Art. 2: counted apart)
    )


def chosen_by_judge(trigger: Trigger) -> Trigger:
    """``trigger`` if a judge may state it; 智能推送 is the service's own, counted apart (Art. 13).

    Raises ValueError otherwise, so a search filed by hand cannot swell the pushes' count.
    """
    if trigger is Trigger.SMART_PUSH:
        raise ValueError(
            "智能推送 is recorded by the service for a subscribed pending case, not chosen for a search"
        )
    return trigger


class DecisionLabel(StrEnum):
    """Art. 6: after comparing, the judge decides whether a result is a similar case (类案)."""

    SIMILAR = "类案"
    NOT_SIMILAR = "非类案"
