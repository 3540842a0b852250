"""`leian build`: read → parse → validate → segment → embed → index → manifest → publish.

Memory: documents stream from the readers straight into SQLite and into gzip token parts on disk
(``index_build.token_store``), so the corpus is never held as Python strings; the keyword indexes
are built from the token parts by a streaming builder (``index_build.bm25_build``) and the vectors
are added to FAISS batch by batch.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import multiprocessing
import os
import resource
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
from tqdm import tqdm

from index_build import manifest as manifest_mod
from index_build import token_store
from index_build.bm25_build import build_bm25
from index_build.dask_build import build_keyword_indexes_on_cluster, encode_on_cluster
from index_build.dask_ingest import dask_client, ordered_map
from index_build.metadata_writer import MetadataWriter, PreparedRow, prepare_row
from index_build.publish import build_lock, new_build_id, new_staging, publish, remove_stale_staging
from index_build.readers.base import Rejection
from index_build.readers.detect import read_any
from index_build.recipes.static_embedder import StaticRecipe, train_static_embedder_from_lines
from index_build.validate import facts_for_index, full_text_for_index, index_warnings, rejection_reason
from retrieval import index_layout as layout
from retrieval.authority_registry import withdrawn_by_registry
from retrieval.cause_model import CauseModel
from retrieval.citation import uncitable_reason
from retrieval.doc_codec import TRAIN_DOCUMENTS, DocumentCodec
from retrieval.document import Document
from retrieval.embedder import Embedder, folder_sha256
from retrieval.index_store import CAUSE_MODEL_DIR
from retrieval.metadata import MetadataStore
from retrieval.segmenter import Segmenter, default_segmenter
from retrieval.vector_index import (
    VectorIndexSpec,
    choose_index_spec,
    needs_training,
    new_vector_index,
    train_on_sample,
)

EMBED_BATCH = 256


@dataclass
class ValidationReport:
    """What the build read, indexed and rejected (file, line, reason): shown to the operator."""

    read: int = 0
    indexed: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[Rejection] = field(default_factory=list)  # indexed, but only partly read
    # Indexed but 不可引用 (retrieval.citation): how many, and how many lack each part.
    uncitable: int = 0
    uncitable_missing: dict[str, int] = field(default_factory=dict)

    def count_citability(self, doc: Document) -> None:
        missing = uncitable_reason(doc)
        if missing:
            self.uncitable += 1
            for part in missing:
                self.uncitable_missing[part] = self.uncitable_missing.get(part, 0) + 1

    def as_dict(self) -> dict[str, object]:
        return {
            "read": self.read,
            "indexed": self.indexed,
            "rejected_count": len(self.rejected),
            "rejected": [{"source": r.source, "line": r.line, "reason": r.reason} for r in self.rejected],
            "warnings_count": len(self.warnings),
            "warnings": [{"source": w.source, "line": w.line, "reason": w.reason} for w in self.warnings],
            "uncitable_count": self.uncitable,
            "uncitable_missing": dict(self.uncitable_missing),
        }


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (ingest workers, the BM25 process)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _process_cpu_seconds() -> float:
    """CPU time of the calling process alone (run on each Dask worker)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


@dataclass
class StageTimer:
    """Wall and CPU seconds per stage; CPU time says what a stage costs when the machine is shared."""

    stages: dict[str, dict[str, object]] = field(default_factory=dict)
    _cpu_mark: float = field(default_factory=cpu_seconds)

    def record(self, stage: str, docs: int, seconds: float) -> None:
        cpu = cpu_seconds()
        self.stages[stage] = {
            "documents": docs,
            "seconds": round(seconds, 3),
            "docs_per_second": round(docs / seconds, 1) if seconds > 0 else None,
            "cpu_seconds": round(cpu - self._cpu_mark, 1),
        }
        self._cpu_mark = cpu


@dataclass
class BuildOptions:
    inputs: list[Path]
    home: Path
    fmt: str | None = None
    embedder: Path | None = None  # None: train the in-domain static embedder from this corpus
    static_recipe: StaticRecipe | None = None  # how to train it (None: the recipe's defaults)
    # A 罪名/案由 classifier folder (index_build.recipes.cause_classifier) copied into the build as
    # ``cause_model/``; None: the search predicts causes by the neighbours' vote.
    cause_model: Path | None = None
    progress: bool = True
    workers: int = field(default_factory=lambda: default_workers())
    # Dask scheduler for the per-document work: None (local processes), "local" (a LocalCluster of
    # ``workers`` processes) or an address such as tcp://scheduler:8786 (index_build.dask_ingest)
    scheduler: str | None = None


