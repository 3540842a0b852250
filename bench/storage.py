"""Where an index's bytes go, per document and per store, and what reading candidates costs.

    python bench/storage.py --index build/scale/idx-10k [--build build/scale/build-10k.json] \
        [--label after] [--batches 200] [--seed 7] [--out FILE]

``bytes``: every file of the published build, grouped by store (metadata, each BM25 folder split
into bm25s's arrays and the tf store, token store, vectors, embedder, the rest), in bytes and KB
per document; for the metadata store also SQLite's own accounting per table and index (``dbstat``).

``reads``: what a search reads of the metadata store per candidate, timed over ``--batches``
batches of 100 random rows (``CANDIDATE_DEPTH``, seeded) after one warm-up pass over the same rows,
so the page cache is warm: ``MetadataStore.cards`` and ``legal_features`` (read for every fused
candidate) and ``documents`` for the first 10 rows of each batch (the results shown), as CPU and
wall microseconds per row. Only ``MetadataStore``'s public methods are used, so the script runs
unchanged against the code of an older format (copy it into that checkout) to compare.

``build``: from ``--build`` (the ``bench/build.py`` JSON), CPU seconds and ms per document.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from retrieval import index_layout as layout  # noqa: E402
from retrieval.metadata import MetadataStore  # noqa: E402

CANDIDATES = 100  # retrieval.search.CANDIDATE_DEPTH
SHOWN = 10


def _store_of(name: str) -> str:
    """The store a file of a build belongs to."""
    top = name.split("/")[0]
    if top.startswith("bm25_"):
        tf_store = {layout.TF_FILE, layout.DOC_LENGTHS_FILE, layout.TF_STORE_FILE}
        return f"{top}/{'tf_store' if name.split('/')[-1] in tf_store else 'bm25s'}"
    if top == layout.TOKENS:
        return "/".join(name.split("/")[:2])
    return top


def storage_bytes(build_dir: Path) -> dict[str, object]:
    conn = sqlite3.connect(f"file:{build_dir / layout.METADATA}?mode=ro", uri=True)
    documents = int(conn.execute("SELECT COUNT(*) FROM docs").fetchone()[0])
    stores: dict[str, int] = {}
    for path in sorted(p for p in build_dir.rglob("*") if p.is_file()):
        name = str(path.relative_to(build_dir))
        stores[_store_of(name)] = stores.get(_store_of(name), 0) + path.stat().st_size
    total = sum(stores.values())
    sqlite = dict(conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"))
    conn.close()

    def per_doc(n: int) -> float:
        return round(n / documents / 1024, 3)

    return {
        "documents": documents,
        "total_bytes": total,
        "kb_per_document": per_doc(total),
        "stores_kb_per_document": {k: per_doc(v) for k, v in sorted(stores.items(), key=lambda kv: -kv[1])},
        "metadata_sqlite_kb_per_document": {k: per_doc(int(v)) for k, v in sqlite.items() if v},
    }


def _timed(call, rows: list[int]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    call(rows)
    return time.process_time() - cpu, time.perf_counter() - wall


def candidate_reads(build_dir: Path, batches: int, seed: int) -> dict[str, object]:
    store = MetadataStore(build_dir / layout.METADATA)
    size = store.count()
    rng = random.Random(seed)
    samples = [rng.sample(range(size), min(CANDIDATES, size)) for _ in range(batches)]
    parts = {
        "cards": (store.cards, CANDIDATES),
        "legal_features": (store.legal_features, CANDIDATES),
        "documents_shown": (store.documents, SHOWN),
    }
    out: dict[str, object] = {"batches": batches, "rows_per_batch": CANDIDATES, "shown_per_batch": SHOWN}
    for name, (call, width) in parts.items():
        for rows in samples:  # warm-up: the page cache holds these rows, as in a serving process
            call(rows[:width])
        cpu = wall = 0.0
        for rows in samples:
            c, w = _timed(call, rows[:width])
            cpu, wall = cpu + c, wall + w
        n = batches * min(width, size)
        out[name] = {
            "cpu_us_per_row": round(cpu / n * 1e6, 1),
            "wall_us_per_row": round(wall / n * 1e6, 1),
            "file_kb_read_per_row_cold_sqlite_cache": _kb_read_per_row(
                build_dir, name, samples[:COLD_BATCHES], width
            ),
        }
    store.close()
    return out


COLD_BATCHES = 20


def _read_bytes() -> int:
    """Bytes this process has read through read()/pread() (page cache hits included)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise OSError("no rchar in /proc/self/io")


def _kb_read_per_row(build_dir: Path, method: str, samples: list[list[int]], width: int) -> float | None:
    """What SQLite reads from the file per row with its own cache empty (a fresh connection per
    batch): the pages a row costs, which at a million documents are mostly not in memory."""
    total = rows = 0
    for batch in samples:
        store = MetadataStore(build_dir / layout.METADATA)
        try:
            before = _read_bytes()
        except OSError:
            store.close()
            return None
        getattr(store, "documents" if method == "documents_shown" else method)(batch[:width])
        total += _read_bytes() - before
        rows += len(batch[:width])
        store.close()
    return round(total / max(rows, 1) / 1024, 2)


def _commit() -> str | None:
    try:
        found = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True)
    except OSError:
        return None
    return found.stdout.decode().strip() or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True, help="index home or build folder")
    parser.add_argument("--build", type=Path, help="the bench/build.py JSON of that build")
    parser.add_argument("--label", default="", help="a name for this run in the JSON (before / after)")
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    build_dir = layout.resolve_current(args.index)
    manifest = json.loads((build_dir / layout.MANIFEST).read_text(encoding="utf-8"))
    result: dict[str, object] = {
        "benchmark": "storage",
        "label": args.label,
        "code": _commit(),
        "index": str(args.index),
        "format_version": manifest.get("format_version"),
        "bytes": storage_bytes(build_dir),
        "reads": candidate_reads(build_dir, args.batches, args.seed),
    }
    if args.build:
        built = json.loads(args.build.read_text(encoding="utf-8"))
        keys = ("cpu_seconds", "cpu_ms_per_doc", "seconds", "load_average_end", "peak_rss_mb")
        result["build"] = {key: built.get(key) for key in keys} | {
            "stage_seconds": {
                name: stage.get("seconds") for name, stage in (built.get("stages") or {}).items()
            },
            "stage_cpu_seconds": {
                name: stage.get("cpu_seconds") for name, stage in (built.get("stages") or {}).items()
            },
        }
    text = json.dumps(result, ensure_ascii=False, indent=1)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
