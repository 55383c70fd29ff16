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


def _price_at_better_grade(items: pd.DataFrame, predictor: PricePredictor) -> np.ndarray:
    """P50 with the grade set one step better (NaN where there is none, i.e. grade A)."""
    better = better_grade(_column(items, "grade", object))
    out = np.full(len(items), np.nan)
    rows = np.flatnonzero([g is not None for g in better])
    if len(rows):
        upgraded = items.iloc[rows].copy()
        upgraded["grade"] = better[rows]
        out[rows] = predictor.predict(upgraded)["price_p50"].to_numpy()
    return out


def decide(
    items: pd.DataFrame,
    predictor: PricePredictor,
    policy: Policy,
    signals: IntakeSignals | None = None,
) -> pd.DataFrame:
    """Price, check and route every item.

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
    )
    routing = route(
        RouteInputs(
            counterfeit_flagged=signals.counterfeit_flagged,
            needs_review=signals.needs_review,
            grade=grades,
            source=_column(items, "source", object),
            opened=_column(items, "opened"),
            return_reason=_column(items, "return_reason", object),
            price_as_is=p50,
            price_better=_price_at_better_grade(items, predictor),
            refurb_cost=_column(items, "refurb_cost"),
            listable=choice.listable,
            liquidation_value=liquidation_value(p10, settings.liquidation_fraction),
            provenance_required=settings.provenance_required,
            provenance_verified=signals.provenance_verified,
            provenance_codes=signals.provenance_codes,
        ),
        min_refurb_uplift=settings.min_refurb_uplift,
        restock_reasons=policy.restock_reasons,
        price_codes=choice.codes(),
    )
    out = band.loc[:, list(PRICE_COLUMNS)].copy()
    out["recommended_price"] = choice.recommended
    out["floor_price"] = floor
    out["ceiling_price"] = ceiling
    out["margin"] = margin(choice.recommended, cost, settings.fee_rate)
    out["margin_pct"] = margin_pct(choice.recommended, cost, settings.fee_rate)
    out["route"] = routing.route
    out["reasons"] = routing.codes
    if "list_price" in items.columns:
        listed = check_list_price(
            _column(items, "list_price"), cost, floor, ceiling, settings.fee_rate
        )
        out["list_margin"] = listed.margin
        out["list_margin_pct"] = listed.margin_pct
        out["list_violations"] = listed.codes()
    return out
