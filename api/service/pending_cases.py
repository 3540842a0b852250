"""Pending cases (待决案件) as subscriptions to 智能推送, and the inbox where their pushes land.

Registering a case runs the mandatory search once (trigger 智能推送, recorded like any search, as the
承办法官's) and puts its results in the judge's inbox; from then on every published build is matched
against the case (``api.service.push.service``) until it is closed (结案). A case is seen by its
judge, and by the 院长/庭长 and 审判管理 of its court; only its judge accepts or dismisses a push.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from api.service.accounts import Principal, Role, User
from api.service.errors import ApiError, forbidden, invalid, not_found
from api.service.push.service import PushService, idempotency_key, webhook_payload
from api.service.push.store import ACCEPTED, CLOSED, DISMISSED, OPEN, RESULTS, NewItem, PendingCaseRow
from api.service.report_batch.pending import known_cause
from api.service.searching import SearchInput, execute_search
from retrieval.audit.records import PushRecord, utc_timestamp
from retrieval.document import CaseCategory
from retrieval.guidance import Trigger
from retrieval.parsing.courts import parse_court
from retrieval.request import SearchRequest
from retrieval.tiers import Tier

MAX_CASE_NUMBER = 64
OVERSEERS = frozenset({Role.PRESIDENT, Role.AUDITOR})
"""Who sees every pending case of their court besides its judge."""


@dataclass(frozen=True)
class PendingInput:
    """A pending case as given (HTTP body, import row), before it is checked."""

    case_number: str
    facts: str
    causes: tuple[str, ...] = ()
    articles: tuple[str, ...] = ()
    category: str | None = None
    dispute_focus: str | None = None
    judge: str | None = None
    court: str | None = None
    status: str = OPEN

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> PendingInput:
        """From an import row (keys as ``leian report batch`` reads them, or the API's)."""

        def text(*keys: str) -> str | None:
            for key in keys:
                value = row.get(key)
                if isinstance(value, str) and value.strip():
                    return value.strip()
            return None

        def items(*keys: str) -> tuple[str, ...]:
            for key in keys:
                value = row.get(key)
                if isinstance(value, list):
                    return tuple(str(v).strip() for v in value if str(v).strip())
                if isinstance(value, str) and value.strip():
                    return tuple(
                        p
                        for p in value.replace("，", "、").replace(",", "、").replace(";", "、").split("、")
                        if p.strip()
                    )
            return ()

        return cls(
            case_number=text("case_number", "案号") or "",
            facts=text("facts", "基本案情", "案情") or "",
            causes=items("causes", "charges", "罪名", "案由", "罪名/案由"),
            articles=items("articles", "法条"),
            category=text("category", "案件类别"),
            dispute_focus=text("dispute_focus", "争议焦点"),
            judge=text("judge", "承办法官"),
            court=text("court", "法院"),
            status=text("status", "状态") or OPEN,
        )


def _conflict(existing: PendingCaseRow) -> ApiError:
    return ApiError(
        409,
        "conflict",
        f"该法院已登记此案号的待决案件（编号 {existing.id}）",
        f"case_number: already registered in this court (id {existing.id})",
        fields=["case_number"],
        extra={"existing_id": existing.id},
    )


def _check(data: PendingInput) -> PendingInput:
    """Refuse what cannot be a subscription, naming the field (422)."""
    case_number = data.case_number.strip()
    if not case_number:
        raise invalid("case_number", "必填（案号）", "required")
    if len(case_number) > MAX_CASE_NUMBER:
        raise invalid(
            "case_number", f"不得超过 {MAX_CASE_NUMBER} 字", f"at most {MAX_CASE_NUMBER} characters"
        )
    if not data.facts.strip():
        raise invalid(
            "facts", "必填：基本案情是推送比对的依据", "required: the facts are what pushes are matched on"
        )
    unknown = [c for c in data.causes if not known_cause(c)]
    if unknown:
        raise invalid(
            "causes", f"未知的罪名/案由：{'、'.join(unknown)}", f"unknown cause(s): {', '.join(unknown)}"
        )
    if data.category is not None and data.category not in {c.value for c in CaseCategory}:
        choices = " / ".join(c.value for c in CaseCategory)
        raise invalid("category", f"应为 {choices}", f"must be one of {choices}")
    if data.status not in (OPEN, CLOSED):
        raise invalid("status", "应为 在办 或 结案", "must be 在办 or 结案")
    return data


def _judge_and_court(push: PushService, principal: Principal, data: PendingInput) -> tuple[User, str]:
    """The 承办法官 account and the court: a judge registers their own case; 院庭长/审判管理 one of
    their court naming its judge; the operator (admin, the import) any court's, naming its judge."""
    accounts = push.services.accounts
    me = principal.user
    if me.role is Role.JUDGE:
        if data.judge not in (None, me.name):
            raise forbidden("承办法官只能登记本人承办的案件", "a judge registers only their own cases")
        if data.court not in (None, me.court):
            raise forbidden("不能为其他法院登记案件", "cannot register a case of another court")
        return me, str(me.court)
    if me.role in OVERSEERS or me.role is Role.ADMIN:
        if not data.judge:
            raise invalid("judge", "必填：承办法官账户", "required: the judge's account")
        judge = accounts.user(data.judge)
        if judge is None or judge.disabled or judge.role is not Role.JUDGE:
            raise invalid("judge", "不是承办法官账户", "is not a judge's account")
        court = data.court or judge.court
        if me.role is not Role.ADMIN and court != me.court:
            raise forbidden("不能为其他法院登记案件", "cannot register a case of another court")
        if judge.court != court:
            raise invalid("judge", "该承办法官不属于此法院", "the judge is not of this court")
        return judge, str(court)
    raise forbidden(
        "此操作仅限承办法官、院长/庭长、审判管理", "only for judges, presidents and case management"
    )


def register(
    push: PushService, principal: Principal, data: PendingInput, client: str | None
) -> dict[str, Any]:
    """Register, search once (智能推送), put the results in the inbox; 409 for a known 案号."""
    data = _check(data)
    judge, court = _judge_and_court(push, principal, data)
    store = push.store
    existing = store.case_by_number(court, data.case_number.strip())
    if existing is not None:
        raise _conflict(existing)
    push.check_index()  # match earlier builds first, so this case is matched only against later ones
    request = SearchRequest(
        facts=data.facts,
        case_number=data.case_number.strip(),
        requesting_court=parse_court(court),
        charges=list(data.causes),
        articles=list(data.articles),
    )
    job = SearchInput(request, data.case_number.strip(), Trigger.SMART_PUSH, None, "pending-cases", None)
    # The search's record commits on its own, as every search's: its ledger row (written next, by
    # the accounts' connection) must never name a record that the case's rollback would take back.
    with store.transaction(join_audit=False) as conn:
        if store.case_by_number(court, data.case_number.strip()) is not None:
            raise _conflict(store.case_by_number(court, data.case_number.strip()))  # type: ignore[arg-type]
        case_id = store.insert_case(
            conn,
            {
                "court": court,
                "case_number": data.case_number.strip(),
                "judge": judge.name,
                "category": data.category,
                "causes": list(data.causes),
                "facts": data.facts,
                "articles": list(data.articles),
                "dispute_focus": data.dispute_focus,
                "created_at": utc_timestamp(),
            },
        )
        # The search is the judge's, recorded before anything is kept; a refusal rolls the case back.
        executed = execute_search(push.services, Principal(judge, "push"), client, job)
        results = executed.response.results
        higher = any(r.tier is not None and r.tier <= Tier.PROVINCIAL_HIGH for r in results)
        store.set_search(conn, case_id, executed.appended.seq, list(executed.response.causes_used), higher)
        store.add_case_docs(conn, case_id, [r.document.doc_id for r in results], "search")
        body = {
            "search_id": executed.appended.seq,
            "result_count": len(results),
            "results": [
                {
                    "doc_id": r.document.doc_id,
                    "title": r.document.title or None,
                    "tier": int(r.tier) if r.tier is not None else None,
                    "effect": r.effect,
                    "score": round(float(r.score), 6),
                }
                for r in results
            ],
            "why": f"登记待决案件后的首次类案检索（智能推送），共 {len(results)} 件结果",
        }
        item = NewItem(case_id, RESULTS, "", push.services.index().version, body)
        item_id = store.insert_item(conn, item, executed.appended.seq)
        if item_id is not None and store.webhook(court) is not None:
            case = PendingCaseRow(
                case_id,
                court,
                data.case_number.strip(),
                judge.name,
                data.category,
                list(data.causes),
                data.facts,
                list(data.articles),
                data.dispute_focus,
                OPEN,
                "",
                None,
                None,
                [],
                higher,
            )
            payload = webhook_payload(case, item_id, item, executed.appended.seq)
            store.enqueue(conn, item_id, court, idempotency_key(case_id, RESULTS, ""), payload)
    push.wake()
    created = store.case(case_id)
    assert created is not None
    if data.status == CLOSED:
        return close(push, principal, case_id, client)
    return {**created.to_dict(), "search": {"search_id": executed.appended.seq, "result_count": len(results)}}


def can_see(principal: Principal, case: PendingCaseRow) -> bool:
    user = principal.user
    if user.name == case.judge:
        return True
    return user.role in OVERSEERS and user.court == case.court


def visible_cases(push: PushService, principal: Principal, status: str | None = None) -> list[PendingCaseRow]:
    user = principal.user
    if user.role in OVERSEERS:
        return push.store.cases(court=user.court, status=status)
    if user.role is Role.JUDGE:
        return push.store.cases(judge=user.name, status=status)
    raise forbidden(
        "此操作仅限承办法官、院长/庭长、审判管理", "only for judges, presidents and case management"
    )


def get_case(push: PushService, principal: Principal, case_id: int) -> PendingCaseRow:
    case = push.store.case(case_id)
    if case is None:
        raise not_found("没有该待决案件", "no such pending case")
    if not can_see(principal, case):
        raise forbidden(
            "仅承办法官及本院院庭长、审判管理可查看", "only its judge and their court's overseers"
        )
    return case


def close(push: PushService, principal: Principal, case_id: int, client: str | None) -> dict[str, Any]:
    """结案: the subscription ends (no more pushes); recorded."""
    case = get_case(push, principal, case_id)
    if principal.user.name != case.judge and principal.user.role not in OVERSEERS:
        raise forbidden("仅承办法官或院庭长可结案", "only the judge or an overseer closes a case")
    if case.status == CLOSED:
        return case.to_dict()
    with push.store.transaction() as conn:
        (now,) = conn.execute("SELECT status FROM pending_cases WHERE id = ?", (case.id,)).fetchone()
        if now != CLOSED:  # else closed through another node since it was read: one 结案 record
            push.store.close_case(conn, case.id, utc_timestamp())
            push.services.record(
                principal,
                client,
                PushRecord("close", case.case_number, case.court, case.id, None, (), "结案"),
            )
    closed = push.store.case(case.id)
    assert closed is not None
    return closed.to_dict()


# -- the inbox ---------------------------------------------------------------------------------------


def inbox(push: PushService, principal: Principal, *, since_id: int = 0, limit: int = 200) -> dict[str, Any]:
    case_ids = [c.id for c in visible_cases(push, principal)]
    return {
        "unread": push.store.unread(case_ids),
        "items": push.store.items(case_ids, since_id=since_id, limit=limit),
    }


def unread_marker(push: PushService, principal: Principal) -> tuple[int, int]:
    """(unread count, latest item id) of what the caller sees: what the live stream watches."""
    case_ids = [c.id for c in visible_cases(push, principal)]
    items = push.store.items(case_ids, limit=1)
    return push.store.unread(case_ids), (items[0]["id"] if items else 0)


def _item_for(push: PushService, principal: Principal, item_id: int) -> tuple[dict[str, Any], PendingCaseRow]:
    item = push.store.item(item_id)
    case = push.store.case(item["pending_id"]) if item else None
    if item is None or case is None:
        raise not_found("没有该推送", "no such push")
    if not can_see(principal, case):
        raise forbidden(
            "仅承办法官及本院院庭长、审判管理可查看", "only its judge and their court's overseers"
        )
    return item, case


def open_item(push: PushService, principal: Principal, item_id: int) -> dict[str, Any]:
    _item, case = _item_for(push, principal, item_id)
    if principal.user.name == case.judge:
        push.store.mark_read(item_id)  # read by its judge; an overseer's look leaves it unread
    refreshed = push.store.item(item_id)
    assert refreshed is not None
    return refreshed


def _decided(state: str) -> ApiError:
    return ApiError(409, "conflict", "该推送已处理", f"the push was already {state}", extra={"state": state})


def decide(
    push: PushService, principal: Principal, item_id: int, decision: str, reason: str, client: str | None
) -> dict[str, Any]:
    """The judge accepts or dismisses a push (with a reason); recorded; a dismissed document is never pushed again."""
    item, case = _item_for(push, principal, item_id)
    if principal.user.name != case.judge:
        raise forbidden("仅承办法官可处理推送", "only the case's judge accepts or dismisses a push")
    if decision not in ("accept", "dismiss"):
        raise invalid("decision", "应为 accept 或 dismiss", "must be accept or dismiss")
    reason = reason.strip()
    if decision == "dismiss" and not reason:
        raise invalid("reason", "驳回推送须说明理由", "a dismissal needs a reason")
    if item["state"] in (ACCEPTED, DISMISSED):
        raise _decided(item["state"])
    state = ACCEPTED if decision == "accept" else DISMISSED
    with push.store.transaction() as conn:
        # read again under the store's write lock: a request to another node may have decided it since
        (now,) = conn.execute("SELECT state FROM inbox WHERE id = ?", (item_id,)).fetchone()
        if now in (ACCEPTED, DISMISSED):
            raise _decided(now)
        push.store.decide(conn, item_id, state, principal.user.name, reason)
        push.services.record(
            principal,
            client,
            PushRecord(
                decision,
                case.case_number,
                case.court,
                case.id,
                item.get("build_id"),
                ({"doc_id": item.get("doc_id"), "inbox_id": item_id, "kind": item["kind"]},),
                reason or None,
            ),
        )
    decided = push.store.item(item_id)
    assert decided is not None
    return decided


def import_rows(push: PushService, principal: Principal, rows: list[Any]) -> list[dict[str, Any]]:
    """Register each row of a case-management export; a bad row is reported and the rest go on."""
    out: list[dict[str, Any]] = []
    for number, row in enumerate(rows, 1):
        try:
            if not isinstance(row, Mapping):
                raise invalid("row", str(row), str(row))
            created = register(push, principal, PendingInput.from_mapping(row), "cli")
            out.append(
                {
                    "row": number,
                    "id": created["id"],
                    "case_number": created["case_number"],
                    "status": "registered",
                }
            )
        except ApiError as exc:
            existing = exc.extra.get("existing_id")
            out.append(
                {
                    "row": number,
                    "case_number": row.get("case_number") or row.get("案号")
                    if isinstance(row, Mapping)
                    else None,
                    "status": "exists" if existing is not None else "refused",
                    "id": existing,
                    "error": exc.message_en,
                }
            )
    return out
