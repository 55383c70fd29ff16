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
1); `nomono` drops the monotone constraints; `sK` averages K boosters seeded seed, seed + 1000,
... (the rounds from the first seed's early stopping); `bag` caps bagging_fraction and
feature_fraction at 0.8; `tN` takes the search's N-th best trial's settings (`t0`: the best);
`dN` sets max_depth N with up to 8,000 rounds (shallow trees need more). Words join with `_`:
`gb_raw_plain`, `gb_s3_bag`.

Each blend is scored with the grid's weights and with equal weights; `--bootstrap N` adds the
standard deviation of its x-plain ratio over N resamples of the holdout rows (how far the
holdout's own noise moves the ratio).
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


def ratio_sd(guess: np.ndarray, plain: np.ndarray, target: np.ndarray, draws: int) -> float:
    """Standard deviation of rmse(guess) / rmse(plain) over `draws` bootstrap resamples of the
    rows (seeded): the holdout's own noise in the x-plain ratio."""
    rng = np.random.default_rng(0)
    ratios = []
    for _ in range(draws):
        rows = rng.integers(0, len(target), len(target))
        ratios.append(rmse(guess[rows], target[rows]) / rmse(plain[rows], target[rows]))
    return float(np.std(ratios))


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
    parser.add_argument("--bootstrap", type=int, default=0, help="resamples of the holdout")
    args = parser.parse_args()
    frame = load_run_data(args.data).frame
    config = PricingTrainConfig(search_max_trials=args.trials, seed=args.seed)
    held = holdout_mask(frame, config.holdout_fraction)
    train_rows, test = frame[~held], sold_rows(frame[held])
    sold = sold_rows(train_rows)
    y = np.log1p(sold["sold_price"].to_numpy(dtype="float64"))
    y_test = np.log1p(test["sold_price"].to_numpy(dtype="float64"))
    plain_guess = np.log1p(fit_plain_lgbm(sold, seed=config.seed)(test))
    plain = m.rmsle(np.expm1(y_test), np.expm1(plain_guess))
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

    search = search_price(features(config.min_level_count), sold, config)
    best, ranked = search.best, search.ranked()
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
        boost = best
        for word in words:
            if word[0] == "t" and word[1:].isdigit():
                boost = best.model_copy(update=ranked[int(word[1:])].params)
            elif word[0] == "d" and word[1:].isdigit():
                boost = boost.model_copy(
                    update={"max_depth": int(word[1:]), "num_boost_round": 8000}
                )
        if "plain" in words:
            boost = boost.model_copy(update=UNENCODED_SETTINGS)
        if "bag" in words:
            caps = {"bagging_fraction": 0.8, "feature_fraction": 0.8}
            boost = boost.model_copy(update={k: min(v, getattr(boost, k)) for k, v in caps.items()})
        seeds = next((int(w[1:]) for w in words if w[0] == "s" and w[1:].isdigit()), 1)
        extra = dict(EXTRA_TREES) if base == "et" else {}
        if "adv" in words:
            extra["monotone_constraints_method"] = "advanced"
        directions = {} if "nomono" in words else PRICE_MONOTONE
        monotone = monotone_vector(names, directions)
        params = [
            boost.lgb_params(
                config.seed + 1000 * k,
                objective="regression",
                monotone_constraints=monotone,
                **extra,
            )
            for k in range(seeds)
        ]
        train_set = dataset(x[fit], y[fit], names, categorical)
        valid_set = dataset(x[stop], y[stop], names, categorical, reference=train_set)
        stopped = train(params[0], train_set, valid_set, boost)
        rounds = max(1, round((stopped.best_iteration or stopped.current_iteration()) * 1.1))
        plan = boost.model_copy(update={"num_boost_round": rounds})
        oof[name], holdout[name] = np.zeros(len(y)), np.zeros(len(y_test))
        for seeded in params:
            for fold in np.unique(fold_of):
                part = fold_of == fold
                rows = dataset(x[~part], y[~part], names, categorical)
                oof[name][part] += train(seeded, rows, None, plan).predict(x[part]) / seeds
            booster = train(seeded, dataset(x, y, names, categorical), None, plan)
            holdout[name] += booster.predict(x_test) / seeds
        score = rmse(holdout[name], y_test)
        print(
            f"  {name}: rmsle {score:.4f} ({score / plain:.4f}x), out of fold "
            f"{rmse(oof[name], y):.4f}, {rounds} rounds, {time.perf_counter() - start:.0f} s"
        )
    for combo in args.blends.split(","):
        members = combo.split("+")
        weights, error = blend(np.stack([oof[k] for k in members]), y)
        guess = weights @ np.stack([holdout[k] for k in members])
        score = rmse(guess, y_test)
        equal = np.mean([holdout[k] for k in members], axis=0)
        noise = ""
        if args.bootstrap:
            noise = f", bootstrap sd {ratio_sd(guess, plain_guess, y_test, args.bootstrap):.4f}"
        print(
            f"  {combo} (weights {', '.join(f'{w:.2f}' for w in weights)}): rmsle {score:.4f} "
            f"({score / plain:.4f}x{noise}), out of fold {error:.4f}; equal weights "
            f"{rmse(equal, y_test) / plain:.4f}x"
        )


if __name__ == "__main__":
    main()
