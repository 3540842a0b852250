"""Art. 4 tiers relative to the requesting court, the three-year preference and Art. 9 effect labels."""

from __future__ import annotations

import datetime as dt

import pytest

from index_build.readers.detect import read_any
from retrieval.document import Authority, AuthorityKind, Court, Document
from retrieval.guidance import DecisionLabel
from retrieval.parsing.courts import parse_court, same_court, superior_court_name
from retrieval.tiers import (
    GUIDING_CANDIDATE,
    MAY_REFER,
    MUST_REFER,
    NOT_APPLIED,
    NOT_CITABLE,
    Tier,
    assign_tier,
    effect_label,
    is_citable,
    is_recent,
    order_by_tier,
)
from tests.conftest import SAMPLE_INPUTS

TODAY = dt.date(2025, 6, 30)

G, S, P, U, X = (
    Tier.GUIDING,
    Tier.SPC,
    Tier.PROVINCIAL_HIGH,
    Tier.SUPERIOR_AND_SELF,
    Tier.OTHER,
)


def doc(
    doc_id: str,
    court: str | None,
    kind: AuthorityKind = AuthorityKind.ORDINARY,
    decided: dt.date | None = dt.date(2024, 1, 1),
    *,
    withdrawn: bool = False,
    published: dt.date | None = None,
) -> Document:
    return Document(
        doc_id=doc_id,
        court=parse_court(court) if court else None,
        decision_date=decided,
        authority=Authority(kind=kind, published=published, withdrawn=withdrawn),
    )


DOCS: dict[str, Document] = {
    d.doc_id: d
    for d in [
        doc("guiding", "浙江省温州市鹿城区人民法院", AuthorityKind.GUIDING, dt.date(2012, 5, 1)),
        doc("spc-typical", "广东省广州市中级人民法院", AuthorityKind.SPC_TYPICAL),
        doc("case-db", "江苏省苏州市姑苏区人民法院", AuthorityKind.CASE_DATABASE),
        doc("spc", "最高人民法院"),
        doc("spc-circuit", "最高人民法院第一巡回法庭"),
        doc("zj-ref-high", "浙江省高级人民法院", AuthorityKind.PROVINCIAL_REFERENCE),
        doc("zj-ref-basic", "浙江省宁波市鄞州区人民法院", AuthorityKind.PROVINCIAL_REFERENCE),
        doc("zj-high", "浙江省高级人民法院"),
        doc("js-ref", "江苏省高级人民法院", AuthorityKind.PROVINCIAL_REFERENCE),
        doc("js-high", "江苏省高级人民法院"),
        doc("hz-int", "浙江省杭州市中级人民法院"),
        doc("hz-int-short", "杭州市中级人民法院"),  # printed without the province
        doc("xihu", "浙江省杭州市西湖区人民法院"),
        doc("gongshu", "浙江省杭州市拱墅区人民法院"),  # a sibling basic court: not tier 4
        doc("nb-int", "浙江省宁波市中级人民法院"),
        doc("nj-int", "江苏省南京市中级人民法院"),
        doc("gulou", "江苏省南京市鼓楼区人民法院"),
        doc("no-court", None),
    ]
}

REQUESTING: dict[str, Court | None] = {
    "xihu": parse_court("浙江省杭州市西湖区人民法院"),
    "hz-int": parse_court("浙江省杭州市中级人民法院"),
    "zj-high": parse_court("浙江省高级人民法院"),
    "gulou": parse_court("江苏省南京市鼓楼区人民法院"),
    "spc": parse_court("最高人民法院"),
    "none": None,
}

