"""The typed analytics report: what `build_report` returns and every renderer reads.

Money is in the store's currency; shares are in [0, 1]; a figure that cannot be computed on the
data in the window (no sold unit in a group, no override) is None. Group rows carry the group's
name in `group`; `by` maps a dimension (category, grade, source, month) to its rows, sorted by
group name.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class Figure(BaseModel):
    """A frozen part of the report."""

    model_config = ConfigDict(frozen=True)


class Window(Figure):
    """What the report covers: cases created in [since, until] (days, UTC)."""

    since: dt.date | None
    until: dt.date | None
    generated_at: dt.datetime
    cases: int = Field(description="Cases created in the window.")


class MarginRow(Figure):
    """Realised margin of the sold units of a group, against the recommended margin."""

    group: str
    sold: int
    revenue: float = Field(description="Sum of sold prices.")
    margin_total: float
    margin_mean: float | None = Field(description="Realised margin per unit sold.")
    margin_pct: float | None = Field(description="Total margin / revenue.")
    recommended_margin_mean: float | None = Field(
        description="Mean margin at the recommended price, as recorded at decision time."
    )
    margin_gap_mean: float | None = Field(
        description="Mean of realised minus recommended margin (units with both)."
    )


class BelowFloor(Figure):
    """A listed unit sold below its floor price, and why."""

    case_id: str
    item_id: str
    category: str
    route: str
    sold_price: float
    floor_price: float
    reason: str = Field(
        description="sold_without_decision, decided_below_floor, sold_below_decided_price "
        "or unexplained."
    )


class MarginFigures(Figure):
    """Realised margin per unit on sold outcomes, by group; units sold below their floor."""

    overall: MarginRow
    by: dict[str, list[MarginRow]]
    below_floor: list[BelowFloor]


class TurnoverRow(Figure):
    """Sell-through and time to sell of the listed units (those with an outcome) of a group."""

    group: str
    listed: int
    sold: int
    sell_through: float | None = Field(description="Sold / listed: conversion.")
    days_to_sell_mean: float | None
    days_to_sell_median: float | None
    sold_within: dict[str, float | None] = Field(
        description="Share sold within 30, 60, 90 days, of the units observed that long or sold."
    )
    turnover_per_year: float | None = Field(
        description="Units sold per unit of stock held for a year: sold * 365 / stock-days."
    )


class AgeingRow(Figure):
    """Unsold stock by days listed."""

    bucket: str
    units: int
    cost: float = Field(description="Total cost of these units.")


class TurnoverFigures(Figure):
    """Sell-through, days to sell and turnover by group; ageing of unsold stock."""

    overall: TurnoverRow
    by: dict[str, list[TurnoverRow]]
    ageing: list[AgeingRow]


class DecisionRow(Figure):
    """Pricing decisions of an analyst or a category."""

    group: str
    decided: int
    approved: int
    overridden: int
    approve_rate: float | None
    override_rate: float | None
    override_change_mean: float | None = Field(
        description="Mean of (override price - recommended) / recommended: the direction."
    )
    overrides_up: int
    overrides_down: int


class BandRow(Figure):
    """Realised prices against the P10/P50/P90 band at decision time (live band coverage)."""

    group: str
    sold: int
    coverage: float | None = Field(description="Share sold within [P10, P90].")
    below_p10: float | None
    above_p90: float | None
    sold_to_p50_mean: float | None = Field(description="Mean of sold price / P50.")


class PricingFigures(Figure):
    """Approval and override rates, override direction, and live band coverage."""

    overall: DecisionRow
    by_analyst: list[DecisionRow]
    by_category: list[DecisionRow]
    band: BandRow
    band_by_category: list[BandRow]


class Agreement(Figure):
    """Agreement of two raters on the same units; `confusion[i][j]` counts rater 1 said
    `labels[i]` and rater 2 said `labels[j]`."""

    group: str
    rater_1: str
    rater_2: str
    units: int
    agreement: float | None
    kappa: float | None = Field(description="Cohen's kappa (unweighted).")
    qwk: float | None = Field(description="Quadratic weighted kappa.")
    labels: list[str]
    confusion: list[list[int]]


class GradingFigures(Figure):
    """Model-vs-grader agreement, overall and per grader; inter-grader agreement per pair."""

    model_vs_grader: Agreement
    by_grader: list[Agreement]
    double_graded: Agreement = Field(description="All second gradings against the first.")
    grader_pairs: list[Agreement]
    second_gradings_open: int = Field(description="Cases waiting for their second grade.")


class RefurbRow(Figure):
    """Units routed to refurbishment in a group: cost and the uplift it bought."""

    group: str
    units: int
    refurb_cost_mean: float | None
    sold: int
    uplift_mean: float | None = Field(
        description="Mean of sold price minus the P50 predicted as-is, on sold units."
    )
    net_uplift_mean: float | None = Field(description="Mean uplift minus refurbishment cost.")


class RefurbFigures(Figure):
    """Refurbishment cost per unit and uplift, by category, grade and month."""

    overall: RefurbRow
    by: dict[str, list[RefurbRow]]


class RouteRow(Figure):
    """Units per route in a group (a month, or all)."""

    group: str
    units: int
    counts: dict[str, int]
    shares: dict[str, float]


class RouteFigures(Figure):
    """Share per route over time; liquidated and scrapped value."""

    overall: RouteRow
    by_month: list[RouteRow]
    liquidated_units: int
    liquidated_sold: int
    liquidated_recovered: float = Field(description="Sum of sold prices of liquidated units.")
    scrapped_units: int
    scrapped_cost: float = Field(description="Total cost of scrapped units, written off.")


class CarbonRow(Figure):
    """Carbon avoided by the units of a category resold."""

    category: str
    resold: int
    kg_co2e_per_unit: float | None = Field(description="None: no factor for this category.")
    kg_co2e: float


class CarbonFactor(Figure):
    """One category's factor, as the factors file gives it."""

    category: str
    kg_co2e_per_unit: float
    counts: str = Field(description="What the factor counts.")
    source: str = Field(description="The public source it comes from.")


class CarbonFigures(Figure):
    """Carbon avoided per resold unit and in total, with its assumptions."""

    kg_co2e_total: float
    kg_co2e_per_resold_unit: float | None
    resold: int
    resold_not_counted: int = Field(description="Resold units of categories with no factor.")
    by_category: list[CarbonRow]
    displacement: float = Field(description="Share of resales assumed to replace a new unit.")
    assumptions: list[str]
    factors: list[CarbonFactor]


class AnalyticsReport(Figure):
    """Every figure of the analytics report."""

    window: Window
    margin: MarginFigures
    turnover: TurnoverFigures
    pricing: PricingFigures
    grading: GradingFigures
    refurbishment: RefurbFigures
    routes: RouteFigures
    carbon: CarbonFigures
