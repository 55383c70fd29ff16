"""Issue 20's magnetic_tile targets for the default grader, as a user trains it (`slow`).

`regrade train grader --data magnetic_tile` with no config (`auto` picks the `real` preset) and
the same with `reference_grades = ["A"]`, both through `train_grader` (the command's own code),
on the seeded split (940/202/202 items). Each run takes about 7 minutes on a 2-core CPU (three
networks of 60 epochs; the plain baseline trained once and cached in the shared home). Measured:
macro F1 0.968, qwk 0.965, ece 0.037, 88.6% answered at 0.989, against the baseline's macro F1
0.704 and qwk 0.605; references of grade A: one-class defect AUROC 0.931
(docs/experiments/grader.md, "magnetic_tile through the CLI").
"""

from __future__ import annotations

import json

import pytest

from serving.settings import load_settings
from training.grader.config import GraderConfig
from training.grader.pipeline import train_grader

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

TARGET_ACCURACY = 0.97
"""The review promise (`GraderConfig.target_accuracy`); answered items' accuracy must be within
0.03 of it."""


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """One REGRADE_HOME for both runs: the plain baseline is trained once, then read back."""
    return load_settings({"REGRADE_HOME": str(tmp_path_factory.mktemp("home"))})


def test_the_default_meets_the_grade_targets_and_beats_the_plain_baseline(
    real_data, home, tmp_path
):
    default_run = train_grader(
        GraderConfig(), real_data / "magnetic_tile", tmp_path / "run", home, register=False
    )
    metrics = default_run.metrics
    config = json.loads((default_run.run_dir / "config.json").read_text())
    assert config["preset"]["chosen"] == "real"
    assert metrics["macro_f1"] >= 0.82 and metrics["qwk"] >= 0.87
    assert metrics["ece"] <= 0.04
    assert metrics["macro_f1"] > metrics["baseline_plain_macro_f1"]
    assert metrics["qwk"] > metrics["baseline_plain_qwk"]
    assert metrics["auto_coverage"] > 0.5  # it answers most tiles on its own ...
    assert abs(metrics["auto_accuracy"] - TARGET_ACCURACY) <= 0.03  # ... as promised
    assert metrics["train_seconds"] <= 46 * 60 / 3  # a third of the old default's 46 minutes


def test_references_of_grade_a_separate_defects(real_data, home, tmp_path):
    config = GraderConfig(reference_grades=["A"])
    run = train_grader(config, real_data / "magnetic_tile", tmp_path / "run", home, register=False)
    assert run.metrics["defect_oneclass_auroc"] >= 0.90
