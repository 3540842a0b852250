"""`leian serve --demo` rebuilds a demo index that this installation could not serve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli.service import _ensure_demo_index
from retrieval.index_layout import MANIFEST, resolve_current
from retrieval.index_store import IndexStore


def _build_id(home: Path) -> str:
    return json.loads((resolve_current(home) / MANIFEST).read_text(encoding="utf-8"))["build_id"]


@pytest.mark.slow
def test_a_demo_index_from_another_segmenter_is_rebuilt_and_a_current_one_kept(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    _ensure_demo_index(home)
    first = _build_id(home)
    _ensure_demo_index(home)
    assert _build_id(home) == first  # current: kept

    manifest_path = resolve_current(home) / MANIFEST
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["segmenter"]["fingerprint"] = "made-by-v1"  # as an index built before segmenter v2
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    _ensure_demo_index(home)
    assert _build_id(home) != first
    assert IndexStore.open(home).size > 0  # and the new one serves
