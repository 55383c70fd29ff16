"""What the HTTP API answers: pydantic models, documented in the OpenAPI schema at /docs.

Answers are validated from the typed results (`serving.results`) and the case store's records
(`serving.store.records`) by their attributes; reason codes become a `Reason` (code and
sentence, `models.routing.explain`) here and nowhere else. Numbers the models could not
compute are null; every answer names the model versions it came from.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from models.routing import explain
from serving.results import (
    GradeResult,
    ListPriceCheck,
    ModelRef,
    ModelVersions,
    PriceDecision,
)
from serving.store.records import OutcomeRecord


def _iso(value: Any) -> Any:
    """A timestamp as ISO 8601 text (as `datetime.isoformat` writes it)."""
    return value.isoformat() if isinstance(value, dt.date) else value


def _dated(record: Any) -> Any:
    """A decision record as a JSON object, its timestamps as ISO text."""
    if record is None or isinstance(record, dict):
        return record
    return {k: _iso(v) for k, v in record.model_dump().items()}


IsoTime = Annotated[str, BeforeValidator(_iso)]
"""A timestamp, answered as `datetime.isoformat` text."""

DecisionLog = Annotated[dict[str, Any] | None, BeforeValidator(_dated)]
"""A person's decision on a case, its timestamp as ISO text."""


class Answer(BaseModel):
    """An answer read from a result or record by its attributes."""

    model_config = ConfigDict(from_attributes=True)


class Reason(Answer):
    """A machine-readable reason code and the sentence shown to people."""

    code: str = Field(..., examples=["resell_profitable"])
    message: str = Field(..., examples=["The market pays a price at or above the floor..."])

    @model_validator(mode="before")
    @classmethod
    def _from_code(cls, data: Any) -> Any:
        return explain([data])[0] if isinstance(data, str) else data


class ListCheck(ListPriceCheck):
    """The proposed `list_price` checked against the guardrails."""

    violations: list[Reason]


class PriceResult(PriceDecision):
    """Price band, time to sell, guardrails, route and reasons for one unit."""

    reasons: list[Reason]
    list_check: ListCheck | None = None


class PriceResponse(Answer):
    """One result per posted item, in order."""

    items: list[PriceResult]
    model_versions: ModelVersions


class GradeResponse(GradeResult):
    """The /grade answer: the grade result and the model versions."""

    model_versions: ModelVersions


class AssessResponse(Answer):
    """A persisted case: grade, price and route; queued for review when needed."""

    case_id: str
    item_id: str
    grade: GradeResult
    price: PriceResult
    route: str
    reasons: list[Reason]
    review_status: str = Field(..., description="none, or open when a grader must look.")
    review_kinds: list[Reason] = Field(..., description="Why a grader must look.")
    pricing_status: str = Field(..., description="pending, or not_applicable.")
    model_versions: ModelVersions


class PhotoLink(Answer):
    """A case's photo: where to fetch it and the model's result on it."""

    position: int | None
    sha256: str
    url: str = Field(..., examples=["/photos/9f86d08..."])
    content_type: str
    width: int | None
    height: int | None
    filename: str | None
    result: dict[str, Any] | None

    @model_validator(mode="before")
    @classmethod
    def _link(cls, data: Any) -> Any:
        values = data if isinstance(data, dict) else data.model_dump()
        return {**values, "url": f"/photos/{values['sha256']}"}


class CaseView(Answer):
    """A stored case with its photos, model output and the decisions taken on it.

    Built from the store's `CaseRecord` (`CaseView.model_validate(record)`).
    """

    case_id: str = Field(..., description="The case's id.")
    created_at: IsoTime = Field(..., description="When the unit was assessed (UTC).")
    updated_at: IsoTime = Field(..., description="The last change (UTC).")
    item_id: str = Field(..., description="The unit's item id.")
    category: str | None = Field(..., description="Its category.")
    brand: str | None = Field(..., description="Its brand.")
    item: dict[str, Any] = Field(..., description="The unit's fields as posted.")
    grade: str | None = Field(None, description="In force: the grader's, else the model's.")
    grade_result: GradeResult | None = Field(..., description="The grader model's result.")
    price_result: PriceResult | None = Field(..., description="The price at that grade.")
    route: str = Field(..., description="Where the unit goes.")
    reasons: list[Reason] = Field(..., description="Why it goes there.")
    review_status: str = Field(..., description="none, open or resolved.")
    review_kinds: list[Reason] = Field(..., description="Why a grader must look.")
    final_grade: str | None = Field(..., description="The grader's grade.")
    final_counterfeit: bool | None = Field(..., description="The grader's counterfeit verdict.")
    pricing_status: str = Field(..., description="pending, approved, overridden, not_applicable.")
    recommended_price: float | None = Field(..., description="The model's recommended price.")
    floor_price: float | None = Field(..., description="The lowest price the guardrails allow.")
    final_price: float | None = Field(..., description="The analyst's price.")
    photos: list[PhotoLink] = Field(..., description="The photos, in the order posted.")
    resolution: DecisionLog = Field(..., description="The grader's decision.")
    decision: DecisionLog = Field(..., description="The pricing analyst's decision.")
    model_versions: dict[str, Any] = Field(..., description="The models that assessed it.")


class BlindCaseView(Answer):
    """A case waiting for its blind second grade: the unit, its photos and the model's output at
    intake; never the first grader's decision nor the route or price that followed from it."""

    case_id: str = Field(..., description="The case's id.")
    created_at: IsoTime = Field(..., description="When the unit was assessed (UTC).")
    requested_at: IsoTime | None = Field(..., description="When it was sent for a second grade.")
    item_id: str = Field(..., description="The unit's item id.")
    category: str | None = Field(..., description="Its category.")
    brand: str | None = Field(..., description="Its brand.")
    item: dict[str, Any] = Field(..., description="The unit's fields as posted.")
    grade_result: GradeResult | None = Field(..., description="The grader model's result.")
    review_kinds: list[Reason] = Field(..., description="Why it was first sent to a grader.")
    photos: list[PhotoLink] = Field(..., description="The photos, in the order posted.")


class SecondGrade(Answer):
    """A case's blind second grade (the grade in force stays the first grader's)."""

    case_id: str
    status: str = Field(..., description="open, or resolved once graded.")
    requested_at: IsoTime
    grade: str | None
    counterfeit: bool | None
    grader_id: str | None
    note: str | None
    resolved_at: IsoTime | None


class Outcome(OutcomeRecord):
    """A stored outcome."""

    recorded_at: IsoTime


class Ready(Answer):
    """/readyz: whether the service can answer, and with which models."""

    ready: bool
    models: dict[str, ModelRef]
    batching: bool
    reason: str | None = Field(
        None,
        description="Why the service is not ready (not started, the database cannot be "
        "written, the grading runner does not answer); null when ready.",
    )