@dataclass
class BuildResult:
    build_dir: Path
    manifest: dict
    report: ValidationReport


def _progress(iterable: Iterable, desc: str, enabled: bool, total: int | None = None) -> Iterator:
    return iter(tqdm(iterable, desc=desc, unit="doc", total=total, disable=not enabled, dynamic_ncols=True))


class _TokenFiles:
    """The next token part of each field of a build; appended row by row during ingestion."""

    def __init__(self, build_dir: Path) -> None:
        self._facts = token_store.PartWriter(build_dir, "facts")
        self._full = token_store.PartWriter(build_dir, "full")
        self.parts: dict[str, Path | None] = {}

    def write_lines(self, facts_tokens: str, full_tokens: str) -> None:
        self._facts.write(facts_tokens)
        self._full.write(full_tokens)

    def close(self) -> None:
        self.parts = {"facts": self._facts.close(), "full": self._full.close()}


@dataclass(frozen=True)
class _PreparedDocument:
    row: PreparedRow
    facts_tokens: str
    full_tokens: str


# Characters jieba keeps inside a word block (CJK, ASCII letters and digits, and these); any other
# character ends a block, so the text on either side of it segments independently.
_IN_WORD_BLOCK = frozenset("+#&._%-")


def _block_boundary(text: str, at: int) -> bool:
    if at <= 0 or at >= len(text):
        return True
    return any(
        ch.isspace() or (not ch.isalnum() and ch not in _IN_WORD_BLOCK) for ch in (text[at - 1], text[at])
    )


def full_text_tokens(segmenter: Segmenter, full: str, facts: str, facts_tokens: list[str]) -> list[str]:
    """Tokens of the full text, reusing the facts' tokens when the facts lie in it between block
    boundaries: the facts are most of a judgment, and segmenting them twice was a large share of
    preparing a document (see bench/README.md)."""
    at = full.find(facts) if facts else -1
    end = at + len(facts)
    if at < 0 or not (_block_boundary(full, at) and _block_boundary(full, end)):
        return segmenter.tokens(full)
    return segmenter.tokens(full[:at]) + facts_tokens + segmenter.tokens(full[end:])


_worker_codec: DocumentCodec | None = None  # a pool worker's codec, set once by its initializer


def _set_worker_codec(codec: DocumentCodec) -> None:
    global _worker_codec
    _worker_codec = codec


def _prepare(doc: Document, codec: DocumentCodec | None = None) -> _PreparedDocument:
    """The per-document work of ingestion; runs in worker processes (module-level for pickling)."""
    codec = codec if codec is not None else _worker_codec
    if codec is None:
        raise RuntimeError("no document codec: pass one or start the worker with _set_worker_codec")
    segmenter = default_segmenter()
    facts = facts_for_index(doc)
    facts_tokens = segmenter.tokens(facts)
    full_tokens = full_text_tokens(segmenter, full_text_for_index(doc), facts, facts_tokens)
    return _PreparedDocument(prepare_row(doc, codec), " ".join(facts_tokens), " ".join(full_tokens))


def _validated(
    inputs: Iterable[Path], fmt: str | None, report: ValidationReport, seen: set[str], progress: bool
) -> Iterator[Document]:
    for path in inputs:
        for item in _progress(read_any(Path(path), fmt), f"read+parse {Path(path).name}", progress):
            report.read += 1
            if isinstance(item, Rejection):
                report.rejected.append(item)
                continue
            reason = rejection_reason(item, seen)
            if reason:
                report.rejected.append(Rejection(item.source or str(path), None, reason))
                continue
            seen.add(item.doc_id)
            report.count_citability(item)
            report.warnings.extend(
                Rejection(item.source or str(path), None, f"{item.doc_id}: {warning}")
                for warning in index_warnings(item)
            )
            # A guiding case the SPC has stopped is indexed withdrawn, whatever the file says.
            yield withdrawn_by_registry(item)


def default_workers() -> int:
    return max(1, min(2, len(os.sched_getaffinity(0))))


