"""Renderers of the analytics report: report.json, PNG plots, one self-contained HTML page (the
plots embedded as data URIs, no external file or network), and a short terminal table.

`html_body` is the part of the page a web page can embed as it is; `write_report` writes the
files of `regrade report --out DIR`.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

from serving.analytics.models import AnalyticsReport, Figure
from serving.analytics.plots import draw_plots

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
PLOTS_DIR = "plots"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 72rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(28rem, 1fr)); gap: 1rem; }
"""


def _format(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_format(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(_format(v) for v in value)
    return str(value)


def html_table(rows: Sequence[Figure], columns: Sequence[str] | None = None) -> str:
    """An HTML table of figure rows (their fields as columns, or `columns`)."""
    if not rows:
        return "<p>none in this window</p>"
    names = list(columns or type(rows[0]).model_fields)
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_format(getattr(r, n)))}</td>" for n in names) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(title: str, *parts: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{''.join(parts)}</section>"


def _grouped(title: str, overall: Figure, by: dict[str, list]) -> str:
    parts = [f"<h3>{html.escape(title)}: overall</h3>", html_table([overall])]
    for dim, rows in by.items():
        parts += [f"<h3>by {html.escape(dim)}</h3>", html_table(rows)]
    return "".join(parts)


def html_body(report: AnalyticsReport, plots: dict[str, bytes]) -> str:
    """The report's sections (tables and embedded plots) as HTML, without the page around it."""
    w, carbon, grading = report.window, report.carbon, report.grading
    images = "".join(
        f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode("ascii")}"></figure>'
        for name, png in plots.items()
    )
    agreement_columns = ("group", "rater_1", "rater_2", "units", "agreement", "kappa", "qwk")
    return "".join(
        [
            f"<p>Cases created from {w.since or 'the first case'} to {w.until or 'the last'}: "
            f"{w.cases:,}. Generated {w.generated_at:%Y-%m-%d %H:%M} UTC.</p>",
            f'<div class="plots">{images}</div>',
            _section(
                "Margin",
                _grouped("Realised margin on sold units", report.margin.overall, report.margin.by),
                "<h3>Sold below the floor</h3>",
                html_table(report.margin.below_floor),
            ),
            _section(
                "Sell-through and turnover",
                _grouped("Listed units", report.turnover.overall, report.turnover.by),
                "<h3>Unsold stock by days listed</h3>",
                html_table(report.turnover.ageing),
            ),
            _section(
                "Pricing decisions",
                html_table([report.pricing.overall]),
                "<h3>by analyst</h3>",
                html_table(report.pricing.by_analyst),
                "<h3>by category</h3>",
                html_table(report.pricing.by_category),
                "<h3>Realised price against the P10/P50/P90 band</h3>",
                html_table([report.pricing.band, *report.pricing.band_by_category]),
            ),
            _section(
                "Grading consistency",
                "<h3>Model vs grader</h3>",
                html_table([grading.model_vs_grader, *grading.by_grader], agreement_columns),
                f"<h3>Double grading (blind second grade; "
                f"{grading.second_gradings_open} open)</h3>",
                html_table([grading.double_graded, *grading.grader_pairs], agreement_columns),
            ),
            _section(
                "Refurbishment",
                _grouped(
                    "Units routed to refurbish",
                    report.refurbishment.overall,
                    report.refurbishment.by,
                ),
            ),
            _section(
                "Routes",
                html_table([report.routes.overall, *report.routes.by_month]),
                f"<p>Liquidated: {report.routes.liquidated_units} units, "
                f"{report.routes.liquidated_sold} sold for "
                f"{report.routes.liquidated_recovered:,.2f}. Scrapped: "
                f"{report.routes.scrapped_units} units, cost written off "
                f"{report.routes.scrapped_cost:,.2f}.</p>",
            ),
            _section(
                "Carbon avoided",
                f"<p>{carbon.kg_co2e_total:,.1f} kg CO2e over {carbon.resold} resold units "
                f"({_format(carbon.kg_co2e_per_resold_unit)} kg per counted unit; "
                f"{carbon.resold_not_counted} units of categories without a factor not "
                f"counted; displacement {carbon.displacement:g}).</p>",
                html_table(carbon.by_category),
                "<h3>Assumptions</h3><ul>"
                + "".join(f"<li>{html.escape(a)}</li>" for a in carbon.assumptions)
                + "</ul><h3>Factors and their sources</h3>",
                html_table(carbon.factors),
            ),
        ]
    )


def html_page(report: AnalyticsReport, plots: dict[str, bytes]) -> str:
    """One self-contained HTML page: styles inline, plots as data URIs."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>regrade analytics</title>"
        f"<style>{STYLE}</style></head><body><h1>regrade analytics</h1>"
        f"{html_body(report, plots)}</body></html>"
    )


def terminal_table(report: AnalyticsReport) -> str:
    """A short plain-text summary: the headline figure of each section."""
    m, t = report.margin.overall, report.turnover.overall
    p, g, c = report.pricing, report.grading, report.carbon

    def f(value: float | None, pattern: str = "{:,.2f}") -> str:
        return "n/a" if value is None else pattern.format(value)

    lines = [
        ("cases", f"{report.window.cases:,}"),
        (
            "sold / listed",
            f"{t.sold:,} / {t.listed:,} (sell-through {f(t.sell_through, '{:.1%}')})",
        ),
        (
            "margin per unit sold",
            f"{f(m.margin_mean)} ({f(m.margin_pct, '{:.1%}')}), "
            f"recommended {f(m.recommended_margin_mean)}",
        ),
        ("sold below floor", f"{len(report.margin.below_floor)}"),
        ("days to sell (median)", f(t.days_to_sell_median, "{:.1f}")),
        (
            "sold within 30/60/90 d",
            " / ".join(f(t.sold_within[d], "{:.0%}") for d in ("30", "60", "90")),
        ),
        ("turnover per year", f(t.turnover_per_year, "{:.1f}")),
        (
            "approve / override rate",
            f"{f(p.overall.approve_rate, '{:.0%}')} / {f(p.overall.override_rate, '{:.0%}')}",
        ),
        ("band coverage P10-P90", f(p.band.coverage, "{:.1%}")),
        (
            "model vs grader kappa",
            f"{f(g.model_vs_grader.kappa, '{:.3f}')} ({g.model_vs_grader.units} cases)",
        ),
        (
            "inter-grader kappa",
            f"{f(g.double_graded.kappa, '{:.3f}')} ({g.double_graded.units} double-graded)",
        ),
        ("carbon avoided (kg CO2e)", f"{c.kg_co2e_total:,.0f} over {c.resold:,} resold"),
    ]
    width = max(len(name) for name, _ in lines)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in lines)


def write_report(report: AnalyticsReport, out: Path) -> dict[str, Path]:
    """Write report.json, plots/<name>.png and report.html into `out` (created if missing).

    Returns:
        The written paths: "json", "html", and one per plot name.
    """
    out.mkdir(parents=True, exist_ok=True)
    (out / PLOTS_DIR).mkdir(exist_ok=True)
    plots = draw_plots(report)
    written = {"json": out / REPORT_JSON, "html": out / REPORT_HTML}
    written["json"].write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    for name, png in plots.items():
        written[name] = out / PLOTS_DIR / f"{name}.png"
        written[name].write_bytes(png)
    written["html"].write_text(html_page(report, plots), encoding="utf-8")
    return written
