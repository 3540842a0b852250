"""The one embedder used by indexing and querying: any sentence-transformers model folder.

A model folder may carry a sidecar ``leian_embedder.json`` saying how texts must be prepared:
``input`` is ``"raw"`` (the model tokenises itself, e.g. e5) or ``"segmented"`` (an in-domain static
model whose vocabulary is jieba tokens, fed space-joined tokens from our segmenter), plus the
``query_prefix``/``passage_prefix`` that e5-style models were trained with.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.segmenter import Segmenter, default_segmenter

SIDECAR = "leian_embedder.json"


class EmbedderError(RuntimeError):
    """The model folder is missing, incomplete or not loadable offline."""


@dataclass(frozen=True)
class EmbedderSpec:
    name: str
    input: str = "raw"  # "raw" | "segmented"
    query_prefix: str = ""
    passage_prefix: str = ""

    @classmethod
    def read(cls, folder: Path) -> EmbedderSpec:
        path = folder / SIDECAR
        if not path.exists():
            return cls(name=folder.name)
        data = json.loads(path.read_text(encoding="utf-8"))
        spec = cls(
            name=str(data.get("name") or folder.name),
            input=str(data.get("input") or "raw"),
            query_prefix=str(data.get("query_prefix") or ""),
            passage_prefix=str(data.get("passage_prefix") or ""),
        )
        if spec.input not in ("raw", "segmented"):
            raise EmbedderError(f"{path}: input must be 'raw' or 'segmented', not {spec.input!r}")
        return spec


def folder_sha256(folder: Path) -> str:
    """Checksum over every file of a model folder (names and bytes), recorded in the manifest."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class Embedder:
    """Loads a model folder once and turns texts into L2-normalised float32 vectors."""

    def __init__(self, folder: Path, segmenter: Segmenter | None = None) -> None:
        folder = Path(folder)
        if not (folder / "modules.json").exists():
            raise EmbedderError(f"{folder} is not a sentence-transformers model folder (no modules.json)")
        self.folder = folder
        self.spec = EmbedderSpec.read(folder)
        self._segmenter = segmenter or default_segmenter()
        # Never reach a hub: the folder must be complete.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        try:
            self._model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        except Exception as exc:  # the library raises many types for a broken folder
            raise EmbedderError(f"cannot load embedder from {folder}: {exc}") from exc
        self.dimension = int(self._model.get_embedding_dimension())

    def describe(self) -> dict[str, object]:
        """Manifest/audit description of the model."""
        return {
            "name": self.spec.name,
            "input": self.spec.input,
            "dimension": self.dimension,
            "query_prefix": self.spec.query_prefix,
            "passage_prefix": self.spec.passage_prefix,
        }

    def _prepare(self, texts: Sequence[str], prefix: str) -> list[str]:
        if self.spec.input == "segmented":
            return [" ".join(self._segmenter.tokens(t)) for t in texts]
        return [prefix + t for t in texts]

    def encode_passages(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self._encode(self._prepare(texts, self.spec.passage_prefix), batch_size)

    def encode_queries(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return self._encode(self._prepare(texts, self.spec.query_prefix), batch_size)

    def encode_segmented_passages(self, token_lines: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Passages already segmented (space-joined tokens), as the build stores them; saves a pass."""
        if self.spec.input != "segmented":
            raise EmbedderError("encode_segmented_passages needs a model with input 'segmented'")
        return self._encode(list(token_lines), batch_size)

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
