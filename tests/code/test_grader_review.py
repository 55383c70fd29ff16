"""The review promise on small data: the review cut keeps a Clopper-Pearson upper bound on the
answered items' error within 1 - target (or answers nothing and says so), and evaluation reports
the answered items' accuracy with its exact 95% interval."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from models.grader.calibration import (
    NO_ANSWERS,
    Calibration,
    error_upper_bound,
    fit_calibration,
    proportion_interval,
    selective_threshold,
)
from models.grader.predictor import GraderPredictor
from tests.code.conftest import TINY
from training.grader.config import GraderConfig
from training.grader.evaluate import grader_metrics, predict_photoset
from training.grader.train import train_grader_model


def test_the_upper_bound_is_the_exact_one_sided_clopper_pearson_bound():
    # no errors in n trials: 1 - (1 - level) ** (1 / n)
    assert error_upper_bound(0, 99, 0.95) == pytest.approx(1 - 0.05 ** (1 / 99))
    # matches scipy's exact interval (one-sided 95% = upper end of the two-sided 90%)
    exact = binomtest(3, 120).proportion_ci(0.90, method="exact").high
    assert error_upper_bound(3, 120, 0.95) == pytest.approx(exact)
    assert error_upper_bound(5, 5, 0.95) == 1.0 and error_upper_bound(0, 0, 0.95) == 1.0


def test_a_perfect_val_set_too_small_for_the_promise_answers_nothing():
    # 98 correct answers cannot show accuracy 0.97 at 95% confidence; 99 can
    conf = np.linspace(0.999, 0.9, 98)
    assert selective_threshold(conf, np.ones(98, bool), 0.97, level=0.95) == NO_ANSWERS
    conf = np.linspace(0.999, 0.9, 99)
    assert selective_threshold(conf, np.ones(99, bool), 0.97, level=0.95) == pytest.approx(0.9)
    # the point estimate (level 0, the old rule) answers all 98
    assert selective_threshold(conf[:98], np.ones(98, bool), 0.97) == pytest.approx(conf[97])


def test_the_cut_is_the_lowest_whose_answered_items_keep_the_bound():
    rng = np.random.default_rng(1)
    conf = np.sort(rng.uniform(0.5, 1.0, 600))[::-1]
    correct = np.ones(600, bool)
    correct[300:] = rng.random(300) < 0.8  # the less confident half errs a fifth of the time
    correct[[40, 150]] = False  # two errors among the confident
    cut = selective_threshold(conf, correct, 0.97, level=0.95)
    answered = conf >= cut
    n, errors = answered.sum(), (~correct[answered]).sum()
    assert error_upper_bound(errors, n, 0.95) <= 0.03
    # one more item answered breaks the bound
    assert error_upper_bound((~correct[: n + 1]).sum(), n + 1, 0.95) > 0.03
    assert 250 <= n <= 330


def test_tied_confidences_are_answered_together():
    conf = np.array([0.99] * 150 + [0.9] * 50)
    correct = np.ones(200, bool)
    correct[150:160] = False  # the tied group holds the errors
    assert selective_threshold(conf, correct, 0.97, level=0.95) == 0.99
    correct[150:160] = True
    assert selective_threshold(conf, correct, 0.97, level=0.95) == 0.9


def test_the_interval_is_the_exact_two_sided_interval():
    for k, n in [(0, 10), (7, 10), (10, 10), (33, 35)]:
        exact = binomtest(k, n).proportion_ci(0.95, method="exact")
        assert proportion_interval(k, n) == pytest.approx((exact.low, exact.high))
    with pytest.raises(ValueError, match="at least one"):
        proportion_interval(0, 0)


def test_the_level_is_kept_in_the_calibration_and_old_folders_read_as_point_estimates():
    rng = np.random.default_rng(0)
    score = rng.normal(0, 3, 400)
    target = (score > -1).astype(int) + (score > 1.5).astype(int)
    cal = fit_calibration(score, target, np.array([-1.0, 1.5]), target_accuracy=0.9)
    bound = fit_calibration(
        score, target, np.array([-1.0, 1.5]), target_accuracy=0.9, review_level=0.95
    )
    assert (cal.review_level, bound.review_level) == (0.0, 0.95)
    assert bound.review_confidence >= cal.review_confidence  # the bound answers fewer
    assert Calibration.from_dict(bound.to_dict()) == bound
    old = {k: v for k, v in bound.to_dict().items() if k != "review_level"}
    assert Calibration.from_dict(old).review_level == 0.0


def _frame(correct, needs_review):
    n = len(correct)
    target = np.arange(n) % 3
    return pd.DataFrame(
        {
            "grade": ["ABC"[t] for t in target],
            "target": target,
            "pred_index": [t if ok else (t + 1) % 3 for t, ok in zip(target, correct, strict=True)],
            "confidence": [0.9] * n,
            "needs_review": needs_review,
            "prediction_set": ["ABC"] * n,
            "counterfeit": [np.nan] * n,
            "counterfeit_score": [0.0] * n,
            "counterfeit_flagged": [False] * n,
            "oneclass_score": [0.0] * n,
        }
    )


def test_metrics_report_the_answered_accuracy_with_its_interval():
    metrics = grader_metrics(_frame([True] * 9 + [False], [False] * 8 + [True] * 2), 1.0)
    assert metrics["auto_coverage"] == 0.8 and metrics["auto_accuracy"] == 1.0
    exact = binomtest(8, 8).proportion_ci(0.95, method="exact")
    assert metrics["auto_accuracy_low"] == pytest.approx(exact.low)
    assert metrics["auto_accuracy_high"] == 1.0
    nothing = grader_metrics(_frame([True] * 4, [True] * 4), 1.0)
    assert nothing["auto_coverage"] == 0.0
    assert nothing["auto_accuracy"] is nothing["auto_accuracy_low"] is None


def test_a_model_whose_val_set_cannot_keep_the_promise_sends_everything_to_review(toy, tmp_path):
    _, data = toy  # 6 val items: no cut can show 0.97 at 95% confidence
    config = GraderConfig(epochs=1, **TINY, review_level=0.95)
    model_dir = train_grader_model(config, data, tmp_path / "model").model_dir
    info = json.loads((model_dir / "config.json").read_text())
    review = info["info"]["review"]
    assert review["rule"] == "clopper-pearson" and review["level"] == 0.95
    assert review["answers_alone"] is False and review["val_coverage"] == 0.0
    assert "every item goes to review" in review["note"]
    assert info["calibration"]["review_confidence"] > 1.0
    frame, _ = predict_photoset(GraderPredictor.load(model_dir), data.subset("test"))
    assert frame["needs_review"].all()
