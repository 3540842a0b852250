"""LeCaRD quality benchmark: our search against a jieba + bm25s peer, scored as LeCaRD scores.

    python bench/lecard.py --runs-out DIR [--labels PATH] [--index HOME] [--archive PATH]
                           [--queries PATH] [--ablation]

Settings: ``rerank`` ranks each query's own ~100 candidates (``restrict_to``); ``full`` ranks all
9,088 distinct candidates. All 107 queries are run; the metrics (bench/lecard_metrics.py) average
over the queries that have labels in ``--labels`` (the 60 dev queries by default). Prints JSON and
writes the runs as ``{ridx: [docid, ...]}`` (best first, top 100, LeCaRD ids without "lecard-"):
``rerank.json``/``full.json`` (default variant), ``peer_rerank.json``/``peer_full.json`` and, with
``--ablation``, ``<variant>_<setting>.json`` for every variant.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import json
import logging
import statistics
import sys
import tarfile
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))  # for lecard_metrics; appended, shadows nothing

from _common import (  # noqa: E402
    BENCH_BUILD,
    LECARD_ARCHIVE,
    LECARD_DATA,
    LECARD_INDEX,
    LECARD_QUERIES,
    emit_json,
    open_or_build,
    timed_calls,
)
from lecard_metrics import evaluate  # noqa: E402

DATA = LECARD_DATA
DEFAULT_LABELS = DATA / "label" / "label_top30_dev.json"
DEFAULT_ARCHIVE = LECARD_ARCHIVE
DEFAULT_QUERIES = LECARD_QUERIES
DEFAULT_INDEX = LECARD_INDEX
CACHE_DIR = BENCH_BUILD
POOLS_CACHE = "lecard-pools.json"
TOKENS_CACHE = "lecard-peer-tokens.txt.gz"
PEER_INDEX_CACHE = "lecard-peer-bm25"

DOC_PREFIX = "lecard-"  # the reader's doc ids: "lecard-" + LeCaRD docid
RUN_DEPTH = 100  # documents kept per query, as LeCaRD's own runs
SETTINGS = ("rerank", "full")
# variant → (method names, legal_rerank); None: the default methods. No "statute" variant: the
# LeCaRD queries give no articles.
VARIANTS: dict[str, tuple[tuple[str, ...] | None, bool]] = {
    "keyword": (("keyword",), False),
    "semantic": (("semantic",), False),
    "fused": (("keyword", "semantic"), False),
    "hybrid": (None, True),
}
DEFAULT_VARIANT = "hybrid"
PEER = "peer"
PEER_DESCRIPTION = (
    "jieba.lcut (default dictionary, HMM) + bm25s BM25() defaults (lucene, k1=1.5, b=0.75) on ajjbqk"
)
PEER_RECIPE = "1"  # bump when the peer's tokenisation changes, to invalidate the cache

Query = dict[str, Any]  # {"ridx": str, "q": str, "crime": [str]}
Ranker = Callable[[Query, Sequence[str] | None], list[str]]


def log(message: str) -> None:
    print(f"[lecard] {message}", file=sys.stderr, flush=True)


# --- inputs -----------------------------------------------------------------------------------


def load_queries(path: Path) -> list[Query]:
    queries = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            queries.append({"ridx": str(row["ridx"]), "q": row["q"], "crime": list(row.get("crime") or [])})
    return queries


def load_labels(path: Path) -> dict[str, dict[str, int]]:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    return {str(q): {str(d): int(r) for d, r in docs.items()} for q, docs in raw.items()}


def _archive_key(archive: Path) -> dict[str, object]:
    stat = Path(archive).stat()
    return {"path": str(Path(archive).resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def scan_archive(archive: Path, with_facts: bool) -> tuple[dict[str, list[str]], dict[str, str]]:
    """One streaming pass: ``{ridx: [docid, ...]}`` from the member paths ``.../<ridx>/<docid>.json``
    and, if asked, ``{docid: ajjbqk}`` for each distinct candidate (empty when the field is missing)."""
    pools: dict[str, list[str]] = {}
    facts: dict[str, str] = {}
    with tarfile.open(archive, "r|*") as tar:
        for member in tar:
            path = PurePosixPath(member.name)
            if not member.isfile() or path.suffix.lower() != ".json" or len(path.parts) < 2:
                continue
            if any(part.startswith(".") for part in path.parts):
                continue
            ridx, docid = path.parts[-2], path.stem
            pool = pools.setdefault(ridx, [])
            if docid not in pool:
                pool.append(docid)
            if with_facts and docid not in facts:
                handle = tar.extractfile(member)
                data = json.loads(handle.read().decode("utf-8-sig")) if handle else {}
                value = data.get("ajjbqk") if isinstance(data, dict) else None
                facts[docid] = value if isinstance(value, str) else ""
    return pools, facts


def _read_cache(path: Path, key: dict[str, object]) -> dict | None:
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return cached if cached.get("key") == key else None


def _write_cache(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


def _read_tokens_cache(path: Path, key: dict[str, object]) -> tuple[list[str], list[list[str]]] | None:
    """gzip text: a JSON key line, then ``docid<TAB>token token ...`` per candidate (about 40 MB
    against 230 MB as JSON; peer tokens never hold whitespace)."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            if json.loads(handle.readline()) != key:
                return None
            docids, tokens = [], []
            for line in handle:
                docid, _, text = line.rstrip("\n").partition("\t")
                docids.append(docid)
                tokens.append(text.split(" ") if text else [])
    except (OSError, ValueError, EOFError):
        return None
    return docids, tokens


