"""Format readers on the real datasets in ../shared/data, plus small files made in tmp_path."""

from __future__ import annotations

import itertools
import json
import tarfile
from pathlib import Path

import pytest

from index_build.readers import cail, gongbao_md, guiding_md, jsonl, lecard, plaintext
from index_build.readers.base import Rejection
from index_build.readers.detect import FORMATS, MIXED, ReaderError, detect_format, read_any
from retrieval.cited_article import CitedArticle
from retrieval.document import AuthorityKind, CaseCategory, CourtLevel, Document, Party
from tests.conftest import LECARD_ARCHIVE, SHARED_DATA, require

CAIL = SHARED_DATA / "cail2018-sample" / "data"
SPC = SHARED_DATA / "spc-cases-xtjeyvc" / "doc"
GUIDING = SPC / "anli-fa"
GONGBAO = SPC / "anli-gongbao"
# CAIL labels that stand for several charges; normalise_cause leaves them as they are (2.2% of train rows)
CAIL_MERGED_LABELS = {"制造、贩卖、传播淫秽物品", "组织、强迫、引诱、容留、介绍卖淫", "走私"}


def split(items) -> tuple[list[Document], list[Rejection]]:
    items = list(items)
    docs = [i for i in items if isinstance(i, Document)]
    rejected = [i for i in items if isinstance(i, Rejection)]
    assert len(docs) + len(rejected) == len(items)
    return docs, rejected


def count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def archive_members(n: int) -> list[tuple[str, bytes]]:
    """The first ``n`` candidate JSON members of the real archive, as (member name, bytes)."""
    out = []
    with tarfile.open(require(LECARD_ARCHIVE), "r:xz") as archive:
        for member in archive:
            if member.isfile() and member.name.endswith(".json"):
                out.append((member.name, archive.extractfile(member).read()))
                if len(out) == n:
                    break
    return out


# -- LeCaRD ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lecard_docs() -> list[Document]:
    items = list(itertools.islice(lecard.read(require(LECARD_ARCHIVE)), 300))
    assert all(isinstance(i, Document) for i in items), [i for i in items if isinstance(i, Rejection)]
    return items


@pytest.mark.slow  # reads real judgments from ../shared
def test_lecard_archive_ids_unique_and_fields_mapped(lecard_docs: list[Document]) -> None:
    ids = [d.doc_id for d in lecard_docs]
    assert len(ids) == len(set(ids)) == 300
    assert all(i.startswith("lecard-") and i.removeprefix("lecard-").isdigit() for i in ids)
    for doc in lecard_docs:
        assert doc.full_text and doc.title and doc.sections.facts
        assert doc.source.startswith("candidates.tar.xz:candidates/")
    n = len(lecard_docs)
    assert sum(bool(d.case_number) for d in lecard_docs) >= 0.95 * n
    assert sum(d.court is not None for d in lecard_docs) >= 0.95 * n
    assert sum(bool(d.causes) for d in lecard_docs) >= 0.95 * n
    assert sum(d.category is CaseCategory.CRIMINAL for d in lecard_docs) >= 0.95 * n


def test_lecard_first_candidate_in_detail(lecard_docs: list[Document]) -> None:
    doc = lecard_docs[0]
    assert doc.doc_id == "lecard-1176"
    assert doc.source == "candidates.tar.xz:candidates/3/1176.json"
    assert doc.title == "项金根犯滥用职权罪、受贿罪一审刑事判决书"
    assert doc.case_number == "（2015）嘉桐刑初字第328号"
    assert doc.court is not None and doc.court.name == "浙江省桐乡市人民法院"
    assert {"滥用职权罪", "受贿罪"} <= set(doc.causes)
    assert doc.sections.facts.startswith("桐乡市人民检察院指控")
    assert doc.sections.reasoning.startswith("本院认为")
    assert doc.sections.result.startswith("一、被告人项金根犯滥用职权罪")


