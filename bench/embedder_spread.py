"""Does the static embedder tell documents apart, and does it give the same vectors twice?

    python bench/embedder_spread.py [--data PATH] [--components N ...] [--workers N] [--repeat 2]
                                    [--out FILE]

Trains the static embedder (``index_build/recipes/static_embedder.py``) on the facts of the ~1,000
CJRC texts (a small corpus, where the old recipe collapsed), once per ``--components`` value and
``--repeat`` times each, embeds every text and reports:

- the spread of pairwise cosines (min, p1, p50, p99, max over all pairs of distinct documents) and
  the mean cosine of same-cause against different-cause pairs;
- semantic-only leave-one-out P@10 per domain (each text ranks all the others by cosine; same
  normalisation as ``bench/civil.py``: same-cause hits / min(10, same-cause texts available));
- the sha256 of the vector matrix and of the model folder, per repeat: equal hashes = the training
  is reproducible.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))

from _common import BENCH_BUILD, SHARED_DATA, emit_json  # noqa: E402

CJRC_DOCS = SHARED_DATA / "cail2019-cjrc-dev" / "docs.jsonl"
TOP = 10


def log(message: str) -> None:
    print(f"[spread] {message}", file=sys.stderr, flush=True)


def spread(vectors: np.ndarray, causes: list[str]) -> dict[str, float]:
    """Pairwise cosine percentiles over distinct pairs, and same- against different-cause means."""
    sims = vectors @ vectors.T
    upper = np.triu_indices(len(vectors), k=1)
    pairs = sims[upper]
    labels = np.asarray(causes)
    same = labels[upper[0]] == labels[upper[1]]
    return {
        "min": round(float(pairs.min()), 5),
        "p1": round(float(np.percentile(pairs, 1)), 5),
        "p50": round(float(np.percentile(pairs, 50)), 5),
        "p99": round(float(np.percentile(pairs, 99)), 5),
        "max": round(float(pairs.max()), 5),
        "same_cause_mean": round(float(pairs[same].mean()), 5),
        "different_cause_mean": round(float(pairs[~same].mean()), 5),
    }


def loo_precision(vectors: np.ndarray, rows: list[dict]) -> dict[str, float]:
    """Semantic-only leave-one-out P@10 per domain (bench/civil.py's normalisation)."""
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    causes = [r["cause"] for r in rows]
    counts = Counter(causes)
    per: dict[str, list[float]] = {}
    for i, row in enumerate(rows):
        available = counts[row["cause"]] - 1
        if available <= 0:
            continue
        top = np.argsort(-sims[i], kind="stable")[:TOP]
        hits = sum(causes[j] == row["cause"] for j in top)
        per.setdefault(row["domain"], []).append(hits / min(TOP, available))
    return {domain: round(float(np.mean(v)), 4) for domain, v in sorted(per.items())}


def main(argv: list[str] | None = None) -> int:
    from index_build.recipes.static_embedder import StaticRecipe, train_static_embedder, write_token_file
    from retrieval.embedder import Embedder, folder_sha256
    from retrieval.segmenter import default_segmenter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=CJRC_DOCS)
    parser.add_argument("--components", type=int, nargs="+", default=[0, StaticRecipe.common_components])
    parser.add_argument("--workers", type=int, default=StaticRecipe.workers)
    parser.add_argument("--epochs", type=int, nargs="+", default=[StaticRecipe.epochs], help="at least")
    parser.add_argument(
        "--min-token-passes", type=int, default=StaticRecipe.min_token_passes, help="0: exactly --epochs"
    )
    parser.add_argument("--repeat", type=int, default=2, help="trainings per setting (hashes compared)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    with args.data.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    work = BENCH_BUILD / "embedder-spread"
    work.mkdir(parents=True, exist_ok=True)
    tokens = work / "tokens.txt"
    segmenter = default_segmenter()
    write_token_file((segmenter.tokens(r["facts"]) for r in rows), tokens)
    lines = tokens.read_text(encoding="utf-8").splitlines()
    causes = [r["cause"] for r in rows]
    report: dict[str, object] = {
        "data": str(args.data),
        "documents": len(rows),
        "workers": args.workers,
        "min_token_passes": args.min_token_passes,
    }
    settings = []
    for components, epochs in itertools.product(args.components, args.epochs):
        recipe = StaticRecipe(
            workers=args.workers,
            common_components=components,
            epochs=epochs,
            min_token_passes=args.min_token_passes,
        )
        runs = []
        for repeat in range(args.repeat):
            started = time.process_time()
            folder = train_static_embedder(tokens, work / f"c{components}-e{epochs}-r{repeat}", recipe)
            cpu = time.process_time() - started
            vectors = Embedder(folder).encode_segmented_passages(lines)
            runs.append(
                {
                    "training_cpu_s": round(cpu, 1),
                    "vectors_sha256": hashlib.sha256(vectors.tobytes()).hexdigest(),
                    "model_sha256": folder_sha256(folder),
                }
            )
            log(f"components {components} epochs {epochs} repeat {repeat}: {runs[-1]}")
        settings.append(
            {
                "common_components": components,
                "epochs": json.loads(
                    (work / f"c{components}-e{epochs}-r0" / "leian_embedder.json").read_text()
                )["recipe"]["epochs"],
                "cosine": spread(vectors, causes),
                "semantic_loo_P@10": loo_precision(vectors, rows),
                "runs": runs,
                "identical": len({r["vectors_sha256"] for r in runs}) == 1,
            }
        )
    report["settings"] = settings
    emit_json(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
