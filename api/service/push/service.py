"""The push service for the app's lifetime: notices new builds, matches, records, delivers.

How the running service learns of a new build: a watcher thread reads ``HOME/current`` every
``LEIAN_PUSH_POLL_S`` seconds (default 5). When it points at another build than the one served, the
new build is opened (checked against its manifest as at start-up), swapped in for searches, and the
open pending cases are matched against what changed since the build they were last matched against
(``push_state.matched_build``, committed only after every push of that build is written). So a
service killed between publish and matching matches at its next start, and ``leian build``, ``leian
add``, ``leian withdraw`` and the authority registry (applied by add) need no hook of their own. With
several worker processes each one watches; matching takes a file lock and the per-(case, document)
uniqueness of inbox items makes a second run a no-op.

Pushes are written fail-closed: inbox items and outbox rows are inserted in one transaction, the
``push`` audit record is appended inside it, and a failed record rolls the push back (it is tried
again with the next check). A record without a push can exist after a kill between the two
commits; a push without a record cannot. (In PostgreSQL the record joins the push's transaction.)

With ``LEIAN_DATABASE_URL`` the store is in the database every node shares, opened once the
database answers (until then the pending-case routes answer 503 like every other). Every node
watches; one at a time matches (``PushStore.matching``), the others then find the build matched;
a push another node already made is not made again whatever happens (the inbox's uniqueness), and
each delivery is claimed by one node before it is tried (``PushStore.claim_due``).

Delivery never blocks publishing or searching: the outbox is drained by its own thread, each
attempt bounded by ``LEIAN_PUSH_TIMEOUT_S``, retried with exponential backoff and moved to the dead
letters after ``LEIAN_PUSH_MAX_ATTEMPTS`` failures.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.service.errors import ApiError
from api.service.push import webhook
from api.service.push.store import ALERT, PUSH, NewItem, PendingCaseRow, PushStore
from api.service.runtime import Services, open_index
from api.service.shared_database import scrubbed
from retrieval import index_layout as layout
from retrieval.audit.records import Actor, PushRecord
from retrieval.index_store import IndexStore
from retrieval.parsing.courts import parse_court
from retrieval.push_match import (
    DEFAULT_MIN_SIMILARITY,
    IndexChange,
    PushMatch,
    Subscription,
    alerts_for,
    index_change,
    match_additions,
)
from retrieval.tiers import NOT_CITABLE, Tier

log = logging.getLogger("leian.push")

MATCHED_BUILD = "matched_build"
SYSTEM_ACTOR = "智能推送"


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{name}: {raw!r} is not a number") from exc
    if value < 0:
        raise ValueError(f"{name}: must not be negative")
    return value


@dataclass(frozen=True)
class PushSettings:
    poll_s: float = (
        5.0  # how often the watcher reads HOME/current; 0: no watcher (`leian push match` instead)
    )
    min_similarity: float = DEFAULT_MIN_SIMILARITY
    max_attempts: int = 8  # failed deliveries before a push goes to the dead letters
    retry_base_s: float = 5.0  # first retry after this, doubling
    timeout_s: float = 10.0  # one delivery attempt
    secret_grace_s: float = 86400.0  # the previous secret still signs this long after a rotation
    webhook_allow: tuple[str, ...] = ()  # hosts, *.suffixes, IPs or CIDRs a webhook may point at

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PushSettings:
        env = os.environ if env is None else env
        allow = tuple(h.strip() for h in env.get("LEIAN_WEBHOOK_ALLOW", "").split(",") if h.strip())
        return cls(
            poll_s=_float(env, "LEIAN_PUSH_POLL_S", 5.0),
            min_similarity=_float(env, "LEIAN_PUSH_MIN_SIMILARITY", DEFAULT_MIN_SIMILARITY),
            max_attempts=max(1, int(_float(env, "LEIAN_PUSH_MAX_ATTEMPTS", 8))),
            retry_base_s=_float(env, "LEIAN_PUSH_RETRY_BASE_S", 5.0),
            timeout_s=_float(env, "LEIAN_PUSH_TIMEOUT_S", 10.0),
            secret_grace_s=_float(env, "LEIAN_PUSH_SECRET_GRACE_S", 86400.0),
            webhook_allow=allow,
        )


def push_unavailable(database: str) -> ApiError:
    """503 for the pending cases and the inbox while the push tables cannot be opened: a database
    set up before they existed, whose application role may not create them."""
    return ApiError(
        503,
        "push_unavailable",
        f"数据库 {database} 中的智能推送数据表无法打开，请联系运维人员（leian audit setup-db）",
        f"the push tables in {database} cannot be opened (see the service log); "
        "run leian audit setup-db with the application role",
        headers={"Retry-After": "30"},
    )


def _unopened(exc: Exception) -> bool:
    """Whether ``exc`` says the push tables cannot be opened, which their opener logs already."""
    return isinstance(exc, ApiError) and exc.code == "push_unavailable"


def idempotency_key(case_id: int, kind: str, doc_id: str) -> str:
    """Stable per push: the same case, kind and document always give the same key."""
    return hashlib.sha256(f"{case_id}\x00{kind}\x00{doc_id}".encode()).hexdigest()[:32]


def system_actor(court: str | None) -> Actor:
    return Actor(user=SYSTEM_ACTOR, role="system", court=court)


def webhook_payload(
    case: PendingCaseRow, item_id: int, item: NewItem, audit_seq: int | None
) -> dict[str, Any]:
    return {
        "event": item.kind,
        "idempotency_key": idempotency_key(case.id, item.kind, item.doc_id),
        "inbox_id": item_id,
        "pending_case": {
            "id": case.id,
            "case_number": case.case_number,
            "court": case.court,
            "judge": case.judge,
        },
        "build_id": item.build_id,
        "audit_seq": audit_seq,
        "item": item.body,
    }


@dataclass
class MatchSummary:
    build_id: str | None
    previous_build_id: str | None
    added: int
    withdrawn: int
    open_cases: int
    pushes: int
    alerts: int
    seconds: float
    scoring_seconds: float = 0.0  # of which scoring the change against the cases (the rest: writing)


class PushService:
    def __init__(self, services: Services, settings: PushSettings | None = None) -> None:
        self.services = services
        self.settings = settings if settings is not None else PushSettings.from_env()
        self._store: PushStore | None = None
        self._opening = threading.Lock()
        self._open_logged = -math.inf
        if services.database is None:
            self._store = PushStore(services.settings.push_location)
        self._lock_path = services.settings.data_dir / "push.lock"
        self._match_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def store(self) -> PushStore:
        """The push store; in the shared database, opened once that database is (503 until then)."""
        if self._store is None:
            with self._opening:
                if self._store is None:
                    self._store = self._open_shared()
        return self._store

    def _open_shared(self) -> PushStore:
        import psycopg

        database = self.services.database
        assert database is not None
        if not database.ready:
            raise database.unavailable()
        try:
            return PushStore(self.services.settings.push_location)
        except psycopg.OperationalError as exc:  # gone again since it answered
            raise database.unavailable() from exc
        except psycopg.Error as exc:  # answers, but its role may not create the push tables
            if (
                time.monotonic() - self._open_logged > 60
            ):  # tried by every request and thread: said once a minute
                self._open_logged = time.monotonic()
                problem = scrubbed(str(exc), database.url)
                log.error("push: the push tables in %s cannot be opened: %s", database.name, problem)
            raise push_unavailable(database.name) from exc

    def _database_ready(self) -> bool:
        """Whether the store can be used: always on SQLite; once the shared database is open."""
        return self.services.database is None or self.services.database.ready

    # -- lifetime --------------------------------------------------------------------------------

    def start(self, *, watch: bool = True, deliver: bool = True) -> None:
        if deliver:
            self._spawn(self._deliver_loop, "leian-push-delivery")
        if watch and self.settings.poll_s > 0:
            self._spawn(self._watch_loop, "leian-push-watcher")

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=self.settings.timeout_s + 5)
        if self._store is not None:
            self._store.close()

    def wake(self) -> None:
        self._wake.set()

    # -- new builds ------------------------------------------------------------------------------

    def _watch_loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self._database_ready():  # the database's own thread reopens it meanwhile
                    self.check_index()
            except Exception as exc:  # a failed check is retried next time; the service goes on
                if not _unopened(exc):
                    log.exception("push: index check failed")
            if self._stop.wait(self.settings.poll_s):
                return

    def check_index(self) -> MatchSummary | None:
        """Serve a newly published build and match the open pending cases against what it changed."""
        self._reload_if_published()
        store = self.services.store
        if store is None:
            return None
        if self.store.get_state(MATCHED_BUILD) == store.version:
            return None
        return self.match(store)

    def _reload_if_published(self) -> None:
        home = self.services.settings.index_home
        current = self.services.store
        if home is None:
            return
        try:
            published = layout.resolve_current(Path(home))
        except layout.IndexLayoutError:
            return
        if current is not None and published.name == current.version:
            return
        # opened as at start-up (checksums, and on the cluster backend its Milvus collection)
        opened, checksum, problem = open_index(self.services.settings)
        if opened is None:
            # a build that fails its checks is never served; the one in use goes on serving
            log.error(
                "push: new build %s refused, still serving the previous one: %s", published.name, problem
            )
            return
        # The old store is left to the searches that hold it; it is closed when nothing refers to it.
        self.services.store = opened
        self.services.manifest_sha256 = checksum
        self.services.index_problem = None
        log.info("push: now serving build %s (%d documents)", opened.version, opened.size)

    @contextlib.contextmanager
    def _matching(self) -> Iterator[None]:
        """One matcher at a time: threads of this process (lock), worker processes (file lock),
        nodes sharing a database (its advisory lock)."""
        with self._match_lock, open(self._lock_path, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                with self.store.matching():
                    yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def match(self, store: IndexStore) -> MatchSummary:
        clock = time.perf_counter()
        with self._matching():
            last = self.store.get_state(MATCHED_BUILD)
            if last == store.version:
                return MatchSummary(store.version, last, 0, 0, 0, 0, 0, 0.0)
            previous = (store.build_dir.parent / last) if last else None
            change = index_change(store, previous)
            cases = self.store.cases(status="在办")
            pushes, alerts, scoring = (
                self._apply(store, change, cases) if cases and not change.empty else (0, 0, 0.0)
            )
            with self.store.transaction() as conn:
                self.store.set_state(conn, MATCHED_BUILD, store.version)
        summary = MatchSummary(
            change.build_id,
            change.previous_build_id,
            len(change.added),
            len(change.withdrawn),
            len(cases),
            pushes,
            alerts,
            round(time.perf_counter() - clock, 4),
            round(scoring, 4),
        )
        log.info("push: %s", summary)
        return summary

    def subscriptions(self, cases: list[PendingCaseRow]) -> list[Subscription]:
        shown = self.store.case_docs()
        searched = self.store.case_docs(origin="search")
        dismissed = self.store.dismissed()
        return [
            Subscription(
                key=c.id,
                facts=c.facts,
                causes=tuple(c.causes or c.causes_used),
                articles=tuple(c.articles),
                court=parse_court(c.court),
                seen=frozenset(shown.get(c.id, ())) | frozenset(dismissed.get(c.id, ())),
                has_higher_tier=c.has_higher_tier,
                shown=tuple(searched.get(c.id, ())),
            )
            for c in cases
        ]

    def _apply(
        self, store: IndexStore, change: IndexChange, cases: list[PendingCaseRow]
    ) -> tuple[int, int, float]:
        """(pushes, alerts, seconds spent scoring) of one change, written case by case."""
        clock = time.perf_counter()
        subs = self.subscriptions(cases)
        with store.exclusive():
            matches = match_additions(store, change.added, subs, self.settings.min_similarity)
        open_ids = {c.id for c in cases}
        alerts = alerts_for(
            change.withdrawn, {k: v for k, v in self.store.case_docs().items() if k in open_ids}
        )
        by_case: dict[int, tuple[list[PushMatch], list[Any]]] = {}
        for m in matches:
            by_case.setdefault(m.key, ([], []))[0].append(m)
        for a in alerts:
            by_case.setdefault(a.key, ([], []))[1].append(a)
        titles = store.titles({a.doc_id for a in alerts})
        scoring = time.perf_counter() - clock
        case_of = {c.id: c for c in cases}
        pushed = alerted = 0
        for case_id, (found, gone) in by_case.items():
            items = [NewItem(case_id, PUSH, m.doc_id, change.build_id, _push_body(m)) for m in found] + [
                NewItem(
                    case_id,
                    ALERT,
                    a.doc_id,
                    change.build_id,
                    {
                        "doc_id": a.doc_id,
                        "title": titles.get(a.doc_id),
                        "effect": NOT_CITABLE,
                        "why": f"该案曾出现在本案的检索结果或推送中，现已{a.reason}，不再参照",
                        "reason": a.reason,
                    },
                )
                for a in gone
            ]
            new_pushes, new_alerts = self._write(case_of[case_id], items, change.build_id)
            pushed += new_pushes
            alerted += new_alerts
        return pushed, alerted, scoring

    def _write(self, case: PendingCaseRow, items: list[NewItem], build_id: str | None) -> tuple[int, int]:
        """Inbox items, outbox rows and the audit record of one case, all or nothing."""
        hook = self.store.webhook(case.court)
        with self.store.transaction() as conn:
            written = [
                (i, item) for item in items if (i := self.store.insert_item(conn, item, None)) is not None
            ]
            if not written:
                return 0, 0
            for action in (PUSH, ALERT):
                docs = [item for _, item in written if item.kind == action]
                if not docs:
                    continue
                record = PushRecord(
                    action=action,
                    case_number=case.case_number,
                    court=case.court,
                    pending_id=case.id,
                    build_id=build_id,
                    documents=tuple(
                        {
                            "doc_id": item.doc_id,
                            "tier": item.body.get("tier"),
                            "score": item.body.get("score"),
                            "why": item.body.get("why"),
                        }
                        for item in docs
                    ),
                )
                seq = self.services.record(system_actor(case.court), None, record).seq
                ids = [i for i, item in written if item.kind == action]
                conn.executemany("UPDATE inbox SET audit_seq = ? WHERE id = ?", [(seq, i) for i in ids])
            self.store.add_case_docs(
                conn, case.id, [item.doc_id for _, item in written if item.kind == PUSH], PUSH
            )
            if any(
                item.kind == PUSH and item.body.get("tier", 5) <= Tier.PROVINCIAL_HIGH for _, item in written
            ):
                # a tier 1–3 case now stands among its results: tier 4 is no longer pushed (Art. 4)
                conn.execute("UPDATE pending_cases SET has_higher_tier = 1 WHERE id = ?", (case.id,))
            if hook is not None:
                for item_id, item in written:
                    seq_row = conn.execute("SELECT audit_seq FROM inbox WHERE id = ?", (item_id,)).fetchone()
                    payload = webhook_payload(case, item_id, item, seq_row[0] if seq_row else None)
                    self.store.enqueue(conn, item_id, case.court, payload["idempotency_key"], payload)
        self.wake()
        kinds = [item.kind for _, item in written]
        return kinds.count(PUSH), kinds.count(ALERT)

    # -- delivery --------------------------------------------------------------------------------

    def _deliver_loop(self) -> None:
        while not self._stop.is_set():
            wait = 1.0
            try:
                if self._database_ready():
                    self.deliver_due()
                    next_at = self.store.next_due_at()
                    if next_at is not None:
                        wait = max(0.01, min(1.0, next_at - time.time()))
            except Exception as exc:  # a database gone away, say: tried again in a second
                if not _unopened(exc):
                    log.exception("push: delivery round failed")
            self._wake.wait(wait)
            self._wake.clear()

    def lease_s(self) -> float:
        """How long a claimed delivery stays another deliverer's: past any attempt's timeout."""
        return 2 * self.settings.timeout_s + 30.0

    def deliver_due(self) -> int:
        """Try every delivery whose time has come once, each claimed first (other nodes may be
        delivering too); returns how many were tried."""
        tried = 0
        round_start = time.time()  # a retry due again within this round waits for the next one
        while not self._stop.is_set():
            lease_until = time.time() + self.lease_s()
            claimed = self.store.claim_due(round_start, lease_until)
            if claimed is None:
                break
            outbox_id, court, key, payload, attempts = claimed
            tried += 1
            attempt = attempts + 1
            hook = self.store.webhook(court)
            if hook is None:
                result = webhook.Attempt(False, None, "no webhook configured for the court")
            else:
                try:
                    url = webhook.check_url(hook["url"], self.settings.webhook_allow)
                except webhook.WebhookUrlError as exc:
                    result = webhook.Attempt(False, None, str(exc))
                else:
                    body = payload.encode("utf-8")
                    headers = webhook.headers_for(hook, key, body, self.settings.secret_grace_s, time.time())
                    result = webhook.post(url, headers, body, self.settings.timeout_s)
            dead = not result.delivered and attempt >= self.settings.max_attempts
            kept = self.store.attempt_done(
                outbox_id,
                attempt,
                result.status,
                result.error,
                delivered=result.delivered,
                dead=dead,
                next_at=time.time() + webhook.backoff(attempt, self.settings.retry_base_s),
                claimed_until=lease_until,
            )
            if not kept:
                log.warning(
                    "push: delivery %d outlived its claim: its state is another deliverer's", outbox_id
                )
            if not result.delivered:
                log.warning("push: delivery %d attempt %d failed: %s", outbox_id, attempt, result.error)
        return tried

    # -- webhooks --------------------------------------------------------------------------------

    def set_webhook(self, court: str, url: str) -> dict[str, Any]:
        return set_webhook(self.store, self.settings, court, url)

    def rotate_secret(self, court: str) -> dict[str, Any]:
        return rotate_secret(self.store, court)

    def status(self, court: str | None = None) -> dict[str, Any]:
        return delivery_status(self.store, court)


def set_webhook(store: PushStore, settings: PushSettings, court: str, url: str) -> dict[str, Any]:
    """Configure a court's webhook (URL checked against the allow-list); a new secret is shown once."""
    try:
        checked = webhook.check_url(url, settings.webhook_allow)
    except webhook.WebhookUrlError as exc:
        raise ApiError(
            422, "validation_error", f"请求参数有误（url）：{exc}", str(exc), fields=["url"]
        ) from exc
    existing = store.webhook(court)
    secret = existing["secret"] if existing else webhook.new_secret()
    store.set_webhook(court, checked, secret)
    return {"court": court, "url": checked, "secret": None if existing else secret}


