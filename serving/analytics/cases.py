"""One row per case, with what the figures need, read from the store in a few queries.

`load_cases` selects the cases created in a window with their resolution, pricing decision and
newest outcome (outer joins; an outcome recorded again supersedes the older one) and flattens
the JSON columns the figures read: the item's costs, source and new price, the model's grade,
and the price band, margin and grade the case was priced at. JSON is decoded in Python, so
what is read does not depend on the backend's JSON functions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Select, and_, or_, select, true

from serving.store.tables import Case, Outcome, PricingDecision, ReviewResolution

COST_FIELDS = ("acquisition_cost", "refurb_cost", "logistics_cost")
"""Item fields that add up to a unit's total cost (missing terms count 0)."""

CASE_COLUMNS = (
    *("case_id", "created_at", "month", "item_id", "category", "source", "grade"),
    *("model_grade", "final_grade", "route", "pricing_status", "recommended_price"),
    *("floor_price", "final_price", "p10", "p50", "p90", "recommended_margin"),
    *("priced_grade", "new_price", *COST_FIELDS, "total_cost"),
    *("grader_id", "resolved_at", "action", "decision_price", "analyst_id"),
    *("has_outcome", "sold", "sold_price", "days_listed", "recorded_at"),
)
"""The columns of the frame `load_cases` returns."""

BATCH_ROWS = 5_000
"""Rows fetched from the database at a time (a page)."""

UNKNOWN = "unknown"
"""The group of a case whose category, source or grade is missing."""


def _number(value: Any) -> float:
    """A finite float, else NaN (missing, text, bool or infinite values)."""
    if isinstance(value, bool) or value is None:
        return np.nan
    try:
        number = float(value)
    except (TypeError, ValueError):
        return np.nan
    return number if np.isfinite(number) else np.nan


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return UNKNOWN
    text = str(value).strip()
    return text or UNKNOWN


def _grade(*candidates: Any) -> str | None:
    for grade in candidates:
        if grade in ("A", "B", "C"):
            return grade
    return None


def window_bounds(
    since: dt.date | dt.datetime | None, until: dt.date | dt.datetime | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """[since, until) as UTC datetimes; a date `until` includes that whole day."""

    def start(value: dt.date | dt.datetime | None, day_after: bool) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        moment = dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)
        return moment + dt.timedelta(days=1) if day_after else moment

    return start(since, False), start(until, True)


def load_cases(
    engine: Engine,
    since: dt.date | dt.datetime | None = None,
    until: dt.date | dt.datetime | None = None,
) -> pd.DataFrame:
    """The cases created in [since, until] (a date `until` counts its whole day), one row each.

    Args:
        engine: An engine on a migrated case database.
        since: First intake day (or moment) counted; None for no lower bound.
        until: Last intake day counted (a datetime: the first moment not counted).

    Returns:
        A frame with `CASE_COLUMNS`, oldest case first. `grade` is the grade in force (the
        grader's, else the model's, else the posted one); `month` is the intake month
        (YYYY-MM, UTC); `total_cost` sums the cost fields; `has_outcome` says whether an
        outcome was recorded (its newest values are in `sold`, `sold_price`, `days_listed`).
    """
    start, end = window_bounds(since, until)
    query = (
        select(
            Case.case_id,
            Case.created_at,
            Case.item_id,
            Case.category,
            Case.item,
            Case.grade_result["grade"].as_string().label("model_grade"),
            Case.final_grade,
            Case.route,
            Case.pricing_status,
            Case.recommended_price,
            Case.floor_price,
            Case.final_price,
            Case.price_result,
            ReviewResolution.grader_id,
            ReviewResolution.resolved_at,
            PricingDecision.action,
            PricingDecision.price.label("decision_price"),
            PricingDecision.analyst_id,
        )
        .outerjoin(ReviewResolution, ReviewResolution.case_id == Case.case_id)
        .outerjoin(PricingDecision, PricingDecision.case_id == Case.case_id)
        .order_by(Case.created_at, Case.case_id)
        .limit(BATCH_ROWS)
    )
    window = []
    if start is not None:
        window.append(Case.created_at >= start)
    if end is not None:
        window.append(Case.created_at < end)
    with engine.connect() as connection:
        return _frame(_pages(connection, query, window))


