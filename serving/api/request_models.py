"""What the HTTP API takes: pydantic models with a description and an example for every field.

Every model refuses unknown fields (a 400 or 422 naming the field). Items follow SPEC.md "Item to
price or assess": the outcomes columns that describe a unit before sale, plus provenance fields.
`benchmark_<marketplace>` prices and `attr_<name>` attributes may be posted as top-level fields
(as in a table) or under `extras`; they end up in `extras` either way. The answers are in
`serving.api.answer_models`.

Numbers are finite and bounded (`MAX_MONEY`, `MAX_DAYS`, `MAX_AGE_MONTHS`, `MAX_COUNT`): a cost of
1e308 or a sale after 1e300 days is a typo or an attack, never a unit, and refusing it names the
field instead of storing it or pricing it into nonsense. Text (`Text`) may not hold control
characters: PostgreSQL refuses NUL bytes, and the others have no business in an id or a note.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import bentoml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from features.schema import ATTR_PREFIX, BENCHMARK_PREFIX

Grade = Literal["A", "B", "C"]
Source = Literal["trade_in", "buy_back", "return", "overstock", "partner"]
ReturnReason = Literal["changed_mind", "sizing", "cosmetic", "defect", "not_as_described", "other"]

MAX_PRICE_ITEMS = 500
"""Most items one /price request may hold."""

MAX_MONEY = 1e9
"""Largest price or cost taken (a car priced in rupees is ~1e7)."""
MAX_DAYS = 3650.0
"""Longest a unit may have been listed, in days (ten years)."""
MAX_AGE_MONTHS = 1200.0
"""Oldest unit, in months (a century)."""
MAX_COUNT = 1e9
"""Largest stock level."""
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Control characters refused in text (tab, newline and carriage return are allowed)."""

FAMILIES = (BENCHMARK_PREFIX, ATTR_PREFIX)
_MONEY = {"ge": 0.0, "le": MAX_MONEY, "allow_inf_nan": False}
_STRICT = ConfigDict(extra="forbid", coerce_numbers_to_str=True, str_strip_whitespace=True)


def printable(text: str) -> str:
    """`text` unchanged; a ValueError naming the first control character in it."""
    found = CONTROL.search(text)
    if found:
        raise ValueError(
            f"control character U+{ord(found.group()):04X} at position {found.start()}"
        )
    return text


Text = Annotated[str, AfterValidator(printable)]
"""Text without control characters (PostgreSQL refuses NUL bytes)."""


def _is_family(name: str) -> bool:
    return any(name.startswith(p) and len(name) > len(p) for p in FAMILIES)


class ItemFacts(BaseModel):
    """The optional facts of a unit (every item schema has them)."""

    model_config = _STRICT

    brand: Text | None = Field(None, max_length=200, description="Brand.", examples=["Nova"])
    age_months: float | None = Field(
        None,
        ge=0.0,
        le=MAX_AGE_MONTHS,
        allow_inf_nan=False,
        description="Age in months.",
        examples=[14],
    )
    new_price: float | None = Field(None, **_MONEY, description="Price new.", examples=[699.0])
    list_price: float | None = Field(
        None, **_MONEY, description="A proposed price to check against the guardrails."
    )
    acquisition_cost: float | None = Field(
        None, **_MONEY, description="Trade-in credit or refund paid.", examples=[40.0]
    )
    refurb_cost: float | None = Field(
        None, **_MONEY, description="Refurbishment cost.", examples=[15.0]
    )
    logistics_cost: float | None = Field(
        None, **_MONEY, description="Shipping and handling cost.", examples=[10.0]
    )
    source: Source | None = Field(None, description="How the unit came in.", examples=["return"])
    return_reason: ReturnReason | None = Field(
        None, description="Why it was returned.", examples=["changed_mind"]
    )
    inventory_level: float | None = Field(
        None, ge=0.0, le=MAX_COUNT, allow_inf_nan=False, description="Units of it in stock."
    )
    conversion_rate_30d: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        allow_inf_nan=False,
        description="Share of views that bought, last 30 days.",
    )
    listed_date: dt.date | None = Field(None, description="Date listed (ISO).")
    order_id: Text | None = Field(
        None, max_length=200, description="Order it was sold on.", examples=["SO-1001"]
    )
    serial_number: Text | None = Field(
        None, max_length=200, description="Serial number.", examples=["SN123"]
    )
    purchase_date: dt.date | None = Field(None, description="Date bought by the customer (ISO).")
    opened: bool | None = Field(None, description="Whether a return was opened.", examples=[False])
    extras: dict[str, float | str | None] = Field(
        default_factory=dict,
        description="benchmark_<marketplace> prices and attr_<name> attributes.",
        examples=[{"benchmark_ebay": 130.0, "attr_colour": "black"}],
    )

    @model_validator(mode="before")
    @classmethod
    def _fold_families(cls, data: Any) -> Any:
        if isinstance(data, dict):
            families = {k: v for k, v in data.items() if isinstance(k, str) and _is_family(k)}
            if families:
                data = {k: v for k, v in data.items() if k not in families}
                data["extras"] = {**dict(data.get("extras") or {}), **families}
        return data

    @field_validator("extras")
    @classmethod
    def _known_families(cls, extras: dict[str, Any]) -> dict[str, Any]:
        for name, value in extras.items():
            if not _is_family(name):
                raise ValueError(f"{name!r} is not a benchmark_<marketplace> or attr_<name> field")
            printable(name)
            if isinstance(value, str):
                printable(value)
            elif isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
            price = isinstance(value, int | float) and 0 <= value <= MAX_MONEY
            if name.startswith(BENCHMARK_PREFIX) and value is not None and not price:
                raise ValueError(f"{name} must be a price from 0 to {MAX_MONEY:g}, got {value!r}")
        return extras

    def columns(self) -> dict[str, Any]:
        """The item as table columns: extras flattened, dates ISO, unset fields left out."""
        values = self.model_dump(exclude_none=True, exclude={"extras"}, mode="json")
        return {**values, **{k: v for k, v in self.extras.items() if v is not None}}


