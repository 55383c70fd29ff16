"""The figures, each computed from the case frame of `serving.analytics.cases.load_cases`.

Definitions (docs/analytics.md has them with examples):
- realised margin = sold price - total cost - fee_rate x sold price (the policy's fee rate for
  the category); a group's margin_pct = its total margin / its revenue; the recommended margin
  is the one recorded with the price at decision time;
- a unit is listed once an outcome is recorded for it; sell-through = sold / listed; the share
  sold within d days counts the units sold within d days among those whose state at day d is
  known (sold by then, or listed at least d days); turnover = sold x 365 / stock-days;
- the band coverage compares sold prices with the P10/P50/P90 recorded at decision time;
- refurbishment uplift = sold price - the P50 predicted at the unit's as-is grade (only where
  the price was recorded at that grade), net of the refurbishment cost.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from models.policy import Policy
from serving.analytics.agreement import GRADE_LABELS, cohen_kappa, confusion, quadratic_kappa
from serving.analytics.models import (
    AgeingRow,
    Agreement,
    BandRow,
    BelowFloor,
    DecisionRow,
    MarginFigures,
    MarginRow,
    RefurbFigures,
    RefurbRow,
    RouteFigures,
    RouteRow,
    TurnoverFigures,
    TurnoverRow,
)

DIMENSIONS = ("category", "grade", "source", "month")
"""The groups most figures are given by."""
SOLD_WITHIN_DAYS = (30, 60, 90)
AGEING_BUCKETS = ((0, 30, "0-30"), (30, 60, "31-60"), (60, 90, "61-90"), (90, np.inf, "91+"))
"""Days listed of unsold units: (above, at most, name)."""
ALL = "all"
UNLISTED_ROUTES = ("liquidate", "scrap")
"""Routes that sell a unit off without a listing, so with no floor to keep."""


def mean(values: pd.Series) -> float | None:
    """The mean of the finite values, or None when there is none."""
    values = pd.to_numeric(values, errors="coerce").astype("float64")
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else None


def share(part: float, whole: float) -> float | None:
    """part / whole, or None when whole is 0."""
    return part / whole if whole else None


def _grouped(frame: pd.DataFrame, dims: tuple[str, ...], row: Callable) -> dict[str, list]:
    return {
        dim: [row(str(name), group) for name, group in frame.groupby(dim, sort=True)]
        for dim in dims
    }


# --- margin --------------------------------------------------------------------------------


def realised_margin(frame: pd.DataFrame, policy: Policy) -> pd.Series:
    """Margin at the sold price, with the policy's fee rate for each unit's category."""
    rates = {c: policy.for_category(c).fee_rate for c in frame["category"].unique()}
    fee_rate = frame["category"].map(rates).astype("float64")
    return frame["sold_price"] - frame["total_cost"] - fee_rate * frame["sold_price"]


def _margin_row(name: str, sold: pd.DataFrame) -> MarginRow:
    both = sold["margin"] - sold["recommended_margin"]
    return MarginRow(
        group=name,
        sold=len(sold),
        revenue=float(sold["sold_price"].sum()),
        margin_total=float(sold["margin"].sum()),
        margin_mean=mean(sold["margin"]),
        margin_pct=share(float(sold["margin"].sum()), float(sold["sold_price"].sum())),
        recommended_margin_mean=mean(sold["recommended_margin"]),
        margin_gap_mean=mean(both),
    )


def _below_floor_reason(row: pd.Series) -> str:
    if pd.isna(row["action"]):
        return "sold_without_decision"
    if row["decision_price"] < row["floor_price"]:
        return "decided_below_floor"
    if row["sold_price"] < row["decision_price"]:
        return "sold_below_decided_price"
    return "unexplained"


def margin_figures(frame: pd.DataFrame, policy: Policy) -> MarginFigures:
    """Realised margin of sold units, by category, grade, source and month; listed units sold
    below their floor (liquidated and scrapped units have no listing floor: left out)."""
    sold = frame[frame["sold"] & frame["sold_price"].notna()].copy()
    sold["margin"] = realised_margin(sold, policy)
    listed = sold[~sold["route"].isin(UNLISTED_ROUTES)]
    below = listed[
        listed["floor_price"].notna() & (listed["sold_price"] < listed["floor_price"] - 1e-9)
    ]
    return MarginFigures(
        overall=_margin_row(ALL, sold),
        by=_grouped(sold, DIMENSIONS, _margin_row),
        below_floor=[
            BelowFloor(
                case_id=row["case_id"],
                item_id=row["item_id"],
                category=row["category"],
                route=row["route"],
                sold_price=float(row["sold_price"]),
                floor_price=float(row["floor_price"]),
                reason=_below_floor_reason(row),
            )
            for _, row in below.iterrows()
        ],
    )


# --- turnover ------------------------------------------------------------------------------


def _turnover_row(name: str, listed: pd.DataFrame) -> TurnoverRow:
    sold = listed[listed["sold"]]
    days = listed["days_listed"]
    within = {}
    for limit in SOLD_WITHIN_DAYS:
        hit = listed["sold"] & (days <= limit)
        known = hit | (days >= limit)
        within[str(limit)] = share(int(hit.sum()), int(known.sum()))
    stock_days = float(days.sum())
    return TurnoverRow(
        group=name,
        listed=len(listed),
        sold=len(sold),
        sell_through=share(len(sold), len(listed)),
        days_to_sell_mean=mean(sold["days_listed"]),
        days_to_sell_median=float(sold["days_listed"].median()) if len(sold) else None,
        sold_within=within,
        turnover_per_year=len(sold) * 365.0 / stock_days if stock_days > 0 else None,
    )


def turnover_figures(frame: pd.DataFrame) -> TurnoverFigures:
    """Sell-through, days to sell and turnover of listed units; ageing of the unsold ones."""
    listed = frame[frame["has_outcome"]]
    unsold = listed[~listed["sold"]]
    ageing = []
    for low, high, name in AGEING_BUCKETS:
        days = unsold["days_listed"]
        bucket = unsold[(days > low if low else days >= 0) & (days <= high)]
        ageing.append(
            AgeingRow(bucket=name, units=len(bucket), cost=float(bucket["total_cost"].sum()))
        )
    return TurnoverFigures(
        overall=_turnover_row(ALL, listed),
        by=_grouped(listed, DIMENSIONS, _turnover_row),
        ageing=ageing,
    )


# --- pricing decisions ---------------------------------------------------------------------


def _decision_row(name: str, decided: pd.DataFrame) -> DecisionRow:
    overrides = decided[decided["action"] == "override"]
    base = overrides["recommended_price"].where(overrides["recommended_price"] > 0)
    change = (overrides["decision_price"] - base) / base
    return DecisionRow(
        group=name,
        decided=len(decided),
        approved=int((decided["action"] == "approve").sum()),
        overridden=len(overrides),
        approve_rate=share(int((decided["action"] == "approve").sum()), len(decided)),
        override_rate=share(len(overrides), len(decided)),
        override_change_mean=mean(change),
        overrides_up=int((change > 0).sum()),
        overrides_down=int((change < 0).sum()),
    )


def _band_row(name: str, sold: pd.DataFrame) -> BandRow:
    price = sold["sold_price"]
    below, above = int((price < sold["p10"]).sum()), int((price > sold["p90"]).sum())
    return BandRow(
        group=name,
        sold=len(sold),
        coverage=share(len(sold) - below - above, len(sold)),
        below_p10=share(below, len(sold)),
        above_p90=share(above, len(sold)),
        sold_to_p50_mean=mean(price / sold["p50"].where(sold["p50"] > 0)),
    )


def decision_rows(frame: pd.DataFrame) -> tuple[DecisionRow, list[DecisionRow], list[DecisionRow]]:
    """Decisions overall, per analyst and per category."""
    decided = frame[frame["action"].notna()]
    by = _grouped(decided, ("analyst_id", "category"), _decision_row)
    return _decision_row(ALL, decided), by["analyst_id"], by["category"]


def band_rows(frame: pd.DataFrame) -> tuple[BandRow, list[BandRow]]:
    """Live band coverage overall and per category, on sold units with a recorded band."""
    sold = frame[frame["sold"] & frame["p10"].notna() & frame["p90"].notna()]
    sold = sold[sold["sold_price"].notna()]
    return _band_row(ALL, sold), _grouped(sold, ("category",), _band_row)["category"]


# --- grading -------------------------------------------------------------------------------


def agreement(
    name: str, rater_1: str, rater_2: str, grades_1: pd.Series, grades_2: pd.Series
) -> Agreement:
    """Confusion matrix, agreement and kappas of two raters' grades on the same units."""
    matrix = confusion(list(grades_1), list(grades_2))
    units = int(matrix.sum())
    return Agreement(
        group=name,
        rater_1=rater_1,
        rater_2=rater_2,
        units=units,
        agreement=share(int(np.trace(matrix)), units),
        kappa=cohen_kappa(matrix),
        qwk=quadratic_kappa(matrix),
        labels=list(GRADE_LABELS),
        confusion=matrix.tolist(),
    )


