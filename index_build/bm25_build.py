"""BM25 keyword index built in bounded memory, and extended by an add without re-reading old text.

``bm25s.BM25.index`` keeps every token id of the corpus in Python lists, so its memory cannot reach
a million judgments (see bench/README.md). This builder writes the very folder ``bm25s.BM25.load``
reads, with bm25s's scores to the float32 bit for ``BM25_PARAMS`` ("lucene"):

1. Pass 1 streams the token lines once: tokens get column ids in order of first occurrence (as
   bm25s numbers them), and every ``chunk_tokens`` tokens the chunk's unique (column, row, tf)
   postings are sorted and appended to spill files: one *run* of postings in (column, row) order.
2. Assembly walks the columns in windows of about ``window_postings`` postings. For each window
   it reads that slice of every run, places it by counting sort (runs are in row order, so each
   column's rows come out ascending, as CSC needs), scores it and appends it to the output files.
   Only a window and the per-row and per-column arrays are ever in memory.

An add is the same assembly with the existing index as the first run: its rows and term
frequencies come from the *tf store* kept beside the scores, new rows follow, and every score is
recomputed from tf, document length, the new N, average length and document frequency.

Files (the first five are bm25s's own; bm25s ignores the rest):
  vocab.index.json       token → column, plus bm25s's ``""`` entry after the last column
  params.index.json      bm25s's parameters and ``num_docs``
  indptr.csc.index.npy   int64 [V+1]: column ``c`` is postings ``indptr[c]:indptr[c+1]``
  indices.csc.index.npy  int32 row of each posting, ascending within a column
  data.csc.index.npy     float32 BM25 score of each posting
  tf.csc.npy             uint16 term frequency of each posting, saturating at 65535 (see TF_MAX)
  doc_lengths.npy        uint32 tokens of each row (with repeats: bm25s's document length)
  tf_store.json          what the two files above are
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import bm25s
import numpy as np

from retrieval.index_layout import DOC_LENGTHS_FILE, TF_FILE, TF_STORE_FILE
from retrieval.keyword_index import BM25_PARAMS

TF_DTYPE = np.uint16
# A term frequency above this (one token repeated 65,536 times in one judgment) is stored, and
# scored, as TF_MAX: its tf/(tf+K) term then differs from bm25s's by under 2e-5 relative. Keeping
# tf in 2 bytes holds the store at a quarter of the scores' and indices' 8 bytes per posting.
TF_MAX = int(np.iinfo(TF_DTYPE).max)
CHUNK_TOKENS = 4_000_000  # tokens per pass-1 run: ~30 bytes each of transient arrays
WINDOW_POSTINGS = 4_000_000  # postings per assembly window: ~40 bytes each of transient arrays

VOCAB_FILE = "vocab.index.json"
PARAMS_FILE = "params.index.json"
INDPTR_FILE = "indptr.csc.index.npy"
INDICES_FILE = "indices.csc.index.npy"
DATA_FILE = "data.csc.index.npy"


class _Vocabulary(dict[str, int]):
    """token → column; an unseen token gets the next column, so ids follow first occurrence."""

    def __missing__(self, token: str) -> int:
        column = len(self)
        self[token] = column
        return column


@dataclass(frozen=True)
class _FileArray:
    """A 1-d array stored raw at ``offset`` in a file, read slice by slice into ordinary memory.

    ``np.fromfile`` rather than a memory map: mapped pages count in the process's RSS until
    unmapped, which is the number this builder is meant to bound.
    """

    path: Path
    dtype: np.dtype
    offset: int = 0

    def read(self, start: int, stop: int) -> np.ndarray:
        count = int(stop - start)
        if count <= 0:
            return np.empty(0, dtype=self.dtype)
        return np.fromfile(
            self.path, dtype=self.dtype, count=count, offset=self.offset + int(start) * self.dtype.itemsize
        )

    @classmethod
    def of_npy(cls, path: Path) -> _FileArray:
        header = np.load(path, mmap_mode="r")
        try:
            return cls(Path(path), header.dtype, int(header.offset))
        finally:
            del header


def _read(source: np.ndarray | _FileArray, start: int, stop: int) -> np.ndarray:
    return source[start:stop] if isinstance(source, np.ndarray) else source.read(start, stop)


@dataclass
class _Run:
    """Postings of consecutive rows in (column, row) order: a pass-1 chunk or an existing index."""

    columns: np.ndarray | _FileArray  # int32, ascending: the columns that have postings here
    counts: np.ndarray | _FileArray  # int64 postings of each of those columns
    rows: np.ndarray | _FileArray  # int32
    tf: np.ndarray | _FileArray  # uint16
    n_columns: int
    # Per assembly window w: columns[column_bounds[w]:column_bounds[w+1]] fall in it, with
    # postings posting_bounds[w]:posting_bounds[w+1].
    column_bounds: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    posting_bounds: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def plan(self, window_starts: np.ndarray) -> None:
        columns = _read(self.columns, 0, self.n_columns)
        counts = _read(self.counts, 0, self.n_columns)
        self.column_bounds = np.searchsorted(columns, window_starts).astype(np.int64)
        ends = np.zeros(self.n_columns + 1, dtype=np.int64)
        np.cumsum(counts, out=ends[1:])
        self.posting_bounds = ends[self.column_bounds]


class _Spill:
    """Pass 1's runs, appended to four files under a temporary folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._files = {
            name: (folder / f"{name}.bin").open("wb") for name in ("columns", "counts", "rows", "tf")
        }
        self._lengths = {"columns": 0, "rows": 0}
        self.runs: list[_Run] = []

    def append(self, columns: np.ndarray, counts: np.ndarray, rows: np.ndarray, tf: np.ndarray) -> None:
        at_column, at_posting = self._lengths["columns"], self._lengths["rows"]
        for name, values in (("columns", columns), ("counts", counts), ("rows", rows), ("tf", tf)):
            values.tofile(self._files[name])
        self.runs.append(
            _Run(
                columns=_FileArray(
                    self.folder / "columns.bin", columns.dtype, at_column * columns.dtype.itemsize
                ),
                counts=_FileArray(
                    self.folder / "counts.bin", counts.dtype, at_column * counts.dtype.itemsize
                ),
                rows=_FileArray(self.folder / "rows.bin", rows.dtype, at_posting * rows.dtype.itemsize),
                tf=_FileArray(self.folder / "tf.bin", tf.dtype, at_posting * tf.dtype.itemsize),
                n_columns=len(columns),
            )
        )
        self._lengths["columns"] += len(columns)
        self._lengths["rows"] += len(rows)

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()


