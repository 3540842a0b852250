"""The segmenter's index forms: jieba words, lower-cased, without stopwords and bare numbers,
whether a word's form comes from the memo or is computed, and whatever the memo's size."""

from __future__ import annotations

import pytest

from retrieval import segmenter as segmenter_module
from retrieval.segmenter import Segmenter

TEXTS = [
    "被告人张某于2019年3月5日在某超市盗窃iPhone手机一部，价值人民币5000元。",
    "原告李某与被告王某签订《借款合同》，约定月利率2%，被告逾期未还。",
    "经查，被告人主动投案，如实供述自己的罪行，系自首，依法可以从轻处罚。",
    "The defendant's QQ号 12345, 微信号 WX_abc-2020; 车牌苏A12345。",
]


def expected_tokens(segmenter: Segmenter, text: str) -> list[str]:
    """The definition, word by word, with no memo."""
    return [form for word in segmenter._jieba.cut(text, True) if (form := segmenter._form_of(word))]


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter()


def test_tokens_follow_the_definition(segmenter: Segmenter) -> None:
    for text in TEXTS * 2:  # the second round reads every form from the memo
        assert segmenter.tokens(text) == expected_tokens(segmenter, text)
    tokens = segmenter.tokens(TEXTS[3])
    assert "iphone" in segmenter.tokens(TEXTS[0])  # lower-cased
    assert "12345" not in tokens and "，" not in segmenter.tokens(TEXTS[0])  # numbers, punctuation
    assert all(token == token.lower() for token in tokens)


def test_a_full_memo_is_replaced_not_grown(segmenter: Segmenter, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = Segmenter()
    monkeypatch.setattr(segmenter_module, "_MAX_MEMO", 40)
    for text in TEXTS * 3:
        assert fresh.tokens(text) == segmenter.tokens(text)
        longest = max(len(set(fresh._jieba.cut(t, True))) for t in TEXTS)
        assert len(fresh._forms) <= 40 + longest


def test_memo_keeps_one_string_per_word(segmenter: Segmenter) -> None:
    segmenter.tokens("被告人盗窃")
    word = next(w for w in segmenter._forms if w == "被告人")
    assert segmenter._forms[word] is word  # already lower case: the word itself, not a copy
