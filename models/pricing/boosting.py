"""Shared LightGBM plumbing for the pricing models: parameters, datasets, pinball objective."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightgbm as lgb
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator


def numbers_only(value: Any) -> Any:
    """Refuse a bool or a string where a number is expected (pydantic would convert them)."""
    if isinstance(value, bool | str):
        raise ValueError("must be a number")
    return value


class BoostParams(BaseModel):
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

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_boost_round: int = Field(2000, ge=1)
    early_stopping_rounds: int = Field(100, ge=1)
    learning_rate: float = Field(0.05, gt=0)
    num_leaves: int = Field(31, ge=2)
    max_depth: int = Field(-1, ge=-1)
    min_data_in_leaf: int = Field(20, ge=1)
    feature_fraction: float = Field(0.9, gt=0, le=1)
    bagging_fraction: float = Field(1.0, gt=0, le=1)
    lambda_l2: float = Field(1.0, ge=0)
    cat_smooth: float = Field(10.0, ge=0)
    min_data_per_group: int = Field(20, ge=1)
    max_bin: int = Field(255, ge=2)
    num_threads: int = Field(1, ge=0)

    @field_validator("*", mode="before")
    @classmethod
    def check_number(cls, value: Any) -> Any:
        """Every setting is a number: no bools or strings."""
        return numbers_only(value)

    def lgb_params(self, seed: int, **extra: Any) -> dict[str, Any]:
        """The LightGBM parameter dict (boosting rounds and early stopping excluded)."""
        params = self.model_dump()
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


TEXT_MARKERS = ("\nend of trees\n", "\nend of parameters\n", "\npandas_categorical:")
"""Lines every complete LightGBM text model holds, the last one at its end."""


PREDICT_THREADS = 1
"""OpenMP threads per prediction call. A booster predicts not with the `num_threads` it was
trained with but with OpenMP's default (every core), and where the cores are busy (the service
grading photos beside `/price`) each call then waits for all its threads: a one-row prediction
cost a hundred times its work (benchmarks/README.md). The service and `regrade price` get their
parallelism from requests and chunks instead."""


def predict(booster: lgb.Booster, x: np.ndarray, **kwargs: Any) -> np.ndarray:
    """`booster.predict(x, **kwargs)` on `PREDICT_THREADS` threads."""
    return booster.predict(x, num_threads=PREDICT_THREADS, **kwargs)


def booster_from_text(text: str) -> lgb.Booster:
    """Load a booster from LightGBM's text model format.

    The text is checked to be complete first: LightGBM's parser can crash the process (not
    raise) on a truncated model, so a cut file must never reach it.

    Raises:
        ValueError: the text lacks the closing sections of a LightGBM model (truncated).
    """
    missing = [m.strip() for m in TEXT_MARKERS if m not in text]
    last = text.rstrip("\n").rsplit("\n", 1)[-1]
    if missing or not last.startswith("pandas_categorical:"):
        what = ", ".join(repr(m) for m in missing) or "'pandas_categorical' as the last line"
        raise ValueError(f"not a complete LightGBM text model (truncated?): no {what}")
    return lgb.Booster(model_str=text)
