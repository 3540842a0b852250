"""bench/cause_classifier_cv.py: an external training text that is a CJRC evaluation text is dropped."""

from __future__ import annotations

from index_build.recipes.cause_classifier import LabelledText
from tests.conftest import bench_module

CJRC_TEXT = (
    "经审理查明：2014年4月17日3时许，被告人潘某某、吕某伙同阿华驾驶一辆无牌摩托车，去到广州市荔湾区某村，"
    "由被告人潘某某负责驾驶摩托车，吕某负责抢夺被害人挎包，得手后逃离现场，挎包内有现金三千元及手机一部。"
)


def test_a_copy_of_an_evaluation_text_is_dropped_and_others_kept() -> None:
    bench = bench_module("cause_classifier_cv")
    rows = [{"id": "cjrc-1", "domain": "criminal", "cause": "抢夺罪", "facts": CJRC_TEXT}]
    # the same judgment as another source prints it: other party names, a sentence more, other spacing
    copy = LabelledText(
        "公诉机关指控：" + CJRC_TEXT.replace("潘某某", "潘某").replace("，", "， ") + "案发后赃物已追回。",
        ("抢夺罪",),
        "刑事",
    )
    other = LabelledText(
        "被告人张某酒后驾驶机动车，在城市道路上被民警查获，血液酒精含量为150mg/100ml。",
        ("危险驾驶罪",),
        "刑事",
    )
    kept, dropped = bench.drop_evaluation_texts([copy, other], rows)
    assert kept == [other] and dropped == 1


def test_a_label_naming_two_charges_is_both_charges_and_one_charge_stays_one() -> None:
    common = bench_module("_common")
    assert common.label_causes("盗窃罪、抢夺罪") == ("盗窃罪", "抢夺罪")
    assert common.label_causes("贩卖毒品罪、容留他人吸毒罪") == (
        "走私、贩卖、运输、制造毒品罪",
        "容留他人吸毒罪",
    )
    assert common.label_causes("走私、贩卖、运输、制造毒品罪") == ("走私、贩卖、运输、制造毒品罪",)
    assert common.label_causes("非法吸收公共存款罪") == ("非法吸收公众存款罪",)
    assert common.label_causes("民间借贷纠纷") == ("民间借贷纠纷",)
