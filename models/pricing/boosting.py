"""Shared LightGBM plumbing for the pricing models: parameters, datasets, pinball objective."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import lightgbm as lgb
import numpy as np


@dataclass(frozen=True)
class BoostParams:
    """LightGBM settings for one booster (see LightGBM's parameter docs).

    Attributes:
        num_boost_round: Most boosting rounds.
        early_stopping_rounds: Stop when the validation loss has not improved for this many rounds.
        learning_rate: Shrinkage per round.
        num_leaves: Most leaves per tree.
        max_depth: Deepest tree (-1: no limit); shallow trees make explanations much cheaper.
        min_data_in_leaf: Fewest rows in a leaf.
        feature_fraction: Share of features tried per tree.
        bagging_fraction: Share of rows per tree (with bagging_freq 1 when below 1).
        lambda_l2: L2 penalty on leaf values.
        cat_smooth: Smoothing of categorical splits.
        min_data_per_group: Fewest rows per categorical level in a split.
        max_bin: Histogram bins per feature.
        num_threads: CPU threads (0: all cores; 1 by default: fastest on small data and shared
            machines, where OpenMP threads contend).
    """

    num_boost_round: int = 2000
    early_stopping_rounds: int = 100
    learning_rate: float = 0.05
    num_leaves: int = 31
    max_depth: int = -1
    min_data_in_leaf: int = 20
    feature_fraction: float = 0.9
    bagging_fraction: float = 1.0
    lambda_l2: float = 1.0
    cat_smooth: float = 10.0
    min_data_per_group: int = 20
    max_bin: int = 255
    num_threads: int = 1

    def lgb_params(self, seed: int, **extra: Any) -> dict[str, Any]:
        """The LightGBM parameter dict (boosting rounds and early stopping excluded)."""
        params = asdict(self)
        params.pop("num_boost_round")
        params.pop("early_stopping_rounds")
        if self.bagging_fraction < 1.0:
            params["bagging_freq"] = 1
        params.update(
            seed=seed,
            deterministic=True,
            force_row_wise=True,
            verbose=-1,
            monotone_constraints_method="intermediate",
        )
        params.update(extra)
        return params


def dataset(
    x: np.ndarray,
    y: np.ndarray,
    names: list[str],
    categorical: list[str],
    *,
    init_score: np.ndarray | None = None,
    reference: lgb.Dataset | None = None,
) -> lgb.Dataset:
    """A LightGBM dataset with named columns and categorical codes declared."""
    return lgb.Dataset(
        x,
        label=y,
        feature_name=names,
        categorical_feature=[n for n in categorical if n in names],
        init_score=init_score,
        reference=reference,
        free_raw_data=True,
        params={"verbose": -1},
    )


def pinball_objective(alpha: float, scale: float) -> Callable:
    """Quantile (pinball) loss as a custom objective.

    LightGBM's built-in quantile objective refuses monotone constraints (it re-fits leaf values);
    this one keeps plain gradient steps, so the constraints hold. `scale` sets the step size to
    the target's spread.
    """

    def objective(preds: np.ndarray, data: lgb.Dataset) -> tuple[np.ndarray, np.ndarray]:
        y = data.get_label()
        grad = np.where(y > preds, -alpha, 1.0 - alpha) * scale
        return grad, np.ones_like(preds)

    return objective


def pinball_metric(alpha: float) -> Callable:
    """Mean pinball loss as a LightGBM evaluation function (lower is better)."""

    def metric(preds: np.ndarray, data: lgb.Dataset) -> tuple[str, float, bool]:
        diff = data.get_label() - preds
        loss = np.mean(np.maximum(alpha * diff, (alpha - 1.0) * diff))
        return f"pinball_{alpha:g}", float(loss), False

    return metric


def monotone_vector(names: list[str], directions: dict[str, int]) -> list[int]:
    """LightGBM's monotone_constraints list for `names` (0 where no direction is given)."""
    return [int(directions.get(name, 0)) for name in names]


def train(
    params: dict[str, Any],
    train_set: lgb.Dataset,
    valid_set: lgb.Dataset | None,
    boost: BoostParams,
    feval: Callable | None = None,
) -> lgb.Booster:
    """Train with early stopping on `valid_set` when one is given."""
    callbacks = []
    valid_sets = []
    if valid_set is not None:
        valid_sets = [valid_set]
        callbacks.append(lgb.early_stopping(boost.early_stopping_rounds, verbose=False))
    return lgb.train(
        params,
        train_set,
        num_boost_round=boost.num_boost_round,
        valid_sets=valid_sets,
        feval=feval,
        callbacks=callbacks,
    )


def booster_from_text(text: str) -> lgb.Booster:
    """Load a booster from LightGBM's text model format."""
    return lgb.Booster(model_str=text)
