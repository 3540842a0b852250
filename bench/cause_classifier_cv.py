"""The 罪名/案由 classifier alone, k-fold over CJRC, trained with external labelled texts.

    python bench/cause_classifier_cv.py [--folds 5] [--extra spc cail2018 lecard] [--word-ngrams N]
        [--balanced] [--c C] [--cap N] [--no-in-sample] [--out PATH]

Each CJRC dev text (499 civil, 188 案由; 500 criminal, 138 罪名) is predicted by a model trained on
the other folds (seed 7, the folds of bench/civil.py) plus the external texts, never on itself:
- ``spc``: guiding/公报 cases with their causes (../shared/data/spc-cases-xtjeyvc/doc);
- ``cail2018``: the CAIL2018 sample, train and test files, criminal facts with charges;
- ``lecard``: LeCaRD's candidate judgments, their facts section, charges from their own title/result.
An external text that is (nearly) a CJRC text is dropped: half or more of a CJRC text's character
8-grams found in it. A label naming two charges (14 CJRC labels, 21 texts: 盗窃罪、抢夺罪) is both
charges (``_common.label_causes``), in training and in scoring: a first prediction naming either is
right (until 2026-12-08 such a label was one class that no prediction could match). Scores per domain: first / top-3 right with the category read from the facts
(``category_read``) and with the category given as a 案号 would give it (``category_given``), the
mean top-1 confidence beside the first-right rate, and the negative log-likelihood of the true cause
per softmax temperature (the shipped temperature is the grid's best on these pooled folds: it moves
confidences only, never the order), and the ceiling: ``truth_known`` (the model has a label for the
text's cause) and ``truth_candidate`` (a label or a cause of the 案由 tree). Every score is taken as
the search predicts (with the 案由 tree's name and parent evidence) and again without it
(``*_without_tree_evidence``, the same models). ``in_sample`` (trained on every CJRC text too) only
shows how far apart the two are; it is not a result. ``cpu_seconds``: the process's CPU time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))

from _common import BENCH_BUILD, LECARD_ARCHIVE, SHARED_DATA, emit_json, label_causes  # noqa: E402

CJRC_DOCS = SHARED_DATA / "cail2019-cjrc-dev" / "docs.jsonl"
CAIL = SHARED_DATA / "cail2018-sample" / "data"
EXTERNAL = {
    "spc": [SHARED_DATA / "spc-cases-xtjeyvc" / "doc"],
    "cail2018": [CAIL / "data_train.utf8.json", CAIL / "data_test.json"],
    "lecard": [LECARD_ARCHIVE],
}
CACHE = BENCH_BUILD / "cause-external"
CATEGORY = {"civil": "民事", "criminal": "刑事"}
SEED = 7
SHINGLE = 8
OVERLAP = 0.5
TEMPERATURES = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


def log(message: str) -> None:
    print(f"[cause-cv] {message}", file=sys.stderr, flush=True)


def external_texts(name: str) -> list[Any]:
    """The labelled texts of one external source, read once by the build's readers and cached."""
    from index_build.recipes.cause_classifier import LabelledText, labelled_documents

    cache = CACHE / f"{name}.v2.jsonl"
    if not cache.exists():
        cache.parent.mkdir(parents=True, exist_ok=True)
        texts = labelled_documents(EXTERNAL[name])
        lines = (json.dumps(asdict(t), ensure_ascii=False) + "\n" for t in texts)
        cache.write_text("".join(lines), encoding="utf-8")
    rows = [json.loads(line) for line in cache.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [LabelledText(r["facts"], tuple(r["causes"]), r["category"]) for r in rows]


def _shingles(text: str) -> set[str]:
    compact = "".join(text.split())
    return {compact[i : i + SHINGLE] for i in range(len(compact) - SHINGLE + 1)}


def drop_evaluation_texts(external: Sequence[Any], rows: Sequence[dict]) -> tuple[list[Any], int]:
    """The external texts minus those that hold half or more of some CJRC text's 8-grams."""
    owner: dict[str, list[int]] = {}
    sizes = []
    for i, row in enumerate(rows):
        grams = _shingles(row["facts"])
        sizes.append(max(1, len(grams)))
        for gram in grams:
            owner.setdefault(gram, []).append(i)
    kept = []
    for text in external:
        hits: dict[int, int] = {}
        for gram in _shingles(text.facts):
            for i in owner.get(gram, ()):
                hits[i] = hits.get(i, 0) + 1
        if not any(n / sizes[i] >= OVERLAP for i, n in hits.items()):
            kept.append(text)
    return kept, len(external) - len(kept)


def _kept_cached(name: str, texts: Sequence[Any], rows: Sequence[dict], data: Path) -> tuple[list[Any], int]:
    """``drop_evaluation_texts``, its answer cached (minutes on LeCaRD) per source and CJRC file."""
    key = f"{data.resolve()}|{SHINGLE}|{OVERLAP}|{len(texts)}"
    cache = CACHE / f"{name}.kept.json"
    if cache.exists():
        saved = json.loads(cache.read_text(encoding="utf-8"))
        if saved["key"] == key:
            return [texts[i] for i in saved["kept"]], len(texts) - len(saved["kept"])
    position = {id(t): i for i, t in enumerate(texts)}
    kept, dropped = drop_evaluation_texts(texts, rows)
    cache.write_text(json.dumps({"key": key, "kept": [position[id(t)] for t in kept]}), encoding="utf-8")
    return kept, dropped


def score(rows: Sequence[dict], model_of: Any, tree_evidence: bool = True) -> dict[str, Any]:
    """Per domain: first/top-3 right (category read and given), confidence, NLL per temperature, and
    the ceiling: the share of texts whose cause the model has a label for (``truth_known``) and whose
    cause is a candidate at all, a label or a tree cause (``truth_candidate``)."""
    from retrieval.charge_prediction import category_scores, predict_with_model
    from retrieval.parsing.cause_tree import load_cause_tree

    tree = load_cause_tree()

    def same_branch(a: str, b: str) -> bool:
        return a == b or a in tree.lineage(b) or b in tree.lineage(a)

    keys = ("read1", "read3", "given1", "given3", "branch1", "conf", "cat", "known", "candidate")
    stats: dict[str, dict[str, list[float]]] = {}
    nll: dict[str, dict[float, list[float]]] = {}
    seconds = []
    for row in rows:
        model = model_of(row)
        truths = label_causes(row["cause"])
        category = CATEGORY[row["domain"]]
        s = stats.setdefault(row["domain"], {k: [] for k in keys})
        started = time.perf_counter()
        read = predict_with_model(row["facts"], model, tree_evidence=tree_evidence)
        seconds.append(time.perf_counter() - started)
        given = predict_with_model(row["facts"], model, category=category, tree_evidence=tree_evidence)
        for key, predicted in (("read", read), ("given", given)):
            names = [p.name for p in predicted]
            s[key + "1"].append(float(bool(names) and names[0] in truths))
            s[key + "3"].append(float(any(t in names[:3] for t in truths)))
        s["branch1"].append(float(bool(given) and any(same_branch(given[0].name, t) for t in truths)))
        s["conf"].append(given[0].share if given else 0.0)
        s["cat"].append(float(model.scored(row["facts"])[1] == category))
        names, scores, sources = category_scores(row["facts"], model, category, tree_evidence=tree_evidence)
        index = {name: i for i, name in enumerate(names)}
        s["known"].append(float(any(t in index and sources[index[t]].startswith("model") for t in truths)))
        s["candidate"].append(float(any(t in index for t in truths)))
        for t in TEMPERATURES:
            logits = scores / t
            logits -= logits.max()
            log_p = logits - np.log(np.exp(logits).sum())
            p_true = sum(float(np.exp(log_p[index[t]])) for t in truths if t in index)
            nll.setdefault(row["domain"], {}).setdefault(t, []).append(-np.log(max(p_true, 1e-6)))
    result: dict[str, Any] = {}
    for domain, s in sorted(stats.items()):
        result[domain] = {
            "texts": len(s["read1"]),
            "category_read": {"first": _mean(s["read1"]), "top3": _mean(s["read3"])},
            "category_given": {"first": _mean(s["given1"]), "top3": _mean(s["given3"])},
            # the first is the cause, its parent or its child in the 案由 tree (a 罪名 has no tree)
            "first_same_branch": _mean(s["branch1"]),
            "category_read_right": _mean(s["cat"]),
            "top1_confidence_mean": _mean(s["conf"]),
            "truth_known": _mean(s["known"]),
            "truth_candidate": _mean(s["candidate"]),
            "nll_by_temperature": {str(t): _mean(v) for t, v in sorted(nll[domain].items())},
        }
    result["ms_per_prediction"] = {
        "median": round(1000 * statistics.median(seconds), 2),
        "p95": round(1000 * float(np.percentile(seconds, 95)), 2),
    }
    return result


def _mean(values: Sequence[float]) -> float:
    return round(statistics.fmean(values), 4) if values else 0.0


def main(argv: list[str] | None = None) -> int:
    from index_build.recipes.cause_classifier import ClassifierRecipe, LabelledText, train, write
    from retrieval.cause_model import CauseModel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=CJRC_DOCS)
    parser.add_argument("--folds", type=int, default=5, help="k of the k-fold (0: the in-sample row only)")
    parser.add_argument("--extra", nargs="*", default=list(EXTERNAL), choices=list(EXTERNAL))
    parser.add_argument("--word-ngrams", type=int, default=ClassifierRecipe.word_ngram_max)
    parser.add_argument("--char-ngrams", type=int, default=ClassifierRecipe.char_ngram_max)
    parser.add_argument("--max-features", type=int, default=ClassifierRecipe.max_features)
    parser.add_argument("--c", type=float, default=ClassifierRecipe.c)
    parser.add_argument("--balanced", action="store_true")
    parser.add_argument("--cap", type=int, default=ClassifierRecipe.max_texts_per_label)
    parser.add_argument("--no-in-sample", action="store_true", help="skip the in-sample training")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    recipe = replace(
        ClassifierRecipe(),
        word_ngram_max=args.word_ngrams,
        char_ngram_max=args.char_ngrams,
        max_features=args.max_features,
        c=args.c,
        balanced=args.balanced,
        max_texts_per_label=args.cap,
    )
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    extra: list[Any] = []
    sources: dict[str, int] = {}
    for name in args.extra:
        texts = external_texts(name)
        kept, dropped = _kept_cached(name, texts, rows, args.data)
        sources[name] = len(kept)
        sources[name + "_dropped_as_cjrc"] = dropped
        extra += kept
        log(f"{name}: {len(kept)} texts ({dropped} dropped as CJRC texts)")

    def labelled(part: Sequence[dict]) -> list[Any]:
        # normalised as the external labels and the scoring are (43 CJRC names are older forms)
        return [LabelledText(r["facts"], label_causes(r["cause"]), CATEGORY[r["domain"]]) for r in part]

    tag = f"c{recipe.char_ngram_max}w{recipe.word_ngram_max}cap{recipe.max_texts_per_label}"
    folder = (
        BENCH_BUILD / "cause-cv-models" / (tag + ("-balanced" if recipe.balanced else "") + f"-C{recipe.c}")
    )
    report: dict[str, Any] = {
        "benchmark": "cause-classifier-cv",
        "data": str(args.data),
        "recipe": asdict(recipe),
        "folds": args.folds,
        "seed": SEED,
        "external": sources,
    }
    started = time.perf_counter()
    if args.folds > 1:  # --folds 0: the in-sample training alone
        folds = np.random.default_rng(SEED).permutation(len(rows)) % args.folds
        models = {}
        for fold in range(args.folds):
            training = labelled([r for r, f in zip(rows, folds, strict=True) if f != fold]) + extra
            t0 = time.perf_counter()
            models[fold] = CauseModel.load(write(train(training, recipe), folder / f"fold{fold}"))
            log(f"fold {fold}: {len(training)} texts, {time.perf_counter() - t0:.0f} s")
        fold_of = {r["id"]: int(f) for r, f in zip(rows, folds, strict=True)}
        report.update(
            {
                "training_texts_fold0": models[0].manifest["training_texts"],
                "model_size_bytes": sum(p.stat().st_size for p in (folder / "fold0").iterdir()),
                "features": models[0].manifest["features"],
                "labels": models[0].manifest["labels"],
                "cross_validated": score(rows, lambda r: models[fold_of[r["id"]]]),
                "cross_validated_without_tree_evidence": score(
                    rows, lambda r: models[fold_of[r["id"]]], tree_evidence=False
                ),
                "train_seconds_all_folds": round(time.perf_counter() - started, 1),
            }
        )
    if not args.no_in_sample:
        whole = CauseModel.load(write(train(labelled(rows) + extra, recipe), folder / "all"))
        report["in_sample"] = {
            "training_texts": whole.manifest["training_texts"],
            **score(rows, lambda r: whole),
        }
        report["in_sample_without_tree_evidence"] = score(rows, lambda r: whole, tree_evidence=False)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["cpu_seconds"] = round(time.process_time(), 1)
    emit_json(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
