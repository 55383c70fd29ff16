"""The pricing policy against the synthetic generator's truth: `policy_profit_capture`.

On a synthetic table with `truth.csv` beside it, every holdout unit that `decide` lists as it
is (`resell`, `restock`; a refurbished unit would be a different unit) is priced three ways:
the recommended price, P50 and the legacy list price. Under the generator's truth a price P
earns, in expectation,

    close(P)  = min(P, market_value * (P / market_value) ** ASK_ANCHORING)   (the sale closes
                 between value and ask, never above the ask; negotiation noise averages out)
    S(t)      = exp(-(rate(P) * t) ** k),  rate(P) = hazard_rate * (P / list_price) ** -elasticity
    profit(P) = margin(close(P)) * (1 - S(H)) - holding_cost_per_day * E[min(T, H)]

with H the policy's `sell_horizon_days` and margin after fees at the unit's total cost. The
best price is the one maximising profit(P) on a fine grid over [floor, ceiling] (a missing
ceiling: up to three times the market value). `policy_profit_capture` is the total profit of
the recommended prices as a share of the best prices' total; `_p50` and `_list` the same for P50
and the legacy list price. `policy_profit_capture_range_best` is the same share for the best
price under the truth inside the range the recommendation is searched in, [max(floor, P10),
min(ceiling, P90 x p90_headroom)]: what a perfect demand model could reach inside the
contract's band, the bound on `policy_profit_capture` at that policy. The evaluation uses the
default policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from models.decisions import decide
from models.guardrails import margin, policy_arrays, total_cost
from models.policy import Policy
from models.pricing.predictor import PricingPredictor
from training.synth.outcomes import ASK_ANCHORING

GRID = 256
"""Prices tried between floor and ceiling for the best price (log-spaced)."""
TIME_STEPS = 64
"""Steps of the numerical integral of survival over the horizon."""
NO_CEILING_MULTIPLE = 3.0
"""Without a ceiling the best price is searched up to this multiple of the market value."""
OUTCOME_COLUMNS = ("sold_price", "days_listed", "sold")
NEEDED = ("market_value", "hazard_rate", "list_price_ratio", "price_elasticity", "weibull_shape")


def _numbers(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def true_profit(
    prices: np.ndarray,
    truth: dict[str, np.ndarray],
    cost: np.ndarray,
    fee_rate: np.ndarray,
    holding: np.ndarray,
    horizon: np.ndarray,
) -> np.ndarray:
    """Expected profit of listing each unit at `prices` ([n] or [n, k]) under the truth.

    Args:
        prices: Asking prices, [n] or [n, k].
        truth: Per unit [n]: market_value, the hazard rate at the legacy list price, that price
            (list_price), price_elasticity, weibull_shape.
        cost, fee_rate, holding, horizon: Per unit [n]: total cost, fee rate, holding cost per
            day, sell horizon in days (NaN: none; 365 days are used).
    """
    squeeze = np.ndim(prices) == 1
    p = np.atleast_2d(prices.T).T if squeeze else prices  # [n, k]

    def col(a: np.ndarray) -> np.ndarray:
        return np.asarray(a, dtype="float64")[:, None]

    value = col(truth["market_value"])
    close = np.minimum(p, value * (p / value) ** ASK_ANCHORING)
    rate = col(truth["hazard_rate"]) * (p / col(truth["list_price"])) ** -col(
        truth["price_elasticity"]
    )
    shape = col(truth["weibull_shape"])
    h = col(np.where(np.isfinite(horizon), horizon, 365.0))
    sold_within = 1.0 - np.exp(-((rate * h) ** shape))
    steps = np.linspace(0.0, 1.0, TIME_STEPS)  # E[min(T, H)] = integral of S over [0, H]
    t = h[..., None] * steps  # [n, 1, s]
    survival = np.exp(-((rate[..., None] * t) ** shape[..., None]))
    days = np.trapezoid(survival, t, axis=-1)
    profit = margin(close, col(cost), col(fee_rate)) * sold_within - col(holding) * days
    return profit[:, 0] if squeeze else profit


def policy_profit_capture(
    predictor: PricingPredictor,
    test: pd.DataFrame,
    truth: pd.DataFrame,
    policy: Policy | None = None,
) -> dict[str, Any]:
    """Profit capture of the recommended price, P50 and the legacy list price (see module doc).

    Returns:
        `policy_profit_capture`, `policy_profit_capture_p50`, `policy_profit_capture_list`,
        `policy_profit_capture_range_best` (the best price inside the search range),
        `policy_units` (units scored) and `policy_at_range_top` (share of recommended prices
        within 0.5% of the top of the search range, min(ceiling, P90 x p90_headroom)); None
        where nothing can be scored.
    """
    empty = dict.fromkeys(
        (
            "policy_profit_capture",
            "policy_profit_capture_p50",
            "policy_profit_capture_list",
            "policy_profit_capture_range_best",
            "policy_at_range_top",
        )
    )
    units = listed_units(predictor, test, truth, policy or Policy())
    if units is None:
        return {**empty, "policy_units": 0}
    total_best = float(units.best.sum())
    recommended = units.decided["recommended_price"].to_numpy(dtype="float64")

    def capture(prices: np.ndarray) -> float | None:
        if total_best <= 0:
            return None
        return float(true_profit(prices, *units.args, units.horizon).sum() / total_best)

    in_range = true_profit(_log_grid(*units.searched()), *units.args, units.horizon).max(axis=1)
    out, list_price = units.decided, units.truth["list_price"]
    return {
        "policy_profit_capture": capture(recommended),
        "policy_profit_capture_range_best": (
            float(in_range.sum() / total_best) if total_best > 0 else None
        ),
        "policy_profit_capture_p50": capture(out["price_p50"].to_numpy(dtype="float64")),
        "policy_profit_capture_list": capture(list_price),
        "policy_units": len(units.items),
        "policy_at_range_top": float(np.mean(recommended >= 0.995 * units.range_high)),
    }


@dataclass(frozen=True)
class ListedUnits:
    """The holdout units the policy lists as they are, with what scoring them needs.

    Attributes:
        items: Their item rows.
        decided: `decide`'s output for them.
        truth: Per unit: market_value, hazard_rate, list_price, price_elasticity, weibull_shape.
        args: (truth, total cost, fee rate, holding cost per day): `true_profit`'s arguments
            after the prices.
        horizon: Sell horizon in days per unit (NaN: none).
        best: The best expected profit per unit over [floor, ceiling] under the truth.
        range_low, range_high: The recommendation's search range, [max(floor, P10),
            min(ceiling, P90 x p90_headroom)] (empty where the price is pinned).
    """

    items: pd.DataFrame
    decided: pd.DataFrame
    truth: dict[str, np.ndarray]
    args: tuple
    horizon: np.ndarray
    best: np.ndarray
    range_low: np.ndarray
    range_high: np.ndarray

    def searched(self) -> tuple[np.ndarray, np.ndarray]:
        """The search range's ends; a unit whose price is pinned (floor or ceiling, the range
        empty) has its recommended price at both."""
        pinned = self.range_low > self.range_high
        recommended = self.decided["recommended_price"].to_numpy(dtype="float64")
        return (
            np.where(pinned, recommended, self.range_low),
            np.where(pinned, recommended, self.range_high),
        )


def listed_units(
    predictor: PricingPredictor, test: pd.DataFrame, truth: pd.DataFrame, policy: Policy
) -> ListedUnits | None:
    """Price `test` with `decide` and keep the units listed as they are (see module doc);
    None when the truth lacks a column or no unit can be scored."""
    if not set(NEEDED) <= set(truth.columns) or "item_id" not in truth.columns:
        return None
    items = test.drop(columns=[c for c in OUTCOME_COLUMNS if c in test.columns])
    decided = decide(items, predictor, policy)
    listed = decided["route"].isin(["resell", "restock"]).to_numpy()
    known = truth.set_index(truth["item_id"].astype(str))
    keys = items["item_id"].astype(str)
    found = keys.isin(known.index).to_numpy()
    rows = np.flatnonzero(listed & found & np.isfinite(_numbers(items, "list_price")))
    if len(rows) == 0:
        return None
    sub, out = items.iloc[rows], decided.iloc[rows]
    facts = known.loc[keys.iloc[rows]]
    true = {
        "market_value": _numbers(facts, "market_value"),
        "hazard_rate": _numbers(facts, "hazard_rate"),
        "list_price": _numbers(sub, "list_price"),
        "price_elasticity": _numbers(facts, "price_elasticity"),
        "weibull_shape": _numbers(facts, "weibull_shape"),
    }
    settings = policy_arrays(policy, _texts(sub, "category"), _texts(sub, "grade"))
    cost = total_cost(
        _numbers(sub, "acquisition_cost"),
        _numbers(sub, "refurb_cost"),
        _numbers(sub, "logistics_cost"),
    )
    args = (true, cost, settings.fee_rate, settings.holding_cost_per_day)
    horizon = settings.sell_horizon_days
    floor = out["floor_price"].to_numpy(dtype="float64")
    ceiling = out["ceiling_price"].to_numpy(dtype="float64")
    top = np.where(np.isfinite(ceiling), ceiling, NO_CEILING_MULTIPLE * true["market_value"])
    best = true_profit(_log_grid(floor, np.maximum(top, floor)), *args, horizon).max(axis=1)
    cap = np.where(np.isfinite(ceiling), ceiling, np.inf)
    high = np.minimum(cap, out["price_p90"].to_numpy() * settings.p90_headroom)
    low = np.maximum(floor, out["price_p10"].to_numpy(dtype="float64"))
    return ListedUnits(sub, out, true, args, horizon, best, low, high)


def _log_grid(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """[n, GRID] prices log-spaced from each row's `low` to its `high` (at least 0.01)."""
    low = np.maximum(low, 0.01)
    high = np.maximum(high, low)
    return np.exp(np.log(low)[:, None] + np.log(high / low)[:, None] * np.linspace(0, 1, GRID))


def _texts(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), None, dtype=object)
    return frame[name].to_numpy(dtype=object)
