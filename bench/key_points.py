"""类案裁判要点 of ordinary judgments on real data: do they end at a sentence end, how long, how fast.

Reads the first N distinct LeCaRD candidates (archive order, deterministic) with the LeCaRD reader
and selects each one's key point (``retrieval.report.key_point``). Prints JSON: documents, how many
points are empty, end at a sentence or clause end (。！？；), open with the charge sheet (指控 within
the first 30 characters), length median/max, and milliseconds per document.

    python bench/key_points.py --docs 300
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import LECARD_ARCHIVE, emit_json

from index_build.readers.lecard import to_document
from retrieval.report.key_point import key_point


def distinct_candidates(n_docs: int) -> list[tuple[str, dict]]:
    seen: dict[str, dict] = {}
    with tarfile.open(LECARD_ARCHIVE, "r:xz") as archive:
        for member in archive:
            name = Path(member.name).name
            if member.isfile() and name.endswith(".json") and name not in seen:
                seen[name] = json.load(io.BytesIO(archive.extractfile(member).read()))
                if len(seen) == n_docs:
                    break
    return list(seen.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=300)
    args = parser.parse_args()
    docs = [to_document(data, doc_id=name, source=name) for name, data in distinct_candidates(args.docs)]
    started = time.perf_counter()
    points = [key_point(doc)[1] for doc in docs]
    elapsed = time.perf_counter() - started
    written = [p for p in points if p]
    emit_json(
        {
            "documents": len(docs),
            "empty": len(points) - len(written),
            "ends_at_sentence_or_clause_end": sum(p[-1] in "。！？；" for p in written),
            "opens_with_charge_sheet": sum("指控" in p[:30] for p in written),
            "chars_median": statistics.median(len(p) for p in written),
            "chars_max": max(len(p) for p in written),
            "ms_per_document": round(elapsed / len(docs) * 1000, 2),
        }
    )


if __name__ == "__main__":
    main()
