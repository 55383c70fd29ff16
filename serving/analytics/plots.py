"""The report's plots as PNG bytes, drawn with matplotlib's object API (no pyplot state, so a
page can draw them from several threads)."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from serving.analytics.models import AnalyticsReport

SIZE = (6.4, 3.6)
DPI = 100
ROUTE_ORDER = ("restock", "resell", "refurbish", "review", "authenticate", "liquidate", "scrap")


def _png(draw: Callable[[Axes], None]) -> bytes:
    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    draw(figure.add_subplot())
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _empty(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} in this window", ha="center", va="center")
    ax.set_axis_off()


def _nan(value: float | None) -> float:
    return np.nan if value is None else value


def margin_by_category(report: AnalyticsReport) -> bytes:
    """Realised against recommended margin per unit, by category."""
    rows = report.margin.by.get("category", [])

    def draw(ax: Axes) -> None:
        if not rows:
            return _empty(ax, "sold units")
        x = np.arange(len(rows))
        ax.bar(x - 0.2, [_nan(r.margin_mean) for r in rows], 0.4, label="realised")
        ax.bar(x + 0.2, [_nan(r.recommended_margin_mean) for r in rows], 0.4, label="recommended")
        ax.set_xticks(x, [r.group for r in rows])
        ax.set_ylabel("margin per unit sold")
        ax.set_title("Margin per unit by category")
        ax.legend()

    return _png(draw)


def sell_through(report: AnalyticsReport) -> bytes:
    """Share sold within 30, 60 and 90 days, by category."""
    rows = report.turnover.by.get("category", [])

    def draw(ax: Axes) -> None:
        if not rows:
            return _empty(ax, "listed units")
        x = np.arange(len(rows))
        for k, days in enumerate(("30", "60", "90")):
            values = [_nan(r.sold_within.get(days)) for r in rows]
            ax.bar(x + (k - 1) * 0.27, values, 0.27, label=f"within {days} days")
        ax.set_xticks(x, [r.group for r in rows])
        ax.set_ylim(0, 1)
        ax.set_ylabel("share sold")
        ax.set_title("Sell-through by category")
        ax.legend()

    return _png(draw)


def routes_by_month(report: AnalyticsReport) -> bytes:
    """Share of each route per intake month, stacked."""
    rows = report.routes.by_month

    def draw(ax: Axes) -> None:
        if not rows:
            return _empty(ax, "cases")
        routes = [r for r in ROUTE_ORDER if any(r in row.shares for row in rows)]
        routes += sorted({k for row in rows for k in row.shares} - set(routes))
        bottom = np.zeros(len(rows))
        for name in routes:
            values = np.array([row.shares.get(name, 0.0) for row in rows])
            ax.bar([row.group for row in rows], values, bottom=bottom, label=name)
            bottom += values
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of cases")
        ax.set_title("Routes by intake month")
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))
        ax.tick_params(axis="x", labelrotation=45)

    return _png(draw)


def grading_confusion(report: AnalyticsReport) -> bytes:
    """The grader's grade against the model's, as a heat map of counts."""
    agreement = report.grading.model_vs_grader

    def draw(ax: Axes) -> None:
        if not agreement.units:
            return _empty(ax, "resolved cases")
        matrix = np.array(agreement.confusion)
        ax.imshow(matrix, cmap="Blues")
        for (i, j), count in np.ndenumerate(matrix):
            colour = "white" if count > matrix.max() / 2 else "black"
            ax.text(j, i, str(count), ha="center", va="center", color=colour)
        ax.set_xticks(range(len(agreement.labels)), agreement.labels)
        ax.set_yticks(range(len(agreement.labels)), agreement.labels)
        ax.set_xlabel("model grade")
        ax.set_ylabel("grader grade")
        kappa = "n/a" if agreement.kappa is None else f"{agreement.kappa:.2f}"
        ax.set_title(f"Model vs grader (kappa {kappa}, {agreement.units} cases)")

    return _png(draw)


def band_coverage(report: AnalyticsReport) -> bytes:
    """Sold prices below, inside and above the P10-P90 band, by category."""
    rows = report.pricing.band_by_category

    def draw(ax: Axes) -> None:
        if not rows:
            return _empty(ax, "sold units with a price band")
        names = [r.group for r in rows]
        below = np.array([_nan(r.below_p10) for r in rows])
        inside = np.array([_nan(r.coverage) for r in rows])
        above = np.array([_nan(r.above_p90) for r in rows])
        ax.bar(names, below, label="below P10")
        ax.bar(names, inside, bottom=below, label="within P10-P90")
        ax.bar(names, above, bottom=below + inside, label="above P90")
        ax.axhline(0.1, color="grey", linewidth=0.8, linestyle=":")
        ax.axhline(0.9, color="grey", linewidth=0.8, linestyle=":")
        ax.set_ylim(0, 1)
        ax.set_title("Live price-band coverage by category (target 80%)")
        ax.legend(fontsize="small")

    return _png(draw)


def carbon_by_category(report: AnalyticsReport) -> bytes:
    """kg CO2e avoided by resold units, by category (categories with no factor shown at 0)."""
    rows = report.carbon.by_category

    def draw(ax: Axes) -> None:
        if not rows:
            return _empty(ax, "resold units")
        ax.bar([r.category for r in rows], [r.kg_co2e for r in rows], color="seagreen")
        ax.set_ylabel("kg CO2e avoided")
        ax.set_title(f"Carbon avoided: {report.carbon.kg_co2e_total:,.0f} kg CO2e (upper bound)")

    return _png(draw)


PLOTS: dict[str, Callable[[AnalyticsReport], bytes]] = {
    "margin_by_category": margin_by_category,
    "sell_through": sell_through,
    "routes_by_month": routes_by_month,
    "grading_confusion": grading_confusion,
    "band_coverage": band_coverage,
    "carbon_by_category": carbon_by_category,
}
"""Every plot, by the name its PNG file gets."""


def draw_plots(report: AnalyticsReport) -> dict[str, bytes]:
    """Every plot of the report as PNG bytes, by name."""
    return {name: draw(report) for name, draw in PLOTS.items()}
