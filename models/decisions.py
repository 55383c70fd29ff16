"""From model outputs to decisions: price band, guardrails, recommended price and route.

`decide` is the one function the service and `regrade price` call for a frame of items: it runs
the pricing predictor, applies the policy (floor, ceiling, price choice, list-price check) and
routes every unit, adding nothing of its own to the formulas in `models.guardrails` and
`models.routing`.

It fails closed: a unit whose price band (or, where the model has one, time to sell) is not
finite, or whose grader output was not (`IntakeSignals.model_failed`), gets no price band, no
recommended price and no margin, and is routed to authenticate (flagged) or review, never to a
listing, with the reason `model_output_not_finite`; one WARNING names the pricing model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

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
from models.routing import NOT_FINITE, RouteInputs, better_grade, route

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
DEMAND_ANCHORS = 2
"""Prices per unit at which the time-to-sell model runs during the price search when a unit has
no known point on its demand curve (see `demand_curve`; `decide` passes `predict`'s days at the
listing price, so the model runs once more per unit). The time-to-sell model is the bulk of batch
pricing time; the curve stays monotone (never a slower sale at a lower price)."""
PRICE_CANDIDATES = 9
"""Grid points of the price search (P50 is always added). Each candidate costs one time-to-sell
prediction per item, the bulk of batch pricing time; 9 points keep the chosen price within about
1/8 of the allowed range of the optimum while pricing over twice as fast as 21."""

log = logging.getLogger(__name__)


class PricePredictor(Protocol):
    """What `decide` needs of a pricing model (`models.pricing.PricingPredictor` fits)."""

    def predict(self, items: pd.DataFrame) -> pd.DataFrame: ...

    def days_at_prices(self, items: pd.DataFrame, prices: np.ndarray) -> np.ndarray: ...


# A predictor may also offer `prepare(items)` (the matrix and P50 computed once, accepted by
# the methods above), `price_p50(items)` and `closing_prices(items, prices, band=(p10, p90))`:
# `models.pricing.PricingPredictor` does; `decide` uses them where present.


@dataclass(frozen=True)
class IntakeSignals:
    """What the photos and the provenance check said about each unit (arrays of length n).

    Batch pricing has no photos: nothing is flagged and nothing needs review. `model_failed`
    marks units the grader gave a non-finite output for (their grade is not known).
    """

    counterfeit_flagged: np.ndarray | bool = False
    needs_review: np.ndarray | bool = False
    provenance_verified: np.ndarray | bool = True
    provenance_codes: np.ndarray | str = ""
    model_failed: np.ndarray | bool = False


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
    ready,
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
    upgraded = _regraded(predictor, _take(ready, rows), better[rows])
    price_better = np.full(n, np.nan)
    if len(rows):
        price_better[rows] = _p50(predictor, upgraded)
    explicit = settings.upgrade_cost
    step_cost = np.where(np.isfinite(explicit), explicit, _column(items, "refurb_cost"))
    cost_better = cost + np.where(np.isfinite(explicit), explicit, 0.0)
    weighed = (price_better - step_cost - p50) >= settings.min_refurb_uplift
    priced = np.flatnonzero(weighed)
    position = np.full(n, -1)
    position[rows] = np.arange(len(rows))
    sub = _take(upgraded, position[priced])
    if len(priced):  # the full band only where refurbishing can be chosen
        band.iloc[priced] = predictor.predict(sub).loc[:, list(PRICE_COLUMNS)].to_numpy()
    known = _known_days(items.iloc[priced], band.iloc[priced])
    better_settings = policy_arrays(policy, categories, better)
    floor = floor_price(cost_better, settings.min_margin, settings.fee_rate)
    ceiling = ceiling_price(_column(items, "new_price"), better_settings.max_fraction)
    part = _choose(
        predictor, sub, band.iloc[priced], (floor, ceiling, cost_better), settings, priced, known
    )
    choice = _spread(part, priced, n)
    return Refurbishment(price_better, step_cost, band, cost_better, floor, ceiling, choice)


def _choose(
    predictor: PricePredictor,
    ready,
    band: pd.DataFrame,
    limits: tuple[np.ndarray, np.ndarray, np.ndarray],
    settings: PolicyArrays,
    rows: np.ndarray,
    known: tuple[np.ndarray, np.ndarray],
) -> PriceChoice:
    """`choose_price` for the units at `rows` (their prepared items and band), with the demand
    curve through `known` and the model's closing price."""
    if len(rows) == 0:
        empty = np.zeros(0)
        return PriceChoice(empty, empty, empty.astype(bool), {c: empty for c in PRICE_REASONS})
    floor, ceiling, cost = (a[rows] for a in limits)
    p10, p50, p90 = (band[c].to_numpy(dtype="float64") for c in PRICE_COLUMNS[:3])
    return choose_price(
        p10,
        p50,
        p90,
        floor,
        ceiling,
        cost,
        lambda prices: demand_curve(
            lambda p: predictor.days_at_prices(ready, p), prices, known=known
        ),
        fee_rate=settings.fee_rate[rows],
        holding_cost_per_day=settings.holding_cost_per_day[rows],
        target_days=settings.target_days[rows],
        sell_horizon_days=settings.sell_horizon_days[rows],
        n_candidates=PRICE_CANDIDATES,
        close_at=_closing(predictor, ready, (p10, p90)),
        headroom=settings.p90_headroom[rows],
    )


