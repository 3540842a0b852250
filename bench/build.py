"""Build the whole LeCaRD candidate set (9,088 distinct judgments) and print JSON figures.

    python bench/build.py [--archive PATH] [--home build/bench/lecard-index] [--embedder DIR]

Documents per second for each stage and overall, peak memory (max RSS), index size on disk.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from index_build.build import BuildOptions, build  # noqa: E402

DEFAULT_ARCHIVE = REPO.parent / "shared" / "data" / "lecard" / "data" / "candidates.tar.xz"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--home", type=Path, default=REPO / "build" / "bench" / "lecard-index")
    parser.add_argument("--embedder", type=Path, help="model folder (default: train the static embedder)")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    result = build(
        BuildOptions(
            inputs=[args.archive],
            home=args.home,
            fmt="lecard",
            embedder=args.embedder,
            progress=args.progress,
        )
    )
    total = time.perf_counter() - started
    manifest = result.manifest
    docs = manifest["counts"]["documents"]
    print(
        json.dumps(
            {
                "benchmark": "build-lecard",
                "machine": {
                    "cpus": len(__import__("os").sched_getaffinity(0)),
                    "python": platform.python_version(),
                },
                "documents": docs,
                "rejected": manifest["validation"]["rejected"],
                "seconds": round(total, 2),
                "docs_per_second": round(docs / total, 1),
                "stages": manifest["stages"],
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "index_bytes": manifest["size_bytes"],
                "index_bytes_per_doc": round(manifest["size_bytes"] / docs),
                "files_bytes": {name: f["bytes"] for name, f in manifest["files"].items() if "/" not in name},
                "embedder": manifest["embedder"]["name"],
                "vector_index": manifest["vector_index"]["factory"],
                "build_dir": str(result.build_dir),
            },
            ensure_ascii=False,
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
