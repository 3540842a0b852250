"""Format 2 of the 罪名/案由 classifier: version check, category never crossed, word features,
the service's LEIAN_CAUSE_MODEL override, and an accuracy floor on held-out CAIL2018 facts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from api.service.config import Settings
from index_build.recipes.cause_classifier import (
    ClassifierRecipe,
    LabelledText,
    labelled_documents,
    train,
    write,
)
from retrieval.cause_model import MANIFEST, CauseModel, CauseModelError
from retrieval.charge_prediction import predict_with_model
from retrieval.parsing.cause_tree import load_cause_tree
from tests.conftest import SHARED_DATA
from tests.retrieval.test_cause_model import TINY

RECIPE = ClassifierRecipe(min_df=1)
PROBES = [
    "被告人潜入他人家中窃取财物。",
    "原告出借款项，被告到期未还借款。",
    "原告在商场滑倒受伤，公诉机关指控被告人犯故意伤害罪。",
    "被告人持刀将被害人捅伤。",
    "借条",
    "某某",
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(train(TINY, RECIPE), tmp_path_factory.mktemp("cause") / "model")


def test_an_older_format_is_refused_with_what_to_do(folder: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    (old / MANIFEST).write_text(json.dumps({**manifest, "format": 1}), encoding="utf-8")
    with pytest.raises(CauseModelError, match=r"format 1.*retrain"):
        CauseModel.load(old)


def test_weights_that_disagree_with_the_labels_are_refused(folder: Path, tmp_path: Path) -> None:
    import shutil

    broken = shutil.copytree(folder, tmp_path / "broken")
    labels = json.loads((broken / "labels.json").read_text(encoding="utf-8"))
    labels["causes"] = labels["causes"][:-1]
    (broken / "labels.json").write_text(json.dumps(labels, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(CauseModelError, match="weight columns"):
        CauseModel.load(broken)


@pytest.mark.parametrize("category", [None, "刑事", "民事"])
def test_the_three_never_cross_a_category(folder: Path, category: str | None) -> None:
    model = CauseModel.load(folder)
    kinds = {label.name: label.category for label in model.labels}
    tree = load_cause_tree()
    for text in PROBES:
        predicted = predict_with_model(text, model, category=category)
        # a cause proposed from the 案由 tree (source "tree") is of the tree's system
        found = {
            kinds[p.name] if p.source.startswith("model") else tree.nodes[p.name].system for p in predicted
        }
        assert len(found) == 1, (text, predicted)
        if category is not None:
            assert found == {category}
        else:
            assert found == {model.scored(text)[1]}


def test_the_category_is_read_from_the_facts(folder: Path) -> None:
    model = CauseModel.load(folder)
    assert model.scored("被告人张某窃取被害人手机。")[1] == "刑事"
    assert model.scored("原告向被告出借款项，被告未还。")[1] == "民事"


def test_word_ngrams_are_tied_to_the_segmenter(tmp_path: Path) -> None:
    folder = write(train(TINY, ClassifierRecipe(min_df=1, word_ngram_max=2)), tmp_path / "words")
    model = CauseModel.load(folder)
    assert any(word.startswith("\x01") for word in model.vocabulary)
    assert predict_with_model("被告人趁夜窃取他人财物", model)[0].name == "盗窃罪"
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    (folder / MANIFEST).write_text(json.dumps({**manifest, "segmenter": "other"}), encoding="utf-8")
    with pytest.raises(CauseModelError, match="segmenter"):
        CauseModel.load(folder)


def test_the_service_takes_a_model_from_the_environment(tmp_path: Path) -> None:
    assert Settings.from_env({"LEIAN_CAUSE_MODEL": str(tmp_path)}).cause_model == tmp_path
    assert Settings.from_env({}).cause_model is None


CAIL = SHARED_DATA / "cail2018-sample" / "data"


@pytest.mark.slow
@pytest.mark.skipif(not CAIL.exists(), reason="CAIL2018 sample not available")
def test_held_out_cail_charges_stay_above_a_floor(tmp_path: Path) -> None:
    # The sample's own train/test files hold different charges (175 of 1,396 test facts have a charge
    # the train file has), so a fixed fifth of the pooled sample (seed 7) is held out instead. Measured
    # 2026-12-07 with the default recipe: 0.875 first prediction right over the 1,015 held out.
    texts = labelled_documents([CAIL / "data_train.utf8.json", CAIL / "data_test.json"])
    held = np.random.default_rng(7).permutation(len(texts)) % 5 == 0
    training = [t for t, h in zip(texts, held, strict=True) if not h]
    held_out = [t for t, h in zip(texts, held, strict=True) if h]
    model = CauseModel.load(write(train(training), tmp_path / "cail"))
    right = [predict_with_model(t.facts, model, category="刑事")[0].name in t.causes for t in held_out]
    assert len(held_out) > 900
    assert sum(right) / len(right) >= FLOOR, sum(right) / len(right)


FLOOR = 0.8


def test_the_service_serves_the_model_it_is_given(sample_index: Path, folder: Path, tmp_path: Path) -> None:
    from api.service.metrics import Metrics
    from api.service.runtime import Services

    settings = Settings(index_home=sample_index, data_dir=tmp_path / "data", cause_model=folder)
    services = Services.start(settings, Metrics())
    try:
        assert services.store is not None and services.store.cause_model is not None
        assert services.store.cause_model.folder == folder
    finally:
        services.close()
    old = tmp_path / "old"
    old.mkdir()
    (old / MANIFEST).write_text(json.dumps({"format": 1}), encoding="utf-8")
    refused = Services.start(
        Settings(index_home=sample_index, data_dir=tmp_path / "d2", cause_model=old), Metrics()
    )
    try:
        assert refused.store is None and "format 1" in (refused.index_problem or "")
    finally:
        refused.close()


def test_a_charge_among_civil_causes_does_not_break_training(tmp_path: Path) -> None:
    civil = [t for t in TINY if t.category == "民事"]
    odd = LabelledText("原告主张被告盗窃其财物，要求返还。", ("返还原物纠纷", "盗窃罪"), "民事")
    model = CauseModel.load(write(train([*civil, odd], RECIPE), tmp_path / "odd"))
    assert {label.category for label in model.labels} == {"民事", "刑事"}
    assert all(
        p.name.endswith("纠纷") for p in predict_with_model("原告出借款项，被告到期未还。", model, "民事")
    )
