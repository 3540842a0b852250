"""How a case is cited: 指导案例N号, the 公报 issue, the 案号; never an internal id when there is better."""

from __future__ import annotations

from index_build.readers.gongbao_md import parse_gongbao
from retrieval.citation import citation, reference
from retrieval.document import Authority, AuthorityKind, Document
from tests.conftest import gongbao_text


def test_guiding_case_is_cited_by_its_number_not_its_old_case_number() -> None:
    doc = Document(
        "guiding-57",
        title="温州银行股份有限公司宁波分行诉浙江创菱电器有限公司等金融借款合同纠纷案",
        case_number="（2014）浙甬商终字第369号",
        authority=Authority(kind=AuthorityKind.GUIDING, number="57"),
    )
    assert citation(doc) == "指导案例57号"
    assert reference(doc.title, citation(doc)).endswith("　指导案例57号")


def test_gongbao_case_is_cited_by_its_issue_when_the_text_states_it() -> None:
    doc = Document(
        "gongbao-FYGB0999",
        title="某公司诉某银行储蓄存款合同纠纷案",
        case_number="（2014）沪一中民六（商）终字第1号",
        full_text="（《最高人民法院公报》2015年第3期）\n原告：某公司……",
        authority=Authority(kind=AuthorityKind.SPC_TYPICAL),
    )
    assert citation(doc) == "《最高人民法院公报》2015年第3期"


def test_gongbao_case_without_issue_falls_back_to_its_case_number_never_its_id() -> None:
    doc = parse_gongbao(gongbao_text("FYGB0075.md"), doc_id="gongbao-FYGB0075", source="FYGB0075.md")
    assert isinstance(doc, Document)
    cited = citation(doc)
    assert "FYGB" not in cited and "gongbao" not in cited
    assert cited == (doc.case_number or "《最高人民法院公报》案例")
    bare = Document("gongbao-FYGB0001", title="某案", authority=Authority(kind=AuthorityKind.SPC_TYPICAL))
    assert citation(bare) == "《最高人民法院公报》案例"


def test_ordinary_judgment_is_cited_by_its_case_number() -> None:
    doc = Document("txt-1", title="张某盗窃案", case_number="（2023）浙0106刑初123号")
    assert citation(doc) == "（2023）浙0106刑初123号"
    assert citation(Document("txt-2", title="张某盗窃案")) == "张某盗窃案"
