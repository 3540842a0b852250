"""The manifest of a build: what it holds, how it was made, and checksums to detect corruption."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from retrieval import index_layout as layout
from retrieval.keyword_index import BM25_PARAMS


def write_manifest(build_dir: Path, **sections: object) -> dict:
    """Write ``manifest.json`` last, after fsyncing every file it lists."""
    manifest = {
        "format_version": layout.FORMAT_VERSION,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **sections,
        "keyword_index": {"library": "bm25s", "params": BM25_PARAMS, "fields": ["facts", "full"]},
    }
    files = layout.file_checksums(build_dir, sync=True)
    manifest["files"] = files
    manifest["size_bytes"] = sum(int(f["bytes"]) for f in files.values())
    path = Path(build_dir) / layout.MANIFEST
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(manifest, handle, ensure_ascii=False, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return manifest