# One row per document, one column per requesting court (the order of REQUESTING).
#                  xihu hz-int zj-high gulou spc none
EXPECTED: dict[str, tuple[Tier, ...]] = {
    "guiding":      (G, G, G, G, G, G),
    "spc-typical":  (S, S, S, S, S, S),
    "case-db":      (S, S, S, S, S, S),
    "spc":          (S, S, S, S, S, S),
    "spc-circuit":  (S, S, S, S, S, S),
    "zj-ref-high":  (P, P, P, X, X, X),
    "zj-ref-basic": (P, P, P, X, X, X),
    "zj-high":      (P, P, P, X, X, X),
    "js-ref":       (X, X, X, P, X, X),
    "js-high":      (X, X, X, P, X, X),
    "hz-int":       (U, U, X, X, X, X),
    "hz-int-short": (U, U, X, X, X, X),
    "xihu":         (U, X, X, X, X, X),
    "gongshu":      (X, X, X, X, X, X),
    "nb-int":       (X, X, X, X, X, X),
    "nj-int":       (X, X, X, U, X, X),
    "gulou":        (X, X, X, U, X, X),
    "no-court":     (X, X, X, X, X, X),
}  # fmt: skip


def test_expected_table_covers_every_document() -> None:
    assert set(EXPECTED) == set(DOCS)
    assert all(len(row) == len(REQUESTING) for row in EXPECTED.values())


@pytest.mark.parametrize("column", range(len(REQUESTING)), ids=list(REQUESTING))
def test_tiers_relative_to_requesting_court(column: int) -> None:
    court = list(REQUESTING.values())[column]
    got = {doc_id: assign_tier(d, court) for doc_id, d in DOCS.items()}
    assert got == {doc_id: row[column] for doc_id, row in EXPECTED.items()}


def test_requesting_court_given_without_province_or_level() -> None:
    """A bare ``Court(name)`` and a name without the province give the same tiers as the full form."""
    full = [assign_tier(d, REQUESTING["xihu"]) for d in DOCS.values()]
    assert [assign_tier(d, Court("杭州市西湖区人民法院")) for d in DOCS.values()] == full
    assert [assign_tier(d, Court("浙江省杭州市西湖区人民法院")) for d in DOCS.values()] == full


def test_document_court_without_level_or_province_is_read_from_name() -> None:
    bare = Document("bare-high", court=Court("浙江省高级人民法院"))
    assert assign_tier(bare, REQUESTING["xihu"]) is Tier.PROVINCIAL_HIGH
    assert assign_tier(Document("bare-spc", court=Court("最高人民法院")), None) is Tier.SPC


def test_reference_case_without_court_is_other() -> None:
    ref = doc("ref-no-court", None, AuthorityKind.PROVINCIAL_REFERENCE)
    assert assign_tier(ref, REQUESTING["xihu"]) is Tier.OTHER


def test_tier_labels() -> None:
    assert [t.label for t in Tier] == [
        "指导性案例",
        "最高人民法院典型案例及裁判",
        "本省高级人民法院参考性案例及裁判",
        "上一级法院及本院裁判",
        "其他",
    ]
    assert Tier.GUIDING < Tier.OTHER and int(Tier.SUPERIOR_AND_SELF) == 4


# --------------------------------------------------------------------------- recency and ordering


def test_recent_case_before_older_in_same_tier_but_not_in_tier_one() -> None:
    items = [
        doc("old-other", "广东省深圳市南山区人民法院", decided=dt.date(2020, 6, 1)),  # 5 years
        doc("guiding-2023", "江苏省南京市秦淮区人民法院", AuthorityKind.GUIDING, dt.date(2023, 1, 1)),
        doc("recent-other", "四川省成都市武侯区人民法院", decided=dt.date(2023, 6, 1)),  # 2 years
        doc("guiding-2012", "浙江省温州市鹿城区人民法院", AuthorityKind.GUIDING, dt.date(2012, 5, 1)),
        doc("old-spc", "最高人民法院", decided=dt.date(2019, 1, 1)),
        doc("recent-spc", "最高人民法院", decided=dt.date(2024, 12, 16)),
    ]
    result = order_by_tier(items, lambda d: d, REQUESTING["xihu"], TODAY)
    assert [(d.doc_id, tier, recent) for d, tier, recent in result.ordered] == [
        ("guiding-2023", G, True),  # tier 1 keeps the similarity order, whatever the dates
        ("guiding-2012", G, False),
        ("recent-spc", S, True),
        ("old-spc", S, False),
        ("recent-other", X, True),
        ("old-other", X, False),
    ]
    assert result.first_tier_with_results is Tier.GUIDING
    assert result.counts == {G: 2, S: 2, P: 0, U: 0, X: 2}
    assert result.groups()[X] == [items[2], items[0]]