def test_lecard_folder_layout_dedupes_and_rejects(tmp_path: Path) -> None:
    members = archive_members(4)
    root = tmp_path / "candidates"
    for name, raw in members:
        out = root / Path(name).relative_to("candidates")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(raw)
    # the same docid under a second query folder is one document
    first_name, first_raw = members[0]
    (root / "999").mkdir()
    (root / "999" / Path(first_name).name).write_bytes(first_raw)
    (root / "999" / "5.json").write_text('{"ajName": "x", "qw": ', encoding="utf-8")
    (root / "999" / "6.json").write_text('{"ajName": "无全文"}', encoding="utf-8")
    assert detect_format(root) == "lecard"
    docs, rejected = split(read_any(root))
    assert sorted(d.doc_id for d in docs) == sorted(f"lecard-{Path(n).stem}" for n, _ in members)
    assert docs[0].source == first_name  # candidates/3/1176.json: relative to the folder's parent
    assert sorted(r.source for r in rejected) == ["candidates/999/5.json", "candidates/999/6.json"]
    assert "invalid JSON" in rejected[0].reason or "invalid JSON" in rejected[1].reason
    single = root / Path(members[1][0]).relative_to("candidates")
    assert detect_format(single) == "lecard"
    (doc,) = lecard.read(single)
    assert doc.doc_id == f"lecard-{single.stem}" and doc.source == single.name


def test_not_an_archive_or_a_truncated_one_is_one_rejection(tmp_path: Path) -> None:
    fake = tmp_path / "broken.tar.xz"
    fake.write_bytes(b"this is not xz data at all")
    (item,) = lecard.read(fake)
    assert isinstance(item, Rejection) and item.line is None and "not a readable tar archive" in item.reason
    truncated = tmp_path / "truncated.tar.xz"
    with require(LECARD_ARCHIVE).open("rb") as fh:
        truncated.write_bytes(fh.read(300_000))
    docs, rejected = split(lecard.read(truncated))
    assert docs and len(rejected) == 1
    assert rejected[0].source == "truncated.tar.xz"
    assert f"archive is corrupt after {len(docs)} documents" in rejected[0].reason


# -- CAIL2018 ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_cail_gbk_train_file() -> None:
    path = require(CAIL / "data_train.json")
    docs, rejected = split(cail.read(path))
    assert not rejected
    assert len(docs) == count_lines(path) == 3675
    first = docs[0]
    assert first.doc_id == "cail-data_train-1" and first.source == "data_train.json:1"
    assert first.causes == ["故意伤害罪"]
    assert first.articles == [CitedArticle("刑法", 234)]
    assert first.parties == [Party("李×1", "被告人")]
    assert first.category is CaseCategory.CRIMINAL
    assert first.sections.facts.startswith("北京市通州区人民检察院指控")
    for doc in docs:
        assert doc.causes and all("[" not in c for c in doc.causes)
        assert doc.articles and all(a.law == "刑法" for a in doc.articles)
    # CAIL's merged labels ([组织、强迫、引诱、容留、介绍]卖淫 …) name several charges: normalise_cause
    # leaves them unresolved rather than invent a charge; they are rare
    unresolved = {c for d in docs for c in d.causes if not c.endswith("罪")}
    assert unresolved <= CAIL_MERGED_LABELS
    # the UTF-8 copy of the same file reads to the same documents
    utf8 = [d for d in cail.read(CAIL / "data_train.utf8.json") if isinstance(d, Document)]
    assert [(d.causes, d.full_text) for d in utf8] == [(d.causes, d.full_text) for d in docs]


def test_cail_utf8_test_file_normalises_bracketed_charges() -> None:
    path = require(CAIL / "data_test.json")
    docs, rejected = split(cail.read(path))
    assert not rejected and len(docs) == count_lines(path) == 1397
    causes = [c for d in docs for c in d.causes]
    assert all("[" not in c for c in causes)
    assert {c for c in causes if not c.endswith("罪")} <= CAIL_MERGED_LABELS
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    bracketed = next(i for i, r in enumerate(raw) if any("[" in a for a in r["meta"]["accusation"]))
    assert all("[" not in c for c in docs[bracketed].causes)


def _cail_line(fact: str, accusation: str, article: int) -> str:
    meta = {
        "relevant_articles": [article],
        "accusation": [accusation],
        "punish_of_money": 2000,
        "criminals": ["张三"],
        "term_of_imprisonment": {"death_penalty": False, "imprisonment": 8, "life_imprisonment": False},
    }
    return json.dumps({"fact": fact, "meta": meta}, ensure_ascii=False)


