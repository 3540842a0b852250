"""Names inside an index home and a build folder, shared by the build and the query side."""

from __future__ import annotations

from pathlib import Path

# 2: doc_features and doc_case_refs tables; 3: docs.card; 4: gzip token parts (no full-text tokens
# in a published build) and the BM25 tf store (tf.csc.npy, doc_lengths.npy) that `leian add` extends;
# 5: documents as zstd cards and texts with trained dictionaries in tables of their own (doc_cards,
# doc_texts, codec; retrieval.doc_codec), sections as offsets into the full text, and the facts
# tokens as zstd token ids (tokens/facts/part-*.ids.zst). A build of another version is refused
# with the command that rebuilds it (retrieval.index_store.read_manifest).
FORMAT_VERSION = 5

CURRENT = "current"
BUILDS = "builds"

MANIFEST = "manifest.json"
METADATA = "metadata.sqlite"
VECTORS = "vectors.faiss"
BM25_FACTS = "bm25_facts"
BM25_FULL = "bm25_full"
TOKENS = "tokens"  # tokens/facts/part-*.txt.gz: one row per line (index_build.token_store)
EMBEDDER = "embedder"
VALIDATION = "validation.json"
# Inside each BM25 folder, beside bm25s's own files: the tf store (term count of every posting, in
# the order of bm25s's indices, and each row's length), read by `leian add` and by query likelihood.
TF_FILE = "tf.csc.npy"
DOC_LENGTHS_FILE = "doc_lengths.npy"
TF_STORE_FILE = "tf_store.json"


class IndexLayoutError(RuntimeError):
    """The path is not an index home or build, or its files do not match its manifest."""


def resolve_current(home: Path) -> Path:
    """The published build of an index home (or ``home`` itself when it is a build folder)."""
    home = Path(home)
    if (home / MANIFEST).exists():
        return home
    link = home / CURRENT
    if not link.exists():
        raise IndexLayoutError(
            f"{home} has no published index (no '{CURRENT}' pointer); run `leian build` first"
        )
    return link.resolve()


def file_checksums(build_dir: Path, sync: bool = False) -> dict[str, dict[str, object]]:
    """sha256 and size of every file of a build except the manifest; ``sync`` also fsyncs each."""
    import hashlib
    import os

    out: dict[str, dict[str, object]] = {}
    for path in sorted(p for p in Path(build_dir).rglob("*") if p.is_file() and p.name != MANIFEST):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
            if sync:
                os.fsync(handle.fileno())
        out[str(path.relative_to(build_dir))] = {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}
    return out
