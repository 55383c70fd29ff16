"""The synthetic units: who they are before anything is photographed or sold.

`make_items` draws each unit's category, brand, condition grade, counterfeit flag and data split.
The photo generator renders these items and the outcomes generator prices and sells them, so both
halves of a synthetic data set describe the same units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.schema import GRADES, SPLITS
from training.synth.catalog import BRAND_SPECS, BRANDS, CATEGORIES

GRADE_SHARES: tuple[float, float, float] = (0.45, 0.35, 0.20)
"""Share of grades A, B, C among intake units."""
SPLIT_SHARES: tuple[float, float, float] = (0.70, 0.15, 0.15)
"""Share of items in the train, val and test splits (exact up to rounding)."""
ITEMS_STREAM = 1
"""Mixed into the seed so items and outcomes draw from independent random streams."""
SYNTH_ITEM_COLUMNS: tuple[str, ...] = (
    "item_id",
    "category",
    "brand",
    "grade",
    "counterfeit",
    "split",
)


def _exact_counts(n: int, shares: tuple[float, ...]) -> np.ndarray:
    """Counts per share summing to `n` (largest remainders get the leftover units)."""
    raw = np.asarray(shares) / sum(shares) * n
    counts = np.floor(raw).astype(int)
    leftover = n - counts.sum()
    counts[np.argsort(-(raw - counts), kind="stable")[:leftover]] += 1
    return counts


def draw_choices(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One random index per row of `probs` (n, k); rows are unnormalised probabilities."""
    cumulative = np.cumsum(probs, axis=1)
    u = rng.random(len(probs)) * cumulative[:, -1]
    return (u[:, None] >= cumulative).sum(axis=1)


def _counterfeits(rng: np.random.Generator, weights: np.ndarray, rate: float) -> np.ndarray:
    """Exactly round(rate * n) counterfeits, more likely where `weights` is higher.

    Weighted sampling without replacement by the Gumbel top-k trick; independent of grade.
    """
    n = len(weights)
    k = round(rate * n)
    flags = np.zeros(n, dtype=np.int64)
    if k:
        keys = np.log(weights) + rng.gumbel(size=n)
        flags[np.argsort(-keys, kind="stable")[:k]] = 1
    return flags


def make_items(n_items: int, *, counterfeit_rate: float = 0.1, seed: int = 0) -> pd.DataFrame:
    """Draw the synthetic units.

    Args:
        n_items: Number of units.
        counterfeit_rate: Share of counterfeit units (exactly round(rate * n_items) of them);
            counterfeits are likelier in sneakers and handbags, and independent of grade.
        seed: Random seed; the same seed gives the same frame.

    Returns:
        One row per unit with columns item_id ("u000001", ...), category, brand, grade (A|B|C),
        counterfeit (0|1) and split (train|val|test, shares 70/15/15).

    Raises:
        ValueError: n_items is negative or counterfeit_rate is outside [0, 1].
    """
    if n_items < 0:
        raise ValueError(f"n_items must be >= 0, got {n_items}")
    if not 0.0 <= counterfeit_rate <= 1.0:
        raise ValueError(f"counterfeit_rate must be within [0, 1], got {counterfeit_rate}")
    rng = np.random.default_rng([ITEMS_STREAM, seed])
    specs = list(CATEGORIES.values())
    names = np.array([c.name for c in specs], dtype=object)

    category_idx = draw_choices(rng, np.tile([c.share for c in specs], (n_items, 1)))
    popularity = np.array(
        [[BRAND_SPECS[b].popularity for b in BRANDS[c.name]] for c in specs]
    )  # (n_categories, brands per category)
    brand_names = np.array([BRANDS[c.name] for c in specs], dtype=object)
    brand_idx = draw_choices(rng, popularity[category_idx])
    grade_idx = draw_choices(rng, np.tile(GRADE_SHARES, (n_items, 1)))
    weights = np.array([c.counterfeit_weight for c in specs])[category_idx]
    counterfeit = _counterfeits(rng, weights, counterfeit_rate)
    split = np.repeat(np.array(SPLITS, dtype=object), _exact_counts(n_items, SPLIT_SHARES))
    split = split[rng.permutation(n_items)]

    width = max(6, len(str(n_items)))
    return pd.DataFrame(
        {
            "item_id": [f"u{i:0{width}d}" for i in range(1, n_items + 1)],
            "category": names[category_idx],
            "brand": brand_names[category_idx, brand_idx],
            "grade": np.array(GRADES, dtype=object)[grade_idx],
            "counterfeit": counterfeit,
            "split": split,
        },
        columns=list(SYNTH_ITEM_COLUMNS),
    )