def test_cail_undeclared_gbk_and_bom_files(tmp_path: Path) -> None:
    lines = [_cail_line("被告人张三于2016年3月在某超市盗窃手机一部，价值人民币三千元。", "盗窃", 264)] * 3
    gbk = tmp_path / "gbk.json"
    gbk.write_bytes("\n".join(lines).encode("gbk"))
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes("\n".join(lines).encode("utf-8-sig"))
    for path in (gbk, bom):
        assert detect_format(path) == "cail"
        docs, rejected = split(read_any(path))
        assert not rejected and len(docs) == 3
        assert docs[2].doc_id == f"cail-{path.stem}-3"
        assert docs[0].causes == ["盗窃罪"] and docs[0].articles == [CitedArticle("刑法", 264)]
        assert "刑期8个月" in docs[0].sections.result and "2000元" in docs[0].sections.result


def test_cail_bad_lines_are_rejected_and_reading_goes_on(tmp_path: Path) -> None:
    good = _cail_line("被告人张三盗窃。", "盗窃", 264)
    path = tmp_path / "data_bad.json"
    path.write_text(
        "\n".join([good, "{not json", '{"fact": "x"}', good.replace("[264]", '["x"]'), "", good]),
        encoding="utf-8",
    )
    docs, rejected = split(cail.read(path))
    assert [d.doc_id for d in docs] == ["cail-data_bad-1", "cail-data_bad-6"]
    assert [r.line for r in rejected] == [2, 3, 4]
    assert "invalid JSON" in rejected[0].reason and "meta" in rejected[1].reason


def test_undecodable_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "data_utf16.json"
    path.write_bytes(_cail_line("被告人张三盗窃。", "盗窃", 264).encode("utf-16"))
    (item,) = cail.read(path)
    assert isinstance(item, Rejection) and item.line is None
    assert "data_utf16.json" in item.reason and "byte offset" in item.reason
    assert "UTF-16" in item.reason
    garbage = tmp_path / "garbage.txt"
    garbage.write_bytes("人民法院判决书".encode() + b"\x80\xff\xfe" * 20)
    (item,) = plaintext.read(garbage)
    assert isinstance(item, Rejection) and "byte offset 21" in item.reason


# -- 指导性案例 and 公报案例 --------------------------------------------------------------------


@pytest.fixture(scope="module")
def guiding() -> tuple[list[Document], list[Rejection]]:
    return split(guiding_md.read(require(GUIDING)))


def test_all_guiding_cases_parse(guiding) -> None:
    docs, rejected = guiding
    files = [p for p in GUIDING.glob("*.md") if p.name != "index.md"]
    assert not rejected and len(docs) == len(files) == 223
    numbers = {int(d.authority.number) for d in docs}
    assert numbers == set(range(1, 225)) - {45}
    for doc in docs:
        assert doc.doc_id == f"guiding-{doc.authority.number}"
        assert doc.authority.kind is AuthorityKind.GUIDING
        assert doc.holding and doc.sections.facts and doc.title
        assert doc.authority.published is not None
        assert "..." not in doc.title
        assert not any(line.startswith(("#", "**")) for line in doc.full_text.splitlines())
    assert sum(bool(d.case_number) for d in docs) >= 200
    assert sum(bool(d.articles) for d in docs) >= 200
    assert sum(bool(d.keywords) for d in docs) >= 200
    assert sum(d.category is CaseCategory.CRIMINAL for d in docs) >= 30


def test_guiding_case_in_detail(guiding) -> None:
    by_id = {d.doc_id: d for d in guiding[0]}
    doc = by_id["guiding-210"]  # heading cut short with "..."; the full name is in the body
    assert (
        doc.title
        == "九江市人民政府诉江西正鹏环保科技有限公司、杭州连新建材有限公司、李德等生态环境损害赔偿诉讼案"
    )
    assert doc.authority.published.isoformat() == "2022-12-30"
    assert doc.case_number == "（2019）赣04民初201号"
    assert doc.court.name == "江西省九江市中级人民法院" and doc.court.level is CourtLevel.INTERMEDIATE
    assert doc.decision_date.isoformat() == "2019-11-04"
    assert doc.doc_type == "判决书" and doc.category is CaseCategory.CIVIL
    assert doc.keywords[:2] == ["民事", "生态环境损害赔偿诉讼"]
    assert doc.holding.startswith("1.生态环境损害赔偿案件中")
    assert "生效裁判审判人员" not in doc.sections.reasoning
    assert by_id["guiding-24"].title.startswith("荣宝英诉王阳")


