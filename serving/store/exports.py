"""Exports for retraining: graders' decisions as a photo manifest, outcomes as an outcomes table.

`grader_decisions` gives one row per photo of every resolved case, in the photo-dataset manifest
layout (`image, item_id, grade, counterfeit, category, brand`, the image path relative to the
photo store's root, so the frame written as `manifest.csv` in that root is a photo dataset),
plus `case_id, position, grader_id, resolved_at, model_grade`. An item resolved in several cases
keeps its newest resolution, so its photos never disagree.

`outcomes_table` gives one row per item with an outcome: its newest outcome joined with the item
fields of its case as posted, the grade in force (the grader's, else the model's, else the posted
one; `grade_source` says which), and `case_id`. Rows with no category or no grade cannot train
anything and are left out. Both frames are typed by their contracts (`features.tables.check_table`).

Both take `since`: only resolutions (outcomes) recorded at or after it count, for a retrain that
reads what the store learned since a date.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from features.problems import DataError
from features.schema import (
    ITEM_COLUMNS,
    MANIFEST_COLUMNS,
    OUTCOME_COLUMNS,
    OUTCOME_TARGETS,
    attr_columns,
    benchmark_columns,
)
from features.tables import check_table
from serving.store.photos import PhotoStore, relative_path
from serving.store.records import effective_grade
from serving.store.tables import Case, CasePhoto, Outcome, Photo, ReviewResolution

GRADER_COLUMNS = (
    *("image", "item_id", "grade", "counterfeit", "category", "brand"),
    *("case_id", "position", "grader_id", "resolved_at", "model_grade"),
)
"""Columns of the graders' decisions export, manifest columns first."""

OUTCOME_EXTRAS = ("case_id", "grade_source")
"""Columns the outcomes export adds after the contract's columns."""


def _typed(frame: pd.DataFrame, contract: dict, what: str, unique: tuple[str, ...]) -> pd.DataFrame:
    typed, problems = check_table(frame, contract, file=what, unique=unique)
    if problems:
        raise DataError(problems)
    return typed


