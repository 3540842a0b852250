"""`leian add` and `leian withdraw`: a new build derived from the current one, published atomically.

Published builds are immutable, so an update copies the files it changes (metadata, vectors),
hard-links the ones it does not (embedder, token parts, an unchanged keyword index), applies the
change and publishes with the parent's id in the manifest. An add writes its rows' tokens as new
token parts and derives each keyword index from the parent's tf store (``bm25_build.add_to_bm25``),
so it never re-reads or re-segments the old documents. Readers of the old build are never
disturbed, and a failed update leaves the current build serving.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

from index_build import manifest as manifest_mod
from index_build import token_store
from index_build.bm25_build import add_to_bm25
from index_build.build import (
    KEYWORD_FIELDS,
    BuildResult,
    StageTimer,
    ValidationReport,
    _TokenFiles,
    embed_rows,
    ingest,
)
from index_build.metadata_writer import MetadataWriter
from index_build.publish import build_lock, new_build_id, new_staging, publish, remove_stale_staging
from retrieval import index_layout as layout
from retrieval.authority_registry import stopped_entry
from retrieval.document import AuthorityKind
from retrieval.embedder import Embedder
from retrieval.index_store import read_manifest

# Files an update may change: copied. Everything else is hard-linked (never written in place: a
# changed keyword index is written to a new folder that replaces the linked one).
_COPIED = {layout.METADATA, layout.VECTORS}


def _clone_build(source: Path, target: Path) -> None:
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        destination = target / relative
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        elif relative.as_posix() == layout.MANIFEST:
            continue
        elif relative.as_posix() in _COPIED:
            shutil.copy2(path, destination)
        else:
            try:
                os.link(path, destination)
            except OSError:
                shutil.copy2(path, destination)


def _derive(home: Path, change: Callable[[Path, dict], dict]) -> BuildResult:
    home = Path(home)
    with build_lock(home):
        remove_stale_staging(home)
        parent_dir = layout.resolve_current(home)
        parent = read_manifest(parent_dir)
        build_id = new_build_id()
        staging = new_staging(home, build_id)
        try:
            _clone_build(parent_dir, staging)
            updates = change(staging, parent)
            report = updates.pop("_report", ValidationReport())
            manifest = {
                k: v
                for k, v in parent.items()
                if k not in ("files", "size_bytes", "created", "format_version")
            }
            manifest.update(updates, build_id=build_id, parent=parent["build_id"])
            manifest = manifest_mod.write_manifest(staging, **manifest)
            final = publish(home, staging, build_id)
            return BuildResult(build_dir=final, manifest=manifest, report=report)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def add_keyword_indexes(staging: Path, new_parts: dict[str, Path | None]) -> None:
    """Extend each keyword index (hard-linked from the parent) with the rows of ``new_parts``.

    The result goes to a new folder that then replaces the linked one, so the parent's files are
    only read. The full-text part is deleted afterwards, as in a build.
    """
    for field_name, folder in KEYWORD_FIELDS:
        part = new_parts.get(field_name)
        if part is None:
            continue
        linked, extended = staging / folder, staging / f"{folder}.new"
        if field_name == "facts":
            with token_store.keeping_ids(part) as ids:
                add_to_bm25(linked, token_store.iter_part_lines(part), extended, ids_out=ids.write)
        else:
            add_to_bm25(linked, token_store.iter_part_lines(part), extended)
        shutil.rmtree(linked)
        extended.rename(linked)
    token_store.remove_field(staging, "full")
    token_store.remove_text_parts(staging, "facts")


def withdraw_registry_stopped(writer: MetadataWriter) -> list[int]:
    """Withdraw the parent's guiding cases that the registry stops (it may have grown since the build)."""
    rows = []
    for doc in writer.active_documents_of_kind(AuthorityKind.GUIDING.value):
        entry = stopped_entry(doc)
        if entry is not None:
            rows.append(writer.withdraw(doc.doc_id, entry.withdrawal_reason()))
    return rows


def _remove_vectors(index: faiss.Index, rows: list[int]) -> None:
    # Approximate indexes cannot remove; the withdrawn mask still hides the row there.
    if rows:
        with contextlib.suppress(RuntimeError):
            index.remove_ids(np.array(rows, dtype=np.int64))


def add_documents(
    home: Path, inputs: list[Path], fmt: str | None = None, progress: bool = True
) -> BuildResult:
    """Index new judgments into a new build; the embedder is the parent's, unchanged."""
    for path in inputs:
        if not Path(path).exists():
            raise FileNotFoundError(f"input not found: {path}")

    def change(staging: Path, parent: dict) -> dict:
        timer = StageTimer()
        report = ValidationReport()
        started = time.perf_counter()
        writer = MetadataWriter(staging / layout.METADATA)
        existing = writer.doc_ids()
        first_row = writer.next_row()
        tokens = _TokenFiles(staging)
        try:
            ingest(inputs, fmt, writer, tokens, report, progress, existing_ids=existing)
        finally:
            tokens.close()
        stopped = withdraw_registry_stopped(writer)
        writer.commit()
        counts = writer.counts()
        writer.close()
        timer.record("read_parse_segment", report.read, time.perf_counter() - started)

        started = time.perf_counter()
        location = Path(parent["embedder"]["location"])
        embedder = Embedder(location if location.is_absolute() else staging / location)
        index = faiss.read_index(str(staging / layout.VECTORS))
        embed_rows(embedder, index, staging, first_row, report.indexed, progress)
        _remove_vectors(index, stopped)
        faiss.write_index(index, str(staging / layout.VECTORS))
        timer.record("embed_and_vector_index", report.indexed, time.perf_counter() - started)

        started = time.perf_counter()
        add_keyword_indexes(staging, tokens.parts)
        timer.record("keyword_index", counts["documents"], time.perf_counter() - started)
        return {
            "counts": counts,
            "stages": timer.stages,
            "vector_index": parent["vector_index"] | {"ntotal": int(index.ntotal)},
            "validation": {"read": report.read, "indexed": report.indexed, "rejected": len(report.rejected)},
            "last_change": {
                "kind": "add",
                "inputs": [str(Path(p).resolve()) for p in inputs],
                "registry_withdrawn": len(stopped),
            },
            "_report": report,
        }

    return _derive(home, change)


def withdraw_document(home: Path, doc_id: str, reason: str) -> BuildResult:
    """Withdraw a document: kept for the record, removed from the vectors, masked everywhere else."""
    if not reason.strip():
        raise ValueError("a withdrawal needs a reason")

    def change(staging: Path, parent: dict) -> dict:
        writer = MetadataWriter(staging / layout.METADATA)
        try:
            row = writer.withdraw(doc_id, reason)
        except KeyError as exc:
            raise KeyError(f"no document with id {doc_id!r} in the current index") from exc
        counts = writer.counts()
        writer.close()
        index = faiss.read_index(str(staging / layout.VECTORS))
        _remove_vectors(index, [row])
        faiss.write_index(index, str(staging / layout.VECTORS))
        return {
            "counts": counts,
            "vector_index": parent["vector_index"] | {"ntotal": int(index.ntotal)},
            "last_change": {"kind": "withdraw", "doc_id": doc_id, "reason": reason},
        }

    return _derive(home, change)
