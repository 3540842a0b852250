"""智能推送 over HTTP: pending cases (register, list, view, close) and the inbox (list, open, decide, live).

Registering is the judge's own act (承办法官, for their court); a case-management export is imported
by the operator with ``leian pending import``. The inbox's live updates are Server-Sent Events
(``GET /api/v1/inbox/events``): an ``inbox`` event with the unread count and the latest item id
whenever either changes; the stream closes after ``timeout`` seconds and the page reconnects.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.http.deps import ClientDep, PrincipalDep, require_roles
from api.http.schemas import SQLITE_INT_MAX, ErrorOut, RowId, _Request
from api.service import pending_cases
from api.service.accounts import Principal, Role
from api.service.push.service import PushService
from retrieval.document import CaseCategory

router = APIRouter(prefix="/api/v1", tags=["pending cases and pushes"])

Judge = Annotated[Principal, Depends(require_roles(Role.JUDGE))]
Viewer = Annotated[Principal, Depends(require_roles(Role.JUDGE, Role.PRESIDENT, Role.AUDITOR))]
LIVE_POLL_S = 0.5


def get_push(request: Request) -> PushService:
    return request.app.state.push


PushDep = Annotated[PushService, Depends(get_push)]


class SubscriptionBody(_Request):
    """A pending case (待决案件) to subscribe to pushes; the court is the judge's account's."""

    case_number: str = Field(min_length=1, max_length=64, description="案号, e.g. （2025）浙0106刑初88号")
    facts: str = Field(min_length=1, max_length=200_000, description="基本案情: what pushes are matched on")
    causes: list[str] = Field(default_factory=list, max_length=20, description="罪名/案由")
    articles: list[str] = Field(default_factory=list, max_length=40, description="法条")
    category: CaseCategory | None = Field(default=None, description="刑事 / 民事 / 行政 / …")
    dispute_focus: str | None = Field(default=None, max_length=4000, description="争议焦点")
    judge: str | None = Field(default=None, max_length=100, description="承办法官 account: the caller's")
    status: Literal["在办", "结案"] = "在办"


class DecisionBody(_Request):
    decision: Literal["accept", "dismiss"]
    reason: str = Field(default="", max_length=2000, description="required to dismiss")


class PendingCaseOut(BaseModel):
    id: int
    court: str
    case_number: str
    judge: str
    status: str
    causes: list[str]
    articles: list[str]
    category: str | None = None
    dispute_focus: str | None = None
    facts: str
    created_at: str
    closed_at: str | None = None
    search_id: int | None = None
    causes_used: list[str] = []
    search: dict[str, Any] | None = None


class PendingListOut(BaseModel):
    cases: list[PendingCaseOut]


class InboxOut(BaseModel):
    unread: int
    items: list[dict[str, Any]]


@router.post(
    "/pending-cases",
    response_model=PendingCaseOut,
    status_code=201,
    summary="Register a pending case: one audited search (智能推送), results to the inbox, pushes from then on",
    responses={
        409: {"model": ErrorOut, "description": "案号 already registered in this court (existing_id)"},
        422: {"model": ErrorOut, "description": "invalid field (named): no facts, unknown cause …"},
    },
)
def register(body: SubscriptionBody, principal: Judge, push: PushDep, client: ClientDep) -> Any:
    data = pending_cases.PendingInput(
        case_number=body.case_number,
        facts=body.facts,
        causes=tuple(c for c in body.causes if c),
        articles=tuple(a for a in body.articles if a),
        category=body.category.value if body.category else None,
        dispute_focus=body.dispute_focus,
        judge=body.judge,
        status=body.status,
    )
    return pending_cases.register(push, principal, data, client)


@router.get("/pending-cases", response_model=PendingListOut, summary="Pending cases the caller may see")
def list_cases(
    principal: Viewer,
    push: PushDep,
    status: Annotated[Literal["在办", "结案"] | None, Query(description="在办 or 结案")] = None,
) -> Any:
    return {"cases": [c.to_dict() for c in pending_cases.visible_cases(push, principal, status)]}


@router.get("/pending-cases/{case_id}", response_model=PendingCaseOut, summary="One pending case")
def get_case(case_id: RowId, principal: PrincipalDep, push: PushDep) -> Any:
    return pending_cases.get_case(push, principal, case_id).to_dict()


@router.post(
    "/pending-cases/{case_id}/close",
    response_model=PendingCaseOut,
    summary="结案: the case's subscription ends (recorded)",
)
def close_case(case_id: RowId, principal: PrincipalDep, push: PushDep, client: ClientDep) -> Any:
    return pending_cases.close(push, principal, case_id, client)


@router.get("/inbox", response_model=InboxOut, summary="Pushes and alerts for the caller's pending cases")
def inbox(
    principal: Viewer,
    push: PushDep,
    since_id: Annotated[int, Query(ge=0, le=SQLITE_INT_MAX, description="only items after this id")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> Any:
    return pending_cases.inbox(push, principal, since_id=since_id, limit=limit)


@router.get(
    "/inbox/events",
    summary="Live inbox updates (Server-Sent Events): unread count and latest item id",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "an event stream"}},
)
def inbox_events(
    principal: Viewer,
    push: PushDep,
    timeout: Annotated[float, Query(ge=0, le=60, description="seconds before the stream closes")] = 25.0,
) -> StreamingResponse:
    pending_cases.visible_cases(push, principal)  # refused (403) before the stream starts

    async def events() -> AsyncIterator[str]:
        deadline = time.monotonic() + timeout
        last: tuple[int, int] | None = None
        yield "retry: 3000\n\n"
        while True:
            marker = await anyio.to_thread.run_sync(pending_cases.unread_marker, push, principal)
            if marker != last:
                last = marker
                data = json.dumps({"unread": marker[0], "latest_id": marker[1]})
                yield f"event: inbox\ndata: {data}\n\n"
            if time.monotonic() >= deadline:
                return
            await anyio.sleep(LIVE_POLL_S)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/inbox/{item_id}", summary="One push (marked read when its judge opens it)")
def open_item(item_id: RowId, principal: PrincipalDep, push: PushDep) -> Any:
    return pending_cases.open_item(push, principal, item_id)


@router.post(
    "/inbox/{item_id}/decision",
    summary="Accept or dismiss a push, with a reason (recorded)",
    responses={409: {"model": ErrorOut, "description": "already accepted or dismissed"}},
)
def decide(
    item_id: RowId, body: DecisionBody, principal: PrincipalDep, push: PushDep, client: ClientDep
) -> Any:
    return pending_cases.decide(push, principal, item_id, body.decision, body.reason, client)
