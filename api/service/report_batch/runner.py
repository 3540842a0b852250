"""Run a batch: per unfinished case, the audited search, four documents, the ``report`` record, a state.

Exactly once, across kills: the audit log is the journal. Every record a batch writes carries
``batch: {id, item}``; a run starts by reading which items already have a search record and which a
report record. A case with a search record is finished from that record (``report_making``,
replayed on the same build), never searched again; one with a report record is not recorded again.
Files are written atomically and the state line is appended last, so an interrupted case is simply
done again from its records.

Parallel: ``workers`` threads, each taking a case through search → report → files. The search
itself holds the service's single search lock (one IndexStore, one SQLite connection), so threads
overlap only the rest: the audit and ledger writes, the DOCX/HTML rendering and the file writes.
A failure of the case (bad row, unknown judge, invalid field, a record that cannot be replayed, a
document that cannot be made) is recorded in its state line, so a rerun does not try it again, and
no ``report`` record is written for documents that were never made; a failure of the service (audit
log or index unavailable, disk full) stops the batch, which a rerun then resumes.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from api.service.accounts import Principal
from api.service.errors import ApiError
from api.service.report_batch.judges import CaseError
from api.service.report_batch.pending import BadRow, PendingCase
from api.service.report_batch.state import ERROR, OK, BatchFolder, CaseState
from api.service.report_batch.summary import write_summary
from api.service.reports import ensure_ledger_entry, record_report, report_for_record
from api.service.runtime import Services
from api.service.searching import SearchInput, execute_search, requesting_court
from retrieval.atomic_file import remove_stale_temporaries
from retrieval.audit.records import BatchRef, RecordKind, batch_of
from retrieval.audit.store import AuditLog, AuditUnavailable
from retrieval.report.files import FORMATS, render_report_files, write_rendered
from retrieval.report.model import TierGroup
from retrieval.report.replay import CHINA_TIME, ReplayError
from retrieval.request import SearchRequest
from retrieval.tiers import Tier

ENDPOINT = "reports/batch"
DEFAULT_K = 10
_UNSAFE_IN_NAMES = str.maketrans({c: "_" for c in '/\\:*?"<>|\n\r\t '})


class BatchFailed(RuntimeError):
    """The service failed (not one case): the batch stopped; a rerun resumes it."""


class _Stopped(Exception):
    """The job's stop event was set before this case started."""


@dataclass(frozen=True)
class Recorded:
    """What the audit log already holds for a batch: item → seq of its search and of its report record."""

    searches: dict[int, int]
    reports: dict[int, int]


def recorded_items(log: AuditLog, batch_id: str) -> Recorded:
    searches: dict[int, int] = {}
    reports: dict[int, int] = {}
    for record in log.iter_records():
        batch = batch_of(record.payload)
        if batch is None or batch.batch_id != batch_id:
            continue
        item = batch.item
        kind = record.kind
        target = searches if kind == RecordKind.SEARCH else reports if kind == RecordKind.REPORT else None
        if target is not None:
            target.setdefault(item, record.seq)
    return Recorded(searches, reports)


@dataclass
class BatchJob:
    folder: BatchFolder
    batch_id: str
    cases: Sequence[PendingCase | BadRow]
    subject: Callable[[PendingCase], Principal]  # raises CaseError
    client: str
    via: str  # "cli" or "api", recorded with each report
    workers: int = 1
    progress: bool = False
    k: int = DEFAULT_K
    stop: threading.Event | None = None  # set: cases not yet started are left for a rerun


@dataclass
class BatchResult:
    total: int
    already_done: int
    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    case_seconds: list[float] = field(default_factory=list)
    interrupted: bool = False
    failure: str | None = None

    @property
    def finished(self) -> bool:
        return not self.interrupted and self.failure is None


def file_stem(case: PendingCase | BadRow) -> str:
    """``0007_（2025）浙0106刑初88号``: the item keeps names unique, the 案号 makes them readable."""
    number = (case.case_number or "").translate(_UNSAFE_IN_NAMES)[:64]
    return f"{case.item:04d}_{number}" if number else f"{case.item:04d}"


def _tier_counts(report_tiers: Sequence[TierGroup]) -> dict[str, int]:
    counts = {str(int(t)): 0 for t in (Tier.GUIDING, Tier.SPC, Tier.PROVINCIAL_HIGH, Tier.SUPERIOR_AND_SELF)}
    counts["other"] = 0
    for group in report_tiers:
        key = "other" if group.tier == Tier.OTHER else str(group.tier)
        counts[key] += len(group.cases)
    return counts


def _search_input(principal: Principal, case: PendingCase, job: BatchJob) -> SearchInput:
    request = SearchRequest(
        facts=case.facts,
        case_number=case.case_number,
        requesting_court=requesting_court(principal),
        charges=list(case.charges),
        articles=list(case.articles),
        k=job.k,
        today=dt.datetime.now(CHINA_TIME).date(),  # the day the replay uses for the three-year flag
    )
    return SearchInput(
        request=request,
        case_number=case.case_number,
        trigger=case.trigger,
        trigger_note=case.trigger_note,
        dispute_focus=case.dispute_focus,
        endpoint=ENDPOINT,
        requested_methods=None,
        batch=BatchRef(job.batch_id, case.item),
    )


