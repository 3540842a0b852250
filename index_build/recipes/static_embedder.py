"""Recipe: an in-domain static embedder trained offline from the corpus itself.

jieba tokens → word2vec (gensim) → each word vector scaled by its IDF → the common component
removed → a sentence-transformers ``StaticEmbedding`` (mean of token vectors) + ``Normalize``. Mean
pooling of IDF-scaled unit vectors is IDF-weighted pooling up to a length factor that the
normalisation removes. The folder's sidecar
declares ``input: segmented`` so the embedder feeds it our segmenter's tokens, space-joined, and
the tokenizer is a plain whitespace word-level one over that vocabulary.

Two properties every corpus size needs (issue 20; figures in bench/README.md):

* **No collapse.** word2vec vectors share one strong direction, and pooled over a whole judgment
  that direction dominates: trained on ~1,000 CJRC texts every pair of documents had cosine
  0.995–0.9999. The recipe removes the training documents' first ``common_components`` principal
  directions (uncentred, as SIF does: Arora et al. 2017) from every word row. Pooling is linear, so
  removing them from the rows removes them from every document vector exactly, and the folder stays
  a plain sentence-transformers model that any loader reads.
* **Reproducible.** One word2vec worker and a fixed seed: with several workers the order in which
  threads update the vectors varies, and two builds of the same input gave different indexes.

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
    epochs: int = 5  # at least; a small corpus gets more (``min_token_passes``)
    # word2vec needs enough updates, not enough documents: a corpus of few tokens gets more epochs,
    # up to ``max_epochs``, until it has seen this many tokens. On the 999 CJRC facts (187k tokens)
    # semantic-only P@10 civil/criminal was 0.22/0.12 at 5 epochs, 0.43/0.33 at 50, 0.47/0.37 at 100
    # (bench/embedder_spread.py); LeCaRD's 9,088 judgments exceed the budget at 5 epochs.
    min_token_passes: int = 20_000_000
    max_epochs: int = 100
    # Legal text repeats a few words constantly (被告人, 人民币); subsampling them harder trains
    # faster and spends the updates on the words that distinguish cases.
    sample: float = 1e-4
    seed: int = 13
    # One worker: word2vec with several threads is not reproducible (the same input gave different
    # vectors). The cost is wall time only (~2x on the training step), not CPU.
    workers: int = 1
    # Principal directions shared by all documents removed from every word row (SIF's common
    # component); 0 keeps the raw pooled vectors, which collapse on small corpora (bench/README.md).
    common_components: int = 1
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


def _document_frequencies(token_file: Path) -> tuple[Counter[str], int, int]:
    """(document frequency of each token, documents, tokens)."""
    df: Counter[str] = Counter()
    n_docs = n_tokens = 0
    with token_file.open(encoding="utf-8") as handle:
        for line in handle:
            n_docs += 1
            tokens = line.split()
            n_tokens += len(tokens)
            df.update(set(tokens))
    return df, n_docs, n_tokens


def training_epochs(recipe: StaticRecipe, n_tokens: int) -> int:
    """``recipe.epochs``, raised for a small corpus until it sees ``min_token_passes`` tokens."""
    needed = -(-recipe.min_token_passes // max(n_tokens, 1))
    return max(recipe.epochs, min(recipe.max_epochs, needed))


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

    df, n_docs, n_tokens = _document_frequencies(token_file)
    if n_docs == 0:
        raise ValueError(f"{token_file}: no documents to train an embedder on")
    # Tiny corpora (the sample corpus) have few repeated words; keep every word there.
    min_count = recipe.min_count if n_docs >= 200 else 1
    epochs = training_epochs(recipe, n_tokens)
    w2v = Word2Vec(
        corpus_file=str(token_file),
        vector_size=recipe.dimension,
        window=recipe.window,
        min_count=min_count,
        epochs=epochs,
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

    removed = remove_common_components(
        weights, _pooled_documents(token_file, vocab, weights), recipe.common_components
    )

    tokenizer = Tokenizer(WordLevel(vocab=vocab, unk_token=UNK))
    tokenizer.pre_tokenizer = WhitespaceSplit()
    model = SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_weights=weights), Normalize()])
    model.save(str(staging))
    sidecar = {
        "name": f"leian-static-w2v-{recipe.dimension}d",
        "input": "segmented",
        "query_prefix": "",
        "passage_prefix": "",
        "recipe": {**recipe.__dict__, "min_count": min_count, "epochs": epochs},
        "trained_on_documents": n_docs,
        "corpus_documents": corpus_docs,
        "vocabulary_size": len(vocab),
        "common_components_removed": removed,
    }
    (staging / "leian_embedder.json").write_text(json.dumps(sidecar, ensure_ascii=False, indent=2))


def _pooled_documents(token_file: Path, vocab: dict[str, int], weights: np.ndarray) -> np.ndarray:
    """Each training document as the embedder will pool it (mean of its rows, unknown words as 0)."""
    pooled = []
    with token_file.open(encoding="utf-8") as handle:
        for line in handle:
            rows = [vocab.get(token, 0) for token in line.split()]
            pooled.append(weights[rows].mean(axis=0) if rows else np.zeros(weights.shape[1], np.float32))
    return np.asarray(pooled, dtype=np.float64)


def remove_common_components(weights: np.ndarray, documents: np.ndarray, components: int) -> int:
    """Project the top ``components`` right singular vectors of ``documents`` out of every row of
    ``weights`` (in place); returns how many were removed.

    Uncentred SVD, as SIF: the first direction is close to the documents' mean, which is what every
    document shares. The projection does not depend on the sign SVD picks, so it is reproducible.
    """
    components = min(components, *documents.shape) if len(documents) else 0
    if components <= 0:
        return 0
    _, _, vt = np.linalg.svd(documents, full_matrices=False)
    directions = vt[:components]
    weights -= ((weights.astype(np.float64) @ directions.T) @ directions).astype(weights.dtype)
    return components


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