@dataclass
class _Corpus:
    """What pass 1 accumulates besides the runs: columns, document frequencies, row lengths."""

    vocab: _Vocabulary
    df: np.ndarray  # int64 per column
    doc_lengths: array  # 'I', one per row
    params: Mapping[str, object] = field(default_factory=lambda: dict(BM25_PARAMS))

    def grow_df(self) -> None:
        if len(self.df) < len(self.vocab):
            self.df = np.concatenate([self.df, np.zeros(len(self.vocab) - len(self.df), dtype=np.int64)])


def _spill_chunk(ids: array, lengths: array, first_row: int, corpus: _Corpus, spill: _Spill) -> None:
    keys = np.frombuffer(ids, dtype=np.int32).astype(np.int64)
    keys <<= 32
    keys |= np.repeat(np.arange(len(lengths), dtype=np.int64), np.frombuffer(lengths, dtype=np.uint32))
    keys.sort()  # (column, row) order; equal keys are one posting, their count its tf
    if len(keys) == 0:
        return
    first = np.empty(len(keys), dtype=bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    del first
    tf = np.diff(np.append(starts, len(keys)))
    postings = keys[starts]
    del keys, starts
    columns_of_posting = (postings >> 32).astype(np.int32)
    rows = ((postings & 0xFFFFFFFF) + first_row).astype(np.int32)
    del postings
    new_column = np.empty(len(columns_of_posting), dtype=bool)
    new_column[0] = True
    np.not_equal(columns_of_posting[1:], columns_of_posting[:-1], out=new_column[1:])
    column_starts = np.flatnonzero(new_column)
    columns = columns_of_posting[column_starts]
    counts = np.diff(np.append(column_starts, len(columns_of_posting))).astype(np.int64)
    corpus.grow_df()
    corpus.df[columns] += counts
    spill.append(columns, counts, rows, np.minimum(tf, TF_MAX).astype(TF_DTYPE))


# Receives each chunk's token ids (int32, rows end to end) and their rows' lengths: what the token
# store keeps of a field instead of its text (``index_build.token_store.IdPartWriter``).
IdsSink = Callable[[array, array], None]


def _pass_one(
    token_lines: Iterable[str],
    first_row: int,
    corpus: _Corpus,
    spill: _Spill,
    chunk_tokens: int,
    ids_out: IdsSink | None = None,
) -> int:
    """Stream ``token_lines`` into runs; returns how many rows (lines) were read."""
    column_of = corpus.vocab.__getitem__
    ids, lengths = array("i"), array("I")
    row = chunk_start = first_row
    for line in token_lines:
        tokens = line.split()
        ids.extend(map(column_of, tokens))
        lengths.append(len(tokens))
        row += 1
        if len(ids) >= chunk_tokens:
            if ids_out is not None:
                ids_out(ids, lengths)
            _spill_chunk(ids, lengths, chunk_start, corpus, spill)
            corpus.doc_lengths.extend(lengths)
            ids, lengths = array("i"), array("I")
            chunk_start = row
    if ids_out is not None:
        ids_out(ids, lengths)
    _spill_chunk(ids, lengths, chunk_start, corpus, spill)
    corpus.doc_lengths.extend(lengths)
    corpus.grow_df()
    return row - first_row


def _idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    """bm25s's lucene idf, computed with ``math.log`` and stored as float32 exactly as bm25s does."""
    values = (math.log(1 + (n_docs - d + 0.5) / (d + 0.5)) if d else 0.0 for d in df.tolist())
    return np.fromiter(values, dtype=np.float64, count=len(df)).astype(np.float32)


def _length_norms(doc_lengths: np.ndarray, params: Mapping[str, object]) -> np.ndarray:
    """k1·(1 − b + b·|d|/avgdl) per row, in bm25s's order of float64 operations."""
    k1, b = float(params["k1"]), float(params["b"])
    if len(doc_lengths) == 0 or not doc_lengths.any():
        return np.zeros(len(doc_lengths), dtype=np.float64)
    average = doc_lengths.mean()  # float64, as bm25s's np.array(lengths).mean()
    return k1 * ((1 - b) + b * doc_lengths.astype(np.float64) / average)


def _windows(indptr: np.ndarray, window_postings: int) -> np.ndarray:
    """Column starts of windows of at most ``window_postings`` postings (one column may exceed it)."""
    n_columns = len(indptr) - 1
    starts = [0]
    while starts[-1] < n_columns:
        at = starts[-1]
        end = int(np.searchsorted(indptr, indptr[at] + window_postings, side="right")) - 1
        starts.append(min(max(end, at + 1), n_columns))
    return np.asarray(starts, dtype=np.int64)


class _NpyAppender:
    """An .npy file of known length written front to back, so no part of it is held or mapped."""

    def __init__(self, path: Path, dtype: type, length: int) -> None:
        self.dtype, self.length, self.written = np.dtype(dtype), length, 0
        self._handle = path.open("wb")
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (length,),
        }
        np.lib.format.write_array_header_1_0(self._handle, header)

    def append(self, values: np.ndarray) -> None:
        self._handle.write(np.ascontiguousarray(values, dtype=self.dtype).tobytes())
        self.written += len(values)

    def close(self) -> None:
        self._handle.close()
        if self.written != self.length:
            raise AssertionError(f"{self._handle.name}: wrote {self.written} of {self.length} values")


