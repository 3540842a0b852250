"""Opens a published build for querying, refusing one that does not match its manifest.

Everything expensive (model, dictionary, FAISS index, BM25 arrays) is loaded here once, at
start-up, never per request.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retrieval import index_layout as layout
from retrieval.cause_model import CauseModel
from retrieval.channels import KeywordChannel, VectorChannel
from retrieval.document import Document
from retrieval.embedder import Embedder, folder_sha256
from retrieval.fair_lock import FairLock
from retrieval.filters import RowAttributes
from retrieval.index_layout import IndexLayoutError
from retrieval.keyword_index import KeywordIndex
from retrieval.metadata import MetadataStore
from retrieval.segmenter import Segmenter, default_segmenter
from retrieval.vector_index import VectorIndex, VectorIndexSpec


def read_manifest(build_dir: Path) -> dict:
    path = Path(build_dir) / layout.MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IndexLayoutError(f"{build_dir}: no {layout.MANIFEST}; not a published build") from exc
    except json.JSONDecodeError as exc:
        raise IndexLayoutError(f"{path}: corrupt manifest ({exc})") from exc
    if manifest.get("format_version") != layout.FORMAT_VERSION:
        raise IndexLayoutError(
            f"{path}: format_version {manifest.get('format_version')!r} is not supported "
            f"(this version reads {layout.FORMAT_VERSION}); rebuild the index with "
            f"{rebuild_command(Path(build_dir), manifest)}"
        )
    return manifest


def rebuild_command(build_dir: Path, manifest: dict) -> str:
    """The `leian build` (in backticks) that makes this build again in the current format."""
    build_dir = Path(build_dir).resolve()
    home = build_dir.parent.parent if build_dir.parent.name == layout.BUILDS else build_dir
    inputs = [str(item.get("path")) for item in manifest.get("inputs") or [] if isinstance(item, dict)]
    formats = {str(item.get("format")) for item in manifest.get("inputs") or [] if isinstance(item, dict)}
    command = ["leian build", "--input", *(inputs or ["PATH..."]), "--out", str(home)]
    if len(formats) == 1 and (fmt := formats.pop()) != "auto":
        command += ["--format", fmt]
    location = str((manifest.get("embedder") or {}).get("location", layout.EMBEDDER))
    if location != layout.EMBEDDER:  # a model folder given to the build, not one it trained
        command += ["--embedder", location]
    text = "`" + " ".join(shlex.quote(part) if part != "leian build" else part for part in command) + "`"
    if manifest.get("parent"):
        text += ", then `leian add` what was added to it since"
    return text


def verify_files(build_dir: Path, manifest: dict, checksums: bool, skip: Collection[str] = ()) -> None:
    """Sizes always; sha256 too when ``checksums`` (start-up of the service, `leian verify`).

    ``skip``: files read from elsewhere (the metadata in PostgreSQL), which may be absent here.
    """
    listed = manifest.get("files") or {}
    if not listed:
        raise IndexLayoutError(f"{build_dir}: manifest lists no files")
    actual = layout.file_checksums(build_dir) if checksums else None
    for name, expected in listed.items():
        if name in skip:
            continue
        path = Path(build_dir) / name
        if not path.is_file():
            raise IndexLayoutError(f"{build_dir}: {name} is missing")
        if path.stat().st_size != expected["bytes"]:
            raise IndexLayoutError(
                f"{build_dir}: {name} has {path.stat().st_size} bytes, manifest says {expected['bytes']}"
            )
        if actual is not None and actual[name]["sha256"] != expected["sha256"]:
            raise IndexLayoutError(f"{build_dir}: {name} does not match its checksum (corrupt)")


def verify_published(home: Path, *, checksums: bool = True, skip: Collection[str] = ()) -> tuple[Path, dict]:
    """(build folder, manifest) of the published build, refused (IndexLayoutError) if a file is off."""
    build_dir = layout.resolve_current(Path(home))
    manifest = read_manifest(build_dir)
    verify_files(build_dir, manifest, checksums=checksums, skip=skip)
    return build_dir, manifest


MetadataOpener = Callable[[Path, dict], MetadataStore]
"""Opens a build's metadata from elsewhere than its folder: (build folder, manifest) → store."""


CAUSE_MODEL_DIR = "cause_model"  # a build's own classifier folder, if it has one


