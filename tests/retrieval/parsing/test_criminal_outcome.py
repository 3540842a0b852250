"""criminal_outcome: sentences defendant by defendant, revoked suspensions, exemptions, 累犯 and roles."""

from __future__ import annotations

from pathlib import Path

from retrieval.parsing.criminal_outcome import PenaltyKind, criminal_outcome, read_sentence
from tests.conftest import SAMPLES


def test_suspended_custodial_and_fine():
    s = read_sentence("甲", "被告人甲犯盗窃罪，判处拘役四个月，缓刑六个月，并处罚金人民币二千元。")
    assert (s.kind, s.principal, s.term_months, s.probation_months, s.fine) == (
        PenaltyKind.SUSPENDED,
        "拘役",
        4,
        6,
        2000.0,
    )
    s = read_sentence("乙", "被告人乙犯诈骗罪，判处有期徒刑三年三个月，并处罚金人民币二万元。")
    assert (s.kind, s.term_months, s.fine) == (PenaltyKind.CUSTODIAL, 39, 20000.0)


def test_revoked_suspension_is_executed_not_suspended():
    s = read_sentence(
        "甲",
        "被告人甲犯盗窃罪，判处有期徒刑六个月，撤销对被告人甲宣告的缓刑，与前罪有期徒刑一年并罚，"
        "决定执行有期徒刑一年四个月，并处罚金人民币三千元。",
    )
    assert s.kind is PenaltyKind.CUSTODIAL and s.revoked_suspension and s.term_months == 16


def test_exempted_acquitted_and_life():
    assert read_sentence("丙", "被告人丙犯故意伤害罪，免予刑事处罚。").kind is PenaltyKind.EXEMPTED
    assert read_sentence("丁", "被告人丁无罪。").kind is PenaltyKind.ACQUITTED
    life = read_sentence("戊", "被告人戊犯故意杀人罪，判处无期徒刑，剥夺政治权利终身。")
    assert life.kind is PenaltyKind.CUSTODIAL and life.principal == "无期徒刑" and life.term_months is None


def test_combined_sentence_uses_what_is_executed():
    text = (SAMPLES / "judgments" / "2022_zhe0212_xingchu_1045.txt").read_text(encoding="utf-8")
    outcome = criminal_outcome(text)
    assert [d.name for d in outcome.defendants] == ["韩立军", "蔡文博", "邵明"]
    assert [d.term_months for d in outcome.defendants] == [102, 60, 24]  # 决定执行 8年6个月, 5年; 2年
    assert [d.kind for d in outcome.defendants][-1] is PenaltyKind.SUSPENDED
    assert outcome.roles == ("主犯", "从犯") and not outcome.recidivist


def test_recidivist_read_from_reasoning_and_appeal_upheld_unread():
    text = (SAMPLES / "judgments" / "2023_zhe0106_xingchu_123.txt").read_text(encoding="utf-8")
    outcome = criminal_outcome(text)
    assert outcome.recidivist and outcome.kind is PenaltyKind.CUSTODIAL and len(outcome.defendants) == 1
    appeal = (SAMPLES / "judgments" / "2023_zhe01_xingzhong_588.txt").read_text(encoding="utf-8")
    assert criminal_outcome(appeal).kind is None


def test_every_sample_first_instance_criminal_judgment_is_read():
    for path in sorted(Path(SAMPLES / "judgments").glob("*_xingchu_*.txt")):
        outcome = criminal_outcome(path.read_text(encoding="utf-8"))
        assert outcome.kind is not None, path.name


def test_found_in_real_judgments_a_warning_is_no_revocation_and_an_exempted_count_is_not_the_sentence():
    """Two LeCaRD results (bench/criminal_outcomes.py's samples) the first version misread."""
    warned = criminal_outcome(
        "",
        result=" 一、被告人陈克志犯滥伐林木罪，判处有期徒刑一年，缓刑一年六个月，并处罚金人民币3000元。 （缓刑考验期限，"
        "从判决确定之日起计算。） 二、责令被告人陈克志在判决生效之日起六个月以内补种林木511株。 "
        "如未在限定期限内按本判决第三项补种林木并保证存活，则撤销缓刑，执行原刑罚。",
        reasoning="",
    )
    assert warned.kind is PenaltyKind.SUSPENDED and not warned.defendants[0].revoked_suspension
    several = read_sentence(
        "闫某甲",
        "被告人闫某甲犯受贿罪，判处有期徒刑八个月，缓刑一年，并处罚金人民币100000元；犯玩忽职守罪，免予刑事处罚，"
        "数罪并罚，决定执行有期徒刑八个月，缓刑一年，并处罚金人民币100000元",
    )
    assert (
        several.kind is PenaltyKind.SUSPENDED and several.term_months == 8 and several.probation_months == 12
    )


def test_wording_variants_seen_in_real_judgments():
    assert read_sentence("郁某", "被告人郁某犯危险驾驶罪，免于刑事处罚").kind is PenaltyKind.EXEMPTED
    assert read_sentence("祝世强", "被告人祝世强犯玩忽职守罪，免予处罚").kind is PenaltyKind.EXEMPTED
    fined = criminal_outcome("", result="被告韩某犯盗窃罪，判处罚金人民币一万元。", reasoning="")
    assert fined.kind is PenaltyKind.FINE_ONLY and fined.defendants[0].fine == 10000.0


def test_a_defendant_company_is_not_the_lead_defendant():
    outcome = criminal_outcome(
        "",
        result="一、被告单位某公司犯污染环境罪，判处罚金人民币十万元。二、被告人李某犯污染环境罪，判处有期徒刑一年。",
        reasoning="",
    )
    assert [d.name for d in outcome.defendants] == ["李某"] and outcome.kind is PenaltyKind.CUSTODIAL
