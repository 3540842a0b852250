"""A Document's JSON form (the JSONL schema and the metadata store's blobs); the stored encodings
are tested in tests/retrieval/test_doc_codec.py."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, fields

from retrieval.cited_article import CitedArticle
from retrieval.document import (
    SCHEMA_VERSION,
    Authority,
    AuthorityKind,
    CaseCategory,
    Court,
    CourtLevel,
    Document,
    Party,
    Sections,
)


def full_document() -> Document:
    """Every field set, nested ones included."""
    return Document(
        doc_id="d-1",
        title="张某盗窃一审刑事判决书",
        case_number="（2020）苏0106刑初645号",
        court=Court("南京市鼓楼区人民法院", CourtLevel.BASIC, "江苏省"),
        doc_type="判决书",
        category=CaseCategory.CRIMINAL,
        decision_date=dt.date(2020, 9, 1),
        causes=["盗窃罪"],
        articles=[CitedArticle("刑法", 264), CitedArticle("刑法", 67, 0, 3)],
        parties=[Party("张某", "被告人")],
        sections=Sections("经审理查明……", "本院认为……", "判决如下……"),
        full_text="全文",
        authority=Authority(AuthorityKind.GUIDING, "24", dt.date(2021, 1, 2), True, "已废止"),
        holding="裁判要点",
        keywords=["盗窃"],
        source="x.jsonl:1",
    )


def asdict_form(doc: Document) -> dict:
    """The form as ``dataclasses.asdict`` gives it, with the schema's three conversions."""
    data = asdict(doc)
    data["schema_version"] = SCHEMA_VERSION
    data["decision_date"] = doc.decision_date.isoformat() if doc.decision_date else None
    data["articles"] = [a.key() for a in doc.articles]
    data["authority"]["published"] = doc.authority.published.isoformat() if doc.authority.published else None
    return data


def test_to_dict_is_the_dataclass_form() -> None:
    for doc in (full_document(), Document(doc_id="bare")):
        data = doc.to_dict()
        assert json.dumps(data, ensure_ascii=False) == json.dumps(asdict_form(doc), ensure_ascii=False)
        assert list(data) == [f.name for f in fields(Document)] + ["schema_version"]
        assert Document.from_dict(data) == doc


def test_to_dict_does_not_share_lists_with_the_document() -> None:
    doc = full_document()
    doc.to_dict()["causes"].append("抢劫罪")
    assert doc.causes == ["盗窃罪"]
