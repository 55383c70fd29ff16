"""P50 alone against P50 blended with its partners, in one run, with the plain LightGBM.

Run: `.venv/bin/python benchmarks/bench_price_blend.py --data TABLE [--trials N] [--seed S]`.
The default config's feature transform and CV search run once on the table's training rows
(the fixed holdout left out); then the price band is fitted three times from the same search
result: P50 alone, blended with the extra-trees partner (`blend_extra_trees`), and with both
partners (`blend_without_encodings` too, the default), each scored on the holdout's sold rows
beside `baseline_lgbm_rmsle` fitted on the same training rows. Prints rmsle, its ratio to the
plain model (target <= 0.97), the blend weights, the band's coverage and width, and fit seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from features.pricing_features import PricingFeatures
from training.pricing import metrics as m
from training.pricing.baselines import fit_plain_lgbm
from training.pricing.config import PricingTrainConfig
from training.pricing.data import holdout_mask, load_run_data, sold_rows
from training.pricing.train import fit_price, search_price


def main() -> None:
    """Parse the arguments, run the comparison, print one line per variant."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="outcomes table or its folder")
    parser.add_argument("--trials", type=int, default=30, help="search_max_trials")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    frame = load_run_data(args.data).frame
    config = PricingTrainConfig(search_max_trials=args.trials, seed=args.seed)
    held = holdout_mask(frame, config.holdout_fraction)
    train_rows, test = frame[~held], sold_rows(frame[held])
    sold = sold_rows(train_rows)
    y = test["sold_price"].to_numpy(dtype="float64")
    plain = m.rmsle(y, fit_plain_lgbm(sold, seed=config.seed)(test))
    start = time.perf_counter()
    features = PricingFeatures(
        min_level_count=config.min_level_count,
        max_category_depth=config.max_category_depth,
        encode_levels=config.encode_levels,
        smoothing=config.encoding_smoothing,
    ).fit(train_rows)
    search = search_price(features, sold, config)
    print(
        f"{args.data}: baseline_lgbm_rmsle {plain:.4f}; search {len(search.trials)} trials "
        f"in {time.perf_counter() - start:.0f} s (capped: {search.capped})"
    )
    x = features.transform(test)[0]
    variants = {
        "P50 alone": (False, False),
        "+ extra trees": (True, False),
        "+ extra trees + unencoded": (True, True),
    }
    for label, (extra, unencoded) in variants.items():
        start = time.perf_counter()
        run = config.model_copy(
            update={"blend_extra_trees": extra, "blend_without_encodings": unencoded}
        )
        price = fit_price(features, sold, run, search.best)
        seconds = time.perf_counter() - start
        low, mid, high = (np.expm1(v) for v in price.predict_log(x))
        rmsle = m.rmsle(y, mid)
        print(
            f"  {label}: rmsle {rmsle:.4f} ({rmsle / plain:.4f}x), "
            f"weights {price.blend:.2f} / {price.raw_blend:.2f}, "
            f"coverage {m.interval_coverage(y, low, high):.3f}, "
            f"width {m.interval_width(low, mid, high):.3f}, fit {seconds:.0f} s"
        )


if __name__ == "__main__":
    main()
