"""Margin-floor guardrails over arrays: costs, margins, floor and ceiling, price choice, checks.

Pure numpy, one row per unit, so a whole catalogue is priced at once. The formulas (SPEC.md):

    total_cost    = acquisition_cost + refurb_cost + logistics_cost   (missing terms count 0)
    fees          = fee_rate * price
    margin        = price - total_cost - fees
    margin_pct    = margin / price
    floor_price   = total_cost / (1 - min_margin - fee_rate)     (margin_pct there = min_margin)
    ceiling_price = new_price * max_fraction_of_new[grade]       (NaN: no ceiling)

`choose_price` picks the recommended price; `check_list_price` checks a proposed one. Decisions
left open by SPEC are written down in `docs/policy.md`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.schema import GRADES
from models.policy import Policy, category_key

ArrayLike = np.ndarray | float | list[float]

DEFAULT_CANDIDATES = 21
"""Grid points between the lowest and the highest allowed price (P50 is always added)."""

PRICE_REASONS: dict[str, str] = {
    "priced_at_floor": "The best price the market supports is the floor price itself.",
    "capped_at_ceiling": "The market would pay more than the ceiling for this grade; the price "
    "is capped at the ceiling so resale stays cheaper than new.",
    "target_days_missed": "No allowed price is predicted to sell within target_days; the "
    "fastest-selling allowed price was chosen.",
    "no_profitable_price": "The whole market band (P10 to P90) lies below the floor price: no "
    "price the market pays keeps the minimum margin.",
    "floor_above_ceiling": "The floor price (costs plus minimum margin and fees) is above the "
    "ceiling for this grade: no price satisfies both.",
    "no_market_price": "The price model gave no usable P10 to P90 band for this unit.",
}
"""Codes `choose_price` can raise about the recommended price, with a sentence each."""

LIST_VIOLATIONS: dict[str, str] = {
    "below_floor": "The proposed list price is below the floor price (costs plus the minimum "
    "margin and fees).",
    "negative_margin": "The proposed list price does not even cover the total cost and fees.",
    "above_ceiling": "The proposed list price is above the ceiling for this grade (a share of "
    "the new price).",
}
"""Codes `check_list_price` can raise about a proposed price, with a sentence each."""


def _arr(values: ArrayLike) -> np.ndarray:
    return np.asarray(values, dtype=float)


def total_cost(
    acquisition_cost: ArrayLike | None,
    refurb_cost: ArrayLike | None = None,
    logistics_cost: ArrayLike | None = None,
) -> np.ndarray:
    """acquisition + refurbishment + logistics; a missing term (None or NaN) counts 0."""
    total = np.float64(0.0)
    for term in (acquisition_cost, refurb_cost, logistics_cost):
        if term is not None:
            total = total + np.nan_to_num(_arr(term), nan=0.0)
    return np.asarray(total, dtype=float)


def fees(price: ArrayLike, fee_rate: ArrayLike) -> np.ndarray:
    """Marketplace and payment fees: fee_rate * price."""
    return _arr(fee_rate) * _arr(price)


def margin(price: ArrayLike, total_cost: ArrayLike, fee_rate: ArrayLike = 0.0) -> np.ndarray:
    """price - total_cost - fees (NaN where the price is)."""
    price = _arr(price)
    return price - _arr(total_cost) - fees(price, fee_rate)


def margin_pct(price: ArrayLike, total_cost: ArrayLike, fee_rate: ArrayLike = 0.0) -> np.ndarray:
    """margin / price; NaN where the price is missing or not above 0."""
    price = _arr(price)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = margin(price, total_cost, fee_rate) / price
    return np.where(price > 0, pct, np.nan)


def floor_price(
    total_cost: ArrayLike, min_margin: ArrayLike, fee_rate: ArrayLike = 0.0
) -> np.ndarray:
    """total_cost / (1 - min_margin - fee_rate): the lowest price that keeps the minimum margin."""
    return _arr(total_cost) / (1.0 - _arr(min_margin) - _arr(fee_rate))


def ceiling_price(new_price: ArrayLike, max_fraction: ArrayLike) -> np.ndarray:
    """new_price * max_fraction_of_new[grade]; NaN (no ceiling) where the new price is unknown."""
    return _arr(new_price) * _arr(max_fraction)


def liquidation_value(p10: ArrayLike, liquidation_fraction: ArrayLike) -> np.ndarray:
    """What liquidating recovers: liquidation_fraction * P10 (NaN where P10 is unknown)."""
    return _arr(liquidation_fraction) * _arr(p10)


@dataclass(frozen=True)
class PolicyArrays:
    """The policy in force for each row (per-category overrides applied), as arrays of length n.

    `max_fraction` is the ceiling fraction for each row's grade (NaN for an unknown grade);
    `target_days` and `sell_horizon_days` are NaN where not set.
    """

    min_margin: np.ndarray
    fee_rate: np.ndarray
    max_fraction: np.ndarray
    holding_cost_per_day: np.ndarray
    target_days: np.ndarray
    sell_horizon_days: np.ndarray
    min_refurb_uplift: np.ndarray
    liquidation_fraction: np.ndarray
    provenance_required: np.ndarray
    p90_headroom: np.ndarray
    upgrade_cost: np.ndarray
    """The policy's cost of one grade step up from each row's grade; NaN where not set."""


def policy_arrays(policy: Policy, categories: ArrayLike, grades: ArrayLike) -> PolicyArrays:
    """Look up every row's settings once per distinct category and grade (fast on 100,000 rows:
    Python runs per distinct value, numpy per row)."""
    codes, uniques = pd.factorize(np.asarray(categories, dtype=object), use_na_sentinel=False)
    unique_keys = [category_key(c) for c in uniques]
    distinct = sorted(set(unique_keys))
    settings = [policy.for_category(k) for k in distinct]
    position = {k: i for i, k in enumerate(distinct)}
    inverse = np.array([position[k] for k in unique_keys], dtype=np.intp)[codes]

    def column(name: str) -> np.ndarray:
        values = [getattr(s, name) for s in settings]
        table = np.array([np.nan if v is None else v for v in values], dtype=float)
        return table[inverse] if len(inverse) else np.zeros(0)

    grade_names = GRADES
    fractions = np.array([[s.max_fraction_of_new[g] for g in grade_names] for s in settings])
    grade_codes, grade_uniques = pd.factorize(np.asarray(grades, dtype=object))
    lookup = [grade_names.index(g) if g in grade_names else -1 for g in grade_uniques]
    grade_idx = np.array([*lookup, -1], dtype=np.intp)[grade_codes]  # code -1 (missing) -> -1
    max_fraction = np.full(len(inverse), np.nan)
    known = grade_idx >= 0
    if len(inverse):
        max_fraction[known] = fractions[inverse[known], grade_idx[known]]
    upgrade = np.array(
        [[s.upgrade_cost.get(g, np.nan) for g in grade_names] for s in settings], dtype=float
    )
    upgrade_cost = np.full(len(inverse), np.nan)
    if len(inverse):
        upgrade_cost[known] = upgrade[inverse[known], grade_idx[known]]
    return PolicyArrays(
        upgrade_cost=upgrade_cost,
        p90_headroom=column("p90_headroom"),
        min_margin=column("min_margin"),
        fee_rate=column("fee_rate"),
        max_fraction=max_fraction,
        holding_cost_per_day=column("holding_cost_per_day"),
        target_days=column("target_days"),
        sell_horizon_days=column("sell_horizon_days"),
        min_refurb_uplift=column("min_refurb_uplift"),
        liquidation_fraction=column("liquidation_fraction"),
        provenance_required=column("provenance_required").astype(bool),
    )


def join_codes(flags: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """Per row, the codes whose mask is set, in the mapping's order, joined by ';'."""
    out = np.full(n, "", dtype=object)
    for code, mask in flags.items():
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), (n,))
        sep = np.where(mask & (out != ""), ";", "")
        out = out + sep + np.where(mask, code, "")
    return out


