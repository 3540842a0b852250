"""The trained 罪名/案由 classifier: category constraint, named causes as evidence, top 3, determinism."""

from __future__ import annotations

import hashlib
import json
import statistics
from pathlib import Path

import numpy as np
import pytest

from index_build.recipes.cause_classifier import (
    ClassifierRecipe,
    LabelledText,
    labelled_documents,
    train,
    write,
)
from retrieval.cause_model import CauseModel, CauseModelError
from retrieval.charge_prediction import predict, predict_with_model
from retrieval.request import SearchFilters, SearchRequest
from retrieval.search import pending_category
from tests.conftest import SHARED_DATA

TINY = [
    LabelledText("被告人张某趁夜潜入被害人家中，窃取现金两千元及手机一部，后被抓获。", ("盗窃罪",), "刑事"),
    LabelledText("被告人李某在超市内秘密窃取商品，价值一千元，被保安当场抓获。", ("盗窃罪",), "刑事"),
    LabelledText("被告人王某因琐事与被害人争吵，持刀将其捅伤，经鉴定为轻伤二级。", ("故意伤害罪",), "刑事"),
    LabelledText("被告人赵某酒后殴打被害人，致其鼻骨骨折，经鉴定为轻伤一级。", ("故意伤害罪",), "刑事"),
    LabelledText(
        "原告向被告出借款项十万元，约定月利率一分，到期后被告未归还借款本息。", ("民间借贷纠纷",), "民事"
    ),
    LabelledText("被告向原告借款五万元并出具借条，原告多次催要，被告至今未还款。", ("民间借贷纠纷",), "民事"),
    LabelledText(
        "原告在被告经营的酒店就餐时被他人持刀刺伤，原告认为酒店未尽安全保障义务，应承担赔偿责任。",
        ("违反安全保障义务责任纠纷",),
        "民事",
    ),
    LabelledText(
        "原告在被告商场内滑倒受伤，商场地面湿滑未设警示标志，未尽到安全保障义务。",
        ("违反安全保障义务责任纠纷",),
        "民事",
    ),
]
RECIPE = ClassifierRecipe(min_df=1)
CIVIL_STABBING = (
    "原告在被告经营的饭店用餐时被第三人持刀刺伤，公诉机关指控第三人犯故意伤害罪。"
    "原告认为饭店未尽到安全保障义务，要求饭店承担赔偿责任。"
)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> CauseModel:
    return CauseModel.load(write(train(TINY, RECIPE), tmp_path_factory.mktemp("cause") / "model"))


def test_category_limits_the_labels(model: CauseModel) -> None:
    theft = "被告人潜入他人家中窃取财物。"
    assert predict_with_model(theft, model)[0].name == "盗窃罪"
    civil = predict_with_model(theft, model, category="民事")
    assert civil and all(p.name.endswith("纠纷") for p in civil)
    criminal = predict_with_model("原告出借款项，被告到期未还借款。", model, category="刑事")
    assert criminal and all(p.name.endswith("罪") for p in criminal)


def test_a_charge_named_in_civil_facts_is_evidence_not_the_answer(model: CauseModel) -> None:
    predicted = predict_with_model(CIVIL_STABBING, model, category="民事")
    assert predicted[0].name == "违反安全保障义务责任纠纷"
    # even with no category known, the quoted 指控 does not override what the facts are about
    assert predict_with_model(CIVIL_STABBING, model)[0].name == "违反安全保障义务责任纠纷"
    # and it is evidence: 故意伤害罪 is marked as named in the text where it is predicted at all
    criminal = predict_with_model(CIVIL_STABBING, model, category="刑事")
    assert criminal[0].name == "故意伤害罪" and criminal[0].source == "model+text"


def test_top_three_ordered_with_confidences(model: CauseModel) -> None:
    predicted = predict_with_model("被告向原告借款并出具借条，到期未还。", model)
    # read as civil: TINY's two 案由, then a cause of the 案由 tree; never a 罪名 in third place
    assert [(p.name, p.source) for p in predicted] == [
        ("民间借贷纠纷", "model"),
        ("违反安全保障义务责任纠纷", "model"),
        # the child of the model's second label: the parent back-off lifts it above other tree causes
        ("经营场所、公共场所的经营者、管理者责任纠纷", "tree"),
    ]
    shares = [p.share for p in predicted]
    assert shares == sorted(shares, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in shares) and sum(shares) <= 1.0 + 1e-9


def test_a_cause_the_model_never_saw_is_proposed_by_its_name(model: CauseModel) -> None:
    facts = "原告将车辆交由被告保管，被告保管不善致车辆丢失，原告要求被告赔偿。"
    ranked = {p.name: p for p in predict_with_model(facts, model, category="民事", top=2000)}
    assert ranked["保管合同纠纷"].source == "tree"
    # the facts hold 保管, not 离婚 or 车辆租赁: the name is the evidence
    assert ranked["保管合同纠纷"].share > ranked["离婚纠纷"].share
    assert ranked["保管合同纠纷"].share > ranked["车辆租赁合同纠纷"].share
    # and without the tree the model's own labels are all there is
    plain = predict_with_model(facts, model, category="民事", top=2000, tree_evidence=False)
    assert {p.name for p in plain} == {"民间借贷纠纷", "违反安全保障义务责任纠纷"}


def test_the_tree_never_crosses_into_criminal_labels(model: CauseModel) -> None:
    facts = "原告将车辆交由被告保管，被告保管不善致车辆丢失。"
    predicted = predict_with_model(facts, model, category="刑事", top=2000)
    assert {p.name for p in predicted} == {"盗窃罪", "故意伤害罪"}
    assert all(p.source.startswith("model") for p in predicted)


