"""Pricing metrics: price errors, band coverage and width, Harrell's C with censoring."""

from __future__ import annotations

import numpy as np


def rmsle(y: np.ndarray, pred: np.ndarray) -> float:
    """Root mean squared error of log1p(price)."""
    y, pred = np.asarray(y, dtype="float64"), np.asarray(pred, dtype="float64")
    return float(np.sqrt(np.mean((np.log1p(pred) - np.log1p(y)) ** 2)))


def mape(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean absolute percentage error, as a fraction, over rows with a positive price."""
    y, pred = np.asarray(y, dtype="float64"), np.asarray(pred, dtype="float64")
    keep = y > 0
    return float(np.mean(np.abs(pred[keep] - y[keep]) / y[keep]))


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination of the price (in money)."""
    y, pred = np.asarray(y, dtype="float64"), np.asarray(pred, dtype="float64")
    total = np.sum((y - y.mean()) ** 2)
    if total == 0:
        return float("nan")
    return float(1.0 - np.sum((y - pred) ** 2) / total)


def interval_coverage(y: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Share of prices inside [low, high]."""
    y = np.asarray(y, dtype="float64")
    return float(np.mean((y >= low) & (y <= high)))


def interval_width(low: np.ndarray, mid: np.ndarray, high: np.ndarray) -> float:
    """Mean relative band width (high - low) / mid."""
    mid = np.asarray(mid, dtype="float64")
    keep = mid > 0
    return float(np.mean((np.asarray(high)[keep] - np.asarray(low)[keep]) / mid[keep]))


def harrell_c(time: np.ndarray, event: np.ndarray, predicted_time: np.ndarray) -> float:
    """Harrell's concordance index for right-censored times.

    A pair (i, j) is comparable when i had the event (sold) and time_i < time_j, whatever j's
    status; it is concordant when the predicted time of i is shorter, and a tie in prediction
    counts one half. O(n log n) with a Fenwick tree over the prediction ranks.

    Args:
        time: Observed days (to sale, or to censoring).
        event: 1 when sold, 0 when censored.
        predicted_time: Higher means slower to sell (e.g. predicted days).

    Returns:
        C in [0, 1]; NaN when no pair is comparable.
    """
    time = np.asarray(time, dtype="float64")
    event = np.asarray(event).astype(bool)
    pred = np.asarray(predicted_time, dtype="float64")
    ranks = np.unique(pred, return_inverse=True)[1] + 1  # 1..m
    m = int(ranks.max()) if len(ranks) else 0
    tree = np.zeros(m + 1, dtype=np.int64)

    def add(i: int) -> None:
        while i <= m:
            tree[i] += 1
            i += i & -i

    def count_le(i: int) -> int:
        total = 0
        while i > 0:
            total += tree[i]
            i -= i & -i
        return int(total)

    order = np.argsort(-time, kind="stable")
    concordant = tied = comparable = 0.0
    inserted = 0
    pos = 0
    n = len(time)
    while pos < n:
        end = pos  # a block of equal times: compare against strictly later times only
        while end < n and time[order[end]] == time[order[pos]]:
            end += 1
        block = order[pos:end]
        for i in block:
            if event[i]:
                r = int(ranks[i])
                later_le = count_le(r)
                later_lt = count_le(r - 1)
                concordant += inserted - later_le  # later items predicted slower than i
                tied += later_le - later_lt
                comparable += inserted
        for i in block:
            add(int(ranks[i]))
            inserted += 1
        pos = end
    if comparable == 0:
        return float("nan")
    return float((concordant + 0.5 * tied) / comparable)
