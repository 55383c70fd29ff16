"""`build_report`: every figure of the analytics report, computed once from the case database.

The command `regrade report` and the page `/ui/analytics` call this one function and render
its `AnalyticsReport` (`serving.analytics.render`).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Engine, func, select

from models.policy import Policy
from serving.analytics.carbon import CarbonFactors, carbon_figures, load_factors
from serving.analytics.cases import load_cases, window_bounds
from serving.analytics.figures import (
    band_rows,
    decision_rows,
    grader_pairs,
    margin_figures,
    model_vs_grader,
    refurb_figures,
    route_figures,
    turnover_figures,
)
from serving.analytics.models import AnalyticsReport, GradingFigures, PricingFigures, Window
from serving.store.tables import Case, ReviewResolution, SecondGrading

PAIR_COLUMNS = ("case_id", "first_grader", "first_grade", "second_grader", "second_grade")


def load_second_gradings(
    engine: Engine,
    since: dt.date | dt.datetime | None = None,
    until: dt.date | dt.datetime | None = None,
) -> tuple[pd.DataFrame, int]:
    """Double-graded cases created in the window (`PAIR_COLUMNS`) and the count still open."""
    start, end = window_bounds(since, until)
    window = []
    if start is not None:
        window.append(Case.created_at >= start)
    if end is not None:
        window.append(Case.created_at < end)
    done = (
        select(
            Case.case_id,
            ReviewResolution.grader_id,
            ReviewResolution.grade,
            SecondGrading.grader_id,
            SecondGrading.grade,
        )
        .join(ReviewResolution, ReviewResolution.case_id == Case.case_id)
        .join(SecondGrading, SecondGrading.case_id == Case.case_id)
        .where(SecondGrading.status == "resolved", *window)
        .order_by(Case.created_at, Case.case_id)
    )
    still_open = (
        select(func.count())
        .select_from(SecondGrading)
        .join(Case, Case.case_id == SecondGrading.case_id)
        .where(SecondGrading.status == "open", *window)
    )
    with engine.connect() as connection:
        pairs = pd.DataFrame(connection.execute(done).all(), columns=list(PAIR_COLUMNS))
        waiting = int(connection.scalar(still_open) or 0)
    return pairs, waiting


def build_report(
    engine: Engine,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    policy: Policy | None = None,
    factors: CarbonFactors | None = None,
    now: dt.datetime | None = None,
) -> AnalyticsReport:
    """Every figure over the cases created from `since` to `until` (whole days, UTC).

    Args:
        engine: An engine on a migrated case database (SQLite or PostgreSQL).
        since: First intake day counted (None: from the first case).
        until: Last intake day counted (None: to the last case).
        policy: The guardrail policy whose fee rates the realised margins use (defaults).
        factors: Carbon factors (the packaged file when None).
        now: The report's time stamp (the current time when None).
    """
    policy = policy or Policy()
    factors = factors or load_factors()
    frame = load_cases(engine, since, until)
    pairs, waiting = load_second_gradings(engine, since, until)
    overall, by_analyst, by_category = decision_rows(frame)
    band, band_by_category = band_rows(frame)
    vs_model, per_grader = model_vs_grader(frame)
    double, per_pair = grader_pairs(pairs)
    return AnalyticsReport(
        window=Window(
            since=since,
            until=until,
            generated_at=now or dt.datetime.now(dt.UTC),
            cases=len(frame),
        ),
        margin=margin_figures(frame, policy),
        turnover=turnover_figures(frame),
        pricing=PricingFigures(
            overall=overall,
            by_analyst=by_analyst,
            by_category=by_category,
            band=band,
            band_by_category=band_by_category,
        ),
        grading=GradingFigures(
            model_vs_grader=vs_model,
            by_grader=per_grader,
            double_graded=double,
            grader_pairs=per_pair,
            second_gradings_open=waiting,
        ),
        refurbishment=refurb_figures(frame),
        routes=route_figures(frame),
        carbon=carbon_figures(frame, factors),
    )
