"""The time-to-sell model's input: item features plus the price features of a candidate listing.

One item matrix serves any number of candidate prices: `listing_matrix` repeats each item row
once per candidate and appends the price features for that candidate. Every price feature rises
with the price, and the hazard is constrained to fall as each one rises.
"""

from __future__ import annotations

import numpy as np

from features.pricing_features import PRICE_INPUTS, PricingFeatures

VALUE_GAP = "list_to_value"
"""log1p(list price) minus the price model's log1p(P50): how far above predicted value it lists."""

TTS_MONOTONE: dict[str, int] = {name: -1 for name in (*PRICE_INPUTS, VALUE_GAP)}
"""A higher list price never raises the chance of selling, all else equal."""

LABELS = {VALUE_GAP: "list price / predicted value"}


def listing_names(features: PricingFeatures) -> list[str]:
    """Column names of `listing_matrix` output."""
    return [*features.names, *PRICE_INPUTS, VALUE_GAP]


def listing_matrix(
    features: PricingFeatures, x: np.ndarray, log_value: np.ndarray, prices: np.ndarray
) -> np.ndarray:
    """Listing rows for candidate prices.

    Args:
        features: The fitted transform that made `x`.
        x: [n, d] item features.
        log_value: [n] the price model's log1p(P50) per item.
        prices: [n] or [n, k] candidate list prices.

    Returns:
        [n, d + 4] for 1-D prices, else [n * k, d + 4] (row i * k + j is item i at price j).
    """
    prices = np.asarray(prices, dtype="float64")
    flat = prices.ndim == 1
    grid = prices[:, None] if flat else prices
    n, k = grid.shape
    price_part = features.price_inputs(x, grid)  # [n, k, 3]
    gap = np.log1p(grid) - log_value[:, None]  # [n, k]
    rows = np.concatenate(
        [
            np.repeat(x[:, None, :], k, axis=1),
            price_part,
            gap[:, :, None],
        ],
        axis=2,
    )
    return rows.reshape(n * k, -1)
