"""Build an index (by default all 9,088 distinct LeCaRD candidates) and print JSON figures.

    python bench/build.py [--archive PATH] [--home build/bench/lecard-index] [--embedder DIR]
    python bench/build.py --input build/scale/syn-100k.jsonl --format jsonl --home build/scale/idx-100k
    python bench/build.py --input build/scale/syn-1m --format jsonl --home build/scale/idx-1m \
        --train-docs 3000 --progress --out build/scale/build-1m.json
    python bench/build.py --scheduler local --workers 2 --home build/bench/lecard-dask   # on Dask

Documents per second for each stage and overall, CPU seconds (this process and its workers: the
cost when the machine is shared), peak memory (max RSS), index size on disk, input size on disk
(gzip inputs are read compressed). With ``--scheduler`` the build runs its per-document stages on
Dask (``index_build.dask_ingest``, ``index_build.dask_build``); ``cpu_seconds`` counts a LocalCluster's
workers (descendants of this process) and adds a remote cluster's (asked of each worker). ``--out`` writes the JSON to a file too, which ``bench/perf.py
--build`` reads; stdout may be mixed with other output.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
if str(REPO / "bench") not in sys.path:
    sys.path.append(str(REPO / "bench"))  # for _common; appended, shadows nothing

from _common import LECARD_ARCHIVE, LECARD_INDEX, emit_json  # noqa: E402

from index_build.build import BuildOptions, build, cpu_seconds  # noqa: E402
from index_build.recipes.static_embedder import StaticRecipe  # noqa: E402


def _trained_on(build_dir: Path, manifest: dict) -> int | None:
    """Documents the static embedder was trained on (None for a model given with --embedder)."""
    sidecar = build_dir / str(manifest["embedder"]["location"]) / "leian_embedder.json"
    return json.loads(sidecar.read_text()).get("trained_on_documents") if sidecar.exists() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=LECARD_ARCHIVE)
    parser.add_argument("--input", type=Path, nargs="+", help="instead of --archive: any build inputs")
    parser.add_argument("--format", help="format of --input (default: detect)")
    parser.add_argument("--home", type=Path, default=LECARD_INDEX)
    parser.add_argument("--embedder", type=Path, help="model folder (default: train the static embedder)")
    parser.add_argument(
        "--train-docs",
        type=int,
        default=StaticRecipe.max_documents,
        help="documents the static embedder trains on, an even sample (0: all)",
    )
    parser.add_argument("--scheduler", help="Dask: 'local' (a LocalCluster) or tcp://host:8786")
    parser.add_argument(
        "--workers", type=int, help="local processes or LocalCluster workers (default: the build's)"
    )
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the JSON here (for bench/perf.py --build)")
    args = parser.parse_args(argv)

    inputs = args.input or [args.archive]
    started = time.perf_counter()
    result = build(
        BuildOptions(
            inputs=inputs,
            home=args.home,
            fmt=args.format if args.input else "lecard",
            embedder=args.embedder,
            static_recipe=StaticRecipe(max_documents=args.train_docs or None),
            progress=args.progress,
            scheduler=args.scheduler,
            **({"workers": args.workers} if args.workers else {}),
        )
    )
    total = time.perf_counter() - started
    manifest = result.manifest
    docs = manifest["counts"]["documents"]
    cpu = cpu_seconds()
    if args.scheduler not in (None, "local"):
        # A remote cluster's workers are not this process's descendants; a LocalCluster's are (its
        # nannies reap them and this process reaps the nannies), so they are in cpu_seconds already.
        cpu += float(manifest["stages"].get("dask", {}).get("worker_cpu_seconds", 0.0))
    emit_json(
        {
            "benchmark": "build-lecard",
            "machine": {
                "cpus": len(os.sched_getaffinity(0)),
                "python": platform.python_version(),
            },
            "documents": docs,
            "rejected": manifest["validation"]["rejected"],
            "seconds": round(total, 2),
            "docs_per_second": round(docs / total, 1),
            "scheduler": args.scheduler,
            "cpu_seconds": round(cpu, 1),
            "cpu_ms_per_doc": round(cpu * 1000 / docs, 2),
            "load_average_end": os.getloadavg(),
            "stages": manifest["stages"],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "peak_rss_workers_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
            "index_bytes": manifest["size_bytes"],
            "index_bytes_per_doc": round(manifest["size_bytes"] / docs),
            "files_bytes": _bytes_by_top_entry(manifest["files"]),
            "embedder": manifest["embedder"]["name"],
            "embedder_trained_on": _trained_on(result.build_dir, manifest),
            "vector_index": manifest["vector_index"]["factory"],
            "build_dir": str(result.build_dir),
            "input_bytes": _input_bytes(inputs),
        },
        args.out,
    )
    return 0


def _bytes_by_top_entry(files: dict[str, dict]) -> dict[str, int]:
    """Bytes per top-level file or folder of the build (tokens, bm25_facts …): where the disk goes."""
    out: dict[str, int] = {}
    for name, entry in files.items():
        top = name.split("/", 1)[0]
        out[top] = out.get(top, 0) + int(entry["bytes"])
    return out


def _input_bytes(paths: list[Path]) -> int:
    """Bytes of the inputs as stored (compressed, for .gz): the disk a corpus needs beside its index."""
    files = [p for path in paths for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()]
    return sum(f.stat().st_size for f in files)


if __name__ == "__main__":
    raise SystemExit(main())
