"""K-fold cross-fitting for small data: calibration fitted on out-of-fold scores of train+val.

With a few dozen val items, a temperature, cut points, review cut and counterfeit thresholds
fitted on val alone are noise. With `crossfit_folds = K` the train+val items are cut into K
folds by item (all photos of an item in one fold), stratified by grade and seeded; network k
trains on the other folds with the run's recipe (validating on fold k, and with `keep_best`
keeping its best state there, as the plain recipe does on val) and scores fold k. Every
train+val item gets one out-of-fold score, and calibration, the review cut and both
counterfeit thresholds are fitted on all of them (`training.grader.calibrate.assemble`). The K
networks become the model's ensemble (`models.grader.heads.GraderEnsemble`), so nothing is
trained again; the test split is never used.

What that means for calibration: it was fitted on single networks' scores (each on the
ensemble's common severity scale) and is applied to their average. An average of networks is
usually less extreme than one network where they disagree; docs/experiments/grader.md measures
which way this goes. The one-class references are the first network's (its training folds'
authentic photos), the bank its out-of-fold scores were measured against; the other folds'
one-class scores come from their own network and bank.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold

from features.problems import DataError, Problem
from models.grader.counterfeit import ReferenceBank
from models.grader.heads import GraderEnsemble, GraderNet
from models.grader.preprocess import PreprocessConfig
from training.grader.calibrate import item_scores, reference_bank, scorer_of
from training.grader.config import GraderConfig
from training.grader.data import PhotoSet

SETTING = "setting 'crossfit_folds'"


def assign_folds(items: pd.DataFrame, k: int, seed: int) -> np.ndarray:
    """The fold (0..k-1) of every item, stratified by grade and seeded; plain seeded folds when a
    grade has fewer items than folds.

    Raises:
        DataError: fewer items than folds.
    """
    if k > len(items):
        raise DataError([Problem(SETTING, f"{k} folds, but only {len(items)} train+val items")])
    index = np.arange(len(items))
    grades = items["grade"].astype(str).to_numpy()
    if pd.Series(grades).value_counts().min() >= k:
        splits = StratifiedKFold(k, shuffle=True, random_state=seed).split(index, grades)
    else:
        splits = KFold(k, shuffle=True, random_state=seed).split(index)
    folds = np.full(len(items), -1, dtype=np.int64)
    for fold, (_, held) in enumerate(splits):
        folds[held] = fold
    return folds


def fold_sets(pool: PhotoSet, folds: np.ndarray, fold: int) -> tuple[PhotoSet, PhotoSet]:
    """The items network `fold` trains on (every other fold) and the fold it scores."""
    return (
        pool.take(np.nonzero(folds != fold)[0]),
        pool.take(np.nonzero(folds == fold)[0]),
    )


def oof_scores(
    nets: list[GraderNet],
    prep: PreprocessConfig,
    config: GraderConfig,
    pool: PhotoSet,
    folds: np.ndarray,
) -> tuple[dict[str, np.ndarray], ReferenceBank]:
    """Out-of-fold item scores of every item of `pool`, and the first network's references.

    Network k scores fold k only: `score` on the ensemble's common scale (its first and last
    cut points at 0 and 1), `logit` (supervised counterfeit) and `oneclass` (against a bank
    of network k's patches from its training folds).
    """
    scores = {key: np.full(len(pool), np.nan) for key in ("score", "logit", "oneclass")}
    first_bank = None
    for fold, net in enumerate(nets):
        train, held = fold_sets(pool, folds, fold)
        scorer = scorer_of(GraderEnsemble([net]), prep, config.tta)  # the common scale
        bank = reference_bank(scorer, train, config)
        first_bank = bank if first_bank is None else first_bank
        rows = np.nonzero(folds == fold)[0]
        for key, values in item_scores(scorer, bank, held).items():
            scores[key][rows] = values
    assert first_bank is not None
    return scores, first_bank


def crossfit_record(pool: PhotoSet, folds: np.ndarray, seeds: list[int]) -> dict[str, Any]:
    """What cross-fitting did, for the model's `info.crossfit` (JSON-ready)."""
    grades = pool.items["grade"].astype(str).to_numpy()
    return {
        "folds": int(folds.max()) + 1,
        "items": len(pool),
        "fold_items": [int((folds == k).sum()) for k in range(int(folds.max()) + 1)],
        "fold_grades": [
            {g: int(((folds == k) & (grades == g)).sum()) for g in sorted(set(grades))}
            for k in range(int(folds.max()) + 1)
        ],
        "seeds": seeds,
        "calibrated_on": "out-of-fold scores of every train+val item",
        "ensemble": "the fold networks (calibration fitted on single networks, applied to "
        "their average)",
    }


def describe_crossfit(config: GraderConfig, items: int) -> str:
    """One line for the log, before training."""
    return (
        f"cross-fitting: {config.crossfit_folds} folds of the {items} train+val items (by "
        "item, stratified by grade); each network trains on the other folds and scores its "
        "own; calibration, review cut and counterfeit thresholds are fitted on these "
        f"out-of-fold scores, and the {config.crossfit_folds} networks are the model's ensemble"
    )
