"""The keyword statistics and the embedding of a build on a Dask cluster (``leian build --scheduler``).

After ingestion (``index_build.dask_ingest``) the driver holds the token files; two more stages are
per-shard work that a cluster can spread:

- **Keyword statistics, map and reduce.** Each worker turns a shard of token lines (``SHARD_ROWS``
  rows) into its own vocabulary in order of first occurrence, its document frequencies, row lengths
  and its postings sorted by (column, row) (``map_shard``). The driver folds the shards in row order
  (``KeywordReduce``): tokens new to the global vocabulary get the next columns in shard order, which
  is exactly the first-occurrence order of a single pass; each shard's columns are renumbered and
  its postings re-sorted by the new columns; the global document frequencies, N and average length
  are their sums. The folder is then assembled by ``index_build.bm25_build`` itself, so it is the
  same bytes as a local build's (bm25s's BM25 and the query likelihood read the same statistics).
- **Embedding.** The embedder is trained once on the driver; its folder is shipped to every worker
  once (``client.scatter(..., broadcast=True)``: a remote cluster needs no shared disk), loaded
  once per worker process, and each task encodes ``EMBED_BATCH`` token lines — the same batches as
  a local build, so the same vectors — which the driver adds to FAISS in order.

A shard whose worker dies is resubmitted (``dask_ingest.RETRIES``); one that fails for good raises,
and ``index_build.build.build`` then removes the staging folder: nothing is published.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index_build import token_store
from index_build.bm25_build import (
    TF_DTYPE,
    TF_MAX,
    Tuning,
    _Corpus,
    _spilling,
    _Vocabulary,
    _write_folder,
)
from index_build.dask_ingest import ordered_map
from retrieval.keyword_index import BM25_PARAMS

SHARD_ROWS = 1_000  # rows per keyword shard: a few million tokens, ~100 MB of a worker's arrays


@dataclass(frozen=True)
class ShardPostings:
    """One shard's keyword statistics, in the shard's own column numbering (the map step's output)."""

    first_row: int
    tokens: list[str]  # local column → token, in order of first occurrence within the shard
    columns: np.ndarray  # int32 local columns with postings, ascending
    counts: np.ndarray  # int64 postings per column = the column's document frequency in the shard
    rows: np.ndarray  # int32 global rows, (column, row) order
    tf: np.ndarray  # uint16 term frequencies, saturating at TF_MAX
    doc_lengths: np.ndarray  # uint32 tokens per row (with repeats)


def map_shard(lines: Sequence[str], first_row: int) -> ShardPostings:
    """Postings of ``lines`` (rows ``first_row..``): what ``bm25_build._spill_chunk`` computes, per shard."""
    vocab = _Vocabulary()
    column_of = vocab.__getitem__
    ids, lengths = array("i"), array("I")
    for line in lines:
        tokens = line.split()
        ids.extend(map(column_of, tokens))
        lengths.append(len(tokens))
    doc_lengths = np.frombuffer(lengths, dtype=np.uint32).copy()
    keys = np.frombuffer(ids, dtype=np.int32).astype(np.int64)
    keys <<= 32
    keys |= np.repeat(np.arange(len(doc_lengths), dtype=np.int64), doc_lengths)
    keys.sort()
    if len(keys):
        first = np.empty(len(keys), dtype=bool)
        first[0] = True
        np.not_equal(keys[1:], keys[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        tf = np.diff(np.append(starts, len(keys)))
        postings = keys[starts]
    else:
        tf = np.zeros(0, dtype=np.int64)
        postings = keys
    column_of_posting = (postings >> 32).astype(np.int32)
    rows = ((postings & 0xFFFFFFFF) + first_row).astype(np.int32)
    columns, column_starts = np.unique(column_of_posting, return_index=True)
    counts = np.diff(np.append(column_starts, len(column_of_posting))).astype(np.int64)
    return ShardPostings(
        first_row=first_row,
        tokens=list(vocab),
        columns=columns.astype(np.int32),
        counts=counts,
        rows=rows,
        tf=np.minimum(tf, TF_MAX).astype(TF_DTYPE),
        doc_lengths=doc_lengths,
    )


def _map_shard_task(shard: tuple[int, list[str]]) -> ShardPostings:
    # Looked up at call time, so a test can put a failing or flaky map in its place.
    first_row, lines = shard
    return map_shard(lines, first_row)


class KeywordReduce:
    """Folds shards, in row order, into one corpus and the runs ``bm25_build`` assembles."""

    def __init__(self, spill: Any) -> None:
        self.corpus = _Corpus(_Vocabulary(), np.zeros(0, dtype=np.int64), array("I"), dict(BM25_PARAMS))
        self._spill = spill
        self.rows = 0

    def add(self, shard: ShardPostings) -> None:
        if shard.first_row != self.rows:
            raise AssertionError(f"shard of row {shard.first_row} arrived after {self.rows} rows")
        column_of = self.corpus.vocab.__getitem__
        renumber = np.fromiter(map(column_of, shard.tokens), dtype=np.int64, count=len(shard.tokens))
        self.corpus.grow_df()
        self.corpus.doc_lengths.extend(array("I", shard.doc_lengths.tobytes()))
        self.rows += len(shard.doc_lengths)
        if len(shard.columns) == 0:
            return
        columns = renumber[shard.columns]
        order = np.argsort(columns, kind="stable")
        first_posting = np.zeros(len(shard.counts), dtype=np.int64)
        np.cumsum(shard.counts[:-1], out=first_posting[1:])
        counts = shard.counts[order]
        moved = np.zeros(len(counts), dtype=np.int64)
        np.cumsum(counts[:-1], out=moved[1:])
        # Posting p of the re-sorted run comes from first_posting[c] + (p - moved[c]) of column c.
        source = np.arange(int(counts.sum()), dtype=np.int64)
        source += np.repeat(first_posting[order] - moved, counts)
        sorted_columns = columns[order].astype(np.int32)
        self.corpus.df[sorted_columns] += counts
        self._spill.append(sorted_columns, counts, shard.rows[source], shard.tf[source])


def shards_of(lines: Iterable[str], rows: int) -> Iterator[tuple[int, list[str]]]:
    """(first row, lines) of consecutive shards of ``rows`` lines."""
    shard: list[str] = []
    first_row = 0
    for line in lines:
        shard.append(line)
        if len(shard) == rows:
            yield first_row, shard
            first_row += len(shard)
            shard = []
    if shard:
        yield first_row, shard


def write_bm25_from_shards(
    shards: Iterable[ShardPostings], out_dir: Path, window_postings: int = Tuning.window_postings
) -> int:
    """The reduce step: fold mapped shards (in row order) and assemble the BM25 folder; returns rows."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with _spilling(out_dir.parent) as spill:
        reduce = KeywordReduce(spill)
        for shard in shards:
            reduce.add(shard)
        spill.close()
        _write_folder(out_dir, reduce.corpus, spill.runs, window_postings)
    return reduce.rows


def build_bm25_on_cluster(
    client: Any, token_lines: Iterable[str], out_dir: Path, shard_rows: int | None = None
) -> int:
    """``bm25_build.build_bm25`` with the map step on the cluster; the same folder, byte for byte."""
    rows = SHARD_ROWS if shard_rows is None else shard_rows
    shards = ordered_map(client, _map_shard_task, shards_of(token_lines, rows), batch=1)
    return write_bm25_from_shards(shards, out_dir)


def build_keyword_indexes_on_cluster(client: Any, build_dir: Path, fields: Sequence[tuple[str, str]]) -> None:
    """Both BM25 folders of a build from its token files (as ``build.build_keyword_indexes``)."""
    for field_name, folder in fields:
        target = Path(build_dir) / folder
        if target.exists():
            shutil.rmtree(target)
        build_bm25_on_cluster(client, token_store.iter_token_lines(build_dir, field_name), target)
        if field_name == "facts":
            token_store.write_ids_of_text(build_dir, field_name)
    token_store.remove_field(build_dir, "full")


# --- embedding -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFiles:
    """A model folder as bytes, shipped once to every worker; ``sha256`` names its unpacked copy."""

    sha256: str
    files: dict[str, bytes]

    @classmethod
    def read(cls, folder: Path) -> ModelFiles:
        folder = Path(folder)
        files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        digest = hashlib.sha256()
        for name, data in files.items():
            digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        return cls(digest.hexdigest(), files)


_LOADED: dict[str, Any] = {}  # per worker process: sha256 → Embedder, so each task does not reload


def _worker_embedder(model: ModelFiles) -> Any:
    from retrieval.embedder import Embedder

    if model.sha256 not in _LOADED:
        folder = Path(tempfile.mkdtemp(prefix=f"leian-embedder-{model.sha256[:12]}-"))
        for name, data in model.files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        _LOADED[model.sha256] = Embedder(folder)
    return _LOADED[model.sha256]


def _encode_task(batch: list[str], model: ModelFiles) -> np.ndarray:
    embedder = _worker_embedder(model)
    if embedder.spec.input == "segmented":
        return embedder.encode_segmented_passages(batch)
    return embedder.encode_passages(batch)


def encode_on_cluster(
    client: Any, embedder_folder: Path, batches: Iterable[list[str]]
) -> Iterator[np.ndarray]:
    """Vectors of each batch, in order, encoded on the cluster's workers (token lines for a
    segmented model, facts for another: what ``build.embed_rows`` gives the local encoder)."""
    model = client.scatter(ModelFiles.read(embedder_folder), broadcast=True)
    yield from ordered_map(client, _encode_task, batches, batch=1, extra=(model,))