def _write_tokens_cache(
    path: Path, key: dict[str, object], docids: list[str], tokens: list[list[str]]
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=3) as handle:
        handle.write(json.dumps(key, ensure_ascii=False) + "\n")
        for docid, toks in zip(docids, tokens, strict=True):
            handle.write(f"{docid}\t{' '.join(toks)}\n")
    tmp.replace(path)


def _tokens_key(archive: Path) -> dict[str, object]:
    return {**_archive_key(archive), "recipe": PEER_RECIPE, "jieba": importlib.metadata.version("jieba")}


def load_pools(archive: Path, cache_dir: Path = CACHE_DIR) -> dict[str, list[str]]:
    """``{ridx: [docid, ...]}`` from the archive's member paths, cached in ``lecard-pools.json``."""
    path = cache_dir / POOLS_CACHE
    key = _archive_key(archive)
    cached = _read_cache(path, key)
    if cached is not None:
        return cached["pools"]
    log(f"reading {archive} (candidate pools)")
    pools, _ = scan_archive(archive, with_facts=False)
    _write_cache(path, {"key": key, "pools": pools})
    return pools


def load_tokens(archive: Path, cache_dir: Path = CACHE_DIR) -> tuple[list[str], list[list[str]]]:
    """Every candidate's facts (ajjbqk) tokenised for the peer, cached in ``lecard-peer-tokens.txt.gz``.

    Tokenising the 9,088 facts (46M characters) with pure-Python jieba takes about 3 minutes; the
    same pass over the archive refreshes the pools cache.
    """
    path = cache_dir / TOKENS_CACHE
    key = _tokens_key(archive)
    cached = _read_tokens_cache(path, key)
    if cached is not None:
        return cached
    log(f"reading {archive} (candidate pools and facts)")
    pools, facts = scan_archive(archive, with_facts=True)
    _write_cache(cache_dir / POOLS_CACHE, {"key": _archive_key(archive), "pools": pools})
    log(f"tokenising {len(facts)} candidate facts with jieba (cached in {path})")
    docids = sorted(facts, key=lambda d: (len(d), d))
    tokens = [peer_tokenize(facts[d]) for d in docids]
    _write_tokens_cache(path, key, docids, tokens)
    return docids, tokens


# --- the peer: jieba + bm25s on the facts -----------------------------------------------------

_JIEBA = None


def _is_noise(token: str) -> bool:
    return not token.strip() or all(unicodedata.category(ch).startswith("P") or ch.isspace() for ch in token)


def peer_tokenize(text: str) -> list[str]:
    """``jieba.lcut`` with jieba's default dictionary (a private Tokenizer, so nothing else loaded
    into the global one leaks in); whitespace and punctuation tokens dropped, no stopwords."""
    global _JIEBA
    if _JIEBA is None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        _JIEBA = jieba.Tokenizer()
    # jieba splits on whitespace, so no kept token holds any (the token cache relies on it)
    return [tok for tok in _JIEBA.lcut(text) if not _is_noise(tok)]