def ingest(
    inputs: Iterable[Path],
    fmt: str | None,
    writer: MetadataWriter,
    tokens: _TokenFiles,
    report: ValidationReport,
    progress: bool,
    existing_ids: set[str] | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    client: Any = None,
) -> list[str]:
    """Stream documents into the metadata store and token files; returns the indexed doc ids.

    Reading and validation stay in this process (they decide row order and duplicates); segmenting,
    compressing and scanning each document run in ``workers`` processes (or on the Dask cluster of
    ``scheduler``, or of an open Dask ``client``), results in input order.
    """
    seen: set[str] = set(existing_ids or ())
    indexed: list[str] = []
    row = writer.next_row()
    documents: Iterator[Document] = _validated(inputs, fmt, report, seen, progress)
    if writer.codec is None:  # a new store: its dictionaries come from its first documents
        head = list(itertools.islice(documents, TRAIN_DOCUMENTS))
        writer.set_codec(DocumentCodec.train(head))
        documents = itertools.chain(head, documents)
    codec = writer.codec
    assert codec is not None
    with contextlib.ExitStack() as stack:
        prepared_documents: Iterator[_PreparedDocument]
        if client is None and scheduler is not None:
            client = stack.enter_context(dask_client(scheduler, workers))
        if client is not None:
            prepared_documents = ordered_map(client, functools.partial(_prepare, codec=codec), documents)
        elif workers > 1:
            pool = stack.enter_context(
                multiprocessing.get_context("fork").Pool(
                    workers, initializer=_set_worker_codec, initargs=(codec,)
                )
            )
            prepared_documents = pool.imap(_prepare, documents, chunksize=8)
        else:
            prepared_documents = map(functools.partial(_prepare, codec=codec), documents)
        for prepared in prepared_documents:
            writer.insert(row, prepared.row)
            tokens.write_lines(prepared.facts_tokens, prepared.full_tokens)
            indexed.append(prepared.row.doc_id)
            row += 1
    report.indexed += len(indexed)
    writer.commit()
    return indexed


