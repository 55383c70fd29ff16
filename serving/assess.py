"""From validated requests to answers: the predictors, `models.decisions.decide` and formatting.

Handlers stay thin: they call these functions, which add no model or policy logic of their own.
The grade a unit is priced at is the grader's (or the model's at intake); counterfeit, review
and provenance signals go to `decide`, which prices and routes. Review kinds (why a grader must
look) are the routing reasons that need a person, plus `grade_uncertain` whenever the grader
model asks for review.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from features.schema import ITEM_COLUMNS
from features.tables import check_table
from models.decisions import IntakeSignals, decide
from models.routing import explain
from serving.errors import IntakeError
from serving.runtime import Runtime

TOP_CONTRIBUTIONS = 5
"""Feature contributions shown per priced item."""

REVIEW_CODES = ("counterfeit_flagged", "provenance_not_verified", "grade_uncertain")
"""Reason codes that put a case in the grader's queue."""


def _number(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


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


def grade_result(result: Any, names: list[str | None] | None = None) -> dict[str, Any]:
    """A grader `ItemResult` (or its dict) as the API's grade result."""
    data = result if isinstance(result, dict) else result.to_dict()
    photos = []
    for photo in data["photos"]:
        index = int(photo["index"])
        name = names[index] if names and index < len(names) else None
        photos.append({**{k: photo[k] for k in _PHOTO_KEYS}, "filename": name})
    counterfeit = data["counterfeit"]
    return {
        "grade": data["grade"],
        "probabilities": data["probabilities"],
        "confidence": data["confidence"],
        "prediction_set": list(data["prediction_set"]),
        "needs_review": bool(data["needs_review"]),
        "counterfeit": {k: counterfeit[k] for k in ("score", "flagged", "threshold")},
        "photos": photos,
        "model_name": data["model_name"],
        "model_version": data["model_version"],
    }


_PHOTO_KEYS = ("index", "grade", "probabilities", "severity", "counterfeit_score")


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
) -> list[dict[str, Any]]:
    """Price band, guardrails, route, reasons and contributions per item, in order."""
    decided = decide(frame, runtime.pricing, runtime.policy, signals)
    contributions = runtime.pricing.contributions(frame, top=TOP_CONTRIBUTIONS)
    versions = runtime.versions()
    results = []
    for pos, row in enumerate(decided.itertuples(index=False)):
        result = {
            "item_id": str(frame["item_id"].iloc[pos]),
            "grade": frame["grade"].iloc[pos],
            "price": {q: _number(getattr(row, f"price_{q}")) for q in ("p10", "p50", "p90")},
            "days_to_sell": {q: _number(getattr(row, f"days_to_sell_{q}")) for q in ("p50", "p90")},
            **{
                name: _number(getattr(row, name))
                for name in ("recommended_price", "floor_price", "ceiling_price")
            },
            "margin": _number(row.margin),
            "margin_pct": _number(row.margin_pct),
            "route": row.route,
            "reasons": explain(row.reasons),
            "list_check": None,
            "contributions": [
                {"feature": name, "contribution": value} for name, value in contributions[pos]
            ],
            "model_versions": versions,
        }
        if "list_margin" in decided and _number(frame["list_price"].iloc[pos]) is not None:
            result["list_check"] = {
                "list_price": _number(frame["list_price"].iloc[pos]),
                "margin": _number(row.list_margin),
                "margin_pct": _number(row.list_margin_pct),
                "violations": explain(row.list_violations or ""),
            }
        results.append(result)
    return results


def assess_item(
    runtime: Runtime,
    item: dict[str, Any],
    grade: dict[str, Any],
    *,
    exclude_case_id: str | None = None,
    verified_by_grader: bool = False,
) -> tuple[dict[str, Any], list[str]]:
    """Price and route one unit at a grade, with the grader's (or a person's) signals.

    Args:
        runtime: The loaded models, policy, ledger and store.
        item: The unit's columns, `grade` set to the grade it is priced at.
        grade: `counterfeit.flagged` and `needs_review` as the model or a person said.
        exclude_case_id: The unit's own case, left out of the open-serials check.
        verified_by_grader: A grader authenticated the unit in person (the provenance check
            then counts as passed).

    Returns:
        (price result, review kinds).
    """
    frame = items_frame([item], field="item")
    if verified_by_grader:
        verified, codes = np.array([True]), np.array([""], dtype=object)
    else:
        verified, codes = provenance(runtime, frame, exclude_case_id)
    signals = IntakeSignals(
        counterfeit_flagged=np.array([bool(grade["counterfeit"]["flagged"])]),
        needs_review=np.array([bool(grade["needs_review"])]),
        provenance_verified=verified,
        provenance_codes=codes,
    )
    result = price_results(runtime, frame, signals)[0]
    kinds = [r["code"] for r in result["reasons"] if r["code"] in REVIEW_CODES]
    if grade["needs_review"] and "grade_uncertain" not in kinds:
        kinds.append("grade_uncertain")
    return result, kinds


def case_view(case: Any) -> dict[str, Any]:
    """A stored `CaseRecord` as the API shows it, with photo links."""
    photos = [
        {
            "position": p.position,
            "sha256": p.sha256,
            "url": f"/photos/{p.sha256}",
            "content_type": p.content_type,
            "width": p.width,
            "height": p.height,
            "filename": p.filename,
            "result": p.result,
        }
        for p in case.photos
    ]
    resolution = case.resolution.__dict__ if case.resolution else None
    decision = case.decision.__dict__ if case.decision else None
    return {
        "case_id": case.case_id,
        "created_at": case.created_at.isoformat(),
        "updated_at": case.updated_at.isoformat(),
        "item_id": case.item_id,
        "category": case.category,
        "brand": case.brand,
        "item": case.item,
        "grade": case.grade,
        "grade_result": case.grade_result,
        "price_result": case.price_result,
        "route": case.route,
        "reasons": explain(case.reasons),
        "review_status": case.review_status,
        "review_kinds": explain(case.review_kinds),
        "final_grade": case.final_grade,
        "final_counterfeit": case.final_counterfeit,
        "pricing_status": case.pricing_status,
        "recommended_price": case.recommended_price,
        "floor_price": case.floor_price,
        "final_price": case.final_price,
        "photos": photos,
        "resolution": _dated(resolution),
        "decision": _dated(decision),
        "model_versions": case.model_versions,
    }


def _dated(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in values.items()}
