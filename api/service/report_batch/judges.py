"""Who searches for each case of a command-line batch: the 检索主体 must be an account of the service.

A batch run from the command line searches on judges' behalf, so each search is recorded under the
judge's account exactly as if the judge had searched (the Art. 4 tiers follow the account's court,
the ledger lets the judge mark results afterwards). A row names its judge, or the batch's
``--user`` applies; a court or role given (per row or by ``--court``/``--role``) must be the
account's: a batch cannot move a judge to another court.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.service.accounts import SEARCH_ROLES, AccountStore, Principal, parse_role
from api.service.report_batch.pending import PendingCase
from retrieval.parsing.courts import parse_court

BATCH_TOKEN_ID = "batch"  # Principal needs a token id; a batch acts through the data folder, not a token


class CaseError(ValueError):
    """This case cannot be reported; the batch goes on with the next."""


@dataclass(frozen=True)
class SubjectDefaults:
    user: str | None = None
    court: str | None = None
    role: str | None = None


def resolve_subject(accounts: AccountStore, case: PendingCase, defaults: SubjectDefaults) -> Principal:
    name = case.judge or defaults.user
    if not name:
        raise CaseError("judge: not given (per row or --user)")
    user = accounts.user(name)
    if user is None:
        raise CaseError(f"judge: no account {name!r} (create it with `leian user create`)")
    if user.disabled:
        raise CaseError(f"judge: the account {name!r} is disabled")
    if user.role not in SEARCH_ROLES:
        raise CaseError(f"judge: {name!r} is {user.role.value}, who does not search")
    court = case.court or defaults.court
    if court and parse_court(court).name != user.court:
        raise CaseError(f"court: {court} is not the court of {name!r} ({user.court})")
    role = case.role or defaults.role
    if role:
        try:
            wanted = parse_role(role)
        except ValueError as exc:
            raise CaseError(str(exc)) from exc
        if wanted is not user.role:
            raise CaseError(f"role: {name!r} is {user.role.value}, not {wanted.value}")
    return Principal(user, BATCH_TOKEN_ID)
