"""From a validated request to a decision: the predictors, `models.decisions.decide`, the store.

Handlers stay thin: they call these functions, which add no model or policy logic of their own.
The grade a unit is priced at is the grader's (or the model's at intake); counterfeit, review
and provenance signals go to `decide`, which prices and routes. Review kinds (why a grader must
look) are the routing reasons that need a person, plus `grade_uncertain` whenever the grader
model asks for review. Results carry reason codes (`serving.results`); sentences are the
answer models' business.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from features.schema import ITEM_COLUMNS
from features.tables import check_table
from models.decisions import IntakeSignals, decide
from models.routing import NOT_FINITE
from serving.errors import IntakeError
from serving.results import (
    Assessment,
    Band,
    Contribution,
    Days,
    GradeResult,
    ListPriceCheck,
    PriceDecision,
)
from serving.runtime import Runtime
from serving.store.idempotency import IntakeKey
from serving.store.records import Actor, CaseRecord, PhotoInput
from serving.store.second_grades import in_sample

TOP_CONTRIBUTIONS = 5
"""Feature contributions shown per priced item."""

REVIEW_CODES = ("counterfeit_flagged", "provenance_not_verified", "grade_uncertain", NOT_FINITE)
"""Reason codes that put a case in the grader's queue."""


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _codes(joined: str | None) -> list[str]:
    """Codes joined by ';' (as `decide` writes them) as a list."""
    return [code for code in (joined or "").split(";") if code]


def items_frame(items: list[dict[str, Any]], field: str = "items") -> pd.DataFrame:
    """Items (table columns) typed by the item contract.

    Raises:
        IntakeError: naming `items[i].column` for a value the contract refuses.
    """
    frame = pd.DataFrame(items)
    typed, problems = check_table(frame, ITEM_COLUMNS, file="request")
    if problems:
        first = problems[0]
        where = f"{field}[{(first.row or 1) - 1}].{first.column}" if first.column else field
        raise IntakeError(where, first.message)
    return typed