class Item(ItemFacts):
    """A unit to price: its id, category and grade, plus any facts."""

    item_id: Text = Field(..., min_length=1, max_length=200, examples=["u-1001"])
    category: Text = Field(..., min_length=1, max_length=200, examples=["phone"])
    grade: Grade = Field(..., description="Condition grade, A best.", examples=["B"])


class PriceRequest(bentoml.IODescriptor):
    """JSON body of /price."""

    model_config = ConfigDict(extra="forbid")

    items: list[Item] = Field(
        ...,
        min_length=1,
        max_length=MAX_PRICE_ITEMS,
        description="Units to price: id, category and grade, plus any facts.",
        examples=[
            [
                {
                    "item_id": "u-1001",
                    "category": "phone",
                    "grade": "B",
                    "brand": "Nova",
                    "age_months": 14,
                    "new_price": 699.0,
                    "acquisition_cost": 40.0,
                    "refurb_cost": 15.0,
                    "logistics_cost": 10.0,
                    "benchmark_ebay": 310.0,
                }
            ]
        ],
    )


class GradeForm(bentoml.IODescriptor, ItemFacts):
    """Multipart form of /grade: 1..N photos and, optionally, the unit's facts."""

    photos: list[Path] = Field(
        default_factory=list, description="1..N photos of one unit (JPEG, PNG or WebP)."
    )
    item_id: Text | None = Field(None, max_length=200, examples=["u-1001"])
    category: Text | None = Field(None, max_length=200, examples=["phone"])


class AssessForm(GradeForm):
    """Multipart form of /assess: photos plus the unit's id, category and facts."""

    item_id: Text = Field(..., min_length=1, max_length=200, examples=["u-1001"])
    category: Text = Field(..., min_length=1, max_length=200, examples=["phone"])


class Resolution(BaseModel):
    """A grader's decision on a case in the review queue."""

    model_config = ConfigDict(extra="forbid")

    grade: Grade = Field(..., description="The grade the grader sees.", examples=["B"])
    counterfeit: bool = Field(..., description="True when the unit is counterfeit.")
    grader_id: Text = Field(..., min_length=1, max_length=200, examples=["grader-7"])
    note: Text | None = Field(None, max_length=2000, examples=["scuff on the back"])


class Decision(BaseModel):
    """A pricing analyst's decision: approve the recommended price or override it."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["approve", "override"] = Field(..., examples=["approve"])
    analyst_id: Text = Field(..., min_length=1, max_length=200, examples=["analyst-2"])
    price: float | None = Field(
        None,
        gt=0.0,
        le=MAX_MONEY,
        allow_inf_nan=False,
        description="The new price (override only).",
    )
    reason: Text | None = Field(
        None, max_length=2000, description="Why (required for an override).", examples=[None]
    )


class OutcomeIn(BaseModel):
    """What happened to a listed unit, named by its case or its item id."""

    model_config = ConfigDict(extra="forbid")

    case_id: Text | None = Field(None, max_length=200, description="The case (or give item_id).")
    item_id: Text | None = Field(None, max_length=200, description="The item (its newest case).")
    sold_price: float | None = Field(
        None, **_MONEY, description="Price sold at; empty when unsold.", examples=[118.0]
    )
    days_listed: float = Field(
        ...,
        ge=0.0,
        le=MAX_DAYS,
        allow_inf_nan=False,
        description="Days to sale or so far.",
        examples=[6],
    )
    sold: bool = Field(..., description="Whether it sold (true/false or 1/0).", examples=[True])

    @model_validator(mode="after")
    def _one_id(self) -> OutcomeIn:
        if (self.case_id is None) == (self.item_id is None):
            raise ValueError("give exactly one of case_id and item_id")
        return self