def test_recency_off_keeps_given_order_within_tier() -> None:
    items = [
        doc("old", "广东省深圳市南山区人民法院", decided=dt.date(2020, 6, 1)),
        doc("recent", "四川省成都市武侯区人民法院", decided=dt.date(2023, 6, 1)),
    ]
    result = order_by_tier(items, lambda d: d, REQUESTING["xihu"], TODAY, recency_years=None)
    assert [(d.doc_id, recent) for d, _, recent in result.ordered] == [("old", False), ("recent", False)]


def test_order_by_tier_on_scored_pairs_and_first_tier() -> None:
    pairs = [(0.9, DOCS["gongshu"]), (0.8, DOCS["xihu"]), (0.7, DOCS["zj-high"])]
    result = order_by_tier(pairs, lambda pair: pair[1], REQUESTING["xihu"], TODAY)
    assert [score for (score, _), _, _ in result.ordered] == [0.7, 0.8, 0.9]
    assert result.first_tier_with_results is Tier.PROVINCIAL_HIGH
    empty = order_by_tier([], lambda d: d, REQUESTING["xihu"], TODAY)
    assert empty.ordered == [] and empty.first_tier_with_results is None
    assert sum(empty.counts.values()) == 0


@pytest.mark.parametrize(
    ("decided", "published", "expected"),
    [
        (dt.date(2022, 6, 30), None, True),  # exactly three years: still within
        (dt.date(2022, 6, 29), None, False),
        (None, dt.date(2024, 1, 1), True),  # no decision date: the publication date
        (dt.date(2012, 1, 1), dt.date(2024, 1, 1), False),  # the decision date wins
        (None, None, False),  # unknown: not recent
    ],
)
def test_is_recent(decided: dt.date | None, published: dt.date | None, expected: bool) -> None:
    d = doc("d", None, AuthorityKind.SPC_TYPICAL, decided, published=published)
    assert is_recent(d, TODAY) is expected


def test_is_recent_on_29_february() -> None:
    assert is_recent(doc("d", None, decided=dt.date(2021, 2, 28)), dt.date(2024, 2, 29))
    assert not is_recent(doc("d", None, decided=dt.date(2021, 2, 27)), dt.date(2024, 2, 29))


# --------------------------------------------------------------------------- withdrawn and labels


def test_withdrawn_guiding_case_is_not_returned() -> None:
    withdrawn = doc("guiding-9", "江苏省高级人民法院", AuthorityKind.GUIDING, withdrawn=True)
    items = [withdrawn, DOCS["guiding"], DOCS["xihu"]]
    result = order_by_tier(items, lambda d: d, REQUESTING["xihu"], TODAY)
    assert withdrawn not in result.items()
    assert [d.doc_id for d in result.items()] == ["guiding", "xihu"]
    assert result.dropped_withdrawn == 1
    assert result.counts[Tier.GUIDING] == 1
    assert not is_citable(withdrawn)
    assert effect_label(withdrawn) == NOT_CITABLE


def test_only_withdrawn_gives_no_result() -> None:
    withdrawn = doc("w", "最高人民法院", AuthorityKind.SPC_TYPICAL, withdrawn=True)
    result = order_by_tier([withdrawn], lambda d: d, None, TODAY)
    assert result.ordered == [] and result.first_tier_with_results is None
    assert result.dropped_withdrawn == 1


SIMILAR, NOT_SIMILAR = DecisionLabel.SIMILAR, DecisionLabel.NOT_SIMILAR


