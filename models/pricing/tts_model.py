"""Time-to-sell: a discrete-time hazard model with LightGBM, right-censoring included.

Days listed are cut into periods (edges chosen from the sold rows' days). Each listing becomes one
row per period it was at risk in ("person-period" data); the label is 1 in the period it sold.
An unsold listing contributes the periods it survived, so censored rows teach the model too; an
unsold listing counts in its last period when it was observed for at least half of it. A binary
LightGBM booster then learns the hazard h(period, item, price), the chance of selling in a period
given it had not sold before. Survival is S(e_j) = prod_{i<=j} (1 - h_i), linear between edges,
and beyond the last edge it decays at the last period's daily hazard.

The price features (list price and its ratios to benchmarks, new price and predicted value) are
constrained so the hazard never falls when the price falls: a lower price never predicts a slower
sale, all else equal.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np

from models.pricing.boosting import (
    BoostParams,
    booster_from_text,
    dataset,
    monotone_vector,
    predict,
    train,
)

PERIOD_FEATURE = "period_start_day"
CHUNK_ROWS = 262_144
"""Most person-period rows scored at once (bounds memory for large batches)."""


def choose_edges(days: np.ndarray, sold: np.ndarray, n_periods: int, top_quantile: float) -> list:
    """Period edges in days: 0, then quantiles of the sold rows' days up to `top_quantile`."""
    sold_days = days[(sold == 1) & np.isfinite(days)]
    if len(sold_days) == 0:
        sold_days = days[np.isfinite(days)]
    levels = np.linspace(0.0, top_quantile, n_periods + 1)[1:]
    cuts = np.unique(np.ceil(np.quantile(sold_days, levels)).clip(min=1.0))
    return [0.0, *(float(c) for c in cuts)]