def rotate_secret(store: PushStore, court: str) -> dict[str, Any]:
    """A new secret; the previous one keeps signing for ``LEIAN_PUSH_SECRET_GRACE_S``."""
    secret = webhook.new_secret()
    try:
        secret_id = store.rotate_secret(court, secret)
    except KeyError as exc:
        raise ApiError(404, "not_found", "该法院未配置推送接口", f"no webhook for {court}") from exc
    return {"court": court, "secret": secret, "secret_id": secret_id}


def delivery_status(store: PushStore, court: str | None = None) -> dict[str, Any]:
    """Counts by state, the deliveries still pending and the dead letters (``leian push status``)."""
    rows = store.outbox_rows(court)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    return {
        "matched_build": store.get_state(MATCHED_BUILD),
        "counts": counts,
        "pending": [r for r in rows if r["state"] == "pending"],
        "dead": [r for r in rows if r["state"] == "dead"],
    }


def _push_body(m: PushMatch) -> dict[str, Any]:
    return {
        "doc_id": m.doc_id,
        "title": m.title,
        "citation": m.citation_text,
        "tier": m.tier,
        "tier_label": m.tier_label,
        "effect": m.effect,
        "score": m.score,
        "why": m.why,
        "explanation": json.loads(json.dumps(m.explanation, ensure_ascii=False)),
    }