def _assemble(runs: list[_Run], corpus: _Corpus, out_dir: Path, window_postings: int) -> None:
    df = corpus.df
    indptr = np.zeros(len(df) + 1, dtype=np.int64)
    np.cumsum(df, out=indptr[1:])
    doc_lengths = np.frombuffer(corpus.doc_lengths, dtype=np.uint32)
    idf = _idf(df, len(doc_lengths)).astype(np.float64)
    norms = _length_norms(doc_lengths, corpus.params)
    starts = _windows(indptr, window_postings)
    for run in runs:
        run.plan(starts)
    total = int(indptr[-1])
    writers = {
        name: _NpyAppender(out_dir / name, dtype, total)
        for name, dtype in ((DATA_FILE, np.float32), (INDICES_FILE, np.int32), (TF_FILE, TF_DTYPE))
    }
    for window, (c0, c1) in enumerate(zip(starts[:-1].tolist(), starts[1:].tolist(), strict=True)):
        rows, tf = _window_postings(runs, window, indptr, c0, c1)
        # idf · tf / (norm + tf) in float64, rounded to float32 like bm25s; in place to bound memory.
        scores = norms[rows]
        scores += tf
        np.divide(tf, scores, out=scores)
        scores *= np.repeat(idf[c0:c1], df[c0:c1])
        writers[DATA_FILE].append(scores.astype(np.float32))
        writers[INDICES_FILE].append(rows)
        writers[TF_FILE].append(tf)
    for writer in writers.values():
        writer.close()
    np.save(out_dir / INDPTR_FILE, indptr)
    np.save(out_dir / DOC_LENGTHS_FILE, doc_lengths)


