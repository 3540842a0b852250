"""Property-based tests of the parsers and readers on arbitrary and hostile input.

Each may find nothing or refuse with its documented error (ValueError for the 案号 parser, a
``Rejection`` for readers), but never crash with another exception, never hide a crash in a log
warning, and what it returns round-trips: a parsed 案号's canonical form re-parses to itself, an
extracted provision's key parses back to it, and a Document survives its own JSON form.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from index_build.readers.base import Rejection
from index_build.readers.detect import FORMATS, read_any
from index_build.readers.gongbao_md import parse_gongbao
from index_build.readers.guiding_md import parse_guiding
from retrieval.cited_article import parse_article_key
from retrieval.document import Document
from retrieval.parsing.articles import extract_articles
from retrieval.parsing.case_number import TYPE_CODES, find_case_numbers, parse_case_number
from retrieval.parsing.courts import PROVINCE_BY_COURT_CODE
from retrieval.parsing.judgment import parse_judgment

EXAMPLES = 300
"""Per property: each example takes milliseconds, so the file runs in about ten seconds."""
READER_EXAMPLES = 200  # each writes a file and generates JSON trees: slower

# Characters the parsers look for, so that random text reaches their deeper branches.
LEGAL = (
    "（）()〔〕[]【】﹝﹞［］《》〈〉<>0123456789０１２３４５６７８９一二三四五六七八九十百千零〇两"
    "第条款项之号字刑民行执初终再监申赔破浙苏京沪最高法院人民中华共和国刑法民法典诉讼解释规定"
    "、，,和及以下简称该法同法年月日判决书裁定书被告人原告上诉人审判长本院认为经审理查明罪纠纷"
    " \n\t\u3000#＃：:；;。-－"
)
legal_text = st.text(alphabet=st.sampled_from(LEGAL) | st.characters(), max_size=400)
any_text = st.one_of(st.text(max_size=400), legal_text)

HOSTILE = [
    "",
    "\x00" * 10,
    "'; DROP TABLE docs; --",
    "../../etc/passwd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "（2015）" * 500,
    "第" * 5000 + "条",
    "《" * 3000 + "刑法" + "》" * 3000 + "第一条",
    "\ud800\udfff",  # lone surrogates, as a JSON \u escape can produce
    "\u202e\u200b\ufeff",
]


class _Crashes(logging.Handler):
    """Collects log records that carry an exception: a crash that a guard turned into a warning."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@contextlib.contextmanager
def no_hidden_crash() -> Iterator[None]:
    handler = _Crashes()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
    assert not handler.records, [r.getMessage() for r in handler.records]


def assert_well_formed(doc: Document) -> None:
    """Typed as the model says, storable as UTF-8 JSON, and equal to itself read back."""
    for name in ("title", "full_text"):
        assert isinstance(getattr(doc, name), str), name
    for name in ("case_number", "doc_type", "holding", "source"):
        assert getattr(doc, name) is None or isinstance(getattr(doc, name), str), name
    assert all(isinstance(c, str) for c in doc.causes) and all(isinstance(k, str) for k in doc.keywords)
    assert doc.authority.number is None or isinstance(doc.authority.number, str)
    encoded = json.dumps(doc.to_dict(), ensure_ascii=False).encode("utf-8")
    assert Document.from_dict(json.loads(encoded)) == doc


# -- 案号 -----------------------------------------------------------------------------------------


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None)
@given(any_text)
@example("（2015）嘉桐刑初字第328号")
@example("(2016)浙0483刑初123号之一")
def test_case_number_parser_returns_a_number_or_value_error(text: str) -> None:
    try:
        number = parse_case_number(text)
    except ValueError:
        return
    again = parse_case_number(number.canonical())
    assert again == number and again.canonical() == number.canonical()


_BRACKETS = [("（", "）"), ("(", ")"), ("〔", "〕"), ("[", "]"), ("【", "】")]
_FULL = str.maketrans("0123456789", "０１２３４５６７８９")


@st.composite
def printed_case_numbers(draw: st.DrawFn) -> tuple[str, int, int]:
    """A 案号 as a court might print it: (text, year, sequence)."""
    open_, close = draw(st.sampled_from(_BRACKETS))
    year = draw(st.integers(1990, 2030))
    court = draw(
        st.one_of(
            st.just("最高法"),
            st.builds(
                str.__add__,
                st.sampled_from(sorted(PROVINCE_BY_COURT_CODE)),
                st.from_regex(r"[0-9]{2}|[0-9]{4}", fullmatch=True),
            ),
            st.sampled_from(["嘉桐", "浙杭", "杭西", "京一中", ""]),
        )
    )
    code = draw(st.sampled_from(sorted(TYPE_CODES)))
    if code[0] in "刑民行执" and draw(st.booleans()):
        code = code[0] + draw(st.sampled_from(["一", "二", "十二", "少"])) + code[1:]
    sequence = draw(st.integers(1, 999_999_999))
    digits = f"{sequence:0{draw(st.integers(1, 9))}d}"
    middle = draw(st.sampled_from(["", "字第", "第", " 字第 "]))
    tail = draw(st.sampled_from(["号", "号之一", "号之十二", "-2号"]))
    year_text = str(year)
    if draw(st.booleans()):
        year_text, digits = year_text.translate(_FULL), digits.translate(_FULL)
    return f"{open_}{year_text}{close}{court}{code}{middle}{digits}{tail}", year, sequence


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None)
@given(printed_case_numbers(), legal_text)
def test_a_printed_case_number_parses_and_its_canonical_form_is_a_fixed_point(
    printed: tuple[str, int, int], context: str
) -> None:
    text, year, sequence = printed
    number = parse_case_number(text)
    assert (number.year, number.sequence) == (year, sequence)
    canonical = number.canonical()
    assert parse_case_number(canonical) == number
    assert parse_case_number(canonical).canonical() == canonical
    found = find_case_numbers(f"{context}。本案案号{text}，")
    assert number in [m.case_number for m in found]