def model_vs_grader(frame: pd.DataFrame) -> tuple[Agreement, list[Agreement]]:
    """The grader's grade (rater 1) against the model's (rater 2), overall and per grader."""
    resolved = frame[frame["final_grade"].notna() & frame["model_grade"].notna()]
    overall = agreement(ALL, "grader", "model", resolved["final_grade"], resolved["model_grade"])
    per = [
        agreement(str(g), str(g), "model", rows["final_grade"], rows["model_grade"])
        for g, rows in resolved.groupby("grader_id", sort=True)
    ]
    return overall, per


def grader_pairs(pairs: pd.DataFrame) -> tuple[Agreement, list[Agreement]]:
    """First grade (rater 1) against the blind second grade (rater 2), overall and per pair.

    Args:
        pairs: One row per double-graded case: first_grader, first_grade, second_grader,
            second_grade. A pair is named by its two graders in sorted order; within it the
            first-named grader is rater 1, whichever of them graded first.
    """
    overall = agreement(ALL, "first", "second", pairs["first_grade"], pairs["second_grade"])
    rows = []
    for a, b, g1, g2 in pairs[
        ["first_grader", "second_grader", "first_grade", "second_grade"]
    ].itertuples(index=False):
        rows.append((a, b, g1, g2) if a <= b else (b, a, g2, g1))
    ordered = pd.DataFrame(rows, columns=["r1", "r2", "g1", "g2"])
    per = [
        agreement(f"{r1} / {r2}", r1, r2, group["g1"], group["g2"])
        for (r1, r2), group in ordered.groupby(["r1", "r2"], sort=True)
    ]
    return overall, per


