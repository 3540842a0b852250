"""Who reads which audit records, and the export, checkpoint and proof answers built on ``AuditLog``.

Scope by role: 承办法官 and 法官助理 read their own records; 院长/庭长 and 审判管理 read their court's
(审判管理 also exports them); admin reads and exports everything. A filter asking for more than the
role allows (another court, or a user of another court) is refused (403) rather than silently
narrowed, so an auditor never mistakes a narrowed answer for the whole. A JSONL export carries the
signed checkpoint it was made at: an unfiltered one is checked against its root as a whole; an
auditor's court export carries each record's inclusion proof and is checked record by record
(``leian audit verify FILE``).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from api.service.accounts import AccountStore, Principal, Role
from api.service.errors import audit_unavailable, forbidden, not_found
from api.service.runtime import Services, actor_on_court
from retrieval.audit import merkle
from retrieval.audit.records import ExportRecord, utc_timestamp
from retrieval.audit.store import AppendResult, AuditUnavailable, RecordFilter

MAX_PAGE = 1000


class ExportFormat(StrEnum):
    """What an audit export is written as: JSON lines (verifiable) or a CSV table for people."""

    JSONL = "jsonl"
    CSV = "csv"


@dataclass(frozen=True)
class RecordQuery:
    court: str | None = None
    user: str | None = None
    case_number: str | None = None
    trigger: str | None = None
    kind: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def scoped_filter(
    principal: Principal, query: RecordQuery, accounts: AccountStore | None = None
) -> RecordFilter:
    """The filter as the role allows it; 403 for a court, or a user (looked up in ``accounts``), beyond it."""
    user = principal.user
    court, who = query.court, query.user
    if user.role in (Role.AUDITOR, Role.PRESIDENT):
        if court is not None and court != user.court:
            raise forbidden("只能查看本院的审计记录", "only your own court's audit records")
        if who is not None and not _in_court(accounts, who, user.court):
            raise forbidden("只能查看本院人员的审计记录", "only the audit records of your own court's users")
        court = user.court
    elif user.role in (Role.JUDGE, Role.ASSISTANT):
        if who is not None and who != user.name:
            raise forbidden("只能查看本人的审计记录", "only your own audit records")
        if court is not None and court != user.court:
            raise forbidden("只能查看本人的审计记录", "only your own audit records")
        who = user.name
    return RecordFilter(
        court=court,
        user=who,
        case_number=query.case_number,
        trigger=query.trigger,
        kind=query.kind,
        since=query.since,
        until=query.until,
    )


def _in_court(accounts: AccountStore | None, name: str, court: str | None) -> bool:
    """Whether ``name`` is an account of ``court``; an unknown name is not (its court cannot be shown)."""
    found = accounts.user(name) if accounts is not None else None
    return found is not None and court is not None and found.court == court


def may_read_record(principal: Principal, actor: dict[str, Any]) -> bool:
    user = principal.user
    if user.role is Role.ADMIN:
        return True
    if user.role in (Role.AUDITOR, Role.PRESIDENT):
        return user.court is not None and actor.get("court") == user.court
    return actor.get("user") == user.name


def list_records(
    services: Services, principal: Principal, query: RecordQuery, after: int | None, limit: int
) -> dict[str, Any]:
    record_filter = scoped_filter(principal, query, services.accounts)
    out: list[dict[str, Any]] = []
    next_after = None
    try:
        for record in services.audit_log().iter_records(record_filter):
            if after is not None and record.seq <= after:
                continue
            if len(out) == limit:
                next_after = out[-1]["seq"]
                break
            data = record.to_bytes()
            out.append({"seq": record.seq, "leaf_hash": merkle.leaf_hash(data).hex(), **record.to_dict()})
    except AuditUnavailable as exc:
        raise audit_unavailable() from exc
    return {"records": out, "next_after": next_after}


@dataclass(frozen=True)
class Export:
    content: bytes
    media_type: str
    filename: str
    tree_size: int | None  # set for a JSONL export: the size of the checkpoint it carries and matches
    records: int
    audit: AppendResult | None = None  # the export record, whose receipt the answer carries


def export(
    services: Services, principal: Principal, client: str | None, fmt: ExportFormat, query: RecordQuery
) -> Export:
    if principal.user.role not in (Role.AUDITOR, Role.ADMIN):
        raise forbidden(
            "仅审判管理人员和管理员可以导出审计记录", "only auditors and admins export audit records"
        )
    record_filter = scoped_filter(principal, query, services.accounts)
    complete = record_filter.is_empty()
    services.verify_audit()  # nothing leaves a log whose records no longer match their hashes
    # The export is itself an audited act, recorded before anything leaves the log; an admin's export
    # of one court is recorded with that court, so that the court's 审判管理 sees it.
    exported = ExportRecord(via="api", format=fmt.value, filters=record_filter.to_dict(), complete=complete)
    appended = services.record(actor_on_court(principal, record_filter.court), client, exported)
    log = services.audit_log()
    buffer = io.BytesIO()
    stamp = utc_timestamp().replace(":", "").replace("-", "").replace(".", "")
    try:
        if fmt is ExportFormat.CSV:
            n = log.export_csv(buffer, record_filter if not complete else None)
            return Export(
                buffer.getvalue(), "text/csv; charset=utf-8", f"leian-audit-{stamp}.csv", None, n, appended
            )
        # Sign the head now (it covers the export record) and carry the checkpoint in the file: a
        # complete export is checked against its root as a whole, a court's export record by record
        # with the inclusion proofs it carries. Either way ``leian audit verify FILE`` needs nothing else.
        signed = services.sign_checkpoint()
        tree_size = signed.checkpoint.tree_size
        n = log.export_jsonl(
            buffer,
            None if complete else record_filter,
            tree_size=tree_size,
            checkpoint=services.checkpoint_file(signed),
        )
    except AuditUnavailable as exc:
        raise audit_unavailable() from exc
    return Export(
        buffer.getvalue(), "application/x-ndjson", f"leian-audit-{stamp}.jsonl", tree_size, n, appended
    )


def record_proof(services: Services, principal: Principal, seq: int) -> dict[str, Any]:
    """An inclusion proof of one record plus the checkpoint it leads to; both as files ``verify`` reads."""
    log = services.audit_log()
    try:
        size, _ = log.tree_head()
    except AuditUnavailable as exc:
        raise audit_unavailable() from exc
    if not 0 <= seq < size:
        raise not_found(f"没有序号为 {seq} 的审计记录", f"no audit record {seq}")
    signed = services.current_checkpoint(covering=seq + 1)
    try:
        proof = log.inclusion_proof(seq, signed.checkpoint.tree_size)
    except AuditUnavailable as exc:
        raise audit_unavailable() from exc
    if not may_read_record(principal, proof.record.get("actor") or {}):
        raise forbidden("无权查看该审计记录", "not allowed to read this audit record")
    return {"proof": json.loads(proof.to_json()), "checkpoint": services.checkpoint_file(signed)}