def _window_postings(
    runs: list[_Run], window: int, indptr: np.ndarray, c0: int, c1: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and tfs of columns ``c0..c1`` in CSC order, placed run after run by counting sort."""
    base = int(indptr[c0])
    size = int(indptr[c1]) - base
    rows_out = np.empty(size, dtype=np.int32)
    tf_out = np.empty(size, dtype=TF_DTYPE)
    cursor = indptr[c0:c1] - base  # next free slot of each column in the window
    for run in runs:
        a, b = int(run.column_bounds[window]), int(run.column_bounds[window + 1])
        if a == b:
            continue
        columns = _read(run.columns, a, b).astype(np.int64) - c0
        counts = _read(run.counts, a, b)
        p0, p1 = int(run.posting_bounds[window]), int(run.posting_bounds[window + 1])
        first_in_run = np.zeros(len(counts), dtype=np.int64)
        np.cumsum(counts[:-1], out=first_in_run[1:])
        destination = np.arange(p1 - p0, dtype=np.int64)
        destination += np.repeat(cursor[columns] - first_in_run, counts)
        rows_out[destination] = _read(run.rows, p0, p1)
        tf_out[destination] = _read(run.tf, p0, p1)
        cursor[columns] += counts
    if not np.array_equal(cursor, indptr[c0 + 1 : c1 + 1] - base):
        raise AssertionError(f"columns {c0}..{c1}: postings do not add up to their document frequencies")
    return rows_out, tf_out


def _write_folder(out_dir: Path, corpus: _Corpus, runs: list[_Run], window_postings: int) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    _assemble(runs, corpus, out_dir, window_postings)
    # bm25s appends "" after the last column (it scores queries that match nothing); it has no
    # postings, which is why indptr has one entry fewer than the vocabulary has ids.
    # In place and removed again, and streamed (json.dump) rather than made one string: a copy of
    # the vocabulary or its text would be the largest transient of the build.
    vocab = corpus.vocab
    vocab[""] = len(vocab)
    try:
        with (out_dir / VOCAB_FILE).open("w", encoding="utf-8") as handle:
            json.dump(vocab, handle, ensure_ascii=False)
    finally:
        del vocab[""]
    params = {
        **corpus.params,
        "delta": 0.5,
        "idf_method": corpus.params["method"],
        "dtype": "float32",
        "int_dtype": "int32",
        "num_docs": len(corpus.doc_lengths),
        "version": bm25s.__version__,
        "backend": "numpy",
    }
    (out_dir / PARAMS_FILE).write_text(json.dumps(params, indent=4), encoding="utf-8")
    store = {
        "tf": {
            "file": TF_FILE,
            "dtype": "uint16",
            "order": "as indices.csc.index.npy",
            "saturates_at": TF_MAX,
        },
        "doc_lengths": {"file": DOC_LENGTHS_FILE, "dtype": "uint32", "counts": "tokens with repeats"},
        "builder": "index_build.bm25_build",
    }
    (out_dir / TF_STORE_FILE).write_text(json.dumps(store, indent=1), encoding="utf-8")


@dataclass(frozen=True)
class Tuning:
    """Memory knobs; results do not depend on them (tests shrink them to force many runs/windows)."""

    chunk_tokens: int = CHUNK_TOKENS
    window_postings: int = WINDOW_POSTINGS


@contextlib.contextmanager
def _spilling(work_parent: Path) -> Iterator[_Spill]:
    folder = Path(tempfile.mkdtemp(prefix=".bm25-spill-", dir=work_parent))
    spill = _Spill(folder)
    try:
        yield spill
    finally:
        spill.close()
        shutil.rmtree(folder, ignore_errors=True)


def build_bm25(
    token_lines: Iterable[str],
    out_dir: Path,
    tuning: Tuning = Tuning(),
    params: Mapping[str, object] = BM25_PARAMS,
    ids_out: IdsSink | None = None,
) -> int:
    """Index space-joined token lines (row = line number) into ``out_dir``; returns the row count.

    ``ids_out`` gets every row's token ids (the columns of ``vocab.index.json``) as they are read.

    ``params`` other than the service's (k1, b of the "lucene" method) serve benchmarks that
    compare with bm25s at its own defaults; ``add_to_bm25`` accepts only the service's.
    Spill files go to a temporary folder beside ``out_dir`` and are removed at the end.
    """
    if params.get("method") != "lucene":
        raise ValueError(f"only bm25s's lucene method is built here, not {params.get('method')!r}")
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    corpus = _Corpus(_Vocabulary(), np.zeros(0, dtype=np.int64), array("I"), dict(params))
    with _spilling(out_dir.parent) as spill:
        n_rows = _pass_one(token_lines, 0, corpus, spill, tuning.chunk_tokens, ids_out)
        spill.close()
        _write_folder(out_dir, corpus, spill.runs, tuning.window_postings)
    return n_rows


def _existing(folder: Path) -> tuple[_Corpus, _Run]:
    """An index written by this module, as the corpus so far and one run holding all its postings."""
    folder = Path(folder)
    if not (folder / TF_FILE).exists():
        raise ValueError(f"{folder} has no tf store ({TF_FILE}); rebuild the index with `leian build`")
    params = json.loads((folder / PARAMS_FILE).read_text(encoding="utf-8"))
    if any(params.get(key) != value for key, value in BM25_PARAMS.items()):
        raise ValueError(f"{folder} was built with {params}, not {BM25_PARAMS}")
    saved = json.loads((folder / VOCAB_FILE).read_text(encoding="utf-8"))
    vocab = _Vocabulary((token, column) for token, column in saved.items() if token != "")
    del saved
    indptr = np.load(folder / INDPTR_FILE)
    n_columns = len(indptr) - 1
    if len(vocab) != n_columns or (vocab and max(vocab.values()) != n_columns - 1):
        raise ValueError(
            f"{folder}: vocabulary and postings disagree ({len(vocab)} tokens, {n_columns} columns)"
        )
    df = np.diff(indptr).astype(np.int64)
    doc_lengths = array("I", np.load(folder / DOC_LENGTHS_FILE).astype(np.uint32).tobytes())
    run = _Run(
        columns=np.arange(n_columns, dtype=np.int32),
        counts=df.copy(),  # not df itself: pass 1 adds the new rows' counts to df in place
        rows=_FileArray.of_npy(folder / INDICES_FILE),
        tf=_FileArray.of_npy(folder / TF_FILE),
        n_columns=n_columns,
    )
    return _Corpus(vocab, df, doc_lengths), run


def add_to_bm25(
    source_dir: Path,
    token_lines: Iterable[str],
    out_dir: Path,
    tuning: Tuning = Tuning(),
    ids_out: IdsSink | None = None,
) -> int:
    """Write into ``out_dir`` the index of ``source_dir`` plus new rows ``token_lines``; returns all rows.

    The result equals ``build_bm25`` over the old and new lines together: new tokens get the next
    columns, new rows follow the old ones in every column, and all scores are recomputed for the
    new N and average length. Old token text is not read, and ``source_dir`` is not modified.
    """
    out_dir = Path(out_dir)
    if out_dir.resolve() == Path(source_dir).resolve():
        raise ValueError("an add writes a new folder; the source index is immutable")
    corpus, old = _existing(source_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with _spilling(out_dir.parent) as spill:
        _pass_one(token_lines, len(corpus.doc_lengths), corpus, spill, tuning.chunk_tokens, ids_out)
        spill.close()
        _write_folder(out_dir, corpus, [old, *spill.runs], tuning.window_postings)
    return len(corpus.doc_lengths)
