"""The synthetic scale corpus: reproducible, labelled, and parsed by the build like real judgments."""

from __future__ import annotations

import functools
import gzip
import json

import pytest

from retrieval.document import Document
from retrieval.parsing.case_number import parse_case_number
from retrieval.parsing.judgment import parse_judgment
from tests.conftest import LECARD_ARCHIVE, SHARED_DATA, bench_module, require

pytestmark = pytest.mark.slow  # generates from 400 LeCaRD judgments and CAIL (bench/scale_corpus.py)


def _module():
    return bench_module("scale_corpus")


@functools.cache
def _sources():
    cail = require(SHARED_DATA / "cail2018-sample" / "data" / "data_test.json")
    return _module().load_sources(require(LECARD_ARCHIVE), cail, max_lecard=400)


def _lines(n: int, seed: int = 7, workers: int = 1) -> list[str]:
    return list(_module().generate_lines(_sources(), n, seed, workers=workers, chunk=7))


def test_same_seed_same_corpus_and_document_i_does_not_depend_on_n_or_workers():
    first = _lines(24)
    assert first == _lines(24)
    assert _lines(10) == first[:10]
    assert _lines(24, workers=2) == first
    assert _lines(24, seed=8) != first


def test_every_document_is_labelled_synthetic():
    for line in _lines(24):
        record = json.loads(line)
        assert record["doc_id"].startswith("SYN-7-")
        assert record["synthetic"] is True
        assert record["source"].startswith("synthetic:")
    assert len({json.loads(line)["doc_id"] for line in _lines(24)}) == 24


def test_documents_are_valid_records_and_their_text_parses_to_the_same_fields():
    for line in _lines(24):
        record = json.loads(line)
        doc = Document.from_dict(record)
        parsed = parse_judgment(doc.full_text, doc_id=doc.doc_id)
        assert parsed.case_number == doc.case_number
        assert parse_case_number(doc.case_number).province == doc.court.province
        assert parsed.court == doc.court
        assert parsed.decision_date == doc.decision_date
        assert parsed.causes[:1] == doc.causes[:1]
        defendants = [p.name for p in doc.parties if p.role == "被告人"]
        assert [p.name for p in parsed.parties if p.role == "被告人"] == defendants
        assert defendants[0] in doc.sections.facts or defendants[0] in doc.sections.reasoning
        assert "\x01" not in doc.full_text  # every defendant placeholder was filled
        assert len(doc.sections.facts) > 50 and len(doc.full_text) > len(doc.sections.facts)


def test_gzip_shards_hold_the_same_lines_in_order_and_read_as_one_folder(tmp_path):
    from index_build.readers.detect import read_any

    module = _module()
    plain = module.write_corpus(_sources(), 20, 7, tmp_path / "plain.jsonl", chunk=7)
    assert plain[0].read_text(encoding="utf-8") == "".join(line + "\n" for line in _lines(20))
    folder = tmp_path / "syn"
    folder.mkdir()
    paths = module.write_corpus(_sources(), 20, 7, folder / "part.jsonl.gz", shards=3, workers=2, chunk=4)
    assert [p.name for p in paths] == ["part-0.jsonl.gz", "part-1.jsonl.gz", "part-2.jsonl.gz"]
    assert sorted(p.name for p in folder.iterdir()) == [p.name for p in paths]  # no .partial left
    text = b"".join(gzip.decompress(p.read_bytes()) for p in paths).decode("utf-8")
    assert text == plain[0].read_text(encoding="utf-8")
    assert [d.doc_id for d in read_any(folder)] == [json.loads(line)["doc_id"] for line in _lines(20)]
    # shards of another K would mix two corpora in one folder: refused before anything is written
    with pytest.raises(FileExistsError, match=r"part-2\.jsonl\.gz"):
        module.write_corpus(_sources(), 20, 7, folder / "part.jsonl.gz", shards=2)
    assert sorted(p.name for p in folder.iterdir()) == [p.name for p in paths]
