"""Shared fixtures: where the real data lives (``../shared/data``) and small built indexes."""

from __future__ import annotations

import functools
import importlib.util
import itertools
import json
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
LECARD_ARCHIVE = SHARED_DATA / "lecard" / "data" / "candidates.tar.xz"
SAMPLES = REPO / "corpus_samples"
SAMPLE_INPUTS = [SAMPLES / "judgments", SAMPLES / "guiding", SAMPLES / "extra.jsonl"]


def require(path: Path) -> Path:
    """Real data is part of the test setup (CI has ../shared); its absence is an error, not a skip."""
    if not path.exists():
        raise FileNotFoundError(
            f"test data missing: {path} (the shared/ folder must sit beside the repository)"
        )
    return path


@functools.cache
def bench_module(name: str):
    """A script of ``bench/`` imported as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the script runs
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return require(SHARED_DATA)


GONGBAO = SHARED_DATA / "spc-cases-xtjeyvc" / "doc" / "anli-gongbao"


@functools.cache
def lecard_candidates(n_files: int) -> tuple[dict, ...]:
    """The first ``n_files`` candidate files of the LeCaRD archive, in archive order (deterministic)."""
    docs = []
    with tarfile.open(require(LECARD_ARCHIVE), "r:xz") as archive:
        for member in archive:
            if member.isfile():
                docs.append(json.load(archive.extractfile(member)))
                if len(docs) == n_files:
                    break
    return tuple(docs)


@functools.cache
def distinct_lecard_candidates(n_docs: int) -> tuple[dict, ...]:
    """The first ``n_docs`` distinct candidates (a docid shared by several queries counts once)."""
    docs: dict[str, dict] = {}
    with tarfile.open(require(LECARD_ARCHIVE), "r:xz") as archive:
        for member in archive:
            if member.isfile() and member.name.endswith(".json") and Path(member.name).name not in docs:
                docs[Path(member.name).name] = json.loads(archive.extractfile(member).read())
                if len(docs) == n_docs:
                    break
    return tuple(docs.values())


def gongbao_text(name: str) -> str:
    """One 公报案例 Markdown file."""
    return require(GONGBAO / name).read_text(encoding="utf-8")


def write_lecard_subset(target: Path, n_docs: int) -> dict[str, list[str]]:
    """Copy the first ``n_docs`` distinct LeCaRD candidates into the archive's folder layout.

    Returns the candidate pools read whole on the way (``{ridx: [docid, ...]}``; the archive holds
    each query's folder contiguously, so every folder but the one being read at the end is whole).
    A candidate shared with an earlier pool is written once, under the earlier folder.
    """
    seen: set[str] = set()
    pools: dict[str, list[str]] = {}
    with tarfile.open(require(LECARD_ARCHIVE), "r:xz") as archive:
        for member in archive:
            if not member.isfile() or not member.name.endswith(".json"):
                continue
            path = Path(member.name)
            pools.setdefault(path.parent.name, []).append(path.stem)
            if path.stem in seen:
                continue
            seen.add(path.stem)
            out = target / path.relative_to("candidates")
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(archive.extractfile(member).read())
            if len(seen) == n_docs:
                pools.pop(path.parent.name)  # maybe cut short
                break
    return pools


LECARD_SUBSET_DOCS = 1200
LECARD_SUBSET_POOLS = "pools.json"  # beside the candidates folder: the pools it holds whole


@pytest.fixture(scope="session")
def lecard_subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,200 real LeCaRD candidates in the candidates/<ridx>/<docid>.json layout (outside the repo)."""
    folder = tmp_path_factory.mktemp("lecard") / "candidates"
    pools = write_lecard_subset(folder, LECARD_SUBSET_DOCS)
    (folder.parent / LECARD_SUBSET_POOLS).write_text(json.dumps(pools), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def lecard_index(lecard_subset: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The LeCaRD subset built once for the session (read-only for the tests that use it)."""
    from index_build.build import BuildOptions, build

    home = tmp_path_factory.mktemp("lecard-index")
    result = build(BuildOptions(inputs=[lecard_subset], home=home, fmt="lecard", progress=False))
    return home, result.manifest


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample corpus built once for the whole session."""
    from index_build.build import BuildOptions, build

    home = tmp_path_factory.mktemp("sample-index")
    build(BuildOptions(inputs=SAMPLE_INPUTS, home=home, progress=False))
    return home


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def first(iterable, n: int) -> list:
    return list(itertools.islice(iterable, n))


@pytest.fixture(scope="session")
def store(sample_index: Path):
    """The sample index, opened once for every test that searches it."""
    from retrieval.index_store import IndexStore

    opened = IndexStore.open(sample_index, verify_checksums=False)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def corpus(store) -> dict:
    """Every document of the sample index by doc id."""
    return {doc.doc_id: doc for _, doc in store.metadata.iter_documents()}


@pytest.fixture(params=["sqlite", "postgresql"])
def audit_store(request: pytest.FixtureRequest, tmp_path: Path):
    """The audit log's storage, once a SQLite file and once a fresh PostgreSQL database (tests/audit_stores.py).

    Like the real data, the PostgreSQL server is part of the test setup: unreachable is an error.
    """
    from tests.audit_stores import audit_store, postgres_problem

    if request.param == "postgresql" and (problem := postgres_problem()) is not None:
        pytest.fail(problem)
    with audit_store(request.param, tmp_path) as store:
        yield store


@pytest.fixture
def pg_database():
    """A fresh PostgreSQL database's URL (tests/audit_stores.py), dropped after the test."""
    from tests.audit_stores import postgres_problem, temp_database

    if (problem := postgres_problem()) is not None:
        pytest.fail(problem)
    with temp_database() as url:
        yield url
