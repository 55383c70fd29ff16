"""Quality targets of the default grader config on the issue's synthetic set (`slow`).

Generates `regrade data synth --items 1500 --seed 7` (3 views, 224 px), trains the default
`GraderConfig` (an ensemble of three networks at 96 px) on its train split, calibrates on val and
evaluates on test with the same code as `regrade train grader`. Should take about 90 minutes on
a 2-core CPU (estimated from its members' training times); run with `-m slow`. Asserted: the
counterfeit target (reached) and regression floors under the measured grade metrics; the issue's
grade targets (ece reached, 0.028, with little margin; not reached yet: qwk 0.930, 80% answered
without review at accuracy 0.967, measured with the default config) run together as a strict
expected failure, so reaching them shows up.
"""

from __future__ import annotations

import pytest

from models.grader.predictor import GraderPredictor
from training.grader.config import GraderConfig
from training.grader.data import load_photoset
from training.grader.evaluate import evaluate_grader_model
from training.grader.train import train_grader_model

pytestmark = [pytest.mark.slow, pytest.mark.timeout(9000)]
"""Synthesis, three members of 120 epochs at 96 px (two at a time on 2 cores) and evaluation should
take about 90 minutes on a 2-core CPU (estimated): past the suite's 600 s."""

TARGETS = {"qwk": 0.95, "ece": 0.03, "auto_accuracy": 0.97, "auto_coverage": 0.85}
"""The issue's grade targets; not all reached yet (docs/grader.md), checked as expected failures."""
COUNTERFEIT_AUROC_TARGET = 0.97
"""Reached (1.000 measured)."""
QWK_FLOOR = 0.90
ECE_CEILING = 0.06
ACCURACY_FLOOR = 0.89
"""Regression floors below the measured qwk 0.930, ece 0.028 and accuracy 0.920 (seed noise on
225 test items: single 96 px networks of the same config measured qwk 0.922-0.932, accuracy
0.911-0.920 and ece 0.029-0.043)."""


@pytest.fixture(scope="module")
def metrics(tmp_path_factory):
    from training.synth import synthesize

    root = tmp_path_factory.mktemp("synth1500")
    synthesize(root / "data", items=1500, seed=7)
    config = GraderConfig()
    data, problems = load_photoset(root / "data" / "photos", config.image_size, seed=config.seed)
    assert problems == []
    result = train_grader_model(config, data, root / "model")
    predictor = GraderPredictor.load(result.model_dir)
    values, _, _ = evaluate_grader_model(predictor, data.subset("test"))
    return values


def test_grades_agree_with_the_truth(metrics):
    assert metrics["qwk"] >= QWK_FLOOR
    assert metrics["ece"] <= ECE_CEILING
    assert metrics["accuracy"] >= ACCURACY_FLOOR  # the majority class (A) is 0.42 of items


def test_counterfeits_rank_above_authentic_items(metrics):
    assert metrics["counterfeit_auroc"] >= COUNTERFEIT_AUROC_TARGET


@pytest.mark.xfail(reason="issue targets not reached yet (see docs/grader.md)", strict=True)
def test_grade_targets_of_the_issue(metrics):
    assert metrics["qwk"] >= TARGETS["qwk"]
    assert metrics["ece"] <= TARGETS["ece"]
    assert metrics["auto_coverage"] >= TARGETS["auto_coverage"]
    assert metrics["auto_accuracy"] >= TARGETS["auto_accuracy"]
