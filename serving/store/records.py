"""What the case store takes and returns: photos to store, and records read from its rows.

Records are frozen pydantic models validated from the ORM rows (`from_attributes`), so each is
declared once here and never copied field by field; they are detached from the session, so the
HTTP layer never touches one. The store's errors are in `serving.store.errors`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from features.schema import GRADES
from serving.store.errors import InvalidInput
from serving.store.photos import PhotoHeader, relative_path


@dataclass(frozen=True)
class PhotoInput:
    """One photo to store with a case.

    Attributes:
        data: The photo's bytes.
        filename: The name it was uploaded under.
        result: The model's result on it.
        header: Its type and size when the caller has read them already (else the store does).
    """

    data: bytes
    filename: str | None = None
    result: dict[str, Any] | None = None
    header: PhotoHeader | None = None


@dataclass(frozen=True)
class Actor:
    """Who did something, as the audit trail records it: an authenticated API key.

    Attributes:
        key_hash: A short hash of the key (never the key).
        name: The name configured with the key, else its roles joined by `+`.
        personal: The name was configured with the key (one holder), not made from its roles
            (a key a team may share).
    """

    key_hash: str
    name: str
    personal: bool = False

    def __str__(self) -> str:
        """The `actor` of an audit event: `name:hash`."""
        return f"{self.name}:{self.key_hash}"


class Record(BaseModel):
    """A detached, read-only copy of a row, read from its attributes."""

    model_config = ConfigDict(frozen=True, from_attributes=True)


class PhotoRecord(Record):
    """A stored photo; `path` is relative to the photo store's root (`ab/cd...jpg`).

    `position` (0-based), `filename` and `result` are set when the photo is read as part of a case.
    """

    position: int | None = None
    sha256: str
    content_type: str
    size: int = Field(validation_alias=AliasChoices("size", "bytes"))
    width: int | None
    height: int | None
    filename: str | None = None
    result: dict[str, Any] | None = None

    @property
    def path(self) -> str:
        """Where the bytes are, relative to the photo store's root."""
        return relative_path(self.sha256, self.content_type)


class ResolutionRecord(Record):
    """A grader's decision on a case."""

    grade: str
    counterfeit: bool
    grader_id: str
    note: str | None
    resolved_at: dt.datetime


class DecisionRecord(Record):
    """A pricing analyst's decision: approve the recommended price or override it."""

    action: str
    price: float
    reason: str | None
    analyst_id: str
    decided_at: dt.datetime


class CaseRecord(Record):
    """One assessed unit as stored, with its photos and the decisions taken on it."""

    case_id: str
    created_at: dt.datetime
    updated_at: dt.datetime
    item_id: str
    category: str | None
    brand: str | None
    order_id: str | None
    serial_number: str | None
    item: dict[str, Any]
    grade_result: dict[str, Any] | None
    price_result: dict[str, Any] | None
    route: str
    reasons: list[str]
    review_status: str
    review_kinds: list[str]
    final_grade: str | None
    final_counterfeit: bool | None
    pricing_status: str
    recommended_price: float | None
    floor_price: float | None
    final_price: float | None
    model_versions: dict[str, Any]
    photos: list[PhotoRecord]
    resolution: ResolutionRecord | None
    decision: DecisionRecord | None

    @property
    def grade(self) -> str | None:
        """The grade in force: the grader's after review, else the model's, else the posted one."""
        return effective_grade(self.final_grade, self.grade_result, self.item)


class EventRecord(Record):
    """One entry of a case's audit trail."""

    id: int
    case_id: str
    kind: str
    actor: str | None
    payload: dict[str, Any]
    at: dt.datetime


class OutcomeRecord(Record):
    """A stored sale outcome."""

    id: int
    case_id: str | None
    item_id: str
    sold_price: float | None
    days_listed: float
    sold: int
    recorded_at: dt.datetime


def effective_grade(
    final_grade: str | None, grade_result: dict[str, Any] | None, item: dict[str, Any]
) -> str | None:
    """The grader's grade, else the model's (`grade_result["grade"]`), else the posted one."""
    for grade in (final_grade, (grade_result or {}).get("grade"), item.get("grade")):
        if grade in GRADES:
            return grade
    return None


def jsonable(value: Any, field: str) -> Any:
    """A copy of `value` that JSON stores the same on every backend.

    NumPy scalars and arrays become Python numbers and lists, NaN and infinities become None
    (PostgreSQL's json refuses them), tuples become lists, dates ISO strings.

    Raises:
        InvalidInput: naming `field`, for a value JSON cannot hold.
    """
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(field, f"keys must be text, got {key!r}")
            out[key] = jsonable(item, f"{field}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [jsonable(item, f"{field}[{pos}]") for pos, item in enumerate(value)]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # NumPy scalar or array
        return jsonable(value.tolist(), field)
    raise InvalidInput(field, f"cannot be stored as JSON: {type(value).__name__}")


class SecondGradingRecord(Record):
    """A resolved case's blind second grade: `open` until a second grader gives it."""

    case_id: str
    status: str
    requested_at: dt.datetime
    grade: str | None
    counterfeit: bool | None
    grader_id: str | None
    note: str | None
    resolved_at: dt.datetime | None


class BlindCaseRecord(Record):
    """A case as a second grader sees it: the unit, its photos and the model's output at intake,
    never the first grader's decision nor what followed from it (route, price, final grade)."""

    case_id: str
    created_at: dt.datetime
    item_id: str
    category: str | None
    brand: str | None
    item: dict[str, Any]
    grade_result: dict[str, Any] | None
    review_kinds: list[str]
    photos: list[PhotoRecord]
    requested_at: dt.datetime | None = None