def _utc(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def grader_decisions(
    session: Session,
    store: PhotoStore,
    *,
    absolute_paths: bool = False,
    since: dt.datetime | None = None,
) -> pd.DataFrame:
    """Resolved cases, one row per photo, newest resolution per item (see the module notes).

    Args:
        session: An open session.
        store: The photo store the images are in.
        absolute_paths: Give `image` as an absolute path instead of relative to the store root.
        since: Only resolutions made at or after this time (naive times are UTC).
    """
    query = (
        select(ReviewResolution, Case, CasePhoto.position, Photo.sha256, Photo.content_type)
        .join(Case, Case.case_id == ReviewResolution.case_id)
        .join(CasePhoto, CasePhoto.case_id == Case.case_id)
        .join(Photo, Photo.sha256 == CasePhoto.sha256)
        .order_by(ReviewResolution.resolved_at, ReviewResolution.id, CasePhoto.position)
    )
    if since is not None:
        query = query.where(ReviewResolution.resolved_at >= _utc(since))
    rows = session.execute(query).all()
    newest = {case.item_id: case.case_id for _, case, *_ in rows}
    records = []
    for resolution, case, position, sha256, content_type in rows:
        if newest[case.item_id] != case.case_id:
            continue
        path = relative_path(sha256, content_type)
        records.append(
            {
                "image": str((store.root / path).resolve()) if absolute_paths else path,
                "item_id": case.item_id,
                "grade": resolution.grade,
                "counterfeit": int(resolution.counterfeit),
                "category": case.category,
                "brand": case.brand,
                "case_id": case.case_id,
                "position": position,
                "grader_id": resolution.grader_id,
                "resolved_at": resolution.resolved_at.isoformat(),
                "model_grade": (case.grade_result or {}).get("grade"),
            }
        )
    frame = pd.DataFrame(records, columns=list(GRADER_COLUMNS))
    return _typed(frame, MANIFEST_COLUMNS, "grader decisions export", ())


def _grade_source(case: Case) -> str:
    if case.final_grade is not None:
        return "grader"
    return "model" if (case.grade_result or {}).get("grade") is not None else "posted"


def _outcome_row(outcome: Outcome, case: Case) -> dict[str, Any] | None:
    grade = effective_grade(case.final_grade, case.grade_result, case.item)
    if grade is None or not case.category:
        return None
    row = {k: v for k, v in case.item.items() if k not in OUTCOME_TARGETS}
    row.update(item_id=case.item_id, category=case.category, grade=grade)
    row.update(sold_price=outcome.sold_price, days_listed=outcome.days_listed, sold=outcome.sold)
    row.update(case_id=case.case_id, grade_source=_grade_source(case))
    return row


def _column_order(names: list[str]) -> list[str]:
    """Item columns in contract order, benchmarks, attributes, others, then the targets."""
    known = [c for c in ITEM_COLUMNS if c in names]
    families = benchmark_columns(names) + attr_columns(names)
    tail = [*OUTCOME_TARGETS, *OUTCOME_EXTRAS]
    others = [c for c in names if c not in {*known, *families, *tail}]
    return [*known, *families, *others, *tail]


def outcomes_table(session: Session, *, since: dt.datetime | None = None) -> pd.DataFrame:
    """Newest outcome per item joined with its case's item fields (see the module notes).

    Args:
        session: An open session.
        since: Only outcomes recorded at or after this time (naive times are UTC).
    """
    query = select(Outcome, Case).join(Case, Case.case_id == Outcome.case_id)
    if since is not None:
        query = query.where(Outcome.recorded_at >= _utc(since))
    newest: dict[str, tuple[Outcome, Case]] = {}
    for outcome, case in session.execute(query.order_by(Outcome.id)):
        newest[outcome.item_id] = (outcome, case)
    rows = [r for r in (_outcome_row(o, c) for o, c in newest.values()) if r is not None]
    names = list(dict.fromkeys(["item_id", "category", "grade", *(k for r in rows for k in r)]))
    frame = pd.DataFrame(rows, columns=_column_order(names))
    frame = frame.astype(object).where(frame.notna(), None)
    return _typed(frame, OUTCOME_COLUMNS, "outcomes export", ("item_id",))


CASE_NUMBERS = (
    *("age_months", "new_price", "list_price", "acquisition_cost", "refurb_cost"),
    *("logistics_cost", "inventory_level", "conversion_rate_30d"),
)
"""Numeric item fields the cases export carries (with every `benchmark_*` field posted)."""
CASE_CHOICES = ("source", "return_reason")


def _band(case: Case) -> dict[str, Any]:
    price = case.price_result or {}
    band, days = price.get("price") or {}, price.get("days_to_sell") or {}
    return {
        "price_p10": band.get("p10"),
        "price_p50": band.get("p50"),
        "price_p90": band.get("p90"),
        "days_to_sell_p50": days.get("p50"),
    }


def cases_table(
    session: Session, store: PhotoStore, *, since: dt.datetime | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Assessed cases and their photos, for monitoring the live data.

    Returns:
        One row per case created at or after `since`: case_id, created_at, item_id, category,
        brand, the numeric and choice item fields, `benchmark_*` fields, model_grade,
        model_confidence, final_grade, resolved_at, the predicted band and days to sell, and the
        newest outcome (sold_price, days_listed, sold; empty when none); and one row per photo of
        those cases: case_id, image (absolute path), width, height, bytes.
    """

    def recent(query):
        return query if since is None else query.where(Case.created_at >= _utc(since))

    cases = list(session.scalars(recent(select(Case).order_by(Case.created_at, Case.case_id))))
    outcomes: dict[str, Outcome] = {}
    for outcome in session.scalars(
        recent(select(Outcome).join(Case, Case.case_id == Outcome.case_id)).order_by(Outcome.id)
    ):
        outcomes[outcome.case_id] = outcome
    resolved: dict[str, dt.datetime] = {}
    for resolution in session.scalars(
        recent(select(ReviewResolution).join(Case, Case.case_id == ReviewResolution.case_id))
    ):
        resolved[resolution.case_id] = resolution.resolved_at
    photos = []
    rows = session.execute(
        recent(
            select(CasePhoto.case_id, Photo)
            .join(Photo, Photo.sha256 == CasePhoto.sha256)
            .join(Case, Case.case_id == CasePhoto.case_id)
        ).order_by(CasePhoto.case_id, CasePhoto.position)
    )
    for case_id, photo in rows:
        photos.append(
            {
                "case_id": case_id,
                "image": str(store.path_for(photo.sha256, photo.content_type)),
                "width": photo.width,
                "height": photo.height,
                "bytes": photo.bytes,
            }
        )
    records = []
    for case in cases:
        item = case.item or {}
        extras = {k: v for k, v in item.items() if str(k).startswith("benchmark_")}
        grade = case.grade_result or {}
        outcome = outcomes.get(case.case_id)
        when = resolved.get(case.case_id)
        records.append(
            {
                "case_id": case.case_id,
                "created_at": case.created_at,
                "item_id": case.item_id,
                "category": case.category,
                "brand": case.brand,
                **{k: item.get(k) for k in (*CASE_NUMBERS, *CASE_CHOICES)},
                **extras,
                "model_grade": grade.get("grade"),
                "model_confidence": grade.get("confidence"),
                "final_grade": case.final_grade,
                "resolved_at": when,
                **_band(case),
                "sold_price": None if outcome is None else outcome.sold_price,
                "days_listed": None if outcome is None else outcome.days_listed,
                "sold": None if outcome is None else outcome.sold,
            }
        )
    photo_columns = ["case_id", "image", "width", "height", "bytes"]
    return pd.DataFrame(records), pd.DataFrame(photos, columns=photo_columns)
