"""The build's shortcuts must not change what is indexed: shared facts tokens, the training sample."""

from __future__ import annotations

from pathlib import Path

from index_build.build import full_text_tokens
from index_build.recipes.static_embedder import training_sample
from retrieval.segmenter import default_segmenter
from tests.conftest import distinct_lecard_candidates


def test_full_text_tokens_reusing_the_facts_equal_segmenting_the_whole_text():
    segmenter = default_segmenter()
    for data in distinct_lecard_candidates(40):
        full, facts = data["qw"], data["ajjbqk"].strip()
        reused = full_text_tokens(segmenter, full, facts, segmenter.tokens(facts))
        assert reused == segmenter.tokens(full)


def test_facts_glued_to_a_word_are_segmented_with_the_whole_text():
    segmenter = default_segmenter()
    full = "被告人张三盗窃现金人民币五千元"
    facts = "盗窃现金"  # inside a run of CJK: no block boundary, so no reuse
    assert full_text_tokens(segmenter, full, facts, ["不", "应", "出现"]) == segmenter.tokens(full)


def testtraining_sample_is_an_even_stride_and_only_above_the_cap(tmp_path: Path):
    tokens = tmp_path / "facts.txt"
    tokens.write_text("".join(f"doc{i} 盗窃\n" for i in range(10)), encoding="utf-8")
    sample, kept, total = training_sample(tokens, 3, tmp_path / "sample.txt")
    assert (kept, total) == (3, 10)
    assert sample.read_text(encoding="utf-8").split() == ["doc0", "盗窃", "doc4", "盗窃", "doc8", "盗窃"]
    assert training_sample(tokens, 10, tmp_path / "unused.txt") == (tokens, 10, 10)
    assert training_sample(tokens, None, tmp_path / "unused.txt") == (tokens, 10, 10)
