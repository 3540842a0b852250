"""A node's shared PostgreSQL database (LEIAN_DATABASE_URL) that may not answer when the node starts.

Nodes are started by an orchestrator in any order; a node whose database is not up yet must not
exit (a crash loop hides the reason and delays the fleet) and must not serve (a search without its
audit record is what the service exists to prevent). So it starts *not ready*: ``/healthz``
answers, ``/readyz`` answers 503 naming the database (without its password), every route that
needs the accounts or the log answers 503, and the database is opened as soon as it answers.

Why a background thread with backoff rather than a retry on the next request: readiness then turns
true with no traffic at all (a load balancer sends none to a node that is not ready, only its
probes); no request ever waits on a connection attempt (an unreachable host costs the connect
timeout, 10 s); and however many requests arrive, one attempt at a time leaves the node, so a
fleet restarting together does not hammer a database that is itself coming back. The delay doubles
from ``FIRST_DELAY_S`` up to ``MAX_DELAY_S``.

A database that answers but holds accounts the audit log does not rebuild is refused for good,
as ``leian serve`` refuses one at start-up: no more attempts, the node stays not ready.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from api.service.errors import ApiError

log = logging.getLogger("leian.api")

FIRST_DELAY_S = 0.5
MAX_DELAY_S = 10.0  # a readiness probe's usual period: an attempt per node every 10 s costs nothing


class DatabaseDown(RuntimeError):
    """The database did not answer (refused, timed out, dropped): try again later."""


class DatabaseRefused(RuntimeError):
    """The database answered with accounts the node must not serve from: no more attempts."""


def redacted(url: str) -> str:
    """The database as a message may name it: user, host, port and name, never the password."""
    from retrieval.audit.pg_storage import redacted as without_password

    return without_password(url)


def scrubbed(message: str, url: str) -> str:
    """``message`` (a driver's error) with the URL and any password in it replaced."""
    from psycopg import Error
    from psycopg.conninfo import conninfo_to_dict

    message = message.replace(url, redacted(url))
    try:
        password = conninfo_to_dict(url).get("password")
    except Error:
        password = None
    if password:
        message = message.replace(str(password), "***")
    return " ".join(message.split())


class SharedDatabase:
    """Opens the node's state in the database through ``opener``, now or, failing that, in the background.

    ``opener(checked)`` opens the accounts and the log or raises ``DatabaseDown``/``DatabaseRefused``;
    ``checked`` is False for the attempt at start-up (``leian serve`` checked the accounts just
    before) and True for the later ones (it could not).
    """

    def __init__(
        self,
        url: str,
        opener: Callable[[bool], None],
        *,
        first_delay_s: float = FIRST_DELAY_S,
        max_delay_s: float = MAX_DELAY_S,
    ) -> None:
        self.url = url
        self.name = redacted(url)
        self._opener = opener
        self._first_delay_s = first_delay_s
        self._max_delay_s = max_delay_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ready = False
        self.refused = False
        self.problem: str | None = None
        self.attempts = 0
        self._next_attempt = 0.0  # time.monotonic() of the next attempt

    def open(self) -> None:
        """One attempt now; on failure the node goes on not ready and a thread keeps trying."""
        if self._attempt(checked=False) or self.refused:
            return
        self._thread = threading.Thread(target=self._retry, name="leian-database-reconnect", daemon=True)
        self._thread.start()

    def _attempt(self, *, checked: bool) -> bool:
        self.attempts += 1
        try:
            self._opener(checked)
        except DatabaseDown as exc:
            self.problem = "unreachable: " + scrubbed(str(exc), self.url)
            log.error("database %s %s; the node is not ready, retrying", self.name, self.problem)
            return False
        except DatabaseRefused as exc:
            self.problem = "refused: " + scrubbed(str(exc), self.url)
            self.refused = True
            log.error("database %s %s; the node stays not ready until restarted", self.name, self.problem)
            return False
        self.problem = None
        self.ready = True
        if self.attempts > 1:
            log.warning("database %s answers again: the node is ready (attempt %d)", self.name, self.attempts)
        return True

    def _retry(self) -> None:
        delay = self._first_delay_s
        while not self.refused:
            self._next_attempt = time.monotonic() + delay
            if self._stop.wait(delay) or self._attempt(checked=True):
                return
            delay = min(delay * 2, self._max_delay_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def retry_in_s(self) -> int:
        """Whole seconds until the next attempt (at least 1): what ``Retry-After`` says."""
        return max(1, round(self._next_attempt - time.monotonic()))

    def status(self) -> dict[str, Any]:
        """The ``database`` check of /readyz."""
        status: dict[str, Any] = {"ok": self.ready, "store": "postgresql", "database": self.name}
        if not self.ready:
            status["error"] = self.problem or "not opened yet"
            if not self.refused:
                status["retry_in_s"] = self.retry_in_s()
        return status

    def unavailable(self) -> ApiError:
        """503 for a request that needs the accounts or the log while the database is not open."""
        if self.refused:
            return ApiError(
                503,
                "database_refused",
                f"数据库 {self.name} 中的账户与审计日志不一致，服务拒绝运行，请联系运维人员（leian accounts check）",
                f"the database {self.name} was refused: {self.problem}; nothing is served",
            )
        return ApiError(
            503,
            "database_unavailable",
            f"数据库 {self.name} 暂时无法连接，本次请求未执行（未检索、未留痕），请稍后重试",
            f"the database {self.name} is unreachable: nothing is served until it answers; retry later",
            headers={"Retry-After": str(self.retry_in_s())},
        )


def unreachable(url: str, timeout_s: int = 5) -> str | None:
    """Why the database does not answer now (without its password), or None: ``leian serve`` then
    starts the node not ready instead of checking its accounts first."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=timeout_s):
            return None
    except psycopg.OperationalError as exc:
        return scrubbed(str(exc), url)