def _after(key: tuple[dt.datetime, str]) -> Any:
    """Cases after this (created_at, case_id) in intake order."""
    created, case_id = key
    return or_(Case.created_at > created, and_(Case.created_at == created, Case.case_id > case_id))


def _newest_outcomes(connection: Connection, window: list[Any]) -> dict[str, Any]:
    """The newest outcome (largest id) of each case in the window that has one (a few numbers
    per case, read in one pass)."""
    query = (
        select(
            Outcome.case_id,
            Outcome.sold,
            Outcome.sold_price,
            Outcome.days_listed,
            Outcome.recorded_at,
        )
        .join(Case, Case.case_id == Outcome.case_id)
        .where(*window)
        .order_by(Outcome.id)
    )
    return {row.case_id: row._mapping for row in connection.execute(query)}


def _pages(connection: Connection, query: Select, window: list[Any]) -> Iterator[tuple[Any, Any]]:
    """(case row, its newest outcome or None), page by page after the last (created_at,
    case_id) seen.

    Paging by key keeps one page of case rows (and their JSON) in memory at a time on both
    backends, without a server-side cursor (PostgreSQL plans those for the first rows, slowly
    here); the outcomes, a few numbers per case, are read first in one query.
    """
    outcomes = _newest_outcomes(connection, window)
    condition = and_(true(), *window)
    while True:
        rows = connection.execute(query.where(condition)).mappings().all()
        for row in rows:
            yield row, outcomes.get(row["case_id"])
        if len(rows) < BATCH_ROWS:
            return
        condition = and_(*window, _after((rows[-1]["created_at"], rows[-1]["case_id"])))


def _frame(rows: Iterable[tuple[Any, Any]]) -> pd.DataFrame:
    """The frame of (case row, outcome) pairs, read as they come (one page's JSON at a time)."""
    records = []
    for row, outcome in rows:
        item = row["item"] or {}
        price = row["price_result"] or {}
        band = price.get("price") or {}
        costs = {name: _number(item.get(name)) for name in COST_FIELDS}
        created = row["created_at"]
        records.append(
            {
                "case_id": row["case_id"],
                "created_at": created,
                "month": f"{created.year:04d}-{created.month:02d}",
                "item_id": row["item_id"],
                "category": _text(row["category"]),
                "source": _text(item.get("source")),
                "grade": _grade(row["final_grade"], row["model_grade"], item.get("grade")),
                "model_grade": _grade(row["model_grade"]),
                "final_grade": row["final_grade"],
                "route": row["route"],
                "pricing_status": row["pricing_status"],
                "recommended_price": row["recommended_price"],
                "floor_price": row["floor_price"],
                "final_price": row["final_price"],
                "p10": _number(band.get("p10")),
                "p50": _number(band.get("p50")),
                "p90": _number(band.get("p90")),
                "recommended_margin": _number(price.get("margin")),
                "priced_grade": _grade(price.get("grade")),
                "new_price": _number(item.get("new_price")),
                **costs,
                "total_cost": sum(v for v in costs.values() if v == v),  # NaN counts 0
                "grader_id": row["grader_id"],
                "resolved_at": row["resolved_at"],
                "action": row["action"],
                "decision_price": row["decision_price"],
                "analyst_id": row["analyst_id"],
                "has_outcome": outcome is not None,
                "sold": outcome is not None and outcome["sold"] == 1,
                "sold_price": None if outcome is None else outcome["sold_price"],
                "days_listed": None if outcome is None else outcome["days_listed"],
                "recorded_at": None if outcome is None else outcome["recorded_at"],
            }
        )
    frame = pd.DataFrame.from_records(records, columns=list(CASE_COLUMNS))
    for name in ("recommended_price", "floor_price", "final_price", "decision_price"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    for name in ("sold_price", "days_listed"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    for name in ("has_outcome", "sold"):
        frame[name] = frame[name].astype(bool)
    frame["grade"] = frame["grade"].fillna(UNKNOWN)
    return frame
