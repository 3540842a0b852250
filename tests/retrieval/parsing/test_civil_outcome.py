"""诉讼请求 and outcome of civil judgments, on texts written for the test."""

from __future__ import annotations

from decimal import Decimal

import pytest

from retrieval.parsing.civil_outcome import Disposition, civil_outcome
from tests.retrieval.parsing.test_civil_sections import CIVIL

LOAN = (
    "原告甲公司向本院提出诉讼请求：1.判令被告偿还借款本金50万元；2.判令被告支付违约金20000元；"
    "3.判令被告按年利率24%支付利息。事实和理由：被告借款到期未还。被告乙辩称，利率过高。"
    "经审理查明：被告借款50万元未还。本院认为，利率超过法定上限部分不予支持。判决如下：\n"
    "一、被告乙于本判决生效之日起十日内偿还原告甲公司借款本金500,000元，并按一年期贷款市场报价利率的四倍"
    "支付自2020年1月1日起至实际清偿之日止的利息；\n二、被告乙支付原告甲公司违约金10000元；\n"
    "三、驳回原告甲公司的其他诉讼请求。\n案件受理费8800元，由被告乙负担。\n"
)


def test_claims_are_split_into_items() -> None:
    outcome = civil_outcome(LOAN)
    assert outcome.claims == (
        "判令被告偿还借款本金50万元",
        "判令被告支付违约金20000元",
        "判令被告按年利率24%支付利息",
    )


def test_partly_upheld_with_sums_penalty_and_rate() -> None:
    outcome = civil_outcome(LOAN)
    assert outcome.disposition is Disposition.PARTLY_UPHELD
    assert outcome.awarded == (Decimal(500000), Decimal(10000))  # the 受理费 is no award
    assert outcome.penalties == (Decimal(10000),)
    assert outcome.interest_rates == ("一年期贷款市场报价利率的四倍",)


def test_claims_without_colon_and_partial_support() -> None:
    outcome = civil_outcome(CIVIL)
    assert outcome.claims == ("判令被告偿还借款100000元及利息", "本案诉讼费由被告负担")
    assert outcome.disposition is Disposition.PARTLY_UPHELD
    assert outcome.awarded == (Decimal(80000),)


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ("被告于本判决生效之日起十日内支付原告货款3万元。案件受理费275元，由被告负担。", Disposition.UPHELD),
        ("驳回原告张某的诉讼请求。案件受理费50元，由原告负担。", Disposition.DISMISSED),
        ("驳回原告张某的全部诉讼请求。", Disposition.DISMISSED),
        ("准予原告张某与被告李某离婚。", Disposition.UPHELD),
        ("驳回上诉，维持原判。二审案件受理费100元，由上诉人负担。", None),
    ],
)
def test_disposition(result: str, expected: Disposition | None) -> None:
    assert civil_outcome("", result=result).disposition is expected


def test_rates_as_courts_write_them() -> None:
    result = "被告支付利息（以100000元为基数，按月利率2%计算）；被告支付逾期付款损失（按中国人民银行同期同类贷款利率计算）。"
    outcome = civil_outcome("", result=result)
    assert outcome.interest_rates == ("月利率2%", "中国人民银行同期同类贷款利率")


def test_nothing_found_is_empty() -> None:
    outcome = civil_outcome("2019年张某借款十万元。")
    assert outcome.claims == ()
    assert outcome.disposition is None
    assert outcome.awarded == ()
