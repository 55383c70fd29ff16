"""Train the price band and time-to-sell models from an outcomes table into one artifact.

Rows outside the fixed holdout (see `data.holdout_mask`) train the models: sold rows are split
(seeded) into fit, early-stopping and calibration parts for the price band; all rows, sold and
unsold, train time-to-sell, which sees the listing price relative to an out-of-fold predicted value.
A naive time-to-sell model of the same family fitted on sold rows only is kept in the artifact
as the reference for `tts_cindex_naive`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.pricing_features import PricingFeatures
from models.pricing.artifact import PricingArtifact
from models.pricing.boosting import BoostParams
from models.pricing.listing import TTS_MONOTONE, listing_matrix, listing_names
from models.pricing.price_model import PriceModel
from models.pricing.tts_model import TimeToSellModel, choose_edges
from training.pricing.config import PricingTrainConfig
from training.pricing.data import has_time_to_sell, holdout_mask, require_trainable, sold_rows
from training.pricing.search import SearchResult, search_price_params

Progress = Callable[[Iterable[Any], int], Iterator[Any]]


@dataclass
class TrainedPricing:
    """A trained artifact (without metrics yet) and the rows used."""

    artifact: PricingArtifact
    train_rows: pd.DataFrame
    holdout_rows: pd.DataFrame
    seconds: float
    search: SearchResult | None = None


def _split(n: int, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Seeded random partition of range(n): one index array per fraction, the rest last."""
    order = np.random.default_rng(seed).permutation(n)
    cuts = np.cumsum([round(f * n) for f in fractions])
    return np.split(order, cuts)