@dataclass(frozen=True)
class PriceChoice:
    """The recommended price per row and why.

    Attributes:
        recommended: The price (NaN where no price satisfies the policy: floor above ceiling, or
            no market band); never below the floor.
        days: Predicted days-to-sell at the recommended price (NaN where not listable).
        listable: True where a price in [floor, ceiling] is one the market pays.
        flags: Code -> row mask, codes from `PRICE_REASONS`.
    """

    recommended: np.ndarray
    days: np.ndarray
    listable: np.ndarray
    flags: dict[str, np.ndarray]

    def codes(self) -> np.ndarray:
        """The reason codes of each row joined by ';' (empty when nothing is notable)."""
        return join_codes(self.flags, len(self.recommended))


def sell_probability(days: np.ndarray, horizon: ArrayLike) -> np.ndarray:
    """P(sold within horizon) for a sale time with median `days`: 1 - 2^(-horizon/days).

    Treats time-to-sell as exponential with the predicted median; a NaN horizon gives 1.
    """
    horizon = np.broadcast_to(_arr(horizon), days.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 1.0 - np.exp2(-horizon / np.maximum(days, 0.0))
    return np.where(np.isnan(horizon), 1.0, np.where(days <= 0, 1.0, p))


def choose_price(
    p10: ArrayLike,
    p50: ArrayLike,
    p90: ArrayLike,
    floor: ArrayLike,
    ceiling: ArrayLike,
    total_cost: ArrayLike,
    days_at: Callable[[np.ndarray], np.ndarray],
    *,
    fee_rate: ArrayLike,
    holding_cost_per_day: ArrayLike,
    target_days: ArrayLike,
    sell_horizon_days: ArrayLike,
    n_candidates: int = DEFAULT_CANDIDATES,
    close_at: Callable[[np.ndarray], np.ndarray] | None = None,
    headroom: ArrayLike = 1.0,
) -> PriceChoice:
    """Choose the price that maximises expected margin minus holding cost.

    Candidates are `n_candidates` evenly spaced prices in
    [max(floor, P10), min(ceiling, P90 x headroom)] plus P50 (clipped into that range). For
    each, `days_at` predicts days-to-sell and the objective is
    `margin * P(sold within sell_horizon_days) - holding_cost_per_day * days`, the margin
    taken at the expected closing price `close_at(prices)` where given (a sale rarely closes
    at the ask), else at the price itself.
    Where `target_days` is set, only candidates predicted to sell within it count; when none
    does, the fastest-selling candidate is taken (`target_days_missed`).

    When the band and [floor, ceiling] do not meet: a floor above the ceiling gives NaN
    (`floor_above_ceiling`); a band entirely below the floor gives the floor and not listable
    (`no_profitable_price`); a band entirely above the ceiling gives the ceiling
    (`capped_at_ceiling`, listable). A missing P10 or P90 gives NaN (`no_market_price`).

    Args:
        p10, p50, p90: The price model's band per row (crossed quantiles are sorted).
        floor, ceiling: From `floor_price` and `ceiling_price` (NaN ceiling: none).
        total_cost: From `total_cost`.
        days_at: Maps candidate prices [n, k] to predicted days-to-sell [n, k] (the time-to-sell
            model at each row's other features); called once, with NaN prices (and so NaN
            days) in the rows of units that cannot be listed.
        fee_rate, holding_cost_per_day, target_days, sell_horizon_days: The policy, per row
            (`PolicyArrays`) or scalar; NaN target_days or sell_horizon_days means not set.
        n_candidates: Grid size (at least 2).
        close_at: Maps candidate asking prices [n, k] to expected closing prices [n, k].
        headroom: Per row or scalar: how far above P90 the search may ask (1: up to P90).
    """
    p10, p50, p90, floor, ceiling, total_cost = np.broadcast_arrays(
        *(np.atleast_1d(_arr(a)) for a in (p10, p50, p90, floor, ceiling, total_cost))
    )
    n = floor.shape[0]
    cap = np.where(np.isnan(ceiling), np.inf, ceiling)
    no_market = ~(np.isfinite(p10) & np.isfinite(p90))
    band_lo = np.fmin(np.minimum(p10, p90), p50)
    band_hi = np.fmax(np.maximum(p10, p90), p50)
    floor_above = ~no_market & (floor > cap)
    usable = ~no_market & ~floor_above
    lo = np.maximum(floor, band_lo)
    hi = np.minimum(cap, band_hi * np.broadcast_to(_arr(headroom), (n,)))
    in_band = usable & (lo <= hi)
    capped = usable & (band_lo > cap)
    no_profit = usable & (band_hi < floor)
    lo = np.where(in_band, lo, np.where(capped, cap, floor))
    hi = np.where(in_band, hi, lo)

    steps = np.linspace(0.0, 1.0, max(int(n_candidates), 2))
    prices = np.minimum(lo[:, None] + (hi - lo)[:, None] * steps[None, :], hi[:, None])
    mid = np.where(np.isfinite(p50), np.clip(p50, lo, hi), lo)
    prices = np.concatenate([prices, mid[:, None]], axis=1)  # [n, k]
    listable = in_band | capped
    # Days matter only where a unit can be listed: elsewhere its price is the floor whatever
    # they are, so the time-to-sell model is not run there (NaN prices, NaN days).
    days = np.asarray(days_at(np.where(listable[:, None], prices, np.nan)), dtype=float)
    if days.shape != prices.shape:
        raise ValueError(f"days_at returned shape {days.shape}, expected {prices.shape}")

    known = np.isfinite(days)
    safe_days = np.where(known, days, 0.0)
    revenue = prices if close_at is None else np.asarray(close_at(prices), dtype=float)
    expected = margin(revenue, total_cost[:, None], _arr(fee_rate)[..., None])
    expected = expected * sell_probability(safe_days, _arr(sell_horizon_days)[..., None])
    objective = expected - _arr(holding_cost_per_day)[..., None] * safe_days
    objective = np.where(known, objective, -np.inf)
    target = np.broadcast_to(_arr(target_days), (n,))[:, None]
    meets = ~np.isfinite(target) | (known & (days <= target))
    missed = ~meets.any(axis=1)
    objective = np.where(meets, objective, -np.inf)
    best = np.argmax(objective, axis=1)
    fastest = np.argmin(np.where(known, days, np.inf), axis=1)
    pick = np.where(missed, fastest, best)

    rows = np.arange(n)
    recommended = np.where(usable, prices[rows, pick], np.nan)
    chosen_days = np.where(usable, days[rows, pick], np.nan)
    flags = {
        "no_market_price": no_market,
        "floor_above_ceiling": floor_above,
        "no_profitable_price": no_profit,
        "capped_at_ceiling": capped,
        "priced_at_floor": listable & (recommended <= floor),
        "target_days_missed": listable & missed,
    }
    return PriceChoice(recommended, chosen_days, listable, flags)


@dataclass(frozen=True)
class ListCheck:
    """A proposed list price against the guardrails; NaN margins where no price was given."""

    margin: np.ndarray
    margin_pct: np.ndarray
    flags: dict[str, np.ndarray]

    def codes(self) -> np.ndarray:
        """Violation codes per row joined by ';' (empty when the price passes)."""
        return join_codes(self.flags, len(self.margin))


def check_list_price(
    list_price: ArrayLike,
    total_cost: ArrayLike,
    floor: ArrayLike,
    ceiling: ArrayLike,
    fee_rate: ArrayLike = 0.0,
) -> ListCheck:
    """Margin at a proposed price and the guardrails it breaks (codes from `LIST_VIOLATIONS`)."""
    price = np.atleast_1d(_arr(list_price))
    given = np.isfinite(price)
    list_margin = margin(price, total_cost, fee_rate)
    flags = {
        "below_floor": given & (price < _arr(floor)),
        "negative_margin": given & (list_margin < 0),
        "above_ceiling": given & (price > _arr(ceiling)),
    }
    return ListCheck(list_margin, margin_pct(price, total_cost, fee_rate), flags)