def _batched(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def embed_rows(
    embedder: Embedder,
    index: faiss.Index,
    build_dir: Path,
    first_row: int,
    n_rows: int,
    progress: bool,
    client: Any = None,
) -> None:
    """Embed the facts of rows ``first_row..first_row+n_rows`` and add them to ``index``.

    With a Dask ``client`` the batches are encoded on its workers (``dask_build.encode_on_cluster``):
    the same batches, so the same vectors, added in the same order.

    An index that must be trained first (IVF) gets the vectors spooled to a memory-mapped file
    beside the build, trained on an even sample of them, then filled; the spool is removed.
    """
    import numpy as np

    if embedder.spec.input == "segmented":
        texts: Iterable[str] = token_store.iter_token_lines(build_dir, "facts", start=first_row)
        encode = embedder.encode_segmented_passages
    else:
        store = MetadataStore(build_dir / layout.METADATA)
        texts = (facts_for_index(doc) for row, doc in store.iter_documents() if row >= first_row)
        encode = embedder.encode_passages
    spool_path = build_dir.with_name(build_dir.name + ".vectors.npy")
    spool = (
        np.lib.format.open_memmap(spool_path, mode="w+", dtype=np.float32, shape=(n_rows, embedder.dimension))
        if needs_training(index)
        else None
    )
    try:
        bar = tqdm(total=n_rows, desc="embed", unit="doc", disable=not progress, dynamic_ncols=True)
        row = first_row
        batches = _batched(texts, EMBED_BATCH)
        encoded = (
            map(encode, batches) if client is None else encode_on_cluster(client, embedder.folder, batches)
        )
        for vectors in encoded:
            if spool is None:
                index.add_with_ids(vectors, np.arange(row, row + len(vectors), dtype=np.int64))
            else:
                spool[row - first_row : row - first_row + len(vectors)] = vectors
            row += len(vectors)
            bar.update(len(vectors))
        bar.close()
        if spool is not None:
            train_on_sample(index, spool)
            for start in range(0, n_rows, EMBED_BATCH * 64):
                chunk = np.ascontiguousarray(spool[start : start + EMBED_BATCH * 64])
                ids = np.arange(first_row + start, first_row + start + len(chunk), dtype=np.int64)
                index.add_with_ids(chunk, ids)
    finally:
        del spool
        spool_path.unlink(missing_ok=True)


KEYWORD_FIELDS = (("facts", layout.BM25_FACTS), ("full", layout.BM25_FULL))


def build_keyword_indexes(build_dir: Path) -> None:
    """Both BM25 fields from the token store, then drop the full-text tokens: only BM25 needed them,
    and its tf store now serves every later add. The facts tokens stay, for re-embedding, as token
    ids written beside their text while BM25 reads it (``token_store.IdPartWriter``); the text is
    dropped by ``token_store.remove_text_parts`` once the embedder has read it."""
    for field_name, folder in KEYWORD_FIELDS:
        target = build_dir / folder
        if target.exists():
            shutil.rmtree(target)
        if field_name != "facts":
            build_bm25(token_store.iter_token_lines(build_dir, field_name), target)
            continue
        (part,) = token_store.part_paths(build_dir, field_name)  # a new build has one part
        with token_store.keeping_ids(part) as ids:
            build_bm25(token_store.iter_part_lines(part), target, ids_out=ids.write)
    token_store.remove_field(build_dir, "full")


def prepare_embedder(
    choice: Path | None, build_dir: Path, recipe: StaticRecipe | None = None
) -> tuple[Embedder, dict[str, object]]:
    """Load the chosen model folder, or train the in-domain static model into the build."""
    if choice is None:
        folder = train_static_embedder_from_lines(
            token_store.iter_token_lines(build_dir, "facts"),
            token_store.row_count(build_dir, "facts"),
            build_dir / layout.EMBEDDER,
            recipe,
        )
        location = layout.EMBEDDER
    else:
        folder = Path(choice).resolve()
        location = str(folder)
    embedder = Embedder(folder)
    record = {**embedder.describe(), "location": location, "sha256": folder_sha256(folder)}
    return embedder, record


def copy_cause_model(folder: Path, build_dir: Path) -> None:
    """Check the classifier folder loads, then copy it into the build (its checksums join the manifest)."""
    CauseModel.load(folder)
    shutil.copytree(folder, build_dir / CAUSE_MODEL_DIR)


def build(options: BuildOptions) -> BuildResult:
    """Build a new index from ``options.inputs`` and publish it atomically under ``options.home``."""
    home = Path(options.home)
    for path in options.inputs:
        if not Path(path).exists():
            raise FileNotFoundError(f"input not found: {path}")
    with build_lock(home):
        remove_stale_staging(home)
        build_id = new_build_id()
        staging = new_staging(home, build_id)
        try:
            result = _build_into(staging, build_id, options)
            final = publish(home, staging, build_id)
            result.build_dir = final
            return result
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def _build_into(staging: Path, build_id: str, options: BuildOptions) -> BuildResult:
    with contextlib.ExitStack() as stack:
        client = None
        if options.scheduler is not None:
            client = stack.enter_context(dask_client(options.scheduler, options.workers))
        return _build_with(staging, build_id, options, client)


def _keyword_and_vectors_locally(
    staging: Path, options: BuildOptions, report: ValidationReport, timer: StageTimer
) -> tuple[Embedder, dict[str, object], VectorIndexSpec, faiss.Index]:
    """The keyword indexes need only the token files: a forked process builds them while this one
    trains and embeds, so both cores stay busy (the child uses neither torch nor faiss, whose
    thread pools do not survive a fork)."""
    keyword_started = time.perf_counter()
    keyword_process = multiprocessing.get_context("fork").Process(
        target=build_keyword_indexes, args=(staging,), name="leian-bm25"
    )
    keyword_process.start()
    try:
        embedder, embedder_record, spec, index = _embedder_and_vectors(staging, options, report, timer, None)
        keyword_process.join()
    finally:
        if keyword_process.is_alive():
            keyword_process.terminate()
            keyword_process.join()
    if keyword_process.exitcode != 0:
        raise RuntimeError(f"building the keyword indexes failed (exit code {keyword_process.exitcode})")
    timer.record("keyword_index", report.indexed, time.perf_counter() - keyword_started)
    timer.stages["keyword_index"]["parallel_with"] = ["embedder", "embed_and_vector_index"]
    return embedder, embedder_record, spec, index


def _keyword_and_vectors_on_cluster(
    staging: Path, options: BuildOptions, report: ValidationReport, timer: StageTimer, client: Any
) -> tuple[Embedder, dict[str, object], VectorIndexSpec, faiss.Index]:
    """The keyword map step and the embedding on the cluster's workers; the driver trains the
    embedder (once) while a thread of it feeds the keyword shards and reduces their statistics."""
    from concurrent.futures import ThreadPoolExecutor

    keyword_started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="leian-bm25") as pool:
        keyword = pool.submit(build_keyword_indexes_on_cluster, client, staging, KEYWORD_FIELDS)
        try:
            result = _embedder_and_vectors(staging, options, report, timer, client)
        finally:
            keyword_error = keyword.exception()  # waits: the staging folder must not be removed under it
        if keyword_error is not None:
            raise RuntimeError("building the keyword indexes on the cluster failed") from keyword_error
    timer.record("keyword_index", report.indexed, time.perf_counter() - keyword_started)
    timer.stages["keyword_index"]["parallel_with"] = ["embedder", "embed_and_vector_index"]
    return result


