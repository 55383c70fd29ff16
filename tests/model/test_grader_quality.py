"""Quality targets of the default grader config on the issue's synthetic set (`slow`).

Generates `regrade data synth --items 1500 --seed 7` (3 views, 224 px), trains the default
`GraderConfig` (an ensemble of three networks at 96 px, trained with the generator's damage drawn
on a fifth of the items) on its train split, calibrates on val and evaluates on test with the
same code as `regrade train grader`. Takes about 25 minutes on a 2-core CPU with native bf16
and about 100 without; run with `-m slow`. Asserted: every target of the issue and regression
floors under the measured grade metrics. The fp32 run passed all of them; the bf16 run
(`precision = "auto"` on a CPU with AVX-512 BF16) missed the auto_accuracy target of
`test_grade_targets_reached` (figures: docs/grader.md, "Metrics of the default").
"""

from __future__ import annotations

import pytest

from models.grader.predictor import GraderPredictor
from training.grader.config import GraderConfig
from training.grader.data import load_photoset
from training.grader.evaluate import evaluate_grader_model
from training.grader.presets import photo_facts, resolve_preset
from training.grader.train import train_grader_model

pytestmark = [pytest.mark.slow, pytest.mark.timeout(9000)]
"""Synthesis, three members of 120 epochs at 96 px (side by side on 2 cores: 22.4 minutes in
bf16, 91 in fp32 on a slower machine) and evaluation: past the suite's 600 s."""

TARGETS = {"qwk": 0.95, "ece": 0.03, "auto_accuracy": 0.97, "auto_coverage": 0.85}
"""The issue's grade targets, all reached (docs/experiments/grader.md, tenth round)."""
COUNTERFEIT_AUROC_TARGET = 0.97
"""Reached (0.999 measured)."""
QWK_FLOOR = 0.93
ECE_CEILING = 0.05
ACCURACY_FLOOR = 0.92
"""Regression floors below the measured qwk 0.963, ece 0.025 and accuracy 0.956 (seed noise on
225 test items: its three single networks measured qwk 0.935-0.951, accuracy 0.924-0.942 and
ece 0.026-0.029)."""


@pytest.fixture(scope="module")
def metrics(tmp_path_factory):
    from training.synth import synthesize

    root = tmp_path_factory.mktemp("synth1500")
    synthesize(root / "data", items=1500, seed=7)
    # what `regrade train grader --data DIR` trains: the default, resolved against the data
    config, preset = resolve_preset(GraderConfig(), photo_facts(root / "data" / "photos"))
    assert preset["chosen"] == "synthetic"
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
    assert metrics["auto_coverage"] >= TARGETS["auto_coverage"]