def test_each_model_predicts_with_its_own_labels(tmp_path: Path) -> None:
    # the candidates are laid out once per loaded model: a second model must not reuse the first's
    first = CauseModel.load(write(train(TINY, RECIPE), tmp_path / "a"))
    loans_only = [t for t in TINY if t.causes != ("违反安全保障义务责任纠纷",)]
    second = CauseModel.load(write(train(loans_only, RECIPE), tmp_path / "b"))
    facts = "原告在被告商场内滑倒受伤。"
    assert "违反安全保障义务责任纠纷" in {p.name for p in predict_with_model(facts, first, "民事", top=2)}
    again = predict_with_model(facts, second, "民事", top=2000)
    assert next(p for p in again if p.name == "违反安全保障义务责任纠纷").source == "tree"
    assert {p.name for p in predict_with_model(facts, second, "民事", tree_evidence=False)} == {
        "民间借贷纠纷"
    }


def test_training_is_deterministic(tmp_path: Path) -> None:
    def digest(folder: Path) -> dict[str, str]:
        return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["files"]

    first = write(train(TINY, RECIPE), tmp_path / "a")
    second = write(train(list(TINY), RECIPE), tmp_path / "b")
    assert digest(first) == digest(second)
    assert (
        hashlib.sha256((first / "weights.npz").read_bytes()).digest()
        == hashlib.sha256((second / "weights.npz").read_bytes()).digest()
    )


def test_no_model_falls_back_to_the_vote_within_the_category() -> None:
    # without a classifier, a 罪名 named in civil facts is still not taken when the case is civil
    assert all(not p.name.endswith("罪") for p in predict(CIVIL_STABBING, [], category="民事"))
    assert [p.name for p in predict(CIVIL_STABBING, [])] == ["故意伤害罪"]  # today's behaviour


def test_a_broken_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CauseModelError):
        CauseModel.load(tmp_path)
    with pytest.raises(ValueError, match="no labelled texts"):
        train([], RECIPE)


def test_pending_category_from_case_number_or_filter() -> None:
    assert pending_category(SearchRequest(facts="x", case_number="（2020）京0105民初123号")) == "民事"
    assert pending_category(SearchRequest(facts="x", case_number="(2019)浙0483刑初5号")) == "刑事"
    assert pending_category(SearchRequest(facts="x", case_number="不是案号")) is None
    assert pending_category(SearchRequest(facts="x", filters=SearchFilters(categories=("行政",)))) == "行政"  # type: ignore[arg-type]
    assert pending_category(SearchRequest(facts="x")) is None


CJRC = SHARED_DATA / "cail2019-cjrc-dev" / "docs.jsonl"
SPC = CJRC.parents[1] / "spc-cases-xtjeyvc" / "doc"
# Measured 5-fold (seed 7, trained with the SPC guiding/公报 cases) by bench/cause_classifier_cv.py
# --extra spc on 2026-12-07 with the format-2 linear SVM: first prediction right for civil 0.413,
# criminal 0.410 (format 1's ridge: 0.361 / 0.334); with the 案由 tree's name and parent evidence
# (2026-12-08) civil 0.433 (0.413 without it in the same run), criminal unchanged. The floors sit below.
FLOORS = {"civil": 0.38, "criminal": 0.38}


@pytest.mark.slow
@pytest.mark.skipif(not CJRC.exists(), reason="CJRC dev data not available")
def test_cjrc_cross_validated_accuracy_stays_above_the_floor(tmp_path: Path) -> None:
    rows = [json.loads(line) for line in CJRC.read_text(encoding="utf-8").splitlines() if line.strip()]
    extra = labelled_documents([SPC]) if SPC.exists() else []
    folds = np.random.default_rng(7).permutation(len(rows)) % 5
    category = {"civil": "民事", "criminal": "刑事"}
    hits: dict[str, list[float]] = {"civil": [], "criminal": []}
    for fold in range(5):
        training = [
            LabelledText(r["facts"], (r["cause"],), category[r["domain"]])
            for r, f in zip(rows, folds, strict=True)
            if f != fold
        ]
        model = CauseModel.load(write(train(training + extra), tmp_path / f"fold{fold}"))
        for r, f in zip(rows, folds, strict=True):
            if f == fold:
                first = predict_with_model(r["facts"], model)[:1]
                hits[r["domain"]].append(float(bool(first) and first[0].name == r["cause"]))
    for domain, floor in FLOORS.items():
        assert statistics.fmean(hits[domain]) >= floor, (domain, statistics.fmean(hits[domain]))


def test_search_predicts_with_the_index_model(sample_index: Path, model: CauseModel) -> None:
    from retrieval.index_store import IndexStore
    from retrieval.search import search

    store = IndexStore.open(sample_index, cause_model_folder=model.folder)
    try:
        request = SearchRequest(facts=CIVIL_STABBING, case_number="（2020）京0105民初123号", tiering=False)
        predicted = search(store, request).predicted_causes
    finally:
        store.close()
    assert predicted and predicted[0].source.startswith("model")
    assert all(p.source.split("+")[0] in {"model", "tree"} for p in predicted)
    assert not any(p.name.endswith("罪") for p in predicted)  # a 民初 case is never given a 罪名


def test_a_build_carries_a_checked_copy_of_the_model(tmp_path: Path, model: CauseModel) -> None:
    from index_build.build import copy_cause_model
    from retrieval.index_store import CAUSE_MODEL_DIR

    copy_cause_model(model.folder, tmp_path / "build")
    assert CauseModel.load(tmp_path / "build" / CAUSE_MODEL_DIR).labels == model.labels
    with pytest.raises(CauseModelError):
        copy_cause_model(tmp_path / "missing", tmp_path / "other")
