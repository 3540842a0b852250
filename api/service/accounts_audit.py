"""A data folder's accounts database checked against the accounts its audit log rebuilds, and adoption.

``leian serve`` and ``leian backup`` refuse a folder whose accounts differ from the log (a planted
token, a role raised, a user moved), ``leian restore`` a backup whose accounts do. A folder whose
accounts predate whole-row account records (written by an older version) is adopted once with
``leian accounts adopt``: an ``accounts`` snapshot record of every row, signed into the log like any
other record, from which replay starts again. Adoption is itself audited and names the operator, so
adopting a tampered database is never silent; it needs ``force`` when the log could already say
what the accounts are (then the differences are evidence, not history).
"""

from __future__ import annotations

from dataclasses import dataclass

from api.service.accounts import AccountStore
from retrieval.audit.accounts_replay import ACCOUNT_KINDS, AccountsCheck, check_accounts
from retrieval.audit.records import Actor
from retrieval.audit.store import AuditLog


class AdoptionRefused(RuntimeError):
    """Adoption would hide differences from a log that could already rebuild the accounts."""


def check_store(accounts: AccountStore, log: AuditLog) -> AccountsCheck:
    """The live database against every record of the live log (read in seq order)."""
    return check_accounts(log.iter_kinds(ACCOUNT_KINDS), accounts.state())


@dataclass(frozen=True)
class Adopted:
    seq: int | None  # the snapshot record; None when the accounts already matched
    users: int
    tokens: int
    differences: tuple[str, ...]  # what the snapshot made true that the log did not say


def adopt(accounts: AccountStore, log: AuditLog, actor: Actor, *, force: bool = False) -> Adopted:
    """Record the accounts as they stand as an ``accounts`` snapshot (nothing when they already match)."""
    check = check_store(accounts, log)
    if check.ok:
        state = accounts.state()
        return Adopted(None, len(state.users), len(state.tokens), ())
    if not check.needs_adoption and not force:
        raise AdoptionRefused(
            "the audit log already says what the accounts are, and the database differs: "
            f"{check.summary()}. Adopting would record the differences as true; "
            "investigate first, and pass --force only if they are legitimate"
        )
    seqs: list[int] = []
    reason = "adopt" if check.needs_adoption else "adopt --force"
    state = accounts.snapshot_into(lambda entry: seqs.append(log.record(actor, "cli", entry).seq), reason)
    return Adopted(seqs[0], len(state.users), len(state.tokens), check.problems)
