"""Speed of the pricing models: batch scoring against raw `Booster.predict`, and training time.

Run: `.venv/bin/python benchmarks/bench_pricing.py [--score-rows N] [--train-rows M] [--threads T]`.
Scoring: `PricingPredictor.predict` (feature transform, P10/P50/P90, days P50/P90) and
`contributions` on N rows (default 100,000), reported in rows/s against the in-run baseline:
the raw P50 `Booster.predict` on the same feature matrix. Training: the whole `train_pricing_model`
on M synthetic rows (default 1,000,000; `--train-rows 0` skips it).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from models.pricing.predictor import PricingPredictor
from training.pricing.config import PricingTrainConfig
from training.pricing.train import train_pricing_model
from training.synth.items import make_items
from training.synth.outcomes import make_outcomes

COUNTERFEIT_RATE = 0.1
SCORING_TRAIN_ROWS = 20_000
"""Rows of the table that trains the model whose scoring speed is measured."""


def synthetic(rows: int, seed: int) -> pd.DataFrame:
    """About `rows` outcome rows from the project's generator (counterfeits are not listed)."""
    items = make_items(round(rows / (1 - COUNTERFEIT_RATE)), counterfeit_rate=0.1, seed=seed)
    return make_outcomes(items, seed=seed)[0]


def timed(label: str, rows: int, action, baseline: float | None = None) -> float:
    """Run `action` once, print seconds and rows/s (and the ratio to `baseline` rows/s)."""
    start = time.perf_counter()
    action()
    seconds = time.perf_counter() - start
    rate = rows / seconds
    ratio = f"  {rate / baseline:6.3f} x raw" if baseline else ""
    print(f"{label:<36} {seconds:8.2f} s {rate:12,.0f} rows/s{ratio}", flush=True)
    return rate


def with_threads(config: PricingTrainConfig, threads: int) -> PricingTrainConfig:
    """The config with every booster on `threads` threads."""
    return config.model_copy(
        update={
            "price": config.price.model_copy(update={"num_threads": threads}),
            "tts": config.tts.model_copy(update={"num_threads": threads}),
        }
    )


def bench_scoring(rows: int, seed: int, threads: int) -> None:
    """Score `rows` items with the predictor and with the raw booster."""
    config = with_threads(PricingTrainConfig(seed=seed), threads)
    trained = train_pricing_model(synthetic(SCORING_TRAIN_ROWS, seed), config)
    predictor = PricingPredictor(trained.artifact)
    table = synthetic(rows, seed + 1)
    items = table.drop(columns=["sold_price", "days_listed", "sold"]).iloc[:rows]
    n = len(items)
    print(f"scoring {n:,} rows; model trained on {SCORING_TRAIN_ROWS:,} rows")
    matrix = predictor.matrix(items)
    booster = predictor.price_model.p50
    raw = timed("raw Booster.predict (P50, baseline)", n, lambda: booster.predict(matrix))
    timed("feature transform", n, lambda: predictor.matrix(items), raw)
    timed("predict: band + days (P50, P90)", n, lambda: predictor.predict(items), raw)
    prices = np.outer(np.ones(n), [0.8, 1.0, 1.2]) * items["list_price"].to_numpy()[:, None]
    timed(
        "days_at_prices, 3 prices per row", n, lambda: predictor.days_at_prices(items, prices), raw
    )
    timed("contributions (top 5, TreeSHAP)", n, lambda: predictor.contributions(items), raw)


def bench_training(rows: int, seed: int, threads: int) -> None:
    """Train every pricing model on `rows` synthetic rows."""
    table = synthetic(rows, seed)
    config = with_threads(PricingTrainConfig(seed=seed), threads)
    start = time.perf_counter()
    trained = train_pricing_model(table, config)
    seconds = time.perf_counter() - start
    art = trained.artifact
    print(
        f"training on {len(table):,} rows ({len(trained.train_rows):,} outside the holdout): "
        f"{seconds:.1f} s, {len(trained.train_rows) / seconds:,.0f} rows/s; "
        f"P50 trees {art.price.p50.num_trees()}, hazard trees "
        f"{art.tts.booster.num_trees() if art.tts else 0} (time-to-sell on at most "
        f"{config.tts_max_items:,} listings)"
    )


def main() -> None:
    """Parse arguments and run the benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--score-rows", type=int, default=100_000)
    parser.add_argument("--train-rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=1, help="LightGBM threads for training")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.score_rows:
        bench_scoring(args.score_rows, args.seed, args.threads)
    if args.train_rows:
        bench_training(args.train_rows, args.seed, args.threads)


if __name__ == "__main__":
    main()
