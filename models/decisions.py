"""From model outputs to decisions: price band, guardrails, recommended price and route.

`decide` is the one function the service and `regrade price` call for a frame of items: it runs
the pricing predictor, applies the policy (floor, ceiling, price choice, list-price check) and
routes every unit, adding nothing of its own to the formulas in `models.guardrails` and
`models.routing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from models.guardrails import (
    PRICE_REASONS,
    PolicyArrays,
    PriceChoice,
    ceiling_price,
    check_list_price,
    choose_price,
    floor_price,
    liquidation_value,
    margin,
    margin_pct,
    policy_arrays,
    total_cost,
)
from models.policy import Policy
from models.routing import RouteInputs, better_grade, route

PRICE_COLUMNS = ("price_p10", "price_p50", "price_p90", "days_to_sell_p50", "days_to_sell_p90")
DECISION_COLUMNS = (
    *PRICE_COLUMNS,
    "recommended_price",
    "floor_price",
    "ceiling_price",
    "margin",
    "margin_pct",
    "route",
    "reasons",
)
LIST_COLUMNS = ("list_margin", "list_margin_pct", "list_violations")
PRICE_CANDIDATES = 9
"""Grid points of the price search (P50 is always added). Each candidate costs one time-to-sell
prediction per item, the bulk of batch pricing time; 9 points keep the chosen price within about
1/8 of the allowed range of the optimum while pricing over twice as fast as 21."""


class PricePredictor(Protocol):
    """What `decide` needs of a pricing model (`models.pricing.PricingPredictor` fits)."""

    def predict(self, items: pd.DataFrame) -> pd.DataFrame: ...

    def days_at_prices(self, items: pd.DataFrame, prices: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class IntakeSignals:
    """What the photos and the provenance check said about each unit (arrays of length n).

    Batch pricing has no photos: nothing is flagged and nothing needs review.
    """

    counterfeit_flagged: np.ndarray | bool = False
    needs_review: np.ndarray | bool = False
    provenance_verified: np.ndarray | bool = True
    provenance_codes: np.ndarray | str = ""


def _column(items: pd.DataFrame, name: str, dtype=float) -> np.ndarray:
    if name not in items.columns:
        return np.full(len(items), np.nan if dtype is float else None, dtype=dtype)
    if dtype is float:
        return pd.to_numeric(items[name], errors="coerce").to_numpy(dtype="float64")
    return items[name].to_numpy(dtype=object)


@dataclass(frozen=True)
class Refurbishment:
    """A unit priced at the grade a refurbishment reaches, for the rows where it is weighed.

    Every array has one entry per item; rows without a better grade (A, unknown) or where
    refurbishing is not worth pricing hold NaN (and False for `listable`).

    Attributes:
        price_better: P50 at the better grade.
        step_cost: The upgrade's cost the routing weighs: the policy's `upgrade_cost` for the
            unit's category and grade, else the unit's `refurb_cost`.
        band: PRICE_COLUMNS at the better grade (a frame indexed like the items).
        total_cost: total_cost at the better grade: the policy's upgrade_cost is added; a
            refurb_cost standing in for it is already inside total_cost (counted once).
        floor, ceiling: At the better grade.
        choice: `choose_price` at the better grade.
    """

    price_better: np.ndarray
    step_cost: np.ndarray
    band: pd.DataFrame
    total_cost: np.ndarray
    floor: np.ndarray
    ceiling: np.ndarray
    choice: PriceChoice


def _refurbishment(
    items: pd.DataFrame,
    predictor: PricePredictor,
    policy: Policy,
    settings: PolicyArrays,
    cost: np.ndarray,
    p50: np.ndarray,
) -> Refurbishment:
    """Price every B and C unit at the next better grade; run the price search at that grade
    for the units whose refurbishment clears `min_refurb_uplift` (the only ones it can route)."""
    n = len(items)
    categories = _column(items, "category", object)
    better = better_grade(_column(items, "grade", object))
    band = pd.DataFrame(np.nan, index=items.index, columns=list(PRICE_COLUMNS))
    rows = np.flatnonzero([g is not None for g in better])
    upgraded = items.iloc[rows].copy()
    upgraded["grade"] = better[rows]
    if len(rows):
        band.iloc[rows] = predictor.predict(upgraded).loc[:, list(PRICE_COLUMNS)].to_numpy()
    price_better = band["price_p50"].to_numpy(dtype="float64")
    explicit = settings.upgrade_cost
    step_cost = np.where(np.isfinite(explicit), explicit, _column(items, "refurb_cost"))
    cost_better = cost + np.where(np.isfinite(explicit), explicit, 0.0)
    better_settings = policy_arrays(policy, categories, better)
    floor = floor_price(cost_better, settings.min_margin, settings.fee_rate)
    ceiling = ceiling_price(_column(items, "new_price"), better_settings.max_fraction)
    weighed = (price_better - step_cost - p50) >= settings.min_refurb_uplift
    priced = np.flatnonzero(weighed)
    position = np.full(n, -1)
    position[rows] = np.arange(len(rows))
    recommended = np.full(n, np.nan)
    days = np.full(n, np.nan)
    listable = np.zeros(n, dtype=bool)
    flags = {code: np.zeros(n, dtype=bool) for code in PRICE_REASONS}
    if len(priced):
        sub = upgraded.iloc[position[priced]]
        p = {c: band[c].to_numpy(dtype="float64")[priced] for c in PRICE_COLUMNS[:3]}
        part = choose_price(
            p["price_p10"],
            p["price_p50"],
            p["price_p90"],
            floor[priced],
            ceiling[priced],
            cost_better[priced],
            lambda prices: predictor.days_at_prices(sub, prices),
            fee_rate=settings.fee_rate[priced],
            holding_cost_per_day=settings.holding_cost_per_day[priced],
            target_days=settings.target_days[priced],
            sell_horizon_days=settings.sell_horizon_days[priced],
            n_candidates=PRICE_CANDIDATES,
            close_at=_closing(predictor, sub),
            headroom=settings.p90_headroom[priced],
        )
        recommended[priced], days[priced] = part.recommended, part.days
        listable[priced] = part.listable
        for code, mask in part.flags.items():
            flags[code][priced] = mask
    choice = PriceChoice(recommended, days, listable, flags)
    return Refurbishment(price_better, step_cost, band, cost_better, floor, ceiling, choice)


def _closing(predictor: PricePredictor, items: pd.DataFrame):
    """The model's expected closing price at candidate asks, where it has one."""
    closing = getattr(predictor, "closing_prices", None)
    return None if closing is None else (lambda prices: closing(items, prices))


