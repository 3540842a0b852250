"""文书辅助 (Art. 10): the draft paragraph answering a case a party or the prosecution cited.

The paragraph is drafted from the search record (the snapshot of the comparison the judge was
shown; an older record without one is replayed on the same build) and the judge's Art. 6 mark as
it stands (``retrieval.report.draft``). Who may ask is who may mark: the judge who searched, or a
院长/庭长 of the same court. A case not yet marked gets no draft: the conclusion is the judge's.
The ``draft`` audit record is written before the text is returned (fail-closed), with the text's
SHA-256, so a paragraph later found in a judgment can be traced to its draft.
"""

from __future__ import annotations

import hashlib
from typing import Any

from api.service.accounts import Principal
from api.service.errors import ApiError, forbidden, invalid
from api.service.marks import find_search, may_mark
from api.service.reports import marks_of, read_search_record, report_unavailable
from api.service.runtime import Services
from api.service.searching import receipt
from retrieval.audit.records import DraftRecord, SearchRecord, ShownResult
from retrieval.report.draft import CITERS, DRAFT_NOTICE, draft_reasoning
from retrieval.report.model import SearchShown
from retrieval.report.replay import ReplayError, record_time, replay_search, shown_search, withdrawn_since


def not_marked(doc_id: str) -> ApiError:
    return ApiError(
        409,
        "not_marked",
        f"请先对 {doc_id} 作出类案/非类案标注，再生成回应草稿",
        f"mark {doc_id} 类案 or 非类案 before drafting the answer to it",
        fields=["doc_id"],
    )


def _shown(services: Services, record: SearchRecord, at: str) -> tuple[ShownResult, ...]:
    searched = shown_search(record)
    if searched is not None:
        return searched.shown
    store = services.index()
    with store.exclusive():
        try:
            response, _ = replay_search(store, record, record_time(at))
        except ReplayError as exc:
            raise report_unavailable(exc) from exc
    return SearchShown.of_response(response).shown


def draft_answer(
    services: Services, principal: Principal, client: str | None, search_id: int, doc_id: str, cited_by: str
) -> dict[str, Any]:
    """POST /searches/{id}/drafts: the draft paragraph on ``doc_id`` as cited by ``cited_by`` (audited)."""
    if cited_by not in CITERS:
        raise invalid("cited_by", f"须为{'、'.join(CITERS)}之一", f"must be one of {', '.join(CITERS)}")
    entry = find_search(services, search_id)
    if not may_mark(principal, entry):
        raise forbidden(
            "只有发起检索的法官或本院院长/庭长可以生成回应草稿",
            "only the user who searched, or their court's president, may draft",
        )
    if doc_id not in entry.doc_ids:
        raise invalid(
            "doc_id", f"{doc_id} 不在该次检索结果中", f"{doc_id} is not a result of search {search_id}"
        )
    mark = marks_of(services, search_id).get(doc_id)
    if mark is None:
        raise not_marked(doc_id)
    record, _ = read_search_record(services, search_id)
    searched = SearchRecord.from_payload(record.payload)
    shown = next((s for s in _shown(services, searched, record.at) if s.doc_id == doc_id), None)
    if shown is None:  # the ledger and the record disagree: never draft from another search's case
        raise invalid(
            "doc_id", f"{doc_id} 不在该次检索记录中", f"{doc_id} is not in the record of search {search_id}"
        )
    store = services.index()
    with store.exclusive():
        gone = withdrawn_since(store, [doc_id]).get(doc_id)
    text = draft_reasoning(shown, mark, cited_by, withdrawn=gone)
    appended = services.record(
        principal,
        client,
        DraftRecord(
            search_id=search_id,
            case_number=searched.case_number,
            doc_id=doc_id,
            cited_by=cited_by,
            mark=mark[0],
            text_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        ),
    )
    return {
        "search_id": search_id,
        "doc_id": doc_id,
        "cited_by": cited_by,
        "mark": mark[0],
        "draft": text,
        "notice": DRAFT_NOTICE,
        "audit": receipt(appended),
    }
