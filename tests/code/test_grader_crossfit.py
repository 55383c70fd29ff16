"""K-fold cross-fitting on small data: folds by item and stratified by grade, one out-of-fold
score for every train+val item, calibration fitted on those scores, the fold networks served as
the model's ensemble, the test split never used, and off unless `real-small` turns it on."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from features.problems import DataError
from features.schema import GRADES
from models.grader.calibration import fit_calibration
from models.grader.heads import GraderEnsemble, GraderNet
from models.grader.predictor import GraderPredictor
from models.grader.preprocess import PreprocessConfig, fit_stats
from tests.code.conftest import TINY
from training.grader.calibrate import item_scores, reference_bank, scorer_of
from training.grader.config import GraderConfig, load_config
from training.grader.crossfit import assign_folds, fold_sets, oof_scores
from training.grader.presets import PhotoFacts, resolve_preset
from training.grader.train import fit_grader, train_grader_model

CROSSFIT = dict(TINY, epochs=1, crossfit_folds=3, workers=1, review_level=0.95, decision="shares")


def _pool(data):
    """The train+val items of the toy set (what cross-fitting folds)."""
    return data.take(np.nonzero(data.items["split"].isin(["train", "val"]).to_numpy())[0])


def test_folds_are_by_item_stratified_by_grade_and_seeded(toy):
    _, data = toy
    pool = _pool(data)  # 42 items, 14 of each grade, 2 photos each
    folds = assign_folds(pool.items, 3, seed=0)
    assert sorted(set(folds)) == [0, 1, 2] and len(folds) == len(pool)
    for fold in range(3):
        counts = pool.items["grade"][folds == fold].value_counts()
        assert sorted(counts.index) == list(GRADES) and counts.max() - counts.min() <= 1
        train, held = fold_sets(pool, folds, fold)
        assert not set(train.items["item_id"]) & set(held.items["item_id"])
        assert len(train) + len(held) == len(pool)
        # every photo of a held-out item is held out with it (2 photos each in the toy set)
        assert len(held.images) == 2 * len(held) and len(train.images) == 2 * len(train)
    assert (assign_folds(pool.items, 3, seed=0) == folds).all()
    assert (assign_folds(pool.items, 3, seed=1) != folds).any()


def test_a_grade_rarer_than_the_folds_falls_back_to_plain_folds_and_too_many_are_refused():
    items = pd.DataFrame({"item_id": [f"i{k}" for k in range(10)], "grade": list("AAAAAAAABC")})
    folds = assign_folds(items, 4, seed=0)
    assert sorted(np.bincount(folds)) == [2, 2, 3, 3]
    with pytest.raises(DataError, match=r"crossfit_folds.*11 folds, but only 10"):
        assign_folds(items, 11, seed=0)
    with pytest.raises(DataError, match="setting 'crossfit_folds'"):
        load_config(None, crossfit_folds=1)
    with pytest.raises(DataError, match="crossfit_folds"):
        load_config(None, crossfit_folds=-2)


def test_every_train_val_item_gets_one_score_from_the_network_that_never_saw_it(toy):
    _, data = toy
    pool = _pool(data)
    config = GraderConfig(**CROSSFIT)
    folds = assign_folds(pool.items, 3, seed=0)
    torch.manual_seed(0)
    nets = [GraderNet(config.backbone, n_classes=3).eval() for _ in range(3)]
    mean, std = fit_stats(pool.images)
    prep = PreprocessConfig(image_size=int(pool.images.shape[-1]), mean=mean, std=std)
    scores, bank = oof_scores(nets, prep, config, pool, folds)
    assert set(scores) == {"score", "logit", "oneclass"}
    assert all(len(v) == len(pool) and np.isfinite(v).all() for v in scores.values())
    for fold in range(3):
        train, held = fold_sets(pool, folds, fold)
        scorer = scorer_of(GraderEnsemble([nets[fold]]), prep, config.tta)
        own = item_scores(scorer, reference_bank(scorer, train, config), held)
        np.testing.assert_allclose(scores["score"][folds == fold], own["score"], atol=1e-6)
        np.testing.assert_allclose(scores["oneclass"][folds == fold], own["oneclass"], atol=1e-6)
        other = scorer_of(GraderEnsemble([nets[(fold + 1) % 3]]), prep, config.tta)
        theirs = item_scores(other, bank, held)["score"]
        assert not np.allclose(scores["score"][folds == fold], theirs, atol=1e-4)
    # the first fold's bank is the artifact's: the first network's patches of its training folds
    first_train, _ = fold_sets(pool, folds, 0)
    scorer = scorer_of(GraderEnsemble([nets[0]]), prep, config.tta)
    expected = reference_bank(scorer, first_train, config).banks
    assert bank.banks.keys() == expected.keys()
    assert all(torch.equal(bank.banks[key], expected[key]) for key in expected)


def test_calibration_is_fitted_on_the_out_of_fold_scores_and_the_model_serves(toy, tmp_path):
    _, data = toy
    pool = _pool(data)
    config = GraderConfig(**CROSSFIT)
    model_dir = train_grader_model(config, data, tmp_path / "model").model_dir
    saved = json.loads((model_dir / "config.json").read_text())
    info = saved["info"]
    assert info["review"]["items"] == len(pool) == 42
    assert info["review"]["fitted_on"] == "out-of-fold train+val"
    assert info["crossfit"]["folds"] == 3 and sum(info["crossfit"]["fold_items"]) == 42
    assert info["members"] == 3 and info["member_seeds"] == [0, 1, 2]
    predictor = GraderPredictor.load(model_dir)
    net = predictor.artifact.net
    assert isinstance(net, GraderEnsemble) and len(net.members) == 3
    # refitting on the recomputed out-of-fold scores gives the saved calibration
    folds = assign_folds(pool.items, 3, config.seed)
    scores, _ = oof_scores(list(net.members), predictor.artifact.preprocess, config, pool, folds)
    refit = fit_calibration(
        scores["score"],
        pool.items["target"].to_numpy(),
        net.thresholds().double().numpy(),
        target_accuracy=config.target_accuracy,
        review_level=config.review_level,
        decision=config.decision,
    )
    calibration = predictor.artifact.calibration
    assert calibration.temperature == pytest.approx(refit.temperature, rel=1e-4)
    assert calibration.thresholds == pytest.approx(refit.thresholds, abs=1e-4)
    assert calibration.decision_cuts == pytest.approx(refit.decision_cuts, abs=1e-4)
    assert info["review"]["decision"] == "shares"
    # the fold networks answer as one model through the serving predictor
    test = data.subset("test")
    results = predictor.predict_tensors(test.images, test.item_index, test.brands)
    assert len(results) == len(test)
    assert all(sum(r.probabilities.values()) == pytest.approx(1.0) for r in results)


def test_the_test_split_is_never_used(toy):
    _, data = toy
    config = GraderConfig(**CROSSFIT)
    first = fit_grader(config, data).artifact
    test = np.nonzero((data.items["split"] == "test").to_numpy())[0]
    items = data.items.copy()
    items.loc[test, "grade"] = "C"
    items.loc[test, "target"] = 2
    photos = data.images.clone()
    photos[np.isin(data.item_index, test)] = 0  # black photos, wrong grades
    changed = fit_grader(config, type(data)(photos, data.item_index, items)).artifact
    assert changed.calibration == first.calibration
    assert changed.info["crossfit"] == first.info["crossfit"]


def test_crossfit_is_off_unless_the_small_real_preset_turns_it_on():
    assert GraderConfig().crossfit_folds == 0
    facts = {
        "synthetic": PhotoFacts(items=100, photos=300, median_side=400, generated=True),
        "real": PhotoFacts(items=800, photos=900, median_side=400, generated=False),
        "real-small": PhotoFacts(items=100, photos=300, median_side=400, generated=False),
    }
    chosen = {name: resolve_preset(GraderConfig(), f) for name, f in facts.items()}
    assert {name: (r["chosen"], c.crossfit_folds) for name, (c, r) in chosen.items()} == {
        "synthetic": ("synthetic", 0),
        "real": ("real", 0),
        "real-small": ("real-small", 5),
    }
    # the user's setting wins over the preset
    config, _ = resolve_preset(GraderConfig(crossfit_folds=0), facts["real-small"])
    assert config.crossfit_folds == 0


def test_crossfit_refuses_reused_members_and_several_processes_by_name(toy, tmp_path):
    _, data = toy
    with pytest.raises(DataError, match=r"crossfit_folds.*members_from"):
        fit_grader(GraderConfig(**CROSSFIT, members_from=[str(tmp_path)]), data)
    with pytest.raises(DataError, match=r"crossfit_folds.*one process"):
        fit_grader(GraderConfig(**CROSSFIT, nproc=2), data)