def _spread(part: PriceChoice, rows: np.ndarray, n: int) -> PriceChoice:
    """A choice made for `rows` as n rows: NaN prices and days, not listable, no flags elsewhere."""
    recommended, days = np.full(n, np.nan), np.full(n, np.nan)
    listable = np.zeros(n, dtype=bool)
    flags = {code: np.zeros(n, dtype=bool) for code in PRICE_REASONS}
    recommended[rows], days[rows], listable[rows] = part.recommended, part.days, part.listable
    for code, mask in part.flags.items():
        flags[code][rows] = mask
    return PriceChoice(recommended, days, listable, flags)


def demand_curve(
    days_at,
    prices: np.ndarray,
    anchors: int = DEMAND_ANCHORS,
    known: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Days to sell at every candidate price from a few runs of the time-to-sell model.

    With `known` (each row's days at one price, e.g. `predict`'s days at the listing price) the
    model runs once per row, at the candidate farthest from that price in log price, and the
    curve is the power law through the two points (days = a x price^b, b >= 0: never faster at a
    higher price). Without it (or where a known point is missing), the model runs at `anchors`
    prices evenly spaced in log price over the candidates and log days are linear in log price
    between them.

    Args:
        days_at: Maps [n, a] prices to [n, a] days (the time-to-sell model).
        prices: [n, k] candidate prices (any order, positive).
        anchors: Prices per row without a known point (at least 2); with k <= anchors,
            `days_at` runs on the candidates themselves.
        known: ([n] prices, [n] days at them), or None.

    Returns:
        [n, k] days (NaN where the model's days are unknown or not positive).
    """
    prices = np.asarray(prices, dtype="float64")
    if prices.shape[1] <= anchors:
        return np.asarray(days_at(prices), dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p = np.log(prices)
        lo, hi = np.fmin.reduce(log_p, axis=1), np.fmax.reduce(log_p, axis=1)  # NaN rows: not run
        if known is not None:
            k_price, k_days = (np.asarray(a, dtype="float64") for a in known)
            ok = np.isfinite(k_price) & (k_price > 0) & np.isfinite(k_days) & (k_days > 0)
            if ok.all():
                k_log = np.log(k_price)
                far = np.where(np.abs(hi - k_log) >= np.abs(k_log - lo), hi, lo)
                far_days = np.asarray(days_at(np.exp(far)[:, None]), dtype="float64")[:, 0]
                far_days = np.where(far_days > 0, far_days, np.nan)
                gap = far - k_log
                slope = np.where(np.abs(gap) > 1e-9, (np.log(far_days) - np.log(k_days)) / gap, 0.0)
                slope = np.maximum(slope, 0.0)
                return k_days[:, None] * np.exp(slope[:, None] * (log_p - k_log[:, None]))
        steps = np.linspace(0.0, 1.0, max(anchors, 2))
        grid = lo[:, None] + (hi - lo)[:, None] * steps[None, :]  # [n, a]
        at_grid = np.asarray(days_at(np.exp(grid)), dtype="float64")
        log_days = np.log(np.where(at_grid > 0, at_grid, np.nan))
        width = np.maximum(hi - lo, 1e-12)[:, None]
        position = np.clip((log_p - lo[:, None]) / width, 0.0, 1.0) * (len(steps) - 1)
        # a NaN price (a row the model gave no band) keeps a NaN position: indexed at 0, NaN out
        left = np.minimum(np.floor(np.nan_to_num(position)).astype(int), len(steps) - 2)
        share = position - left
        rows = np.arange(len(prices))[:, None]
        start, end = log_days[rows, left], log_days[rows, left + 1]
        return np.exp(start + share * (end - start))


def _known_days(items: pd.DataFrame, band: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """`predict`'s days and the price they are at: list_price where given, else P50."""
    p50 = band["price_p50"].to_numpy(dtype="float64")
    listed = _column(items, "list_price")
    price = np.where(np.isfinite(listed) & (listed > 0), listed, p50)
    return price, band["days_to_sell_p50"].to_numpy(dtype="float64")


def _prepared(predictor: PricePredictor, items: pd.DataFrame):
    """The predictor's prepared rows (matrix and P50 computed once) where it can prepare."""
    prepare = getattr(predictor, "prepare", None)
    return items if prepare is None else prepare(items)


def _regraded(predictor: PricePredictor, ready, grades: np.ndarray):
    """The prepared rows at other grades: the predictor's `at_grade` where it has one (the
    matrix is not built again), else a copy of the frame with the grades replaced."""
    at_grade = getattr(predictor, "at_grade", None)
    if at_grade is not None:
        return at_grade(ready, grades)
    frame = (ready.items if hasattr(ready, "x") else ready).copy()
    frame["grade"] = grades
    return _prepared(predictor, frame)


def _p50(predictor: PricePredictor, items) -> np.ndarray:
    p50 = getattr(predictor, "price_p50", None)
    if p50 is not None:
        return p50(items)
    return predictor.predict(items)["price_p50"].to_numpy(dtype="float64")


def _take(items, rows: np.ndarray):
    return items.take(rows) if hasattr(items, "x") else items.iloc[rows]


def _closing(predictor: PricePredictor, items: pd.DataFrame, band: tuple[np.ndarray, np.ndarray]):
    """The model's expected closing price at candidate asks, where it has one, over the value's
    uncertainty that the band ([n] P10, [n] P90) implies."""
    closing = getattr(predictor, "closing_prices", None)
    return None if closing is None else (lambda prices: closing(items, prices, band=band))


def _append_codes(codes: np.ndarray, extra: np.ndarray) -> np.ndarray:
    return codes + np.where((codes != "") & (extra != ""), ";", "") + extra


def not_finite(band: pd.DataFrame, predictor: PricePredictor) -> np.ndarray:
    """Rows whose price band (or, where the model predicts it, time to sell) is not finite."""
    timed = getattr(predictor, "has_time_to_sell", False)
    columns = list(PRICE_COLUMNS if timed else PRICE_COLUMNS[:3])
    return ~np.isfinite(band.loc[:, columns].to_numpy(dtype="float64")).all(axis=1)


def _fail_closed(out: pd.DataFrame, failed: np.ndarray, routing_codes: np.ndarray) -> None:
    """No price and no listing for `failed` rows: authenticate (flagged) or review, and why."""
    if not failed.any():  # the usual case; a masked assignment costs milliseconds even so
        return
    money = [*PRICE_COLUMNS, "recommended_price", "margin", "margin_pct"]
    out.loc[failed, money] = np.nan
    authenticate = out["route"].to_numpy() == "authenticate"
    out.loc[failed & ~authenticate, "route"] = "review"
    prefix = np.where(authenticate, routing_codes, "")
    out.loc[failed, "reasons"] = _append_codes(prefix, np.full(len(out), NOT_FINITE))[failed]


def decide(
    items: pd.DataFrame,
    predictor: PricePredictor,
    policy: Policy,
    signals: IntakeSignals | None = None,
    ready: Any = None,
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
        ready: `predictor.prepare(items)` when the caller has it (the matrix is not built
            twice); prepared here otherwise.

    Returns:
        A frame indexed like `items` with `DECISION_COLUMNS`, plus `LIST_COLUMNS` when `items`
        has a `list_price` column. `reasons` holds codes joined by ';' (`models.routing.REASONS`
        has a sentence for each).
    """
    signals = signals or IntakeSignals()
    n = len(items)
    if ready is None:
        ready = _prepared(predictor, items)  # the feature matrix and P50 computed once
    p50 = _p50(predictor, ready)
    # known before any search: the grader failed, or the model's own P50 is not finite
    failed = np.broadcast_to(np.asarray(signals.model_failed, dtype=bool), (n,)) | ~np.isfinite(p50)
    categories, grades = _column(items, "category", object), _column(items, "grade", object)
    settings = policy_arrays(policy, categories, grades)
    cost = total_cost(
        _column(items, "acquisition_cost"),
        _column(items, "refurb_cost"),
        _column(items, "logistics_cost"),
    )
    floor = floor_price(cost, settings.min_margin, settings.fee_rate)
    ceiling = ceiling_price(_column(items, "new_price"), settings.max_fraction)
    refurb = _refurbishment(items, ready, predictor, policy, settings, cost, p50)

    def routed(listable: np.ndarray, p10: np.ndarray, failed: np.ndarray):
        return route(
            RouteInputs(
                counterfeit_flagged=signals.counterfeit_flagged,
                needs_review=np.asarray(signals.needs_review, dtype=bool) | failed,
                grade=grades,
                source=_column(items, "source", object),
                opened=_column(items, "opened"),
                return_reason=_column(items, "return_reason", object),
                price_as_is=p50,
                price_better=refurb.price_better,
                refurb_cost=refurb.step_cost,
                listable=listable & ~failed,
                refurbish_listable=refurb.choice.listable & ~failed,
                liquidation_value=liquidation_value(p10, settings.liquidation_fraction),
                provenance_required=settings.provenance_required,
                provenance_verified=signals.provenance_verified,
                provenance_codes=signals.provenance_codes,
            ),
            min_refurb_uplift=settings.min_refurb_uplift,
            restock_reasons=policy.restock_reasons,
        )

    # Whether a unit is refurbished depends on neither its as-is price nor its band (only
    # authenticate and review come before it, and restock needs grade A), so the as-is band,
    # days and price search run only for the units that are not refurbished.
    refurbished = routed(np.ones(n, dtype=bool), np.zeros(n), failed).route == "refurbish"
    as_is = np.flatnonzero(~refurbished)
    band = pd.DataFrame(np.nan, index=items.index, columns=list(PRICE_COLUMNS))
    if len(as_is):
        found = predictor.predict(_take(ready, as_is)).loc[:, list(PRICE_COLUMNS)]
        band.iloc[as_is] = found.to_numpy(dtype="float64")
    choice = _spread(
        _choose(
            predictor,
            _take(ready, as_is),
            band.iloc[as_is],
            (floor, ceiling, cost),
            settings,
            as_is,
            _known_days(items.iloc[as_is], band.iloc[as_is]),
        ),
        as_is,
        n,
    )
    # each unit's band is the one at the grade it would be listed at
    pricing_failed = np.where(
        refurbished, not_finite(refurb.band, predictor), not_finite(band, predictor)
    )
    if pricing_failed.any():
        log.warning(
            "pricing model: non-finite output for %d of %d item(s); not priced, sent to review "
            "(%s)",
            int(pricing_failed.sum()),
            n,
            NOT_FINITE,
        )
    failed = failed | pricing_failed
    routing = routed(choice.listable, band["price_p10"].to_numpy(dtype="float64"), failed)
    upgraded = routing.route == "refurbish"
    price_codes = np.where(
        upgraded,
        _append_codes(np.full(len(items), "priced_at_refurbished_grade"), refurb.choice.codes()),
        choice.codes(),
    )
    out = band.loc[:, list(PRICE_COLUMNS)].copy()
    if upgraded.any():
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
    _fail_closed(out, failed, routing.codes)
    if "list_price" in items.columns:
        listed = check_list_price(
            _column(items, "list_price"), cost, floor, ceiling, settings.fee_rate
        )
        out["list_margin"] = listed.margin
        out["list_margin_pct"] = listed.margin_pct
        out["list_violations"] = listed.codes()
    return out