class PeerBaseline:
    """bm25s (default parameters) over every candidate's tokenised facts, held in memory."""

    def __init__(self, docids: Sequence[str], model: Any):
        self.docids = list(docids)
        self.rows = {doc: i for i, doc in enumerate(self.docids)}
        self.model = model
        peer_tokenize("被告人")  # load jieba's dictionary now, not inside the first timed query

    @classmethod
    def from_tokens(cls, docids: Sequence[str], tokens: Sequence[list[str]]) -> PeerBaseline:
        import bm25s

        model = bm25s.BM25()
        model.index([list(t) for t in tokens], show_progress=False)
        return cls(docids, model)

    @classmethod
    def load_or_build(cls, archive: Path, cache_dir: Path = CACHE_DIR) -> PeerBaseline:
        """The peer's bm25s index, saved under ``cache_dir`` (rebuilt from the token cache when the
        archive, the tokenisation or the bm25s version changed)."""
        import bm25s

        folder = cache_dir / PEER_INDEX_CACHE
        key = {**_tokens_key(archive), "bm25s": importlib.metadata.version("bm25s")}
        try:
            stored = json.loads((folder / "peer.json").read_text(encoding="utf-8"))
            if stored.get("key") == key:
                return cls(stored["docids"], bm25s.BM25.load(folder, show_progress=False))
        except (OSError, ValueError, KeyError):
            pass
        docids, tokens = load_tokens(archive, cache_dir)
        log(f"indexing {len(docids)} candidates with bm25s (cached in {folder})")
        peer = cls.from_tokens(docids, tokens)
        folder.mkdir(parents=True, exist_ok=True)
        peer.model.save(folder, show_progress=False)
        (folder / "peer.json").write_text(json.dumps({"key": key, "docids": peer.docids}), encoding="utf-8")
        return peer

    def scores(self, text: str) -> np.ndarray:
        tokens = peer_tokenize(text)
        if not tokens:
            return np.zeros(len(self.docids), dtype=np.float32)
        return np.asarray(self.model.get_scores(tokens))

    def rank(self, text: str, pool: Iterable[str] | None, depth: int = RUN_DEPTH) -> list[str]:
        """Best first; ``pool`` (LeCaRD docids) limits the ranking, ties keep the pool order."""
        scores = self.scores(text)
        rows = np.arange(len(self.docids)) if pool is None else np.array([self.rows[d] for d in pool], int)
        order = rows[np.argsort(-scores[rows], kind="stable")][:depth]
        return [self.docids[i] for i in order]


# --- the system -------------------------------------------------------------------------------


def strip_prefix(doc_id: str) -> str:
    return doc_id[len(DOC_PREFIX) :] if doc_id.startswith(DOC_PREFIX) else doc_id


def system_request(query: Query, pool: Iterable[str] | None, variant: str = DEFAULT_VARIANT) -> Any:
    """The ``SearchRequest`` our search runs for one LeCaRD query.

    ``pool``: the query's candidate docids (with or without the "lecard-" prefix) for the rerank
    setting, None for the whole corpus. Similarity only: no tiers, no recency preference.
    """
    from retrieval.request import Method, SearchRequest

    method_names, legal_rerank = VARIANTS[variant]
    methods = None if method_names is None else tuple(Method(name) for name in method_names)
    restrict_to = None if pool is None else frozenset(DOC_PREFIX + strip_prefix(d) for d in pool)
    return SearchRequest(
        facts=query["q"],
        charges=list(query["crime"]),
        k=RUN_DEPTH,
        tiering=False,
        recency_years=None,
        restrict_to=restrict_to,
        methods=methods,
        legal_rerank=legal_rerank,
    )


def rank_with_system(
    store: Any,
    query: Query,
    pool: Iterable[str] | None,
    variant: str = DEFAULT_VARIANT,
    stage_ms: list[dict[str, float]] | None = None,
) -> list[str]:
    """Our search for one LeCaRD query (``system_request``): LeCaRD docids (no prefix), best first,
    at most 100. ``stage_ms``, if given, receives the response's per-stage timings.
    """
    from retrieval.search import search

    response = search(store, system_request(query, pool, variant))
    if stage_ms is not None and isinstance(getattr(response, "timings_ms", None), dict):
        stage_ms.append(response.timings_ms)
    return [strip_prefix(result.document.doc_id) for result in response.results]


def system_available() -> str | None:
    """None when ``retrieval.search.search`` can be imported, else why not."""
    try:
        from retrieval.search import search  # noqa: F401
    except ImportError as exc:
        return f"retrieval.search.search unavailable: {exc}"
    return None


def open_index(home: Path, archive: Path) -> tuple[Any, dict[str, object] | None]:
    """Open ``home``; build it from ``archive`` first if it has no published build."""
    return open_or_build(home, archive, "lecard", progress=True, log=log)


# --- running and scoring ----------------------------------------------------------------------


