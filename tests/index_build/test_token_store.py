"""Token parts: rows across parts in order, starting at any row, reproducible bytes."""

from __future__ import annotations

from pathlib import Path

from index_build import token_store
from index_build.token_store import PartWriter, iter_token_lines


def _write_part(build_dir: Path, field: str, lines: list[str]) -> Path | None:
    part = PartWriter(build_dir, field)
    for line in lines:
        part.write(line)
    return part.close()


def test_rows_read_back_across_parts_from_any_start(tmp_path: Path) -> None:
    parts = [[f"r{i} 盗窃" for i in range(5)], ["", "r5 借款"], [f"r{i}" for i in range(7, 10)]]
    parts[2].insert(0, "r6 合同")
    written = [_write_part(tmp_path, "facts", lines) for lines in parts]
    assert [p.name for p in written if p] == ["part-00000.txt.gz", "part-00001.txt.gz", "part-00002.txt.gz"]
    every = [line for lines in parts for line in lines]
    assert list(iter_token_lines(tmp_path, "facts")) == every
    for start in range(len(every) + 2):
        assert list(iter_token_lines(tmp_path, "facts", start=start)) == every[start:]
    assert token_store.row_count(tmp_path, "facts") == len(every) == 11
    assert list(iter_token_lines(tmp_path, "full")) == []


def test_start_skips_parts_by_their_row_count_without_reading_them(tmp_path: Path) -> None:
    first = _write_part(tmp_path, "facts", ["a", "b"])
    _write_part(tmp_path, "facts", ["c"])
    first.write_bytes(b"not gzip at all")  # a part that is skipped is never opened
    assert list(iter_token_lines(tmp_path, "facts", start=2)) == ["c"]


def test_a_part_without_rows_leaves_no_file(tmp_path: Path) -> None:
    assert _write_part(tmp_path, "full", []) is None
    assert not list(token_store.field_dir(tmp_path, "full").iterdir())
    assert _write_part(tmp_path, "full", ["x"]).name == "part-00000.txt.gz"


def test_the_same_rows_give_the_same_bytes(tmp_path: Path) -> None:
    a = _write_part(tmp_path / "a", "facts", ["被告人 盗窃", "借款 合同"])
    b = _write_part(tmp_path / "b", "facts", ["被告人 盗窃", "借款 合同"])
    assert a.read_bytes() == b.read_bytes()
    token_store.remove_field(tmp_path / "a", "facts")
    assert not token_store.field_dir(tmp_path / "a", "facts").exists()