def _append_codes(codes: np.ndarray, extra: np.ndarray) -> np.ndarray:
    return codes + np.where((codes != "") & (extra != ""), ";", "") + extra


def decide(
    items: pd.DataFrame,
    predictor: PricePredictor,
    policy: Policy,
    signals: IntakeSignals | None = None,
) -> pd.DataFrame:
    """Price, check and route every item.

    A unit routed to `refurbish` is priced (band, days, recommended price, floor, ceiling,
    margin) at the grade the refurbishment reaches, with the upgrade's cost counted once (see
    `Refurbishment`); its reasons carry `priced_at_refurbished_grade`. Every listed route
    (restock, refurbish, resell) has a recommended price inside its floor and ceiling: a unit
    with none at the grade it would be listed at does not take that route.

    Args:
        items: Items typed by the "Item to price or assess" contract (`features.tables`).
        predictor: The pricing model.
        policy: The guardrail policy.
        signals: Counterfeit, review and provenance results; none flagged when omitted.

    Returns:
        A frame indexed like `items` with `DECISION_COLUMNS`, plus `LIST_COLUMNS` when `items`
        has a `list_price` column. `reasons` holds codes joined by ';' (`models.routing.REASONS`
        has a sentence for each).
    """
    signals = signals or IntakeSignals()
    band = predictor.predict(items)
    p10, p50, p90 = (band[c].to_numpy(dtype="float64") for c in PRICE_COLUMNS[:3])
    categories, grades = _column(items, "category", object), _column(items, "grade", object)
    settings = policy_arrays(policy, categories, grades)
    cost = total_cost(
        _column(items, "acquisition_cost"),
        _column(items, "refurb_cost"),
        _column(items, "logistics_cost"),
    )
    floor = floor_price(cost, settings.min_margin, settings.fee_rate)
    ceiling = ceiling_price(_column(items, "new_price"), settings.max_fraction)
    choice = choose_price(
        p10,
        p50,
        p90,
        floor,
        ceiling,
        cost,
        lambda prices: predictor.days_at_prices(items, prices),
        fee_rate=settings.fee_rate,
        holding_cost_per_day=settings.holding_cost_per_day,
        target_days=settings.target_days,
        sell_horizon_days=settings.sell_horizon_days,
        n_candidates=PRICE_CANDIDATES,
        close_at=_closing(predictor, items),
        headroom=settings.p90_headroom,
    )
    refurb = _refurbishment(items, predictor, policy, settings, cost, p50)
    routing = route(
        RouteInputs(
            counterfeit_flagged=signals.counterfeit_flagged,
            needs_review=signals.needs_review,
            grade=grades,
            source=_column(items, "source", object),
            opened=_column(items, "opened"),
            return_reason=_column(items, "return_reason", object),
            price_as_is=p50,
            price_better=refurb.price_better,
            refurb_cost=refurb.step_cost,
            listable=choice.listable,
            refurbish_listable=refurb.choice.listable,
            liquidation_value=liquidation_value(p10, settings.liquidation_fraction),
            provenance_required=settings.provenance_required,
            provenance_verified=signals.provenance_verified,
            provenance_codes=signals.provenance_codes,
        ),
        min_refurb_uplift=settings.min_refurb_uplift,
        restock_reasons=policy.restock_reasons,
    )
    upgraded = routing.route == "refurbish"
    price_codes = np.where(
        upgraded,
        _append_codes(np.full(len(items), "priced_at_refurbished_grade"), refurb.choice.codes()),
        choice.codes(),
    )
    out = band.loc[:, list(PRICE_COLUMNS)].copy()
    out.loc[upgraded, list(PRICE_COLUMNS)] = refurb.band.loc[upgraded, list(PRICE_COLUMNS)]
    recommended = np.where(upgraded, refurb.choice.recommended, choice.recommended)
    cost = np.where(upgraded, refurb.total_cost, cost)
    floor = np.where(upgraded, refurb.floor, floor)
    ceiling = np.where(upgraded, refurb.ceiling, ceiling)
    out["recommended_price"] = recommended
    out["floor_price"] = floor
    out["ceiling_price"] = ceiling
    out["margin"] = margin(recommended, cost, settings.fee_rate)
    out["margin_pct"] = margin_pct(recommended, cost, settings.fee_rate)
    out["route"] = routing.route
    out["reasons"] = _append_codes(routing.codes, price_codes.astype(object))
    if "list_price" in items.columns:
        listed = check_list_price(
            _column(items, "list_price"), cost, floor, ceiling, settings.fee_rate
        )
        out["list_margin"] = listed.margin
        out["list_margin_pct"] = listed.margin_pct
        out["list_violations"] = listed.codes()
    return out