@pytest.mark.slow
def test_gongbao_folder(guiding) -> None:
    files = list(GONGBAO.glob("FYGB*.md"))  # SOURCE.md's "934 files" counts the listing index2.md
    docs, rejected = split(gongbao_md.read(require(GONGBAO)))
    assert len(docs) + len(rejected) == len(files) == 933
    assert len(rejected) <= 0.02 * len(files), rejected
    assert len({d.doc_id for d in docs}) == len(docs)
    for doc in docs:
        assert doc.authority.kind is AuthorityKind.SPC_TYPICAL
        assert doc.title and not doc.title.startswith(("#", "首页")) and ">" not in doc.title
    assert sum(bool(d.holding) for d in docs) >= 460  # 【裁判摘要】 434, 【案例要旨】 22, 裁判要点 13
    by_id = {d.doc_id: d for d in docs}
    assert by_id["gongbao-FYGB0738"].title == "北影录音录像公司诉北京电影学院侵犯作品专有使用权纠纷案"
    assert by_id["gongbao-FYGB0803"].title == "王健华等五人诉王汝范继承纠纷案"
    assert by_id["gongbao-FYGB0041"].title == "项红敏诉六盘水市人民政府改变原行政行为行政复议决定案"
    summary = by_id["gongbao-FYGB0300"]
    assert summary.holding.startswith("案由是当事人诉讼请求所指向的法律关系")
    assert "原告" not in summary.holding and summary.holding not in summary.sections.facts
    assert by_id["gongbao-FYGB0001"].holding.startswith("1.涉电子商务平台")  # guiding layout


