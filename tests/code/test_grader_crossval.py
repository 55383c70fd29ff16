"""`regrade evaluate grader --cv K`: the model's recipe trained on K folds of all items, every
item tested once, each metric's mean with a 95% Student-t interval."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features.problems import DataError
from tests.code.conftest import TINY
from training.grader.config import GraderConfig
from training.grader.crossval import fold_splits, mean_interval, summarise
from training.grader.train import train_grader_model


def _items(n=30):
    return pd.DataFrame(
        {
            "item_id": [f"i{k}" for k in range(n)],
            "grade": list("AABC" * n)[:n],
            "counterfeit": [0.0] * n,
            "split": [None] * n,
        }
    )


def test_every_item_is_tested_once_and_never_trained_on_in_its_fold():
    items = _items()
    splits = fold_splits(items, 3, seed=0)
    assert len(splits) == 3
    tested = np.stack([(s == "test").to_numpy() for s in splits])
    assert (tested.sum(axis=0) == 1).all()
    for split in splits:
        assert set(split) == {"train", "val", "test"}
        # stratified by grade: each fold tests every grade
        assert set(items["grade"][(split == "test").to_numpy()]) == {"A", "B", "C"}
    assert [s.tolist() for s in fold_splits(items, 3, seed=0)] == [s.tolist() for s in splits]
    assert [s.tolist() for s in fold_splits(items, 3, seed=1)] != [s.tolist() for s in splits]


@pytest.mark.parametrize("k", [1, 31])
def test_a_fold_count_out_of_range_is_refused_by_name(k):
    with pytest.raises(DataError, match="--cv"):
        fold_splits(_items(), k, seed=0)


def test_the_interval_is_the_student_t_interval_of_the_mean():
    mean, low, high = mean_interval([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert (low, high) == pytest.approx((2.0 - 2.4841, 2.0 + 2.4841), abs=1e-4)
    folds = pd.DataFrame({"macro_f1": [0.5, 0.7], "qwk": [0.6, 0.6], "ece": [0.1, 0.2]})
    summary = summarise(folds)
    assert summary["cv_k"] == 2 and summary["cv_qwk_low"] == summary["cv_qwk_high"] == 0.6
    assert summary["cv_macro_f1_low"] < 0.6 < summary["cv_macro_f1_high"]


def test_evaluate_with_cv_trains_the_models_recipe_on_every_fold(toy, tmp_path, settings):
    from training.grader.pipeline import evaluate_grader, train_grader

    root, _ = toy
    trained = train_grader(
        GraderConfig(epochs=1, **TINY), root, tmp_path / "run", settings, register=False
    )
    result = evaluate_grader(
        str(trained.model_dir), root, tmp_path / "eval", settings, baseline_epochs=0, cv=2
    )
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics == pytest.approx(result.metrics, nan_ok=True)
    assert metrics["cv_k"] == 2
    for name in ("macro_f1", "qwk", "ece"):
        low, mean, high = (metrics[f"cv_{name}_{p}"] for p in ("low", "mean", "high"))
        assert low <= mean <= high
    folds = pd.read_csv(tmp_path / "eval" / "cv_folds.csv")
    assert folds["fold"].tolist() == [0, 1] and folds["n_test"].sum() == 48
    assert metrics["cv_macro_f1_mean"] == pytest.approx(folds["macro_f1"].mean())
    # the model's own test-split metrics are still there, without a baseline (0 epochs)
    assert metrics["n_test"] == 6 and "baseline_plain_macro_f1" not in metrics


def test_cv_needs_the_models_training_config(toy, tmp_path, settings):
    from training.grader.pipeline import evaluate_grader

    root, data = toy
    bare = train_grader_model(GraderConfig(epochs=1, **TINY), data, tmp_path / "model")
    with pytest.raises(DataError, match="no training config"):
        evaluate_grader(str(bare.model_dir), root, tmp_path / "e", settings, cv=2)
    with pytest.raises(DataError, match="at least 2 folds, got 1"):
        evaluate_grader(str(bare.model_dir), root, tmp_path / "e", settings, cv=1)
    assert not (tmp_path / "e").exists()  # refused before any work