def person_period(
    days: np.ndarray, sold: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expand listings into at-risk periods.

    Returns:
        (row index into the listings, period index, label 1 where the listing sold in that period).
    """
    n_periods = len(edges) - 1
    k = np.searchsorted(edges, days, side="right") - 1  # period holding the time; n_periods beyond
    k = np.clip(k, 0, n_periods)
    inside = k < n_periods
    width = np.diff(edges)[np.minimum(k, n_periods - 1)]
    start = edges[np.minimum(k, n_periods - 1)]
    half_seen = (days - start) >= 0.5 * width
    last = inside & ((sold == 1) | half_seen)
    counts = k + last.astype(int)
    rows = np.repeat(np.arange(len(days)), counts)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    period = np.arange(len(rows)) - offsets
    label = ((period == k[rows]) & (sold[rows] == 1) & inside[rows]).astype("float64")
    return rows, period, label


class TimeToSellModel:
    """Hazard booster over periods; survival curves and days-to-sell quantiles per listing."""

    def __init__(self, booster: lgb.Booster, edges: list[float], *, max_days: float):
        self.booster = booster
        self.edges = np.asarray(edges, dtype="float64")
        self.max_days = float(max_days)

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        days: np.ndarray,
        sold: np.ndarray,
        names: list[str],
        categorical: list[str],
        monotone: dict[str, int],
        *,
        edges: list[float],
        boost: BoostParams,
        valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
        max_days: float = 730.0,
        seed: int = 0,
    ) -> TimeToSellModel:
        """Fit the hazard booster.

        Args:
            x: [n, d] listing features including the price features.
            days: [n] days listed (to sale, or to the observation date when unsold).
            sold: [n] 1 when sold, 0 when censored.
            names: Feature names of `x`; categorical: names holding category codes.
            monotone: Feature -> direction for the hazard (-1: the hazard falls as it rises).
            edges: Period edges in days (from `choose_edges`).
            boost: LightGBM settings.
            valid: (x, days, sold) for early stopping.
            max_days: Cap on predicted days (the survival tail is extrapolated up to it).
            seed: LightGBM seed.
        """
        grid = np.asarray(edges, dtype="float64")
        full_names = [*names, PERIOD_FEATURE]
        params = boost.lgb_params(
            seed,
            objective="binary",
            monotone_constraints=monotone_vector(full_names, monotone),
        )

        def expanded(xs: np.ndarray, ds: np.ndarray, ss: np.ndarray) -> tuple:
            rows, period, label = person_period(ds, ss, grid)
            return np.column_stack([xs[rows], grid[period]]), label

        train_x, train_y = expanded(x, days, sold)
        train_set = dataset(train_x, train_y, full_names, categorical)
        del train_x
        valid_set = None
        if valid is not None:
            valid_x, valid_y = expanded(*valid)
            valid_set = dataset(valid_x, valid_y, full_names, categorical, reference=train_set)
        booster = train(params, train_set, valid_set, boost)
        return cls(booster, list(grid), max_days=max_days)

    @property
    def n_periods(self) -> int:
        """Number of periods between the edges."""
        return len(self.edges) - 1

    def hazards(self, x: np.ndarray) -> np.ndarray:
        """[n, n_periods] chance of selling in each period, given unsold at its start."""
        n, periods = len(x), self.n_periods
        out = np.empty((n, periods))
        step = max(1, CHUNK_ROWS // periods)
        starts = self.edges[:-1]
        expanded = np.empty((min(n, step) * periods, x.shape[1] + 1))  # reused per block
        for lo in range(0, n, step):
            block = x[lo : lo + step]
            rows = expanded[: len(block) * periods]
            rows.reshape(len(block), periods, -1)[:, :, :-1] = block[:, None, :]
            rows[:, -1] = np.tile(starts, len(block))
            out[lo : lo + step] = predict(self.booster, rows).reshape(len(block), periods)
        return out

    def survival(self, x: np.ndarray) -> np.ndarray:
        """[n, n_periods + 1] chance of still being unsold at each edge (1 at day 0)."""
        hazards = self.hazards(x)
        return np.column_stack([np.ones(len(x)), np.cumprod(1.0 - hazards, axis=1)])

    def _tail_rate(self, survival: np.ndarray) -> np.ndarray:
        """Daily hazard of the last period, used beyond the last edge."""
        last = survival[:, -1] / np.maximum(survival[:, -2], 1e-12)
        width = self.edges[-1] - self.edges[-2]
        return -np.log(np.clip(last, 1e-12, 1.0 - 1e-12)) / width

    def survival_at(self, x: np.ndarray, days: np.ndarray) -> np.ndarray:
        """[n, len(days)] survival at the given days (linear between edges, exponential tail)."""
        survival = self.survival(x)
        days = np.asarray(days, dtype="float64")
        out = np.empty((len(x), len(days)))
        for j, day in enumerate(days):
            if day <= self.edges[-1]:
                k = int(
                    np.clip(
                        np.searchsorted(self.edges, day, side="right") - 1, 0, self.n_periods - 1
                    )
                )
                frac = (day - self.edges[k]) / (self.edges[k + 1] - self.edges[k])
                out[:, j] = survival[:, k] + frac * (survival[:, k + 1] - survival[:, k])
            else:
                rate = self._tail_rate(survival)
                out[:, j] = survival[:, -1] * np.exp(-rate * (day - self.edges[-1]))
        return out

    def quantile_days(self, survival: np.ndarray, q: float) -> np.ndarray:
        """Days until the chance of having sold reaches `q` (0.5: P50), capped at max_days."""
        target = 1.0 - q
        below = survival <= target
        reached = below.any(axis=1)
        j = np.argmax(below, axis=1).clip(min=1)
        rows = np.arange(len(survival))
        s_before, s_after = survival[rows, j - 1], survival[rows, j]
        e_before, e_after = self.edges[j - 1], self.edges[j]
        frac = (s_before - target) / np.maximum(s_before - s_after, 1e-12)
        inside = e_before + frac.clip(0.0, 1.0) * (e_after - e_before)
        rate = self._tail_rate(survival)
        tail = self.edges[-1] + np.log(np.maximum(survival[:, -1], 1e-12) / target) / np.maximum(
            rate, 1e-12
        )
        return np.minimum(np.where(reached, inside, tail), self.max_days)

    def restricted_mean_days(self, survival: np.ndarray) -> np.ndarray:
        """Expected days unsold within the last edge: the area under the survival curve."""
        widths = np.diff(self.edges)
        return np.sum(0.5 * (survival[:, 1:] + survival[:, :-1]) * widths, axis=1)

    def to_text(self) -> str:
        """The booster in LightGBM's text format."""
        return self.booster.model_to_string()

    def meta(self) -> dict[str, Any]:
        """The JSON part of the model."""
        return {"edges": [float(e) for e in self.edges], "max_days": self.max_days}

    @classmethod
    def from_text(cls, text: str, meta: dict[str, Any]) -> TimeToSellModel:
        """Rebuild from `to_text` and `meta` output."""
        return cls(booster_from_text(text), list(meta["edges"]), max_days=float(meta["max_days"]))
