"""Evaluate a pricing artifact on the fixed holdout of an outcomes table, against the baselines.

Every SPEC pricing metric key is returned; a metric that cannot be computed on the table is None
(null in metrics.json). Baselines are fitted on the table's non-holdout sold rows and scored on the
same holdout rows as the model. With the generator's truth table, the report also says how far
the model's rmsle is from the noise floor the generator implies.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from models.pricing.artifact import PricingArtifact
from models.pricing.listing import listing_matrix
from models.pricing.predictor import PricingPredictor
from models.pricing.tts_model import TimeToSellModel
from training.pricing import metrics as m
from training.pricing.baselines import (
    fit_benchmark,
    fit_category_brand_grade_median,
    fit_depreciation,
    fit_plain_lgbm,
)
from training.pricing.data import has_time_to_sell, holdout_mask, sold_rows
from training.pricing.policy_eval import policy_profit_capture
from training.pricing.train import listing_price

METRIC_KEYS = (
    "n_test",
    "rmsle",
    "mape",
    "r2",
    "baseline_benchmark_rmsle",
    "baseline_depreciation_rmsle",
    "baseline_lgbm_rmsle",
    "interval_coverage_80",
    "interval_width_80",
    "tts_cindex",
    "tts_cindex_naive",
    "rows_per_s",
)
"""The SPEC's pricing keys, always present."""
TARGETS = ("sold_price", "days_listed", "sold")


def _finite(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def tts_cindex(
    predictor: PricingPredictor, model: TimeToSellModel, rows: pd.DataFrame
) -> float | None:
    """Harrell's C of a time-to-sell model on listings at their listed price."""
    days = pd.to_numeric(rows["days_listed"], errors="coerce").to_numpy(dtype="float64")
    sold = pd.to_numeric(rows["sold"], errors="coerce").to_numpy(dtype="float64")
    keep = np.isfinite(days) & np.isfinite(sold)
    rows, days, sold = rows[keep], days[keep], sold[keep]
    if len(rows) < 2 or sold.sum() == 0:
        return None
    x = predictor.matrix(rows)
    log_value = predictor.price_model.predict_mid(x)
    price = listing_price(rows, np.expm1(log_value))
    survival = model.survival(listing_matrix(predictor.features, x, log_value, price))
    return _finite(m.harrell_c(days, sold, model.restricted_mean_days(survival)))


def noise_floor(truth: pd.DataFrame, test_sold: pd.DataFrame) -> float | None:
    """RMSLE of the generator's own expectation of each sold price: what no model can beat.

    Uses truth's `expected_sold_price` (the sale at that list price without negotiation noise),
    else its `market_value`.
    """
    column = next((c for c in ("expected_sold_price", "market_value") if c in truth.columns), None)
    if column is None or "item_id" not in truth.columns:
        return None
    expected = truth.set_index(truth["item_id"].astype(str))[column]
    guess = test_sold["item_id"].astype(str).map(expected)
    guess = pd.to_numeric(guess, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    y = pd.to_numeric(test_sold["sold_price"], errors="coerce").to_numpy(dtype="float64")
    ok = np.isfinite(guess) & (guess > 0) & np.isfinite(y)
    return m.rmsle(y[ok], guess[ok]) if ok.any() else None


def holdout_predictions(
    artifact: PricingArtifact, frame: pd.DataFrame, *, holdout_fraction: float
) -> pd.DataFrame:
    """The holdout rows' outcomes next to the model's predictions (for predictions.csv, plots)."""
    test = frame[holdout_mask(frame, holdout_fraction)]
    kept = [c for c in ("item_id", "category", "grade", "list_price", *TARGETS) if c in test]
    predicted = PricingPredictor(artifact).predict(test)
    return pd.concat([test[kept], predicted], axis=1).reset_index(drop=True)


def evaluate_pricing_model(
    artifact: PricingArtifact,
    frame: pd.DataFrame,
    *,
    holdout_fraction: float,
    truth: pd.DataFrame | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Every pricing metric of `artifact` on the holdout rows of `frame`.

    Args:
        artifact: The model to evaluate.
        frame: A checked outcomes table.
        holdout_fraction: The holdout share used at training (see `data.holdout_mask`).
        truth: The generator's truth table (item_id, market_value, ...), when there is one.
        seed: Seeds the plain LightGBM baseline.

    Returns:
        The SPEC keys (None where not computable), plus `n_test_sold`,
        `baseline_median_rmsle` (category-brand-grade median) and, with truth,
        `noise_floor_rmsle`, `rmsle_above_floor` and the policy's profit capture under the
        truth (`training.pricing.policy_eval`).
    """
    predictor = PricingPredictor(artifact)
    held = holdout_mask(frame, holdout_fraction)
    train_rows, test = frame[~held], frame[held]
    result: dict[str, Any] = dict.fromkeys(METRIC_KEYS)
    result["n_test"] = len(test)
    if len(test) == 0:
        return result

    started = time.perf_counter()
    predicted = predictor.predict(test)
    result["rows_per_s"] = len(test) / max(time.perf_counter() - started, 1e-9)

    test_sold, train_sold = sold_rows(test), sold_rows(train_rows)
    result["n_test_sold"] = len(test_sold)
    if len(test_sold):
        y = test_sold["sold_price"].to_numpy(dtype="float64")
        band = predicted.loc[test_sold.index]
        p10, p50, p90 = (band[c].to_numpy() for c in ("price_p10", "price_p50", "price_p90"))
        result.update(
            rmsle=m.rmsle(y, p50),
            mape=m.mape(y, p50),
            r2=_finite(m.r2(y, p50)),
            interval_coverage_80=m.interval_coverage(y, p10, p90),
            interval_width_80=m.interval_width(p10, p50, p90),
        )
        if len(train_sold):
            fitted = {
                "baseline_benchmark_rmsle": fit_benchmark(train_sold),
                "baseline_depreciation_rmsle": fit_depreciation(train_sold),
                "baseline_median_rmsle": fit_category_brand_grade_median(train_sold),
                "baseline_lgbm_rmsle": fit_plain_lgbm(train_sold, seed=seed),
            }
            for key, baseline in fitted.items():
                result[key] = None if baseline is None else m.rmsle(y, baseline(test_sold))
        if truth is not None:
            floor = noise_floor(truth, test_sold)
            result["noise_floor_rmsle"] = floor
            result["rmsle_above_floor"] = None if floor is None else result["rmsle"] - floor

    if truth is not None and artifact.tts is not None:
        result.update(policy_profit_capture(predictor, test, truth))
    if has_time_to_sell(test):
        for key, model in (("tts_cindex", artifact.tts), ("tts_cindex_naive", artifact.tts_naive)):
            if model is not None:
                result[key] = tts_cindex(predictor, model, test)
    return result