def test_markdown_without_required_parts_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("### 指导性案例7号：某案\n\n基本案情\n\n事实。\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("### 某某案\n\n裁判要点\n\n要点。\n", encoding="utf-8")
    (tmp_path / "c.md").write_text("\n\n   \n", encoding="utf-8")
    (tmp_path / "index.md").write_text("### 指导性案例 list\n", encoding="utf-8")
    rejected = list(guiding_md.read(tmp_path))
    assert [(r.source, r.line) for r in rejected] == [
        (f"{tmp_path.name}/a.md", None),
        (f"{tmp_path.name}/b.md", 1),
        (f"{tmp_path.name}/c.md", 1),
    ]
    assert "裁判要点" in rejected[0].reason
    assert all(isinstance(r, Rejection) for r in gongbao_md.read(tmp_path / "c.md"))


# -- plain text --------------------------------------------------------------------------------


def test_plaintext_judgment_from_lecard_qw(tmp_path: Path, lecard_docs: list[Document]) -> None:
    source = lecard_docs[0]
    (tmp_path / "sub").mkdir()
    (tmp_path / "utf8.txt").write_text(source.full_text, encoding="utf-8")
    (tmp_path / "sub" / "gbk.txt").write_bytes(source.full_text.encode("gb18030"))
    (tmp_path / "stopwords.txt").write_text("的\n了\n是\n" * 30, encoding="utf-8")
    assert detect_format(tmp_path / "utf8.txt") == "txt"
    docs, rejected = split(plaintext.read(tmp_path))
    assert [d.doc_id for d in docs] == ["txt-gbk", "txt-utf8"]
    for doc in docs:
        assert doc.case_number == source.case_number and doc.court == source.court
        assert doc.full_text == source.full_text
    assert docs[0].source == f"{tmp_path.name}/sub/gbk.txt"
    assert [r.source for r in rejected] == [f"{tmp_path.name}/stopwords.txt"]


# -- the project's JSON Lines ------------------------------------------------------------------


def test_jsonl_round_trip_and_bad_lines(tmp_path: Path, guiding, lecard_docs: list[Document]) -> None:
    originals = [*guiding[0][:5], *lecard_docs[:5], *itertools.islice(cail.read(CAIL / "data_test.json"), 5)]
    lines = [json.dumps(d.to_dict(), ensure_ascii=False) for d in originals]
    path = tmp_path / "own.jsonl"
    bad = ["{broken json", json.dumps({"title": "no id"}), "", lines[0]]
    path.write_text("\n".join(lines[:6] + bad + lines[6:]) + "\n", encoding="utf-8")
    assert detect_format(path) == "jsonl"
    docs, rejected = split(jsonl.read(path))
    assert docs == originals
    assert [r.line for r in rejected] == [7, 8, 10]
    assert "invalid JSON" in rejected[0].reason
    assert "doc_id" in rejected[1].reason
    assert "duplicate doc_id" in rejected[2].reason and "line 1" in rejected[2].reason
    # a record without its own source gets the file and line
    bare = tmp_path / "bare.jsonl"
    bare.write_text(json.dumps(Document(doc_id="x1", title="t").to_dict()), encoding="utf-8")
    (doc,) = jsonl.read(bare)
    assert doc.source == "bare.jsonl:1"


# -- format detection --------------------------------------------------------------------------


def test_detect_real_datasets() -> None:
    assert detect_format(require(LECARD_ARCHIVE)) == "lecard"
    assert detect_format(CAIL / "data_train.json") == "cail"
    assert detect_format(CAIL / "data_test.json") == "cail"
    assert detect_format(GUIDING) == "guiding-md"
    assert detect_format(GUIDING / "anlifa_0.md") == "guiding-md"
    assert detect_format(GONGBAO) == "gongbao-md"
    assert detect_format(GONGBAO / "FYGB0738.md") == "gongbao-md"
    with pytest.raises(ReaderError):  # 最高检 检例 are not court cases
        detect_format(SPC / "anli-jian")


def test_detect_mixed_folder_reads_each_file_with_its_reader(tmp_path: Path) -> None:
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "g.md").write_bytes((GUIDING / "anlifa_0.md").read_bytes())
    (tmp_path / "cases" / "b.md").write_bytes((GONGBAO / "FYGB0300.md").read_bytes())
    (tmp_path / "data_x.json").write_text(_cail_line("被告人张三盗窃。", "盗窃", 264), encoding="utf-8")
    (tmp_path / "own.jsonl").write_text(json.dumps(Document(doc_id="own-1").to_dict()), encoding="utf-8")
    (tmp_path / "notes.json").write_text('{"what": "not a corpus"}', encoding="utf-8")
    (tmp_path / "README.md").write_text("# about\n", encoding="utf-8")
    assert detect_format(tmp_path) == MIXED
    docs, rejected = split(read_any(tmp_path))
    assert sorted(d.doc_id for d in docs) == ["cail-data_x-1", "gongbao-b", "guiding-210", "own-1"]
    sources = {d.doc_id: d.source for d in docs}
    assert sources["guiding-210"] == f"{tmp_path.name}/cases/g.md"
    assert sources["cail-data_x-1"] == f"{tmp_path.name}/data_x.json:1"
    assert [r.source for r in rejected] == [f"{tmp_path.name}/notes.json"]


def test_explicit_and_unknown_formats(tmp_path: Path) -> None:
    assert set(FORMATS) == {"jsonl", "lecard", "cail", "guiding-md", "gongbao-md", "txt"}
    with pytest.raises(ReaderError, match="valid formats: cail, gongbao-md, guiding-md, jsonl, lecard, txt"):
        read_any(tmp_path, "pdf")
    with pytest.raises(ReaderError, match="no such file"):
        read_any(tmp_path / "missing.jsonl")
    (tmp_path / "x.bin").write_bytes(b"\x00\x01")
    with pytest.raises(ReaderError, match="cannot tell its format"):
        detect_format(tmp_path / "x.bin")
    # an explicit format overrides detection: a gongbao file read as a guiding case is rejected
    (item,) = read_any(GONGBAO / "FYGB0300.md", "guiding-md")
    assert isinstance(item, Rejection) and "指导" in item.reason
