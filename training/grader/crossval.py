"""K-fold evaluation of a grader recipe, so a small test split is never the only evidence.

Every item is a test item once: the items are cut into K folds stratified by grade (seeded);
for each fold a grader is trained with the same config on the other items (val carved from them
as for a manifest with only train and test) and scored on the fold. The summary gives each
metric's mean over the folds and a 95% Student-t interval of that mean.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.stats import t as student_t
from sklearn.model_selection import KFold, StratifiedKFold

from features.problems import DataError, Problem
from models.grader.predictor import GraderPredictor
from training.grader.config import GraderConfig
from training.grader.data import PhotoSet, split_items
from training.grader.evaluate import grader_metrics, predict_photoset
from training.grader.train import fit_grader

CV_METRICS = ("accuracy", "macro_f1", "qwk", "ece", "auto_coverage")
"""The metrics summarised over the folds."""
LEVEL = 0.95


def fold_splits(items: pd.DataFrame, k: int, seed: int) -> list[pd.Series]:
    """Per fold, the split of every item: the fold's items are test, val is carved from the rest
    (`training.grader.data.split_items`), the others are train.

    Raises:
        DataError: K below 2 or above the number of items.
    """
    if not 2 <= k <= len(items):
        raise DataError([Problem("--cv", f"must be 2..{len(items)} (the items), got {k}")])
    index = np.arange(len(items))
    grades = items["grade"].astype(str).to_numpy()
    if pd.Series(grades).value_counts().min() >= k:
        folds = StratifiedKFold(k, shuffle=True, random_state=seed).split(index, grades)
    else:  # a grade has fewer items than folds: plain seeded folds
        folds = KFold(k, shuffle=True, random_state=seed).split(index)
    splits = []
    for _, test in folds:
        given = pd.Series("train", index=items.index, dtype=object)
        given.iloc[test] = "test"
        split, _ = split_items(items.assign(split=given.to_numpy()), seed)
        splits.append(split)
    return splits


def mean_interval(values: list[float], level: float = LEVEL) -> tuple[float, float, float]:
    """Mean of `values` and the Student-t interval of the mean at `level`."""
    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    if len(x) < 2:
        return mean, float("nan"), float("nan")
    half = float(student_t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return mean, mean - half, mean + half


def summarise(folds: pd.DataFrame) -> dict[str, float]:
    """`cv_k` and, per metric of `CV_METRICS` the folds have, `cv_<metric>_mean`, `_low` and
    `_high`."""
    summary: dict[str, float] = {"cv_k": float(len(folds))}
    for name in CV_METRICS:
        values = folds[name].dropna().tolist() if name in folds else []
        if not values:
            continue
        mean, low, high = mean_interval(values)
        summary |= {f"cv_{name}_mean": mean, f"cv_{name}_low": low, f"cv_{name}_high": high}
    return summary


def cross_validate(
    config: GraderConfig,
    photos: PhotoSet,
    k: int,
    *,
    on_fold: Callable[[int, dict], None] | None = None,
) -> tuple[dict[str, float], pd.DataFrame]:
    """Train and score a grader on each of K folds.

    Args:
        config: The recipe (the evaluated model's training config).
        photos: Every item of the dataset (its own split is not used).
        k: Number of folds.
        on_fold: Called with (fold, metrics) after each fold.

    Returns:
        The summary (`summarise`) and one row of metrics per fold.
    """
    rows = []
    for fold, split in enumerate(fold_splits(photos.items, k, config.seed)):
        items = photos.items.assign(split=split.to_numpy())
        data = PhotoSet(photos.images, photos.item_index, items)
        fitted = fit_grader(config, data)
        frame, per_s = predict_photoset(GraderPredictor(fitted.artifact), data.subset("test"))
        metrics = {"fold": fold, **grader_metrics(frame, per_s)}
        rows.append(metrics)
        if on_fold is not None:
            on_fold(fold, metrics)
    folds = pd.DataFrame(rows)
    return summarise(folds), folds
