"""Gzip-compressed JSON Lines: read as the plain file would be, damage reported by file and line."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from index_build.readers import jsonl
from index_build.readers.base import Rejection
from index_build.readers.detect import detect_format, read_any
from retrieval.document import Document
from tests.conftest import SAMPLES


def _records(n: int) -> list[dict]:
    """``n`` distinct real-looking records: the sample corpus's, with new ids."""
    base = [json.loads(line) for line in (SAMPLES / "extra.jsonl").read_text(encoding="utf-8").splitlines()]
    return [base[i % len(base)] | {"doc_id": f"gz-{i}", "source": f"test:{i}"} for i in range(n)]


def _lines(records: list[dict]) -> list[str]:
    return [json.dumps(r, ensure_ascii=False) for r in records]


def _write_gz(path: Path, text: str, encoding: str = "utf-8") -> Path:
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(text.encode(encoding))
    return path


def _split(items) -> tuple[list[Document], list[Rejection]]:
    items = list(items)
    return [i for i in items if isinstance(i, Document)], [i for i in items if isinstance(i, Rejection)]


def test_gzip_reads_exactly_like_the_plain_file(tmp_path: Path) -> None:
    lines = _lines(_records(6))
    bad = ["{broken json", json.dumps({"title": "no id"}), "", lines[0]]
    text = "\n".join(lines[:3] + bad + lines[3:]) + "\n"
    plain = tmp_path / "plain" / "corpus.jsonl"
    plain.parent.mkdir()
    plain.write_text(text, encoding="utf-8")
    packed = _write_gz(tmp_path / "corpus.jsonl.gz", text)
    assert detect_format(packed) == "jsonl"
    docs, rejected = _split(read_any(packed))
    plain_docs, plain_rejected = _split(jsonl.read(plain))
    assert docs == plain_docs
    assert [(r.line, r.reason) for r in rejected] == [(r.line, r.reason) for r in plain_rejected]
    assert [d.doc_id for d in docs] == [f"gz-{i}" for i in range(6)]
    assert [(r.source, r.line) for r in rejected] == [("corpus.jsonl.gz", n) for n in (4, 5, 7)]
    assert "duplicate doc_id" in rejected[2].reason


def test_gzip_in_gb18030_with_a_bom_and_an_undecodable_line(tmp_path: Path) -> None:
    records = _records(3)
    gbk = _write_gz(tmp_path / "gbk.jsonl.gz", "\n".join(_lines(records)), "gb18030")
    assert [d.title for d in _split(jsonl.read(gbk))[0]] == [r["title"] for r in records]
    lines = [line.encode() for line in _lines(_records(80))]
    assert sum(map(len, lines[:-2])) > 1 << 16  # the bad line lies beyond the head judged for encoding
    lines[-2] = lines[-2].replace(b'"title": "', b'"title": "\xff\xfe')  # neither UTF-8 nor GB18030
    bom = tmp_path / "bom.jsonl.gz"
    with gzip.open(bom, "wb") as fh:
        fh.write(b"\xef\xbb\xbf" + b"\n".join(lines))
    docs, rejected = _split(jsonl.read(bom))
    assert [d.doc_id for d in docs] == [f"gz-{i}" for i in (*range(78), 79)]  # the BOM spoilt nothing
    (bad,) = rejected
    assert bad.line == 79 and "cannot decode as utf-8" in bad.reason
    # in the head, as in a plain file, an undecodable byte rejects the whole file by name
    head_bad = tmp_path / "head.jsonl.gz"
    head_bad.write_bytes(gzip.compress(b"\n".join([lines[-2], *lines[:3]])))
    (item,) = jsonl.read(head_bad)
    assert isinstance(item, Rejection) and item.line is None
    assert "head.jsonl.gz: cannot decode as UTF-8 or GB18030" in item.reason


def test_truncated_gzip_keeps_what_came_before_and_names_the_file(tmp_path: Path) -> None:
    lines = _lines(_records(40))
    whole = _write_gz(tmp_path / "whole.jsonl.gz", "\n".join(lines) + "\n")
    data = whole.read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    assert detect_format(cut) == "jsonl"  # the head still decompresses
    docs, rejected = _split(read_any(cut))
    assert 0 < len(docs) < 40
    assert [d.doc_id for d in docs] == [f"gz-{i}" for i in range(len(docs))]  # no half line read
    (damage,) = rejected
    assert damage.source == "cut.jsonl.gz" and damage.line == len(docs) + 1
    assert "damaged gzip stream" in damage.reason and "EOFError" in damage.reason


def test_corrupt_or_fake_gzip_is_a_rejection_not_a_crash(tmp_path: Path) -> None:
    data = bytearray(_write_gz(tmp_path / "ok.jsonl.gz", "\n".join(_lines(_records(40)))).read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # zeros in the middle of the deflate data
    corrupt = tmp_path / "corrupt.jsonl.gz"
    corrupt.write_bytes(bytes(data))
    docs, rejected = _split(read_any(corrupt))
    assert len(docs) < 40 and len(rejected) >= 1
    assert rejected[-1].source == "corrupt.jsonl.gz" and "damaged gzip stream" in rejected[-1].reason
    fake = tmp_path / "fake.jsonl.gz"
    fake.write_text(_lines(_records(1))[0], encoding="utf-8")
    assert detect_format(fake) == "jsonl"  # taken at its name's word, so the reader names the damage
    (item,) = read_any(fake)
    assert isinstance(item, Rejection) and item.source == "fake.jsonl.gz" and item.line is None
    assert "not a readable gzip file" in item.reason


def test_folder_of_gzip_shards_and_compressed_files_of_other_formats(tmp_path: Path) -> None:
    records = _records(9)
    shards = tmp_path / "shards"
    shards.mkdir()
    for k in range(3):  # natural order: part-2 before part-10
        _write_gz(shards / f"part-{(2, 10, 30)[k]}.jsonl.gz", "\n".join(_lines(records[3 * k : 3 * k + 3])))
    assert detect_format(shards) == "jsonl"
    assert [d.doc_id for d in read_any(shards)] == [r["doc_id"] for r in records]
    assert {d.source for d in read_any(shards)} == {f"test:{i}" for i in range(9)}
    cail_row = json.dumps({"fact": "被告人张三盗窃。", "meta": {"accusation": ["盗窃"]}}, ensure_ascii=False)
    _write_gz(shards / "data_x.jsonl.gz", cail_row)
    docs, rejected = _split(read_any(shards))
    assert len(docs) == 9
    (other,) = rejected
    assert other.source == "shards/data_x.jsonl.gz" and "decompress" in other.reason
    # an export compressed under a plain name is still read when the format is named
    disguised = tmp_path / "export.jsonl"
    disguised.write_bytes(gzip.compress("\n".join(_lines(records[:2])).encode()))
    assert [d.doc_id for d in read_any(disguised, "jsonl")] == ["gz-0", "gz-1"]
