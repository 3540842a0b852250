"""Who may run a command-line batch for whom: the OS user, their account, and the admin override.

A batch signs each report with a judge's account (the 检索主体). Over HTTP the account is the token's;
on the command line there is no token, only the OS user who runs ``leian``, so the OS user is tied
to one account and may sign as that account alone:

* ``<data>/os-users.json`` maps OS user names to accounts (``{"wangfg": "王法官"}``); an OS user not
  listed maps to the account of the same name, if there is one.
* Every case's judge (the row's, or ``--user``) must be that account, which must exist, be active
  and be a role that searches.
* Acting for anyone else needs ``--admin-override REASON`` from an OS user whose account is an
  active admin; it is written to the audit log (an ``override`` record naming the accounts acted
  for, the OS user and the reason) before anything is searched.

Every search and report record of a batch names the OS user in its ``client`` (``cli:<os user>``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from api.service.accounts import SEARCH_ROLES, AccountStore, Role, User

OS_USERS_FILE = "os-users.json"
MIN_REASON_CHARS = 4


class OperatorRefused(ValueError):
    """The batch may not run as asked; nothing was searched or recorded."""


@dataclass(frozen=True)
class Operator:
    os_user: str
    account: User | None  # the account the OS user maps to, if any

    @property
    def client(self) -> str:
        """What the audit records give as the client: the command line and who ran it."""
        return f"cli:{self.os_user}"


def os_user_map(data_dir: Path) -> dict[str, str]:
    path = data_dir / OS_USERS_FILE
    if not path.exists():
        return {}
    try:
        mapping = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise OperatorRefused(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise OperatorRefused(f"{path}: must be a JSON object of OS user name → account name")
    return mapping


def operator_of(accounts: AccountStore, os_user: str, mapping: dict[str, str]) -> Operator:
    name = mapping.get(os_user, os_user)
    return Operator(os_user, accounts.user(name))


def active_account(accounts: AccountStore, name: str, option: str) -> User:
    user = accounts.user(name)
    if user is None:
        raise OperatorRefused(f"{option}: no account {name!r} (create it with `leian user create`)")
    if user.disabled:
        raise OperatorRefused(f"{option}: the account {name!r} is disabled")
    return user


def allowed_judges(
    accounts: AccountStore,
    operator: Operator,
    named: Iterable[str],
    default_user: str | None,
    override_reason: str | None,
) -> frozenset[str] | None:
    """The accounts the batch may sign as; None: any the rows name (an admin override).

    ``named``: the judges the rows name; ``default_user``: ``--user``. Raises OperatorRefused.
    """
    if default_user is not None:
        active_account(accounts, default_user, "--user")
    wanted = set(named) | ({default_user} if default_user else set())
    if override_reason is not None:
        if len(override_reason.strip()) < MIN_REASON_CHARS:
            raise OperatorRefused(
                f"--admin-override: give the reason (at least {MIN_REASON_CHARS} characters)"
            )
        account = operator.account
        if account is None or account.disabled or account.role is not Role.ADMIN:
            raise OperatorRefused(
                f"--admin-override: the OS user {operator.os_user!r} is not mapped to an active admin account "
                f"(see {OS_USERS_FILE} in the data folder)"
            )
        return None
    account = operator.account
    if account is None:
        raise OperatorRefused(
            f"the OS user {operator.os_user!r} has no account: map it in <data>/{OS_USERS_FILE} "
            "or run as the judge's own OS user"
        )
    if account.disabled:
        raise OperatorRefused(f"the account {account.name!r} of OS user {operator.os_user!r} is disabled")
    if account.role not in SEARCH_ROLES:
        raise OperatorRefused(
            f"the account {account.name!r} of OS user {operator.os_user!r} is {account.role.value}, who does not "
            "search; an admin acts for judges only with --as-user U --admin-override REASON"
        )
    others = sorted(wanted - {account.name})
    if others:
        raise OperatorRefused(
            f"the OS user {operator.os_user!r} signs as {account.name!r} only, not as {', '.join(others)}: "
            "an admin may act for them with --as-user U --admin-override REASON (audited)"
        )
    return frozenset({account.name})
