"""Art. 6 marks: the judge who searched decides, result by result, 类案 or 非类案 and why.

Who may see a past search and who may mark it are decided here, from the ledger entry of the
search (a search the caller may not see is answered as if it did not exist); the mark is recorded
in the audit log before the ledger is written (fail-closed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from api.service.accounts import Principal, Role
from api.service.errors import ApiError, forbidden, invalid, not_found
from api.service.ledger import SearchEntry
from api.service.runtime import Services
from api.service.searching import ledger_errors, receipt
from retrieval.audit.records import DecisionRecord, Mark, utc_timestamp


def may_see_search(principal: Principal, entry: SearchEntry) -> bool:
    user = principal.user
    if user.role is Role.ADMIN or user.id == entry.user_id:
        return True
    return (
        user.role in (Role.PRESIDENT, Role.AUDITOR) and user.court is not None and user.court == entry.court
    )


def may_mark(principal: Principal, entry: SearchEntry) -> bool:
    """The judge who searched, or a 院长/庭长 of the same court (who may direct the comparison)."""
    user = principal.user
    if user.id == entry.user_id:
        return True
    return user.role is Role.PRESIDENT and user.court is not None and user.court == entry.court


def no_such_search(search_id: int) -> ApiError:
    return not_found(f"没有编号为 {search_id} 的检索", f"no search {search_id}")


def find_search(services: Services, search_id: int) -> SearchEntry:
    entry = services.accounts.ledger.search(search_id)
    if entry is None:
        raise no_such_search(search_id)
    return entry


def visible_search(services: Services, principal: Principal, search_id: int) -> SearchEntry:
    """The search, if the caller may see it; otherwise the very 404 of a missing id.

    A 403 would tell a judge of another court that the id exists: search ids are audit seqs,
    counted from 0, so every other court's searches could be probed one by one.
    """
    entry = find_search(services, search_id)
    if not may_see_search(principal, entry):
        raise no_such_search(search_id)
    return entry


def mark_results(
    services: Services, principal: Principal, client: str | None, search_id: int, marks: Sequence[Mark]
) -> dict[str, Any]:
    entry = visible_search(services, principal, search_id)
    if not may_mark(principal, entry):
        raise forbidden(
            "只有发起检索的法官或本院院长/庭长可以标注",
            "only the user who searched, or their court's president, may mark",
        )
    for i, mark in enumerate(marks):
        if mark.doc_id not in entry.doc_ids:
            raise invalid(
                f"marks.{i}.doc_id",
                f"{mark.doc_id} 不在该次检索结果中",
                f"{mark.doc_id} is not a result of search {search_id}",
            )
    decision = DecisionRecord(
        search_id=search_id,
        case_number=entry.case_number,
        trigger=entry.trigger,
        searched_by=entry.user_name,
        marks=tuple(marks),
    )
    appended = services.record(principal, client, decision)
    with ledger_errors():
        saved = services.accounts.ledger.record_decisions(
            search_id,
            principal.user,
            [(m.doc_id, m.label, m.reason) for m in marks],
            utc_timestamp(),
            appended.seq,
        )
    return {"search_id": search_id, "audit": receipt(appended), "decisions": [d.to_dict() for d in saved]}


def search_summary(services: Services, principal: Principal, search_id: int) -> dict[str, Any]:
    entry = visible_search(services, principal, search_id)
    return {
        "search_id": entry.search_id,
        "user": entry.user_name,
        "role": entry.role,
        "court": entry.court,
        "case_number": entry.case_number,
        "trigger": entry.trigger,
        "at": entry.at,
        "doc_ids": entry.doc_ids,
        "decisions": [d.to_dict() for d in services.accounts.ledger.decisions(search_id)],
    }