def _error(case: PendingCase | BadRow, message: str, clock: float, **extra: Any) -> CaseState:
    return CaseState(
        item=case.item,
        case_number=case.case_number,
        status=ERROR,
        error=message,
        seconds=round(time.perf_counter() - clock, 3),
        **extra,
    )


def process_case(
    services: Services, job: BatchJob, recorded: Recorded, case: PendingCase | BadRow
) -> CaseState:
    """One case to its finished state; raises BatchFailed when the service, not the case, failed."""
    if job.stop is not None and job.stop.is_set():
        raise _Stopped
    clock = time.perf_counter()
    if isinstance(case, BadRow):
        return _error(case, case.error, clock)
    judge = case.judge
    search_id = None
    try:
        principal = job.subject(case)
        judge = principal.user.name
        log = services.audit_log()
        if case.item in recorded.searches:
            search_id = recorded.searches[case.item]
            record, leaf_hash = log.read(search_id)
            ensure_ledger_entry(services, principal.user, record)
            report = report_for_record(services, record, leaf_hash, dispute_focus=case.dispute_focus)
        else:
            job_input = _search_input(principal, case, job)
            executed = execute_search(services, principal, job.client, job_input)
            search_id = executed.appended.seq
            record, leaf_hash = log.read(search_id)
            live = (executed.response, job_input.request)
            report = report_for_record(
                services, record, leaf_hash, live=live, dispute_focus=case.dispute_focus
            )
        try:
            rendered = render_report_files(report)
        except Exception as exc:  # a document that cannot be made fails this case, not the batch
            message = f"report: the documents could not be made ({type(exc).__name__}: {exc})"
            return _error(case, message, clock, judge=judge, search_id=search_id)
        report_seq = recorded.reports.get(case.item)
        if report_seq is None:  # recorded once the documents exist, before they are written
            batch = BatchRef(job.batch_id, case.item)
            report_seq = record_report(
                services, principal, job.client, record, FORMATS, via=job.via, batch=batch
            ).seq
        paths = write_rendered(rendered, job.folder.reports, file_stem(case))
    except (CaseError, ReplayError) as exc:
        return _error(case, str(exc), clock, judge=judge, search_id=search_id)
    except ApiError as exc:
        if exc.status >= 500:
            raise BatchFailed(f"case {case.item}: {exc.message_en}") from exc
        return _error(case, exc.message_en, clock, judge=judge, search_id=search_id)
    except (AuditUnavailable, OSError) as exc:
        raise BatchFailed(f"case {case.item}: {exc}") from exc
    tiers = _tier_counts(report.tiers)
    return CaseState(
        item=case.item,
        case_number=case.case_number,
        status=OK,
        judge=judge,
        search_id=search_id,
        leaf_hash=leaf_hash,
        report_seq=report_seq,
        tiers=tiers,
        guiding=tiers[str(int(Tier.GUIDING))] > 0,
        files={name: str(path.relative_to(job.folder.root)) for name, path in paths.items()},
        seconds=round(time.perf_counter() - clock, 3),
    )


def run_batch(services: Services, job: BatchJob) -> BatchResult:
    """Process every unfinished case of ``job``, then write the summary; the caller holds the lock."""
    clock = time.perf_counter()
    done = job.folder.read_state(repair=True)
    remove_stale_temporaries(job.folder.reports)
    try:
        recorded = recorded_items(services.audit_log(), job.batch_id)
    except (AuditUnavailable, ApiError) as exc:
        raise BatchFailed(f"the audit log cannot be read: {exc}") from exc
    todo = [case for case in job.cases if case.item not in done]
    result = BatchResult(total=len(job.cases), already_done=len(job.cases) - len(todo))
    bar = tqdm(
        total=len(job.cases),
        initial=result.already_done,
        unit="case",
        desc="类案检索报告",
        disable=not job.progress,
    )
    pool = ThreadPoolExecutor(max_workers=max(1, job.workers), thread_name_prefix="report-batch")
    futures: list[Future[CaseState]] = [pool.submit(process_case, services, job, recorded, c) for c in todo]
    items = {future: case.item for future, case in zip(futures, todo, strict=True)}

    def stop() -> None:
        for future in futures:
            future.cancel()

    taken: set[Future[CaseState]] = set()

    def take(future: Future[CaseState]) -> None:
        if future in taken:
            return
        taken.add(future)
        try:
            state = future.result()
        except CancelledError:
            return
        except _Stopped:
            result.interrupted = True
            return
        except BatchFailed as exc:
            result.failure = result.failure or str(exc)
            stop()
            return
        except Exception as exc:  # a bug, not the case's data: stop with the reason, never silently
            result.failure = result.failure or f"case {items[future]}: {type(exc).__name__}: {exc}"
            stop()
            return
        job.folder.append_state(state)
        done[state.item] = state
        result.case_seconds.append(state.seconds)
        if state.status == OK:
            result.ok += 1
        else:
            result.errors += 1
        bar.update(1)

    try:
        for future in as_completed(futures):
            take(future)
    except KeyboardInterrupt:
        result.interrupted = True
        stop()
        for future in futures:  # the cases already running finish cleanly; their state is kept
            if not future.cancelled():
                take(future)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
        write_summary(job.folder, job.cases, done)
    result.seconds = round(time.perf_counter() - clock, 3)
    return result