@dataclass
class IndexStore:
    build_dir: Path
    manifest: dict
    segmenter: Segmenter
    embedder: Embedder
    # the recall channels: FAISS and bm25s files here, or Milvus (``retrieval.milvus_channels``)
    vectors: VectorChannel
    keyword_facts: KeywordChannel
    keyword_full: KeywordChannel
    metadata: MetadataStore
    withdrawn: np.ndarray  # bool per row
    attributes: RowAttributes
    article_df: dict[str, int]  # documents citing each article: the specificity of 法条关联
    # The 罪名/案由 classifier (retrieval.cause_model): the build's ``cause_model/`` folder or the one
    # ``open`` is given; None: the search predicts causes by the neighbours' vote.
    cause_model: CauseModel | None = None
    # One SQLite connection and one FAISS index: a threaded server lets one caller in at a time,
    # in arrival order (``exclusive``). More cores are used by more processes.
    _lock: FairLock = field(default_factory=FairLock, repr=False, compare=False)

    @property
    def size(self) -> int:
        return self.keyword_facts.size

    @property
    def version(self) -> str:
        return str(self.manifest["build_id"])

    @property
    def ann(self) -> dict[str, object]:
        """The vector index searched: factory string, metric, search parameters in force, ntotal."""
        return self.vectors.describe()

    @classmethod
    def open(
        cls,
        home: Path,
        *,
        verify_checksums: bool = True,
        embedder_folder: Path | None = None,
        cause_model_folder: Path | None = None,
        metadata: MetadataOpener | None = None,
    ) -> IndexStore:
        """Open the current build of ``home`` (or a build folder). Raises IndexLayoutError if unusable.

        ``metadata``: where the documents and metadata are read from instead of the build's
        ``metadata.sqlite`` (the cluster backend's PostgreSQL), which is then neither read nor checked.
        """
        skip = (layout.METADATA,) if metadata is not None else ()
        build_dir, manifest = verify_published(home, checksums=verify_checksums, skip=skip)

        segmenter = default_segmenter()
        expected = manifest["segmenter"]["fingerprint"]
        if segmenter.info.fingerprint != expected:
            raise IndexLayoutError(
                f"{build_dir}: built with segmenter {expected}, this installation has "
                f"{segmenter.info.fingerprint} (different jieba engine or dictionary); rebuild the index"
            )
        embedder = Embedder(_embedder_folder(build_dir, manifest, embedder_folder), segmenter)
        vi = manifest["vector_index"]
        vectors = VectorIndex.load(
            build_dir / layout.VECTORS, VectorIndexSpec(vi["factory"], dict(vi.get("params") or {}))
        )
        if vectors.dimension != embedder.dimension:
            raise IndexLayoutError(
                f"{build_dir}: vectors have {vectors.dimension} dims, embedder {embedder.dimension}"
            )
        keyword_facts = KeywordIndex.load(build_dir / layout.BM25_FACTS)
        keyword_full = KeywordIndex.load(build_dir / layout.BM25_FULL)
        store = metadata(build_dir, manifest) if metadata else MetadataStore(build_dir / layout.METADATA)
        try:
            size = store.count()
            if keyword_facts.size != size or keyword_full.size != size:
                raise IndexLayoutError(
                    f"{build_dir}: keyword index and metadata disagree on the document count"
                )
            return cls(
                build_dir=build_dir,
                manifest=manifest,
                segmenter=segmenter,
                embedder=embedder,
                vectors=vectors,
                keyword_facts=keyword_facts,
                keyword_full=keyword_full,
                metadata=store,
                withdrawn=store.withdrawn_mask(size),
                attributes=RowAttributes.load(store),
                article_df=store.article_document_frequency(),
                cause_model=_cause_model(build_dir, cause_model_folder),
            )
        except BaseException:
            store.close()
            raise

    def describe(self) -> dict[str, object]:
        """The index facts an audit record carries."""
        return {
            "build_id": self.manifest["build_id"],
            "documents": self.size,
            "embedder": {k: self.manifest["embedder"][k] for k in ("name", "sha256", "dimension")},
            "vector_index": self.ann,
            "segmenter": self.manifest["segmenter"]["fingerprint"],
        }

    @contextmanager
    def exclusive(self) -> Iterator[IndexStore]:
        """Hold the store for one caller: the section of a threaded server that reads it.

        Not reentrant; code that runs inside (search, related cases, replay) never takes it again.
        """
        with self._lock:
            yield self

    def document_by_id(self, doc_id: str) -> Document | None:
        """The whole document ``doc_id`` (texts included), or None when the index has no such id."""
        row = self.metadata.row_of(doc_id)
        return self.metadata.document(row) if row is not None else None

    def contains(self, doc_id: str) -> bool:
        return self.metadata.row_of(doc_id) is not None

    def titles(self, doc_ids: Iterable[str]) -> dict[str, str | None]:
        """Titles of the documents the index has, by id (ids it lacks are left out)."""
        rows = {doc_id: row for doc_id in doc_ids if (row := self.metadata.row_of(doc_id)) is not None}
        docs = self.metadata.documents(rows.values())
        return {doc_id: docs[row].title for doc_id, row in rows.items() if row in docs}

    def close(self) -> None:
        self.metadata.close()


def _cause_model(build_dir: Path, override: Path | None) -> CauseModel | None:
    """The classifier given, else the build's own ``cause_model/``, else None (neighbour vote)."""
    folder = override if override is not None else build_dir / CAUSE_MODEL_DIR
    if override is None and not folder.is_dir():
        return None
    return CauseModel.load(folder)


def _embedder_folder(build_dir: Path, manifest: dict, override: Path | None) -> Path:
    record = manifest["embedder"]
    folder = Path(override) if override else Path(record["location"])
    if not folder.is_absolute():
        folder = build_dir / folder
    if not folder.is_dir():
        raise IndexLayoutError(f"embedder folder {folder} not found (the index was built with it)")
    if folder_sha256(folder) != record["sha256"]:
        raise IndexLayoutError(f"embedder folder {folder} differs from the one the index was built with")
    return folder