def _embedder_and_vectors(
    staging: Path, options: BuildOptions, report: ValidationReport, timer: StageTimer, client: Any
) -> tuple[Embedder, dict[str, object], VectorIndexSpec, faiss.Index]:
    started = time.perf_counter()
    embedder, embedder_record = prepare_embedder(options.embedder, staging, options.static_recipe)
    timer.record("embedder", report.indexed, time.perf_counter() - started)

    started = time.perf_counter()
    spec = choose_index_spec(report.indexed)
    index = new_vector_index(spec, embedder.dimension)
    embed_rows(embedder, index, staging, 0, report.indexed, options.progress, client=client)
    faiss.write_index(index, str(staging / layout.VECTORS))
    timer.record("embed_and_vector_index", report.indexed, time.perf_counter() - started)
    return embedder, embedder_record, spec, index


def _build_with(staging: Path, build_id: str, options: BuildOptions, client: Any) -> BuildResult:
    timer = StageTimer()
    report = ValidationReport()
    segmenter = default_segmenter()

    started = time.perf_counter()
    writer = MetadataWriter(staging / layout.METADATA)
    tokens = _TokenFiles(staging)
    try:
        ingest(
            options.inputs,
            options.fmt,
            writer,
            tokens,
            report,
            options.progress,
            workers=options.workers,
            client=client,
        )
    finally:
        tokens.close()
    counts = writer.counts()
    writer.close()
    timer.record("read_parse_segment", report.read, time.perf_counter() - started)
    if report.indexed == 0:
        raise ValueError(f"no document could be indexed ({len(report.rejected)} rejected)")

    if client is None:
        embedder, embedder_record, spec, index = _keyword_and_vectors_locally(staging, options, report, timer)
    else:
        embedder, embedder_record, spec, index = _keyword_and_vectors_on_cluster(
            staging, options, report, timer, client
        )
    token_store.remove_text_parts(staging, "facts")  # the embedder has read them; their ids stay

    if client is not None:
        # Workers are not this process's children: their CPU time is asked of them (it is the cost
        # a shared machine hides behind wall time).
        timer.stages["dask"] = {
            "scheduler": options.scheduler,
            "workers": len(client.scheduler_info().get("workers", {})),
            "worker_cpu_seconds": round(sum(client.run(_process_cpu_seconds).values()), 1),
        }
    if options.cause_model is not None:
        copy_cause_model(options.cause_model, staging)
    (staging / layout.VALIDATION).write_text(json.dumps(report.as_dict(), ensure_ascii=False, indent=1))
    manifest = manifest_mod.write_manifest(
        staging,
        build_id=build_id,
        parent=None,
        counts=counts,
        inputs=[{"path": str(Path(p).resolve()), "format": options.fmt or "auto"} for p in options.inputs],
        segmenter=segmenter.info.as_dict() | {"fingerprint": segmenter.info.fingerprint},
        embedder=embedder_record,
        vector_index=spec.as_dict() | {"dimension": embedder.dimension, "ntotal": int(index.ntotal)},
        stages=timer.stages,
        validation={"read": report.read, "indexed": report.indexed, "rejected": len(report.rejected)},
    )
    return BuildResult(build_dir=staging, manifest=manifest, report=report)
