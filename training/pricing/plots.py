"""Evaluation plots of a pricing model: price calibration and band coverage, time-to-sell."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

DECILES = 10


def price_figure(predictions: pd.DataFrame) -> Figure:
    """Predicted P50 against sold price, and band coverage by decile of predicted price.

    Args:
        predictions: Holdout rows with sold_price, price_p10, price_p50, price_p90.
    """
    sold = predictions.dropna(subset=["sold_price"])
    figure = Figure(figsize=(10, 4.2))
    left, right = figure.subplots(1, 2)
    left.scatter(sold["price_p50"], sold["sold_price"], s=4, alpha=0.3)
    if len(sold):
        low = max(1.0, float(sold[["price_p50", "sold_price"]].min().min()))
        high = float(sold[["price_p50", "sold_price"]].max().max())
        left.plot([low, high], [low, high], color="black", linewidth=1)
        left.set_xscale("log")
        left.set_yscale("log")
    left.set(xlabel="predicted P50", ylabel="sold price", title="Price on the holdout")
    if len(sold) >= DECILES:
        bins = pd.qcut(sold["price_p50"], DECILES, labels=False, duplicates="drop")
        inside = (sold["sold_price"] >= sold["price_p10"]) & (
            sold["sold_price"] <= sold["price_p90"]
        )
        coverage = inside.groupby(bins).mean()
        right.bar(coverage.index + 1, coverage.to_numpy(), color="tab:blue")
    right.axhline(0.8, color="black", linestyle="--", linewidth=1)
    right.set(
        xlabel="decile of predicted price",
        ylabel="share inside [P10, P90]",
        ylim=(0, 1),
        title="Band coverage (target 0.8)",
    )
    figure.tight_layout()
    return figure


def days_figure(predictions: pd.DataFrame) -> Figure:
    """Share sold by the predicted P50 and P90 days, by decile of predicted P50 days.

    Censored rows observed for less than the predicted days are left out of each share.
    """
    figure = Figure(figsize=(5.5, 4.2))
    axis = figure.subplots()
    rows = predictions.dropna(subset=["days_to_sell_p50", "days_listed", "sold"])
    if len(rows) >= DECILES:
        bins = pd.qcut(rows["days_to_sell_p50"], DECILES, labels=False, duplicates="drop")
        for column, target in (("days_to_sell_p50", 0.5), ("days_to_sell_p90", 0.9)):
            sold_by = (rows["sold"] == 1) & (rows["days_listed"] <= rows[column])
            known = sold_by | (rows["days_listed"] >= rows[column])
            share = sold_by[known].groupby(bins[known]).mean()
            axis.plot(share.index + 1, share.to_numpy(), marker="o", label=f"sold by {column}")
            axis.axhline(target, color="grey", linestyle="--", linewidth=1)
    axis.set(
        xlabel="decile of predicted P50 days",
        ylabel="share sold",
        ylim=(0, 1),
        title="Time-to-sell calibration",
    )
    axis.legend(loc="lower right")
    figure.tight_layout()
    return figure


def has_days(predictions: pd.DataFrame) -> bool:
    """Whether the predictions carry days to sell and observed outcomes to plot against."""
    needed = {"days_to_sell_p50", "days_listed", "sold"}
    return needed <= set(predictions.columns) and bool(
        np.isfinite(predictions["days_to_sell_p50"].to_numpy(dtype="float64")).any()
    )
