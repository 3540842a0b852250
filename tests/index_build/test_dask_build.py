"""A build on Dask writes what a local build writes; a failed batch is retried, order is kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_INPUTS

pytestmark = pytest.mark.slow  # each test starts a Dask LocalCluster (worker processes)


def _flaky_square(arguments: tuple[int, str]) -> int:
    """Fails the first time it sees 7 (a worker lost mid-batch), then answers."""
    value, marker_folder = arguments
    marker = Path(marker_folder) / "failed-once"
    if value == 7 and not marker.exists():
        marker.write_text("x")
        raise RuntimeError("worker lost")
    return value * value


def test_ordered_map_keeps_input_order_and_retries_a_failed_batch(tmp_path: Path) -> None:
    from index_build.dask_ingest import dask_client, ordered_map

    items = [(i, str(tmp_path)) for i in range(300)]
    with dask_client("local", 2) as client:
        assert list(ordered_map(client, _flaky_square, items)) == [i * i for i in range(300)]
    assert (tmp_path / "failed-once").exists()  # the failure happened and was retried


def _ingested(folder: Path, **how: object) -> tuple:
    from index_build.build import ValidationReport, _TokenFiles, ingest
    from index_build.metadata_writer import MetadataWriter
    from index_build.token_store import iter_token_lines

    folder.mkdir()
    writer = MetadataWriter(folder / "m.sqlite")
    tokens = _TokenFiles(folder)
    ids = ingest(SAMPLE_INPUTS, None, writer, tokens, ValidationReport(), False, **how)
    tokens.close()
    writer.close()
    with sqlite3.connect(folder / "m.sqlite") as conn:
        rows = conn.execute(
            "SELECT row, doc_id, case_number, decision_date FROM docs ORDER BY row"
        ).fetchall()
        features = conn.execute("SELECT * FROM doc_features ORDER BY row").fetchall()
    return (
        ids,
        rows,
        features,
        list(iter_token_lines(folder, "facts")),
        list(iter_token_lines(folder, "full")),
    )


def test_a_dask_ingest_writes_what_a_local_ingest_writes(tmp_path: Path) -> None:
    local = _ingested(tmp_path / "local", workers=1)
    on_dask = _ingested(tmp_path / "dask", workers=2, scheduler="local")
    assert len(local[0]) >= 20
    assert on_dask == local