def _numbers(frame: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def search_price(
    features: PricingFeatures, sold: pd.DataFrame, config: PricingTrainConfig
) -> SearchResult:
    """The CV hyperparameter search of the P50 booster on sold training rows (time-bounded)."""
    x, names = features.transform(sold, out_of_fold=True)
    return search_price_params(
        x,
        _numbers(sold, "sold_price"),
        names,
        features.categorical,
        config.price,
        budget_seconds=config.search_seconds,
        folds=config.search_folds,
        max_trials=config.search_max_trials,
        max_rows=config.search_max_rows,
        seed=config.seed,
    )


def fit_price(
    features: PricingFeatures,
    sold: pd.DataFrame,
    config: PricingTrainConfig,
    boost: BoostParams | None = None,
) -> PriceModel:
    """The price band model from sold rows.

    With `config.refit` (default): early stopping chooses the rounds, cross-conformal scores
    calibrate the band and the boosters are refitted on all sold rows
    (`PriceModel.fit_cross`). Without: fit / early-stopping / calibration parts, as before.

    Args:
        features: The fitted transform.
        sold: Sold training rows.
        config: The run config.
        boost: LightGBM settings (default `config.price`; the search's choice when it ran).
    """
    x, names = features.transform(sold, out_of_fold=True)
    y = _numbers(sold, "sold_price")
    if config.refit:
        return PriceModel.fit_cross(
            x,
            y,
            names,
            features.categorical,
            valid_share=config.valid_fraction,
            boost=boost or config.price,
            coverage=config.coverage,
            seed=config.seed,
            folds=config.conformal_folds,
            refit_scale=config.refit_scale,
            blend=config.blend_extra_trees,
            raw_columns=features.unencoded_columns if config.blend_without_encodings else None,
        )
    valid, calib, fit = _split(
        len(sold), (config.valid_fraction, config.calibration_fraction), config.seed
    )
    return PriceModel.fit(
        x[fit],
        y[fit],
        names,
        features.categorical,
        valid=(x[valid], y[valid]),
        calibration=(x[calib], y[calib]),
        boost=boost or config.price,
        coverage=config.coverage,
        seed=config.seed,
    )


def out_of_fold_value(
    features: PricingFeatures,
    rows: pd.DataFrame,
    price: PriceModel,
    config: PricingTrainConfig,
    boost: BoostParams | None = None,
) -> np.ndarray:
    """log1p(P50) for every row from a P50 booster that never saw that row's price.

    Rows are cut into `value_folds` folds; each fold is predicted by a least-squares booster fit
    on the sold rows of the other folds (with the final model's number of rounds), blended with
    the same partners as the final P50 is (`PriceModel.refit_mid`).
    """
    x, names = features.transform(rows, out_of_fold=True)
    y = np.log1p(_numbers(rows, "sold_price")) if "sold_price" in rows.columns else None
    folds = config.value_folds
    if folds < 2 or y is None:
        return price.predict_mid(x)
    boost = boost or config.price
    fold_of = np.random.default_rng(config.seed + 1).integers(0, folds, len(rows))
    out = np.empty(len(rows))
    for fold in range(folds):
        fit = (fold_of != fold) & np.isfinite(y) & (y > 0)
        refitted = price.refit_mid(
            x[fit], np.expm1(y[fit]), names, features.categorical, boost, config.seed
        )
        out[fold_of == fold] = refitted.predict_mid(x[fold_of == fold])
    return out


def fit_time_to_sell(
    features: PricingFeatures,
    rows: pd.DataFrame,
    log_value: np.ndarray,
    config: PricingTrainConfig,
    *,
    sold_only: bool = False,
) -> TimeToSellModel:
    """The hazard model from listings at their list price (predicted value where none is given).

    Args:
        features: The fitted transform.
        rows: Listings with days_listed and sold.
        log_value: [len(rows)] out-of-fold log1p(P50) per listing.
        config: The run config.
        sold_only: Fit on sold rows only (the naive reference that ignores censoring).
    """
    days, sold = _numbers(rows, "days_listed"), _numbers(rows, "sold")
    keep = np.isfinite(days) & np.isfinite(sold)
    if sold_only:
        keep &= sold == 1
    index = np.flatnonzero(keep)
    if len(index) > config.tts_max_items:
        rng = np.random.default_rng(config.seed + 2)
        index = np.sort(rng.choice(index, config.tts_max_items, replace=False))
    rows = rows.iloc[index]
    log_value, days, sold = log_value[index], days[index], sold[index]
    price = listing_price(rows, np.expm1(log_value))
    x = listing_matrix(features, features.transform(rows, out_of_fold=True)[0], log_value, price)
    valid, fit = _split(len(rows), (config.valid_fraction,), config.seed + 3)
    edges = choose_edges(days, sold, config.tts_periods, config.tts_top_quantile)
    return TimeToSellModel.fit(
        x[fit],
        days[fit],
        sold[fit],
        listing_names(features),
        features.categorical,
        TTS_MONOTONE,
        edges=edges,
        boost=config.tts,
        valid=(x[valid], days[valid], sold[valid]),
        max_days=config.tts_max_days,
        seed=config.seed,
    )


def fit_closing(rows: pd.DataFrame, log_value: np.ndarray) -> dict[str, float] | None:
    """How the closing price follows the asking price, from sold rows with a list price.

    Least squares of log(sold / value) on log(list / value), value = the out-of-fold P50:
    close(ask) = value * exp(offset + slope * log(ask / value)), capped at the ask. A slope
    below 1 says asking more than the value closes at less than the ask (buyers negotiate).

    Returns:
        {"slope", "offset", "rows"}, or None with fewer than 50 usable rows (the price search
        then counts the ask as the closing price).
    """
    if "list_price" not in rows.columns or "sold_price" not in rows.columns:
        return None
    value = np.expm1(log_value)
    ask, sold = _numbers(rows, "list_price"), _numbers(rows, "sold_price")
    ok = np.isfinite(ask) & np.isfinite(sold) & (ask > 0) & (sold > 0) & (value > 0)
    if ok.sum() < 50:
        return None
    x = np.log(ask[ok] / value[ok])
    y = np.log(sold[ok] / value[ok])
    slope, offset = np.polyfit(x, y, 1)
    return {
        "slope": float(np.clip(slope, 0.0, 1.0)),
        "offset": float(offset),
        "rows": int(ok.sum()),
    }


def listing_price(rows: pd.DataFrame, fallback: np.ndarray) -> np.ndarray:
    """The price each listing was offered at: its list_price, else `fallback` (predicted value).

    Serving does the same (list_price where given, else P50), and a sold price is never used:
    only sold rows have one, so it would tell the model which rows sold.
    """
    if "list_price" not in rows.columns:
        return fallback
    given = _numbers(rows, "list_price")
    return np.where(np.isfinite(given) & (given > 0), given, fallback)


def train_pricing_model(
    frame: pd.DataFrame,
    config: PricingTrainConfig,
    *,
    file: str = "table",
    progress: Progress | None = None,
) -> TrainedPricing:
    """Train every part of the pricing model on the non-holdout rows of an outcomes table.

    Raises:
        DataError: the table has too few sold rows to train a price model.
    """
    started = time.perf_counter()
    held = holdout_mask(frame, config.holdout_fraction)
    train_rows, holdout_rows = frame[~held], frame[held]
    require_trainable(train_rows, file, config.min_sold_rows)
    state: dict[str, Any] = {}

    def stage_features() -> None:
        state["features"] = PricingFeatures(
            min_level_count=config.min_level_count,
            max_category_depth=config.max_category_depth,
            encode_levels=config.encode_levels,
            smoothing=config.encoding_smoothing,
        ).fit(train_rows)

    def stage_search() -> None:
        state["search"] = search_price(state["features"], sold_rows(train_rows), config)

    def stage_price() -> None:
        boost = state["search"].best
        state["price"] = fit_price(state["features"], sold_rows(train_rows), config, boost)

    def stage_tts() -> None:
        state["tts"] = state["naive"] = state["closing"] = None
        if has_time_to_sell(train_rows):
            value = out_of_fold_value(
                state["features"], train_rows, state["price"], config, state["search"].best
            )
            state["tts"] = fit_time_to_sell(state["features"], train_rows, value, config)
            state["naive"] = fit_time_to_sell(
                state["features"], train_rows, value, config, sold_only=True
            )
            state["closing"] = fit_closing(train_rows, value)

    stages = [stage_features, stage_search, stage_price, stage_tts]
    for stage in progress(stages, len(stages)) if progress else stages:
        stage()
    artifact = PricingArtifact(state["features"], state["price"], state["tts"], state["naive"])
    if state["closing"] is not None:
        artifact.info["closing"] = state["closing"]
    return TrainedPricing(
        artifact, train_rows, holdout_rows, time.perf_counter() - started, state["search"]
    )