def provenance(
    runtime: Runtime, frame: pd.DataFrame, exclude_case_id: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Whether each unit's sale is verified against the ledger, and the code saying why."""
    order_id, serial, brand = (
        frame[name] if name in frame else [None] * len(frame)
        for name in ("order_id", "serial_number", "brand")
    )
    return runtime.ledger.verify_many(
        order_id, serial, runtime.store.open_serials(exclude_case_id), brand
    )


def price_results(
    runtime: Runtime, frame: pd.DataFrame, signals: IntakeSignals | None = None
) -> list[PriceDecision]:
    """Price band, guardrails, route, reason codes and contributions per item, in order."""
    ready = runtime.pricing.prepare(frame)  # one feature matrix for the decision and the why
    decided = decide(frame, runtime.pricing, runtime.policy, signals, ready)
    contributions = runtime.pricing.contributions(ready, top=TOP_CONTRIBUTIONS)
    versions = runtime.versions()
    results = []
    for pos, row in enumerate(decided.itertuples(index=False)):
        list_price = _number(frame["list_price"].iloc[pos]) if "list_price" in frame else None
        check = None
        if "list_margin" in decided and list_price is not None:
            check = ListPriceCheck(
                list_price=list_price,
                margin=_number(row.list_margin),
                margin_pct=_number(row.list_margin_pct),
                violations=_codes(row.list_violations),
            )
        results.append(
            PriceDecision(
                item_id=str(frame["item_id"].iloc[pos]),
                grade=frame["grade"].iloc[pos],
                price=Band(
                    **{q: _number(getattr(row, f"price_{q}")) for q in ("p10", "p50", "p90")}
                ),
                days_to_sell=Days(
                    **{q: _number(getattr(row, f"days_to_sell_{q}")) for q in ("p50", "p90")}
                ),
                recommended_price=_number(row.recommended_price),
                floor_price=_number(row.floor_price),
                ceiling_price=_number(row.ceiling_price),
                margin=_number(row.margin),
                margin_pct=_number(row.margin_pct),
                route=row.route,
                reasons=_codes(row.reasons),
                list_check=check,
                contributions=[
                    Contribution(feature=name, contribution=value)
                    for name, value in contributions[pos]
                ],
                model_versions=versions,
            )
        )
    return results


def assess_item(
    runtime: Runtime,
    item: dict[str, Any],
    *,
    counterfeit_flagged: bool,
    needs_review: bool,
    exclude_case_id: str | None = None,
    verified_by_grader: bool = False,
    model_failed: bool = False,
) -> Assessment:
    """Price and route one unit at a grade, with the grader's (or a person's) signals.

    Args:
        runtime: The loaded models, policy, ledger and store.
        item: The unit's columns, `grade` set to the grade it is priced at.
        counterfeit_flagged: The model (or a person) flagged it as counterfeit.
        needs_review: The model asks a grader to confirm the grade.
        exclude_case_id: The unit's own case, left out of the open-serials check.
        verified_by_grader: A grader authenticated the unit in person (the provenance check
            then counts as passed).
        model_failed: The grader's output was not finite: no price, no listing (fails closed).
    """
    frame = items_frame([item], field="item")
    if verified_by_grader:
        verified, codes = np.array([True]), np.array([""], dtype=object)
    else:
        verified, codes = provenance(runtime, frame, exclude_case_id)
    signals = IntakeSignals(
        counterfeit_flagged=np.array([counterfeit_flagged]),
        needs_review=np.array([needs_review]),
        provenance_verified=verified,
        provenance_codes=codes,
        model_failed=np.array([model_failed]),
    )
    price = price_results(runtime, frame, signals)[0]
    kinds = [code for code in price.reasons if code in REVIEW_CODES]
    if needs_review and "grade_uncertain" not in kinds:
        kinds.append("grade_uncertain")
    return Assessment(price=price, review_kinds=kinds)


def assess_unit(
    runtime: Runtime,
    item: dict[str, Any],
    graded: GradeResult,
    photos: Sequence[PhotoInput],
    *,
    actor: Actor | None = None,
    intake_key: IntakeKey | None = None,
) -> tuple[CaseRecord, Assessment]:
    """Price and route a graded unit at its grade and store it as a case with its photos.

    Args:
        runtime: The loaded models, policy, ledger and store.
        item: The unit's columns as posted (no grade).
        graded: The grader's result on its photos.
        photos: The photos as posted, in order (each gets its own result from `graded`).
        actor: Who posted it, for the audit trail.
        intake_key: The request's idempotency key: a retry that lost a race to the first try
            gets the first try's case (`serving.store.idempotency`).

    Raises:
        IntakeError: an item value the item contract refuses.
        InvalidInput: a value the store refuses.
    """
    assessment = assess_item(
        runtime,
        {**item, "grade": graded.grade},
        counterfeit_flagged=graded.counterfeit.flagged,
        needs_review=graded.needs_review,
        model_failed=NOT_FINITE in graded.reasons,
    )
    price = assessment.price
    case = runtime.store.create_case(
        item,
        [
            dataclasses.replace(photo, result=graded.photos[pos].model_dump())
            for pos, photo in enumerate(photos)
        ],
        graded.model_dump(),
        price.model_dump(),
        price.route,
        price.reasons,
        assessment.review_kinds,
        runtime.versions(),
        actor=actor,
        intake_key=intake_key,
    )
    return case, assessment


def resolve_review(
    runtime: Runtime,
    case_id: str,
    *,
    grade: str,
    counterfeit: bool,
    grader_id: str,
    note: str | None = None,
    actor: Actor | None = None,
) -> CaseRecord:
    """Record a grader's grade and verdict; the case is re-priced and re-routed at that grade.

    A case in the double-grading sample (`Settings.double_grading_share`) is then sent to a
    second grader, blind (`serving.store.second_grades`). `actor` is the authenticated caller
    the audit trail records (`grader_id` stays a label).

    Raises:
        NotFoundError: no such case.
        ConflictError: the case was never queued, or was resolved differently.
    """
    case = runtime.store.get_case(case_id)
    price = assess_item(
        runtime,
        {**case.item, "grade": grade},
        counterfeit_flagged=counterfeit,
        needs_review=False,
        exclude_case_id=case_id,
        verified_by_grader=True,
    ).price
    resolved = runtime.store.resolve_review(
        case_id,
        grade=grade,
        counterfeit=counterfeit,
        grader_id=grader_id,
        note=note,
        route=price.route,
        reasons=price.reasons,
        price_result=price.model_dump(),
        actor=actor,
    )
    if in_sample(case_id, runtime.settings.double_grading_share):
        runtime.store.request_second_grading(case_id, actor=actor or grader_id)
    return resolved
