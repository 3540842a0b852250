"""Token parts, text and ids: rows across parts in order, starting at any row, reproducible bytes."""

from __future__ import annotations

import json
from array import array
from pathlib import Path

import pytest
import zstandard

from index_build import token_store
from index_build.token_store import IdPartWriter, PartWriter, iter_token_lines


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


def _ids_form(build_dir: Path, field: str, lines: list[str], chunk_rows: int = 2) -> Path:
    """Write ``lines`` as a text part, then its ids form as the BM25 builder does (chunk by chunk),
    with the field's vocabulary where the builder keeps it."""
    text = _write_part(build_dir, field, lines)
    vocab: dict[str, int] = {}
    writer = IdPartWriter(text)
    for start in range(0, len(lines), chunk_rows):
        ids, lengths = array("i"), array("I")
        for line in lines[start : start + chunk_rows]:
            tokens = line.split()
            ids.extend(vocab.setdefault(t, len(vocab)) for t in tokens)
            lengths.append(len(tokens))
        writer.write(ids, lengths)
    folder = build_dir / token_store.VOCABULARY_OF[field]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.index.json").write_text(json.dumps({**vocab, "": len(vocab)}), encoding="utf-8")
    return writer.close()


def test_token_ids_read_back_as_the_lines_they_were_written_from(tmp_path: Path) -> None:
    lines = ["被告人 盗窃 手机", "", "借款 合同 借款", "被告人 借款", "盗窃"]
    ids = _ids_form(tmp_path, "facts", lines)
    assert ids.name == "part-00000.ids.zst"
    assert list(iter_token_lines(tmp_path, "facts")) == lines  # the text form, while it is there
    token_store.remove_text_parts(tmp_path, "facts")
    assert [p.name for p in token_store.part_paths(tmp_path, "facts")] == ["part-00000.ids.zst"]
    assert list(iter_token_lines(tmp_path, "facts")) == lines
    for start in range(len(lines) + 1):
        assert list(iter_token_lines(tmp_path, "facts", start=start)) == lines[start:]
    assert token_store.row_count(tmp_path, "facts") == len(lines)


def test_an_added_text_part_follows_the_ids_parts(tmp_path: Path) -> None:
    _ids_form(tmp_path, "facts", ["a b", "b c"])
    token_store.remove_text_parts(tmp_path, "facts")
    later = _write_part(tmp_path, "facts", ["c d"])
    assert later.name == "part-00001.txt.gz"
    assert list(iter_token_lines(tmp_path, "facts")) == ["a b", "b c", "c d"]
    assert list(iter_token_lines(tmp_path, "facts", start=2)) == ["c d"]


def test_token_ids_are_smaller_than_the_gzip_text_and_reproducible(tmp_path: Path) -> None:
    words = [f"词{i % 97}" for i in range(4000)]
    lines = [" ".join(words[i : i + 40]) for i in range(0, len(words), 40)]
    a = _ids_form(tmp_path / "a", "facts", lines, chunk_rows=7)
    b = _ids_form(tmp_path / "b", "facts", lines, chunk_rows=7)
    assert a.read_bytes() == b.read_bytes()
    text = token_store.field_dir(tmp_path / "a", "facts") / "part-00000.txt.gz"
    assert a.stat().st_size < text.stat().st_size


def test_text_without_its_ids_is_not_removed(tmp_path: Path) -> None:
    _write_part(tmp_path, "facts", ["a"])
    with pytest.raises(FileNotFoundError, match="no token ids"):
        token_store.remove_text_parts(tmp_path, "facts")
    assert list(iter_token_lines(tmp_path, "facts")) == ["a"]


def test_a_truncated_ids_part_is_an_error_not_short_rows(tmp_path: Path) -> None:
    ids = _ids_form(tmp_path, "facts", ["a b c", "d e f"])
    token_store.remove_text_parts(tmp_path, "facts")
    ids.write_bytes(zstandard.ZstdCompressor().compress(ids.read_bytes()[:0] + b"\0" * 8))
    with pytest.raises(ValueError, match="truncated"):
        list(iter_token_lines(tmp_path, "facts"))
