"""Quality targets of the default grader config on the issue's synthetic set (`slow`).

Generates `regrade data synth --items 1500 --seed 7` (3 views, 224 px), trains the default
`GraderConfig` (an ensemble of two networks at 96 px, trained with the generator's damage drawn
on a fifth of the items) on its train split, calibrates on val and evaluates on test with the
same code as `regrade train grader`. Should take about 70 minutes on a 2-core CPU (estimated
from its members' training times); run with `-m slow`. Asserted: the targets reached (qwk 0.951,
ece 0.024, auto_accuracy 0.979, counterfeit AUROC 1.000 measured with the default config) and
regression floors under the measured grade metrics; the coverage target (not reached yet: 83.6%
answered without review) is a strict expected failure, so reaching it shows up.
"""

from __future__ import annotations

import pytest

from models.grader.predictor import GraderPredictor
from training.grader.config import GraderConfig
from training.grader.data import load_photoset
from training.grader.evaluate import evaluate_grader_model
from training.grader.train import train_grader_model

pytestmark = [pytest.mark.slow, pytest.mark.timeout(9000)]
"""Synthesis, two members of 120 epochs at 96 px (side by side on 2 cores) and evaluation should
take about 70 minutes on a 2-core CPU (estimated): past the suite's 600 s."""

TARGETS = {"qwk": 0.95, "ece": 0.03, "auto_accuracy": 0.97, "auto_coverage": 0.85}
"""The issue's grade targets; all but auto_coverage reached (docs/grader.md, ninth round)."""
COUNTERFEIT_AUROC_TARGET = 0.97
"""Reached (1.000 measured)."""
QWK_FLOOR = 0.92
ECE_CEILING = 0.05
ACCURACY_FLOOR = 0.91
"""Regression floors below the measured qwk 0.951, ece 0.024 and accuracy 0.942 (seed noise on
225 test items: its two single networks measured qwk 0.935-0.936, accuracy 0.924 and ece
0.026-0.029)."""


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


def test_grade_targets_reached(metrics):
    assert metrics["qwk"] >= TARGETS["qwk"]
    assert metrics["ece"] <= TARGETS["ece"]
    assert metrics["auto_accuracy"] >= TARGETS["auto_accuracy"]


@pytest.mark.xfail(reason="coverage target not reached yet (see docs/grader.md)", strict=True)
def test_coverage_target_of_the_issue(metrics):
    assert metrics["auto_coverage"] >= TARGETS["auto_coverage"]
    assert metrics["auto_accuracy"] >= TARGETS["auto_accuracy"]
