"""Civil provisions across law versions: 合同法 第206条 and 民法典 第675条 are one provision."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from retrieval.candidate import Candidate
from retrieval.cited_article import CitedArticle, civil_code_successors
from retrieval.document import Document
from retrieval.explain import pending_features
from retrieval.metadata import LegalFeatures
from retrieval.parsing.articles import StatuteBook, extract_articles
from retrieval.parsing.numerals import chinese_to_int
from retrieval.rerank import RerankWeights, legal_agreement, rerank
from tests.conftest import SHARED_DATA, require

CIVIL_CODE = SHARED_DATA / "lawrefbook-laws" / "民法典"
TABLE = "retrieval/resources/civil_code_successors.txt"
NO_FEATURES = LegalFeatures(circumstances=frozenset(), amount_band=None)
OLD = "本院认为……依照《中华人民共和国合同法》第二百零六条、第二百零七条之规定，判决如下："
NEW = "本院认为……依照《中华人民共和国民法典》第六百七十五条第一款、第六百七十六条之规定，判决如下："


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (("合同法", 206), 675),  # 借款: 返还借款
        (("合同法", 196), 667),
        (("合同法", 211), 680),
        (("合同法", 114), 585),  # 违约金
        (("合同法", 159), 626),  # 买卖: 支付价款
        (("担保法", 18), 688),  # 连带责任保证
        (("担保法", 21), 691),  # 保证范围
        (("侵权责任法", 48), 1208),  # 机动车交通事故
        (("侵权责任法", 16), 1179),  # 人身损害赔偿项目
        (("婚姻法", 32), 1079),  # 诉讼离婚
        (("继承法", 10), 1127),  # 法定继承顺序
        (("物权法", 106), 311),  # 善意取得
        (("民法总则", 188), 188),  # 同号
        (("民法通则", 135), 188),  # 诉讼时效
    ],
)
def test_known_successors(old: tuple[str, int], new: int) -> None:
    assert CitedArticle(*old).provision_key() == f"民法典 第{new}条"


def test_uncertain_rows_and_other_laws_have_no_successor() -> None:
    assert CitedArticle("合同法", 52).successor() is None  # 疑: split over 民法典 144–154
    assert CitedArticle("侵权责任法", 42).successor() is None  # 疑: deleted
    assert CitedArticle("刑法", 264).successor() is None
    assert CitedArticle("刑法", 264).provision_key() == "刑法 第264条"
    assert CitedArticle("民法典", 675, clause=1).provision_key() == "民法典 第675条"


def test_old_and_new_judgments_agree_on_the_provision() -> None:
    old, new = extract_articles(OLD), extract_articles(NEW)
    assert [a.key() for a in old] == ["合同法 第206条", "合同法 第207条"]  # the key keeps the version
    assert {a.provision_key() for a in old} == {a.provision_key() for a in new}
    assert "合同法 第206条" in CitedArticle("民法典", 675).equivalent_article_keys()


def test_rerank_counts_an_old_citation_of_the_same_provision() -> None:
    pending = pending_features("借款到期未还。", [], ["民法典 第675条"])
    old_doc = Document(doc_id="old", articles=extract_articles(OLD))
    other = Document(doc_id="other", articles=[CitedArticle("合同法", 60)])
    assert legal_agreement(pending, old_doc, NO_FEATURES).articles == pytest.approx(0.5)
    assert legal_agreement(pending, other, NO_FEATURES).articles == 0.0
    candidates = [Candidate(0, 0.0, 0.0, document=other), Candidate(1, 0.0, 0.0, document=old_doc)]
    ranked = rerank(
        pending, candidates, {"old": NO_FEATURES, "other": NO_FEATURES}, RerankWeights(articles=1.0)
    )
    assert [c.document.doc_id for c in ranked] == ["old", "other"]


def test_every_row_names_a_civil_code_article_with_its_phrase() -> None:
    """Each mapped 民法典 article exists and contains the phrase written beside it (catches a wrong number)."""
    book = StatuteBook.from_markdown("民法典", require(CIVIL_CODE))
    texts: dict[int, str] = {}
    for file in sorted(CIVIL_CODE.glob("*.md")):
        body = file.read_text(encoding="utf-8").split("<!-- INFO END -->")[-1]
        current = None
        for paragraph in (p.strip() for p in body.split("\n\n")):
            heading = re.match(r"第([零〇一二两三四五六七八九十百千]+)条[\s\u3000]", paragraph)
            if heading:
                current = chinese_to_int(heading[1])
                texts[current] = paragraph
            elif current and paragraph and not paragraph.startswith("#"):
                texts[current] += paragraph
    checked, wrong = 0, []
    for line in Path(TABLE).read_text(encoding="utf-8").splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) == 4 and fields[2] in ("同", "改"):
            new, phrase = int(fields[1]), fields[3]
            if CitedArticle("民法典", new) not in book or phrase not in texts[new]:
                wrong.append(line)
            checked += 1
    assert wrong == []
    assert checked >= 300
    assert all(CitedArticle("民法典", n) in book for n in civil_code_successors().values())
