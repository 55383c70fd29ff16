"""A small, time-bounded hyperparameter search for the P50 price booster, by cross-validation.

Trials are drawn (seeded) from a fixed grid of LightGBM settings; the first trial is always the
run's configured settings, so the search never picks a setting that did worse in CV than the
default. Each trial fits the monotone least-squares booster on K-1 folds of the sold training
rows with early stopping on the K-th fold and scores the held fold's RMSLE; a trial's score is
the mean over folds, its rounds the mean best iteration. The search stops starting folds once
`budget_seconds` have passed (the trial under way is dropped unless it is the first). Holdout
rows are never seen: the caller passes training rows only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np

from models.pricing.boosting import BoostParams, dataset, monotone_vector
from models.pricing.price_model import PRICE_MONOTONE

SPACE: dict[str, tuple[Any, ...]] = {
    "learning_rate": (0.02, 0.03, 0.05),
    "num_leaves": (15, 31, 63),
    "max_depth": (5, 6, 8),
    "min_data_in_leaf": (5, 10, 20, 50, 100),
    "feature_fraction": (0.5, 0.7, 0.9),
    "bagging_fraction": (0.7, 0.85, 1.0),
    "lambda_l2": (0.0, 1.0, 10.0, 30.0),
    "min_data_per_group": (5, 20, 50, 100),
    "cat_smooth": (1.0, 10.0, 30.0),
}
"""The grid trials are drawn from. Depth stays <= 8 so TreeSHAP explanations stay cheap."""


@dataclass
class Trial:
    """One setting tried: its overrides, mean CV RMSLE, mean best rounds, seconds."""

    params: dict[str, Any]
    cv_rmsle: float
    rounds: int
    seconds: float


@dataclass
class SearchResult:
    """The chosen settings, every completed trial (best first in `ranked`), whether capped."""

    best: BoostParams
    trials: list[Trial] = field(default_factory=list)
    seconds: float = 0.0
    capped: bool = False
    """True when the time cap stopped the search before `max_trials` trials."""

    def ranked(self) -> list[Trial]:
        """Completed trials, best CV RMSLE first."""
        return sorted(self.trials, key=lambda t: t.cv_rmsle)


def _draw(rng: np.random.Generator) -> dict[str, Any]:
    return {name: values[int(rng.integers(len(values)))] for name, values in SPACE.items()}


def _cv_trial(
    params: dict[str, Any],
    boost: BoostParams,
    x: np.ndarray,
    target: np.ndarray,
    names: list[str],
    categorical: list[str],
    fold_of: np.ndarray,
    deadline: float,
    must_finish: bool,
) -> tuple[float, int] | None:
    errors, rounds = [], []
    for fold in np.unique(fold_of):
        if not must_finish and time.perf_counter() > deadline:
            return None
        fit, held = fold_of != fold, fold_of == fold
        train_set = dataset(x[fit], target[fit], names, categorical)
        valid_set = dataset(x[held], target[held], names, categorical, reference=train_set)
        booster = lgb.train(
            params,
            train_set,
            num_boost_round=boost.num_boost_round,
            valid_sets=[valid_set],
            callbacks=[lgb.early_stopping(boost.early_stopping_rounds, verbose=False)],
        )
        guess = booster.predict(x[held], num_iteration=booster.best_iteration)
        errors.append(float(np.sqrt(np.mean((guess - target[held]) ** 2))))
        rounds.append(booster.best_iteration)
    return float(np.mean(errors)), round(float(np.mean(rounds)))


def search_price_params(
    x: np.ndarray,
    y: np.ndarray,
    names: list[str],
    categorical: list[str],
    base: BoostParams,
    *,
    budget_seconds: float,
    folds: int = 3,
    max_trials: int = 40,
    max_rows: int = 50_000,
    seed: int = 0,
) -> SearchResult:
    """Random search over `SPACE` by K-fold CV of the P50 booster: `max_trials` trials, time-capped.

    Args:
        x: [n, d] features of sold training rows; y: [n] sold prices (money).
        names: Feature names; categorical: names of category-code columns.
        base: The configured settings (trial 0, and the source of everything not searched).
        budget_seconds: Wall-clock cap; 0 keeps `base` without fitting anything.
        folds: CV folds.
        max_trials: The budget: trials run (trial 0 is `base`) unless the cap stops it first.
        max_rows: A seeded sample of at most this many rows is searched on.
        seed: Seeds the draws, folds, sample and LightGBM.

    Returns:
        The best settings found (`base` with the winning overrides) and the trials.
    """
    started = time.perf_counter()
    if budget_seconds <= 0 or len(y) < 4 * folds:
        return SearchResult(base)
    rng = np.random.default_rng(seed)
    if len(y) > max_rows:
        keep = np.sort(rng.choice(len(y), max_rows, replace=False))
        x, y = x[keep], y[keep]
    target = np.log1p(y)
    fold_of = rng.permutation(np.arange(len(y)) % folds)
    deadline = started + budget_seconds
    monotone = monotone_vector(names, PRICE_MONOTONE)
    result = SearchResult(base)
    candidates: list[dict[str, Any]] = [{}]
    seen: set[tuple] = set()
    while len(candidates) < max_trials:
        draw = _draw(rng)
        key = tuple(sorted(draw.items()))
        if key not in seen:
            seen.add(key)
            candidates.append(draw)
    best_score = np.inf
    for overrides in candidates:
        if time.perf_counter() > deadline:
            result.capped = True
            break
        boost = base.model_copy(update=overrides)
        params = boost.lgb_params(seed, objective="regression", monotone_constraints=monotone)
        trial_start = time.perf_counter()
        outcome = _cv_trial(
            params,
            boost,
            x,
            target,
            names,
            categorical,
            fold_of,
            deadline,
            must_finish=not result.trials,
        )
        if outcome is None:
            result.capped = True
            break
        score, rounds = outcome
        result.trials.append(Trial(overrides, score, rounds, time.perf_counter() - trial_start))
        if score < best_score:
            best_score, result.best = score, boost
    result.seconds = time.perf_counter() - started
    return result
