"""A small, known outcomes table for the pricing tests (independent of the synthetic generator).

Value falls with age and grade, varies by category and brand; two noisy, biased benchmark columns;
the list price scatters around value; the daily chance of selling rises as the list price falls
below value; listings still unsold at the observation date are right-censored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CATEGORIES = {"phone": (600.0, 0.025), "sneaker": (150.0, 0.012), "handbag": (900.0, 0.004)}
BRANDS = {"phone": ["Nova", "Kepler"], "sneaker": ["Stride", "Aero"], "handbag": ["Vale", "Lumen"]}
GRADE_FACTOR = {"A": 0.85, "B": 0.65, "C": 0.45}


def make_table(n: int = 600, seed: int = 0, *, censor_days: float = 60.0) -> pd.DataFrame:
    """An outcomes table with n rows; same seed, same table."""
    rng = np.random.default_rng(seed)
    category = rng.choice(list(CATEGORIES), n)
    brand = np.array([rng.choice(BRANDS[c]) for c in category])
    tier = np.where(np.isin(brand, ["Kepler", "Aero", "Lumen"]), 1.3, 1.0)
    grade = rng.choice(list(GRADE_FACTOR), n, p=[0.45, 0.35, 0.2])
    age = rng.uniform(1, 48, n).round(1)
    base = np.array([CATEGORIES[c][0] for c in category])
    rate = np.array([CATEGORIES[c][1] for c in category])
    new_price = (base * tier * rng.lognormal(0, 0.2, n)).round(2)
    value = new_price * np.exp(-rate * age) * np.array([GRADE_FACTOR[g] for g in grade])
    ebay = value * 1.05 * rng.lognormal(0, 0.2, n)
    vinted = value * 0.9 * rng.lognormal(0, 0.25, n)
    vinted[rng.random(n) < 0.3] = np.nan
    list_price = value * rng.lognormal(0.05, 0.2, n)
    daily = 0.05 * np.exp(-4.0 * np.log(list_price / value))
    days = rng.exponential(1.0 / daily)
    observed = rng.uniform(5, censor_days, n)
    sold = days <= observed
    sold_price = np.where(sold, list_price * rng.lognormal(-0.02, 0.03, n), np.nan)
    return pd.DataFrame(
        {
            "item_id": [f"t{seed}_{i:05d}" for i in range(n)],
            "category": category,
            "brand": brand,
            "grade": grade,
            "sold_price": np.round(sold_price, 2),
            "days_listed": np.round(np.where(sold, days, observed), 1),
            "sold": sold.astype(float),
            "age_months": age,
            "new_price": new_price,
            "list_price": np.round(list_price, 2),
            "benchmark_ebay": np.round(ebay, 2),
            "benchmark_vinted": np.round(vinted, 2),
            "attr_colour": rng.choice(["black", "white", "red"], n),
        }
    )


def fast_config(**overrides):
    """A pricing config small enough for the default test suite."""
    from models.pricing.boosting import BoostParams
    from training.pricing.config import PricingTrainConfig

    boost = BoostParams(num_boost_round=300, early_stopping_rounds=30, learning_rate=0.1)
    overrides = {"search_seconds": 0.5, "search_max_trials": 3, **overrides}
    return PricingTrainConfig(price=boost, tts=boost, min_level_count=3, **overrides)
