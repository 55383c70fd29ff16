"""Candidate P50 members, fitted out of fold and blended by their out-of-fold error, in one run.

Run: `.venv/bin/python benchmarks/bench_price_members.py --data TABLE [--seed S] [--trials N]
[--members gb,et,...] [--blends gb+et,gb+et+plainraw]`.
The default config's features and CV search run once on the table's training rows (the fixed
holdout left out). Each member is a monotone least-squares booster on log1p(sold price) with its
rounds chosen by early stopping on 10% and scaled by 1.1, scored out of fold on 5 folds and
refitted on all rows for the holdout, with the same splits as `PriceModel.fit_cross`. Each blend's
non-negative weights (step 0.05, summing to 1) minimise the out-of-fold error; the holdout then
scores it beside `baseline_lgbm_rmsle` fitted on the same rows. P50 only: no band.

A member's name is a base and optional words: base `gb` (the search's settings) or `et` (the
same with extra trees); `adv` adds monotone_constraints_method "advanced"; `raw` drops the level
encodings (the columns `PriceModel`'s third member reads); `plain` uses `UNENCODED_SETTINGS`
instead of the search's settings; `full` keeps every level of the categoricals (min_level_count
1); `nomono` drops the monotone constraints. Words join with `_`: `gb_raw_plain`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from features.pricing_features import PricingFeatures
from models.pricing.boosting import dataset, monotone_vector, train
from models.pricing.price_model import (
    EXTRA_TREES,
    PRICE_MONOTONE,
    UNENCODED_SETTINGS,
    _blend_weights,
)
from training.pricing import metrics as m
from training.pricing.baselines import fit_plain_lgbm
from training.pricing.config import PricingTrainConfig
from training.pricing.data import holdout_mask, load_run_data, sold_rows
from training.pricing.train import search_price


def rmse(guess: np.ndarray, target: np.ndarray) -> float:
    """Root mean squared error (rmsle when both are log1p prices)."""
    return float(np.sqrt(np.mean((guess - target) ** 2)))


def blend(oof: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float]:
    """The weights the product would choose from these out-of-fold predictions (its own grid
    search), and their out-of-fold error."""
    weights = _blend_weights(oof, target)
    return weights, rmse(weights @ oof, target)


def main() -> None:
    """Parse the arguments, fit the members, print each member and each blend."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="outcomes table or its folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=30, help="search_max_trials")
    parser.add_argument("--members", default="gb,et,gb_raw,gb_raw_plain")
    parser.add_argument("--blends", default="gb+et,gb+et+gb_raw,gb+et+gb_raw_plain")
    args = parser.parse_args()
    frame = load_run_data(args.data).frame
    config = PricingTrainConfig(search_max_trials=args.trials, seed=args.seed)
    held = holdout_mask(frame, config.holdout_fraction)
    train_rows, test = frame[~held], sold_rows(frame[held])
    sold = sold_rows(train_rows)
    y = np.log1p(sold["sold_price"].to_numpy(dtype="float64"))
    y_test = np.log1p(test["sold_price"].to_numpy(dtype="float64"))
    plain = m.rmsle(np.expm1(y_test), fit_plain_lgbm(sold, seed=config.seed)(test))
    fitted: dict[int, PricingFeatures] = {}

    def features(level: int) -> PricingFeatures:
        if level not in fitted:
            fitted[level] = PricingFeatures(
                min_level_count=level,
                max_category_depth=config.max_category_depth,
                encode_levels=config.encode_levels,
                smoothing=config.encoding_smoothing,
            ).fit(train_rows)
        return fitted[level]

    best = search_price(features(config.min_level_count), sold, config).best
    print(f"{args.data} seed {args.seed}: baseline_lgbm_rmsle {plain:.4f}; search chose {best}")
    rng = np.random.default_rng(config.seed)  # the splits of PriceModel.fit_cross
    order = rng.permutation(len(y))
    cut = max(1, round(config.valid_fraction * len(y)))
    stop, fit = order[:cut], order[cut:]
    fold_of = rng.permutation(np.arange(len(y)) % config.conformal_folds)
    oof, holdout = {}, {}
    for name in args.members.split(","):
        start = time.perf_counter()
        base, *words = name.split("_")
        chosen = features(1 if "full" in words else config.min_level_count)
        x, names = chosen.transform(sold, out_of_fold=True)
        x_test = chosen.transform(test)[0]
        if "raw" in words:
            keep = chosen.unencoded_columns
            x, x_test, names = x[:, keep], x_test[:, keep], [names[i] for i in keep]
        categorical = [c for c in chosen.categorical if c in names]
        boost = best.model_copy(update=UNENCODED_SETTINGS) if "plain" in words else best
        extra = dict(EXTRA_TREES) if base == "et" else {}
        if "adv" in words:
            extra["monotone_constraints_method"] = "advanced"
        directions = {} if "nomono" in words else PRICE_MONOTONE
        params = boost.lgb_params(
            config.seed,
            objective="regression",
            monotone_constraints=monotone_vector(names, directions),
            **extra,
        )
        train_set = dataset(x[fit], y[fit], names, categorical)
        valid_set = dataset(x[stop], y[stop], names, categorical, reference=train_set)
        stopped = train(params, train_set, valid_set, boost)
        rounds = max(1, round((stopped.best_iteration or stopped.current_iteration()) * 1.1))
        plan = boost.model_copy(update={"num_boost_round": rounds})
        oof[name] = np.empty(len(y))
        for fold in np.unique(fold_of):
            part = fold_of == fold
            booster = train(params, dataset(x[~part], y[~part], names, categorical), None, plan)
            oof[name][part] = booster.predict(x[part])
        booster = train(params, dataset(x, y, names, categorical), None, plan)
        holdout[name] = booster.predict(x_test)
        score = rmse(holdout[name], y_test)
        print(
            f"  {name}: rmsle {score:.4f} ({score / plain:.4f}x), out of fold "
            f"{rmse(oof[name], y):.4f}, {rounds} rounds, {time.perf_counter() - start:.0f} s"
        )
    for combo in args.blends.split(","):
        members = combo.split("+")
        weights, error = blend(np.stack([oof[k] for k in members]), y)
        score = rmse(weights @ np.stack([holdout[k] for k in members]), y_test)
        print(
            f"  {combo} (weights {', '.join(f'{w:.2f}' for w in weights)}): rmsle {score:.4f} "
            f"({score / plain:.4f}x), out of fold {error:.4f}"
        )


if __name__ == "__main__":
    main()