# -- 法条 -----------------------------------------------------------------------------------------


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None)
@given(any_text)
@example("依照《中华人民共和国刑法》第二百六十四条、第六十七条第三款，第七十二条第一款第（三）项之规定")
@example(
    "《最高人民法院关于适用〈中华人民共和国民事诉讼法〉的解释》（以下简称《解释》）第九十条，《解释》第九十一条"
)
def test_article_extraction_never_fails_and_every_key_parses_back(text: str) -> None:
    for cited in extract_articles(text):
        assert 0 < cited.article <= 2000
        assert parse_article_key(cited.key()) == cited


@pytest.mark.parametrize("text", HOSTILE)
def test_article_extraction_and_case_numbers_on_hostile_strings(text: str) -> None:
    extract_articles(text)
    find_case_numbers(text)
    with contextlib.suppress(ValueError):
        parse_case_number(text)


# -- whole judgments ------------------------------------------------------------------------------


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None)
@given(st.one_of(st.text(max_size=2000), st.text(alphabet=st.sampled_from(LEGAL), max_size=2000)))
@example("浙江省杭州市西湖区人民法院\n刑事判决书\n（2023）浙0106刑初123号\n公诉机关杭州市西湖区人民检察院。\n被告人张三。\n"
         "经审理查明，被告人张三盗窃。\n本院认为，依照《中华人民共和国刑法》第二百六十四条之规定，判决如下：")  # fmt: skip
def test_parse_judgment_never_raises_nor_hides_a_crash(text: str) -> None:
    with no_hidden_crash():
        doc = parse_judgment(text, doc_id="fuzz", source="fuzz.txt")
    assert_well_formed(doc)


@pytest.mark.parametrize("text", HOSTILE)
def test_parse_judgment_on_hostile_strings(text: str) -> None:
    with no_hidden_crash():
        doc = parse_judgment(text, doc_id="fuzz")
    assert doc.doc_id == "fuzz"


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None)
@given(st.one_of(st.text(max_size=1500), legal_text, legal_text.map(lambda t: "指导性案例12号：" + t)))
def test_markdown_case_parsers_return_a_document_or_a_rejection(text: str) -> None:
    with no_hidden_crash():
        guiding = parse_guiding(text, source="fuzz.md")
        gongbao = parse_gongbao(text, doc_id="gongbao-fuzz", source="fuzz.md")
    for item in (guiding, gongbao):
        assert isinstance(item, Document | Rejection)
        if isinstance(item, Document):
            assert_well_formed(item)


# -- readers on files -----------------------------------------------------------------------------

SUFFIX = {
    "jsonl": ".jsonl",
    "lecard": ".json",
    "cail": ".json",
    "guiding-md": ".md",
    "gongbao-md": ".md",
    "txt": ".txt",
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
documents_ish = st.fixed_dictionaries(
    {},
    optional={
        key: json_values | st.text(alphabet=st.sampled_from(LEGAL), max_size=80)
        for key in (
            "doc_id", "title", "case_number", "court", "doc_type", "category", "decision_date", "causes",
            "articles", "parties", "sections", "full_text", "authority", "holding", "keywords", "source",
            "schema_version", "fact", "meta", "qw", "ajjbqk", "cpfxgc", "pjjg", "writName", "ajName",
        )
    },
)  # fmt: skip
meta_ish = st.fixed_dictionaries(
    {},
    optional={
        key: json_values
        for key in ("accusation", "criminals", "relevant_articles", "term_of_imprisonment", "punish_of_money")
    },
)
records = st.one_of(
    json_values,
    documents_ish,
    st.builds(lambda d, m: {**d, "meta": m}, documents_ish, meta_ish),
)


@st.composite
def file_bytes(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "utf-8", "gb18030", "json lines"]))
    if kind == "bytes":
        return draw(st.binary(max_size=2000))
    if kind == "json lines":
        lines = draw(st.lists(records, min_size=1, max_size=4))
        ascii_only = draw(st.booleans())
        return "\n".join(json.dumps(r, ensure_ascii=ascii_only) for r in lines).encode(
            "utf-8", "surrogatepass"
        )
    text = draw(st.one_of(st.text(max_size=1500), legal_text))
    return text.encode(kind, "surrogatepass" if kind == "utf-8" else "replace")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reader-fuzz")


@pytest.mark.slow
@settings(max_examples=READER_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fmt=st.sampled_from(sorted(FORMATS)), data=file_bytes())
@example(fmt="jsonl", data=b"[" * 100_000 + b"]" * 100_000)
@example(fmt="cail", data=b'{"fact": "x", "meta": ' + b"{" * 50_000 + b"}" * 50_000 + b"}")
@example(fmt="lecard", data=b'{"qw": "\\ud800\\u6cd5\\u9662"}')
@example(fmt="jsonl", data=b'{"doc_id": "a", "case_number": 5, "holding": [1], "source": {"x": 1}}')
def test_every_reader_yields_documents_or_rejections(scratch: Path, fmt: str, data: bytes) -> None:
    path = scratch / f"input{SUFFIX[fmt]}"
    path.write_bytes(data)
    with no_hidden_crash():
        items = list(read_any(path, fmt))
    for item in items:
        assert isinstance(item, Document | Rejection), type(item)
        if isinstance(item, Document):
            assert_well_formed(item)
        else:
            assert isinstance(item.reason, str) and item.reason
