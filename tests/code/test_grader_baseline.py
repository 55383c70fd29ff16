"""The plain baseline beside every grader evaluation: a from-scratch timm classifier trained on
the same split and input size, scored on the test items, cached by data, split and settings."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.code.conftest import TINY, TOY_SIZE
from training.grader.baseline import (
    RESULT,
    cache_key,
    plain_baseline,
    plain_metrics,
    predict_plain,
    train_plain,
)
from training.grader.config import GraderConfig
from training.grader.train import train_grader_model

KEYS = {
    "baseline_plain_accuracy",
    "baseline_plain_macro_f1",
    "baseline_plain_qwk",
    "baseline_plain_train_seconds",
}


def test_metrics_are_the_grade_scores_of_the_predictions():
    target = np.array([0, 0, 1, 1, 2, 2])
    assert plain_metrics(target, target) == {
        "baseline_plain_accuracy": 1.0,
        "baseline_plain_macro_f1": 1.0,
        "baseline_plain_qwk": 1.0,
    }
    worst = plain_metrics(target, 2 - target)
    assert worst["baseline_plain_accuracy"] == pytest.approx(1 / 3)
    assert worst["baseline_plain_qwk"] < 0


def test_it_learns_the_toy_grades_and_grades_items_from_all_their_photos(toy):
    _, data = toy
    train = data.subset("train")
    net, prep = train_plain(train, epochs=8, seed=0)
    assert prep.image_size == TOY_SIZE
    pred = predict_plain(net, prep, train)
    assert pred.shape == (len(train),)
    # eight epochs learn the training items well above chance (1/3)
    assert (pred == train.items["target"].to_numpy()).mean() >= 0.6


def test_it_is_seeded(toy):
    _, data = toy
    first, _ = train_plain(data.subset("train"), epochs=1, seed=3)
    again, _ = train_plain(data.subset("train"), epochs=1, seed=3)
    other, _ = train_plain(data.subset("train"), epochs=1, seed=4)
    a, b, c = (dict(n.state_dict()) for n in (first, again, other))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_scores_are_cached_by_data_split_and_settings(toy, tmp_path):
    _, data = toy
    metrics, cached = plain_baseline(data, epochs=1, cache_dir=tmp_path, fingerprint="f1")
    assert set(metrics) == KEYS and not cached
    assert metrics["baseline_plain_qwk"] <= 1.0
    again, cached = plain_baseline(data, epochs=1, cache_dir=tmp_path, fingerprint="f1")
    assert cached and again == metrics
    # other data, another split, other settings: other keys
    key = cache_key(data, "f1", 1, 0, "resnet10t")
    moved = data.take(np.arange(len(data)))
    moved.items.loc[moved.items["split"] == "val", "split"] = "test"
    assert {
        cache_key(data, "f2", 1, 0, "resnet10t"),
        cache_key(moved, "f1", 1, 0, "resnet10t"),
        cache_key(data, "f1", 2, 0, "resnet10t"),
        cache_key(data, "f1", 1, 1, "resnet10t"),
    }.isdisjoint({key})
    # an unreadable cache entry is trained again, not trusted
    (tmp_path / key / RESULT).write_text("{not json")
    _, cached = plain_baseline(data, epochs=1, cache_dir=tmp_path, fingerprint="f1")
    assert not cached and json.loads((tmp_path / key / RESULT).read_text())["epochs"] == 1


def test_an_empty_test_split_is_refused_by_name(toy):
    _, data = toy
    only_train = data.take(np.nonzero((data.items["split"] == "train").to_numpy())[0])
    with pytest.raises(ValueError, match="train and the test split"):
        plain_baseline(only_train, epochs=1)


def test_a_grader_below_the_plain_baseline_is_told_so():
    from training.grader.pipeline import below_baseline  # the pipeline imports mlflow

    better = {"macro_f1": 0.6, "qwk": 0.7}
    better.update(baseline_plain_macro_f1=0.5, baseline_plain_qwk=0.7)
    assert below_baseline(better) is None
    assert below_baseline({"macro_f1": 0.3, "qwk": 0.0}) is None  # no baseline run (0 epochs)
    worse = {**better, "macro_f1": 0.275, "baseline_plain_macro_f1": 0.451}
    told = below_baseline(worse)
    assert "macro_f1 0.275 against 0.451" in told and "qwk" not in told


def test_evaluating_a_grader_that_loses_to_the_baseline_warns(toy, tmp_path, settings, monkeypatch):
    from training.grader import pipeline

    root, data = toy
    model = train_grader_model(GraderConfig(epochs=1, **TINY), data, tmp_path / "model")
    perfect = {"baseline_plain_macro_f1": 1.0, "baseline_plain_qwk": 1.0}
    monkeypatch.setattr(pipeline, "plain_baseline", lambda *a, **k: (perfect, True))
    warned = []
    monkeypatch.setattr(pipeline, "warn", warned.append)
    pipeline.evaluate_grader(str(model.model_dir), root, tmp_path / "eval", settings)
    assert any("below the plain baseline" in str(w) for w in warned)
