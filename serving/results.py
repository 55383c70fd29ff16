"""The typed results of grading and pricing one unit: what `serving.assess` returns, a case stores.

Reasons and list-price violations are machine-readable codes here; only the answer models
(`serving.api.answer_models`) turn codes into sentences. Numbers the models could not compute
(no time-to-sell model, no new price so no ceiling) are None.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from models.kinds import GRADER


class Result(BaseModel):
    """A result read from keys or attributes (the grader's dataclasses, a stored JSON object)."""

    model_config = ConfigDict(from_attributes=True)


class ModelRef(Result):
    """A registered model: its name and version (None for a folder outside the registry)."""

    name: str | None = Field(None, examples=[GRADER.registered_name])
    version: str | None = Field(None, examples=["3"])


ModelVersions = dict[str, ModelRef]
"""The model per role ("grader", "pricing") a result came from."""


class Counterfeit(Result):
    """Counterfeit evidence: `flagged` when `score > threshold`, or when the model's score was
    not a finite number (score None)."""

    score: float | None
    flagged: bool
    threshold: float


class PhotoGrade(Result):
    """One photo's own result (position as posted, 0-based); scores None and no probabilities
    where the model's output was not finite."""

    index: int
    filename: str | None = None
    grade: str
    probabilities: dict[str, float]
    severity: float | None
    counterfeit_score: float | None


class GradeResult(Result):
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
    reasons: list[str] = Field(
        default_factory=list,
        description="Reason codes of a grade the model could not give "
        "(`model_output_not_finite`: no probabilities; review and authentication follow).",
    )

    @classmethod
    def of(cls, result: Any, names: Sequence[str | None] = ()) -> GradeResult:
        """A grader `ItemResult` (or its dict) with the posted photos' file names."""
        graded = cls.model_validate(result)
        photos = [
            p.model_copy(update={"filename": names[p.index] if p.index < len(names) else None})
            for p in graded.photos
        ]
        return graded.model_copy(update={"photos": photos})


class Band(Result):
    """Resale price quantiles."""

    p10: float | None
    p50: float | None
    p90: float | None


class Days(Result):
    """Days-to-sell quantiles at the item's list price (else its predicted P50)."""

    p50: float | None
    p90: float | None


class Contribution(Result):
    """A feature's contribution to the log P50 price (exp of it is the factor it applies)."""

    feature: str = Field(..., examples=["grade = B"])
    contribution: float = Field(..., examples=[-0.21])


class ListPriceCheck(Result):
    """The proposed `list_price` checked against the guardrails; `violations` are codes."""

    list_price: float
    margin: float | None
    margin_pct: float | None
    violations: list[str]


class PriceDecision(Result):
    """Price band, time to sell, guardrails, route and reason codes for one unit."""

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
    reasons: list[str]
    list_check: ListPriceCheck | None = None
    contributions: list[Contribution]
    model_versions: ModelVersions


class Assessment(Result):
    """A unit priced and routed, and why a grader must look (`review_kinds`, codes)."""

    price: PriceDecision
    review_kinds: list[str]
