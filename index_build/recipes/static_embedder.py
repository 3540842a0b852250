"""Recipe: an in-domain static embedder trained offline from the corpus itself.

jieba tokens → word2vec (gensim) → each word vector scaled by its IDF → a sentence-transformers
``StaticEmbedding`` (mean of token vectors) + ``Normalize``. Mean pooling of IDF-scaled unit vectors
is IDF-weighted pooling up to a length factor that the normalisation removes. The folder's sidecar
declares ``input: segmented`` so the embedder feeds it our segmenter's tokens, space-joined, and
the tokenizer is a plain whitespace word-level one over that vocabulary.

It trains in seconds to minutes on 2 cores and embeds hundreds of documents per second, which is
why it is the build's default; any other model folder can be given instead.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

UNK = "[UNK]"


@dataclass(frozen=True)
class StaticRecipe:
    dimension: int = 256
    window: int = 8
    min_count: int = 3
    epochs: int = 5
    # Legal text repeats a few words constantly (被告人, 人民币); subsampling them harder trains
    # faster and spends the updates on the words that distinguish cases.
    sample: float = 1e-4
    seed: int = 13
    workers: int = 2
    # Training cost grows with the corpus, vocabulary quality much less: beyond this many documents
    # word2vec and the IDF see an evenly spaced sample (None: all), which costs little quality and
    # bounds the training time (see bench/README.md).
    max_documents: int | None = 10_000


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 22), b""))


def sample_lines(lines: Iterable[str], total: int, max_documents: int | None, target: Path) -> int:
    """Write every k-th of ``total`` lines to ``target`` (all when under the cap); returns how many.

    An even stride rather than the head, because inputs are often sorted (LeCaRD by query, courts
    by year) and the head would hold a few charges only.
    """
    stride = 1 if max_documents is None or total <= max_documents else -(-total // max_documents)
    kept = 0
    with target.open("w", encoding="utf-8") as out:
        for number, line in enumerate(lines):
            if number % stride == 0:
                out.write(line.rstrip("\n") + "\n")
                kept += 1
    return kept


def training_sample(token_file: Path, max_documents: int | None, target: Path) -> tuple[Path, int, int]:
    """(file to train on, its documents, the corpus's documents): the file itself when under the cap."""
    total = _count_lines(token_file)
    if max_documents is None or total <= max_documents:
        return token_file, total, total
    with token_file.open(encoding="utf-8") as source:
        kept = sample_lines(source, total, max_documents, target)
    return target, kept, total


def _document_frequencies(token_file: Path) -> tuple[Counter[str], int]:
    df: Counter[str] = Counter()
    n_docs = 0
    with token_file.open(encoding="utf-8") as handle:
        for line in handle:
            n_docs += 1
            df.update(set(line.split()))
    return df, n_docs


def train_static_embedder(token_file: Path, out_dir: Path, recipe: StaticRecipe | None = None) -> Path:
    """Train from ``token_file`` (one document per line, space-joined tokens) into ``out_dir``.

    Writes into a temporary sibling folder and renames it into place, so a failure leaves no
    half-written model. Returns ``out_dir``.
    """
    recipe = recipe or StaticRecipe()
    return _train_atomically(
        out_dir, recipe, lambda sample: training_sample(Path(token_file), recipe.max_documents, sample)
    )


def train_static_embedder_from_lines(
    lines: Iterable[str], total: int, out_dir: Path, recipe: StaticRecipe | None = None
) -> Path:
    """Train from ``total`` token lines (a build's token store); the sample is written to a plain
    file because word2vec's ``corpus_file`` mode reads plain text only."""
    recipe = recipe or StaticRecipe()

    def sample(target: Path) -> tuple[Path, int, int]:
        return target, sample_lines(lines, total, recipe.max_documents, target), total

    return _train_atomically(out_dir, recipe, sample)


def _train_atomically(
    out_dir: Path, recipe: StaticRecipe, corpus: Callable[[Path], tuple[Path, int, int]]
) -> Path:
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        sample = staging.with_suffix(".sample.txt")
        try:
            token_file, _, corpus_docs = corpus(sample)
            _train_into(staging, token_file, corpus_docs, recipe)
        finally:
            sample.unlink(missing_ok=True)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def _train_into(staging: Path, token_file: Path, corpus_docs: int, recipe: StaticRecipe) -> None:
    from gensim.models import Word2Vec
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, StaticEmbedding
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit

    df, n_docs = _document_frequencies(token_file)
    if n_docs == 0:
        raise ValueError(f"{token_file}: no documents to train an embedder on")
    # Tiny corpora (the sample corpus) have few repeated words; keep every word there.
    min_count = recipe.min_count if n_docs >= 200 else 1
    w2v = Word2Vec(
        corpus_file=str(token_file),
        vector_size=recipe.dimension,
        window=recipe.window,
        min_count=min_count,
        epochs=recipe.epochs,
        seed=recipe.seed,
        sample=recipe.sample,
        workers=recipe.workers,
        sg=0,
    )
    words = list(w2v.wv.index_to_key)
    vocab = {UNK: 0}
    weights = np.zeros((len(words) + 1, recipe.dimension), dtype=np.float32)
    for row, word in enumerate(words, start=1):
        vocab[word] = row
        vector = w2v.wv[word]
        norm = float(np.linalg.norm(vector)) or 1.0
        idf = math.log((n_docs + 1) / (df.get(word, 0) + 0.5))
        weights[row] = vector / norm * max(idf, 0.0)

    tokenizer = Tokenizer(WordLevel(vocab=vocab, unk_token=UNK))
    tokenizer.pre_tokenizer = WhitespaceSplit()
    model = SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_weights=weights), Normalize()])
    model.save(str(staging))
    sidecar = {
        "name": f"leian-static-w2v-{recipe.dimension}d",
        "input": "segmented",
        "query_prefix": "",
        "passage_prefix": "",
        "recipe": {**recipe.__dict__, "min_count": min_count},
        "trained_on_documents": n_docs,
        "corpus_documents": corpus_docs,
        "vocabulary_size": len(vocab),
    }
    (staging / "leian_embedder.json").write_text(json.dumps(sidecar, ensure_ascii=False, indent=2))


def write_token_file(token_lines: Iterable[list[str]], path: Path) -> int:
    """Write one space-joined line per document; returns the number of lines."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as handle:
        for tokens in token_lines:
            handle.write(" ".join(tokens) + "\n")
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train an in-domain static embedder from a token file.")
    parser.add_argument(
        "--tokens", type=Path, required=True, help="one document per line, space-joined tokens"
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dimension", type=int, default=StaticRecipe.dimension)
    args = parser.parse_args(argv)
    train_static_embedder(args.tokens, args.out, StaticRecipe(dimension=args.dimension))
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
