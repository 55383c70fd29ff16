"""Score one model folder on a retrain's holdout with its kind's own evaluation code.

Pricing models are scored on the retrain table (its `split=test` rows are the holdout; the
baselines are fitted on its other rows, the same for both models). Graders are scored on the
holdout's photo dataset, decoded at each model's own image size.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.problems import DataError, Problem
from models.grader.predictor import GraderPredictor
from models.pricing.artifact import load_artifact
from training.grader.data import load_photoset
from training.grader.evaluate import evaluate_grader_model
from training.loop.compare import Scored, folder_size
from training.pricing.evaluate import evaluate_pricing_model, holdout_predictions
from training.pricing.plots import price_figure

UNUSED_FRACTION = 0.2
"""Holdout share handed to the pricing evaluation; unused, as the table's `split` decides."""


def score_pricing(model_dir: Path, frame: pd.DataFrame, truth: pd.DataFrame | None) -> Scored:
    """Every pricing metric of a model on the `split=test` rows of `frame`."""
    artifact = load_artifact(model_dir)
    metrics = evaluate_pricing_model(artifact, frame, holdout_fraction=UNUSED_FRACTION, truth=truth)
    predictions = holdout_predictions(artifact, frame, holdout_fraction=UNUSED_FRACTION)
    return Scored(metrics, predictions, price_figure(predictions), folder_size(model_dir))


def score_grader(model_dir: Path, holdout_photos: Path) -> Scored:
    """Every grader metric of a model on the holdout's photo dataset.

    Raises:
        DataError: a holdout photo cannot be read.
    """
    predictor = GraderPredictor.load(model_dir)
    size = predictor.artifact.preprocess.image_size
    photos, problems = load_photoset(holdout_photos, size)
    if problems:
        raise DataError(problems)
    photos.items["split"] = "test"  # every holdout item, whatever split the loader would draw
    test = photos.subset("test")
    if len(test) == 0:
        raise DataError([Problem(holdout_photos, "the holdout has no items")])
    metrics, frame, figures = evaluate_grader_model(predictor, test)
    extra = {"target_accuracy": predictor.artifact.calibration.target_accuracy}
    return Scored(metrics, frame, figures["reliability_diagram.png"], folder_size(model_dir), extra)