@pytest.mark.parametrize(
    ("kind", "withdrawn", "mark", "label"),
    [
        # Art. 9: a guiding case binds only when it is a similar case, which is the judge's finding
        (AuthorityKind.GUIDING, False, None, GUIDING_CANDIDATE),
        (AuthorityKind.GUIDING, False, SIMILAR, MUST_REFER),
        (AuthorityKind.GUIDING, False, NOT_SIMILAR, NOT_APPLIED),
        (AuthorityKind.GUIDING, True, None, NOT_CITABLE),
        (AuthorityKind.GUIDING, True, SIMILAR, NOT_CITABLE),
        (AuthorityKind.SPC_TYPICAL, False, None, MAY_REFER),
        (AuthorityKind.SPC_TYPICAL, False, SIMILAR, MAY_REFER),
        (AuthorityKind.SPC_TYPICAL, False, NOT_SIMILAR, NOT_APPLIED),
        (AuthorityKind.CASE_DATABASE, False, None, MAY_REFER),
        (AuthorityKind.PROVINCIAL_REFERENCE, False, None, MAY_REFER),
        (AuthorityKind.ORDINARY, False, None, MAY_REFER),
        (AuthorityKind.SPC_TYPICAL, True, None, NOT_CITABLE),
    ],
)
def test_effect_label(kind: AuthorityKind, withdrawn: bool, mark: DecisionLabel | None, label: str) -> None:
    assert effect_label(doc("d", "最高人民法院", kind, withdrawn=withdrawn), mark) == label
    assert (MUST_REFER, MAY_REFER, GUIDING_CANDIDATE) == (
        "应当参照",
        "可以参考",
        "经比对属于类案的，应当参照",
    )


def test_effect_label_refuses_an_unknown_mark() -> None:
    with pytest.raises(ValueError):
        effect_label(doc("d", "最高人民法院", AuthorityKind.GUIDING), "相似")


# --------------------------------------------------------------------------- court names


@pytest.mark.parametrize(
    ("name", "superior"),
    [
        # 区 courts → the city's 中级人民法院
        ("浙江省杭州市西湖区人民法院", "浙江省杭州市中级人民法院"),
        ("浙江省宁波市鄞州区人民法院", "浙江省宁波市中级人民法院"),
        ("江苏省苏州市姑苏区人民法院", "江苏省苏州市中级人民法院"),
        ("江苏省南京市鼓楼区人民法院", "江苏省南京市中级人民法院"),
        ("广东省深圳市南山区人民法院", "广东省深圳市中级人民法院"),
        ("广东省佛山市南海区人民法院", "广东省佛山市中级人民法院"),
        ("吉林省吉林市船营区人民法院", "吉林省吉林市中级人民法院"),
        ("江苏省苏州市吴江区人民法院", "江苏省苏州市中级人民法院"),
        # 县/市 courts: only when the prefecture is printed
        ("浙江省杭州市淳安县人民法院", "浙江省杭州市中级人民法院"),
        ("浙江省淳安县人民法院", None),
        ("浙江省桐乡市人民法院", None),
        ("江苏省昆山市人民法院", None),
        ("广东省东莞市第一人民法院", "广东省东莞市中级人民法院"),  # a city without districts
        ("海南省三亚市城郊人民法院", "海南省三亚市中级人民法院"),
        ("内蒙古自治区锡林郭勒盟锡林浩特市人民法院", "内蒙古自治区锡林郭勒盟中级人民法院"),
        ("新疆维吾尔自治区阿克苏地区库车县人民法院", "新疆维吾尔自治区阿克苏地区中级人民法院"),
        ("青海省海南藏族自治州共和县人民法院", "青海省海南藏族自治州中级人民法院"),
        # special basic courts
        ("江苏省苏州工业园区人民法院", "江苏省苏州市中级人民法院"),
        ("广东省深圳前海合作区人民法院", "广东省深圳市中级人民法院"),
        ("杭州互联网法院", "浙江省杭州市中级人民法院"),
        ("杭州铁路运输法院", None),  # under 上海铁路运输中级法院, not 杭州中院
        ("上海铁路运输法院", None),
        ("浙江省杭州市西湖区人民法院留下人民法庭", "浙江省杭州市中级人民法院"),
        # municipalities: several numbered 中级法院
        ("北京市海淀区人民法院", None),
        ("上海市浦东新区人民法院", None),
        ("北京互联网法院", None),
        # no province prefix
        ("杭州市西湖区人民法院", "浙江省杭州市中级人民法院"),
        ("吉林市船营区人民法院", "吉林省吉林市中级人民法院"),
        ("牡丹江市东安区人民法院", "牡丹江市中级人民法院"),  # province unknown, city printed
        ("西湖区人民法院", None),
        ("辽河人民法院", None),
        # upper levels
        ("浙江省杭州市中级人民法院", "浙江省高级人民法院"),
        ("杭州市中级人民法院", "浙江省高级人民法院"),
        ("北京知识产权法院", "北京市高级人民法院"),
        ("广州海事法院", "广东省高级人民法院"),
        ("新疆生产建设兵团第一师中级人民法院", "新疆维吾尔自治区高级人民法院生产建设兵团分院"),
        ("浙江省高级人民法院", "最高人民法院"),
        ("最高人民法院", None),
        ("中国人民解放军东部战区军事法院", None),
    ],
)
def test_superior_court_name(name: str, superior: str | None) -> None:
    assert superior_court_name(parse_court(name)) == superior
    assert superior_court_name(Court(name)) == superior  # level and province read from the name


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("浙江省杭州市中级人民法院", "浙江省杭州市中级人民法院", True),
        ("杭州市中级人民法院", "浙江省杭州市中级人民法院", True),
        ("浙江 省杭州市中级人民法院", "中华人民共和国浙江省杭州市中级人民法院", True),
        ("浙江省杭州市西湖区人民法院留下人民法庭", "浙江省杭州市西湖区人民法院", True),
        ("北京市海淀区人民法院", "海淀区人民法院", True),
        ("上海市第一中级人民法院", "重庆市第一中级人民法院", False),
        ("第一中级人民法院", "上海市第一中级人民法院", False),
        ("浙江省杭州市西湖区人民法院", "浙江省杭州市拱墅区人民法院", False),
        ("浙江省高级人民法院", "江苏省高级人民法院", False),
        ("", "浙江省高级人民法院", False),
    ],
)
def test_same_court(a: str, b: str, same: bool) -> None:
    assert same_court(a, b) is same
    assert same_court(b, a) is same


