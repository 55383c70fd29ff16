"""What the HTTP API answers: pydantic models, documented in the OpenAPI schema at /docs.

Numbers the models could not compute (no time-to-sell model, no new price so no ceiling) are
null. Every answer names the model versions it came from.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ModelRef(BaseModel):
    """A registered model: its name and version (None for a folder outside the registry)."""

    name: str | None = Field(None, examples=["regrade-grader"])
    version: str | None = Field(None, examples=["3"])


class Reason(BaseModel):
    """A machine-readable reason code and the sentence shown to people."""

    code: str = Field(..., examples=["resell_profitable"])
    message: str = Field(..., examples=["The market pays a price at or above the floor..."])


class Counterfeit(BaseModel):
    """Counterfeit evidence: `flagged` when `score > threshold`."""

    score: float
    flagged: bool
    threshold: float


class PhotoGrade(BaseModel):
    """One photo's own result (position as posted, 0-based)."""

    index: int
    filename: str | None = None
    grade: str
    probabilities: dict[str, float]
    severity: float
    counterfeit_score: float


class GradeResult(BaseModel):
    """The grader's answer for one unit (photos combined by the worst view)."""

    grade: str = Field(..., examples=["B"])
    probabilities: dict[str, float] = Field(..., examples=[{"A": 0.1, "B": 0.8, "C": 0.1}])
    confidence: float = Field(..., description="Calibrated probability of `grade`.")
    prediction_set: list[str] = Field(..., description="Grades the conformal set keeps.")
    needs_review: bool = Field(..., description="A grader should confirm the grade.")
    counterfeit: Counterfeit
    photos: list[PhotoGrade]
    model_name: str
    model_version: str | None


class Band(BaseModel):
    """Resale price quantiles."""

    p10: float | None
    p50: float | None
    p90: float | None


class Days(BaseModel):
    """Days-to-sell quantiles at the item's list price (else its predicted P50)."""

    p50: float | None
    p90: float | None


class Contribution(BaseModel):
    """A feature's contribution to the log P50 price (exp of it is the factor it applies)."""

    feature: str = Field(..., examples=["grade = B"])
    contribution: float = Field(..., examples=[-0.21])


class ListCheck(BaseModel):
    """The proposed `list_price` checked against the guardrails."""

    list_price: float
    margin: float | None
    margin_pct: float | None
    violations: list[Reason]


class PriceResult(BaseModel):
    """Price band, time to sell, guardrails, route and reasons for one unit."""

    item_id: str
    grade: str | None = Field(None, description="The grade the unit was priced at.")
    price: Band
    days_to_sell: Days
    recommended_price: float | None
    floor_price: float | None
    ceiling_price: float | None
    margin: float | None = Field(None, description="At the recommended price.")
    margin_pct: float | None
    route: str = Field(..., examples=["resell"])
    reasons: list[Reason]
    list_check: ListCheck | None = None
    contributions: list[Contribution]
    model_versions: dict[str, ModelRef]


class PriceResponse(BaseModel):
    """One result per posted item, in order."""

    items: list[PriceResult]
    model_versions: dict[str, ModelRef]


class GradeResponse(GradeResult):
    """The /grade answer: the grade result and the model versions."""

    model_versions: dict[str, ModelRef]


class AssessResponse(BaseModel):
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
    model_versions: dict[str, ModelRef]


class PhotoLink(BaseModel):
    """A case's photo: where to fetch it and the model's result on it."""

    position: int | None
    sha256: str
    url: str = Field(..., examples=["/photos/9f86d08..."])
    content_type: str
    width: int | None
    height: int | None
    filename: str | None
    result: dict[str, Any] | None


class CaseView(BaseModel):
    """A stored case with its photos, model output and the decisions taken on it."""

    case_id: str
    created_at: str
    updated_at: str
    item_id: str
    category: str | None
    brand: str | None
    item: dict[str, Any]
    grade: str | None = Field(None, description="In force: the grader's, else the model's.")
    grade_result: dict[str, Any] | None
    price_result: dict[str, Any] | None
    route: str
    reasons: list[Reason]
    review_status: str
    review_kinds: list[Reason]
    final_grade: str | None
    final_counterfeit: bool | None
    pricing_status: str
    recommended_price: float | None
    floor_price: float | None
    final_price: float | None
    photos: list[PhotoLink]
    resolution: dict[str, Any] | None
    decision: dict[str, Any] | None
    model_versions: dict[str, Any]


class Outcome(BaseModel):
    """A stored outcome."""

    id: int
    case_id: str | None
    item_id: str
    sold_price: float | None
    days_listed: float
    sold: int
    recorded_at: str


class Ready(BaseModel):
    """/readyz: whether the service can answer, and with which models."""

    ready: bool
    models: dict[str, ModelRef]
    batching: bool