# --- refurbishment and routes --------------------------------------------------------------


def _refurb_row(name: str, units: pd.DataFrame) -> RefurbRow:
    sold = units[units["sold"] & units["sold_price"].notna()]
    as_is = sold["p50"].where(sold["priced_grade"] == sold["grade"])
    uplift = sold["sold_price"] - as_is
    return RefurbRow(
        group=name,
        units=len(units),
        refurb_cost_mean=mean(units["refurb_cost"]),
        sold=len(sold),
        uplift_mean=mean(uplift),
        net_uplift_mean=mean(uplift - sold["refurb_cost"].fillna(0.0)),
    )


def refurb_figures(frame: pd.DataFrame) -> RefurbFigures:
    """Units routed to refurbish: cost per unit and uplift, by category, grade and month."""
    units = frame[frame["route"] == "refurbish"]
    return RefurbFigures(
        overall=_refurb_row(ALL, units),
        by=_grouped(units, ("category", "grade", "month"), _refurb_row),
    )


def _route_row(name: str, units: pd.DataFrame) -> RouteRow:
    counts = {str(k): int(v) for k, v in units["route"].value_counts().sort_index().items()}
    return RouteRow(
        group=name,
        units=len(units),
        counts=counts,
        shares={k: v / len(units) for k, v in counts.items()},
    )


def route_figures(frame: pd.DataFrame) -> RouteFigures:
    """Share per route overall and per intake month; liquidated and scrapped value."""
    liquidated = frame[frame["route"] == "liquidate"]
    sold = liquidated[liquidated["sold"]]
    scrapped = frame[frame["route"] == "scrap"]
    return RouteFigures(
        overall=_route_row(ALL, frame),
        by_month=_grouped(frame, ("month",), _route_row)["month"],
        liquidated_units=len(liquidated),
        liquidated_sold=len(sold),
        liquidated_recovered=float(sold["sold_price"].sum()),
        scrapped_units=len(scrapped),
        scrapped_cost=float(scrapped["total_cost"].sum()),
    )