# --------------------------------------------------------------------------- sample corpus


def test_sample_corpus_relative_to_xihu_court() -> None:
    docs = [item for path in SAMPLE_INPUTS for item in read_any(path) if isinstance(item, Document)]
    tiers = {d.doc_id: assign_tier(d, parse_court("浙江省杭州市西湖区人民法院")) for d in docs}
    expected = {
        "guiding-901": G,
        "guiding-902": G,
        "guiding-903": G,
        "txt-2024_zuigaofa_minzai_56": S,
        "extra-spc-typical-2024-labour": S,
        "extra-zj-ref-2023-07": P,
        "txt-2022_zhe01_xingzhong_456": U,
        "txt-2023_zhe01_minzhong_1024": U,
        "txt-2023_zhe01_xingzhong_588": U,
        "txt-2023_zhe0106_xingchu_123": U,
    }
    assert {k: v for k, v in tiers.items() if v is not X} == expected
    assert len(tiers) == 31  # the other 21 (other 浙江 courts, 江苏/广东 High Courts …) are "other"

    result = order_by_tier(docs, lambda d: d, parse_court("浙江省杭州市西湖区人民法院"), TODAY)
    assert result.counts == {G: 3, S: 2, P: 1, U: 4, X: 21}
    assert [d.doc_id for d, _, _ in result.ordered[:3]] == ["guiding-901", "guiding-902", "guiding-903"]
    assert all(effect_label(d) == GUIDING_CANDIDATE for d, tier, _ in result.ordered if tier is G)
    tier4 = [(d.doc_id, recent) for d, tier, recent in result.ordered if tier is U]
    assert tier4 == [  # within three years of 2025-06-30 first, then the rest, each in input order
        ("txt-2023_zhe01_minzhong_1024", True),
        ("txt-2023_zhe01_xingzhong_588", True),
        ("txt-2023_zhe0106_xingchu_123", True),
        ("txt-2022_zhe01_xingzhong_456", False),
    ]
