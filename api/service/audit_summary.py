"""The Art. 13 periodic summary over HTTP: who may draw it, for which court, recorded before it is served.

审判管理 and 院长/庭长 get their own court's (asking for another court is 403, as for the records);
admin any court, or every court when none is named; judges and assistants none. Like an export, the
summary is an audited disclosure: its record is written first, and then it counts in the log it
is computed from, which is verified before any figure leaves (``retrieval.audit.summary_source``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from api.service.accounts import Principal, Role
from api.service.audit_access import RecordQuery, scoped_filter
from api.service.errors import ApiError, audit_unavailable, forbidden, invalid
from api.service.runtime import Services, actor_on_court
from retrieval.audit.records import SummaryRecord
from retrieval.audit.store import AppendResult, AuditUnavailable
from retrieval.audit.summary import Period, PeriodError
from retrieval.audit.summary_output import MEDIA_TYPES, SummaryFormat, file_name, render
from retrieval.audit.summary_source import UnverifiedLog, verified_summary

log = logging.getLogger("leian.api")

SUMMARY_ROLES = frozenset({Role.AUDITOR, Role.PRESIDENT, Role.ADMIN})


def audit_unverified() -> ApiError:
    return ApiError(
        503,
        "audit_unverified",
        "审计日志校验未通过，不能据此出具汇总，请联系审判管理部门",
        "the audit log does not verify; no summary is made from it",
    )


@dataclass(frozen=True)
class SummaryFile:
    content: bytes
    media_type: str
    filename: str
    audit: AppendResult | None = None  # the summary record, whose receipt the answer carries


def summary(
    services: Services,
    principal: Principal,
    client: str | None,
    court: str | None,
    first: str,
    last: str,
    fmt: SummaryFormat,
) -> SummaryFile:
    if principal.user.role not in SUMMARY_ROLES:
        raise forbidden(
            "仅审判管理人员、院长/庭长和管理员可以查看检索汇总",
            "only auditors, presidents and admins draw the periodic summary",
        )
    scoped_court = scoped_filter(principal, RecordQuery(court=court)).court
    try:
        period = Period.parse(first, last)
    except PeriodError as exc:
        raise invalid(exc.field, "日期应为 YYYY-MM-DD，且截止日期不早于起始日期", exc.message) from exc
    services.verify_audit()
    key = services.key()  # before the record: a summary that cannot be checked is not recorded as drawn
    appended = services.record(
        actor_on_court(principal, scoped_court),  # an admin's summary of a court is that court's to see
        client,
        SummaryRecord(court=scoped_court, first=first, last=last, via="api", format=fmt.value),
    )
    try:
        result = verified_summary(services.audit_log(), key, scoped_court, period)
    except AuditUnavailable as exc:
        raise audit_unavailable() from exc
    except UnverifiedLog as exc:
        log.error("periodic summary refused: %s", exc)
        raise audit_unverified() from exc
    return SummaryFile(render(result, fmt), MEDIA_TYPES[fmt], file_name(result, fmt), appended)