def run_setting(
    rank: Ranker, queries: Sequence[Query], pools: dict[str, list[str]], setting: str
) -> tuple[dict[str, list[str]], dict[str, object]]:
    """Rank every query (``rerank``: its own candidates; ``full``: everything); runs and timing."""
    if setting not in SETTINGS:
        raise ValueError(f"setting: one of {SETTINGS}")

    def pool_of(query: Query) -> list[str] | None:
        if setting != "rerank":
            return None
        if query["ridx"] not in pools:
            raise KeyError(f"query {query['ridx']}: no candidates in the archive")
        return pools[query["ridx"]]

    started = time.perf_counter()
    rankings, latencies = timed_calls(lambda query: list(rank(query, pool_of(query)))[:RUN_DEPTH], queries)
    elapsed = time.perf_counter() - started
    runs = {query["ridx"]: ranking for query, ranking in zip(queries, rankings, strict=True)}
    ms = sorted(1000 * s for s in latencies)
    timing = {
        "queries_run": len(runs),
        "seconds": round(elapsed, 2),
        "per_query_ms": {
            "mean": round(statistics.fmean(ms), 1) if ms else None,
            "p50": round(ms[len(ms) // 2], 1) if ms else None,
            "p95": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 1) if ms else None,
            "max": round(ms[-1], 1) if ms else None,
        },
    }
    return runs, timing


def score(runs: dict[str, list[str]], labels: dict[str, dict[str, int]], timing: dict) -> dict[str, object]:
    return {**evaluate(runs, labels), **timing}


def write_run(path: Path, runs: dict[str, list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(runs, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS)
    parser.add_argument("--runs-out", type=Path, required=True, help="folder for the run files")
    parser.add_argument("--index", type=Path, default=DEFAULT_INDEX, help="index home (built if missing)")
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    parser.add_argument("--ablation", action="store_true", help="also run every method variant")
    args = parser.parse_args(argv)

    labels = load_labels(args.labels)
    queries = load_queries(args.queries)
    started = time.perf_counter()
    peer = PeerBaseline.load_or_build(args.archive)
    peer_seconds = time.perf_counter() - started
    pools = load_pools(args.archive)
    out = args.runs_out
    report: dict[str, Any] = {
        "benchmark": "lecard-quality",
        "labels": str(args.labels),
        "labelled_queries": len(labels),
        "queries": len(queries),
        "candidates": len(peer.docids),
        "run_depth": RUN_DEPTH,
    }

    report["peer"] = {"description": PEER_DESCRIPTION, "load_seconds": round(peer_seconds, 2)}
    settings: dict[str, dict[str, object]] = {setting: {} for setting in SETTINGS}
    report["settings"] = settings
    files = []
    for setting in SETTINGS:
        runs, timing = run_setting(lambda q, pool: peer.rank(q["q"], pool), queries, pools, setting)
        settings[setting][PEER] = score(runs, labels, timing)
        write_run(out / f"peer_{setting}.json", runs)
        files.append(f"peer_{setting}.json")
        log(f"peer {setting}: NDCG@30 {settings[setting][PEER]['NDCG@30']}")

    problem = system_available()
    if problem is None:
        store, built = open_index(args.index, args.archive)
        manifest = store.manifest
        report["index"] = {
            "home": str(args.index),
            "build_id": manifest.get("build_id"),
            "embedder": (manifest.get("embedder") or {}).get("name"),
            "documents": store.size,
            "built_now": built,
        }
        variants = list(VARIANTS) if args.ablation else [DEFAULT_VARIANT]
        for setting in SETTINGS:
            for variant in variants:
                stages: list[dict[str, float]] = []
                runs, timing = run_setting(
                    lambda q, pool, v=variant, st=stages: rank_with_system(store, q, pool, v, st),
                    queries,
                    pools,
                    setting,
                )
                settings[setting][variant] = score(runs, labels, timing)
                if stages:
                    names = sorted({name for row in stages for name in row})
                    settings[setting][variant]["stage_ms_mean"] = {
                        name: round(statistics.fmean(row.get(name, 0.0) for row in stages), 1)
                        for name in names
                    }
                log(f"{variant} {setting}: NDCG@30 {settings[setting][variant]['NDCG@30']}")
                if variant == DEFAULT_VARIANT:
                    write_run(out / f"{setting}.json", runs)
                    files.append(f"{setting}.json")
                if args.ablation:
                    write_run(out / f"{variant}_{setting}.json", runs)
                    files.append(f"{variant}_{setting}.json")
        store.close()
    else:
        report["system_error"] = problem
    report["runs_out"] = str(out)
    report["files"] = files
    emit_json(report)
    return 0 if problem is None else 1


if __name__ == "__main__":
    raise SystemExit(main())
